// Node and canonical layer names for imported ONNX graphs (internal to the ONNX frontend).
#pragma once

#include <string>
#include <string_view>

#include "engine/graph.h"

namespace faultline {

// The module path of a torch-exported scoped node name: "/layer1/layer1.0/conv1/Conv" -> "layer1.0.conv1",
// "/layer1/layer1.0/downsample/downsample.0/Conv" -> "layer1.0.downsample.0". Empty when `node_name` is not
// scoped or names a top-level op ("/Flatten").
std::string torch_module_path(std::string_view node_name);

// Sets every node's `layer`: the torch module path of its name; else "<path>" when its first parameter
// input is named "<path>.weight"; else its name. Names are made unique in node order ("_1", "_2", ...).
void assign_layer_names(Graph& graph);

}  // namespace faultline
