// ONNX frontend: reads a .onnx file (opset 1-17; semantics of opsets before 7 only where they agree with
// today's) into a faultline Graph.
//
// - Initializers become constant values with is_parameter = true, named as in the file (PyTorch names such
//   as "layer1.0.conv1.weight" when exported without constant folding). Constant nodes become constants.
// - Graph inputs that are also initializers (IR < 4) are parameters, not inputs. Dynamic dimensions
//   (dim_param or missing dim_value) become kDynamicDim.
// - Attributes are normalized into engine/op_attrs.h structs (defaults applied, opset differences removed);
//   Dropout becomes Identity.
// - Every node gets a name (the model's, or "<OpType>_<index>") and a canonical layer name: for
//   torch-exported scoped names "/layer1/layer1.0/conv1/Conv" it is the module path "layer1.0.conv1"; for a
//   node whose first parameter input is named "<path>.weight" it is "<path>"; otherwise the node name.
//   Canonical names are unique within a graph (a suffix "_1", "_2" disambiguates).
// - Subgraphs fed only by constants (including Shape/Gather/Unsqueeze/Cast/... arithmetic) are folded
//   (engine/specialize.h fold_constants).
// Errors: missing/unreadable file, truncated or corrupt protobuf, an unsupported op ("unsupported op
// 'LSTM' at node 'lstm_1'"), an unsupported attribute value, external tensor data; each names the file
// and, where there is one, the node.
#pragma once

#include <string>

#include "engine/graph.h"
#include "engine/status.h"
#include "engine/tensor.h"

namespace faultline {

Result<Graph> import_onnx_file(const std::string& path);
// The same from bytes already in memory; `source` names them in messages.
Result<Graph> import_onnx_bytes(const std::string& bytes, const std::string& source);

// Reads a serialized onnx.TensorProto (.pb), as the ONNX test data and model-zoo test sets store them.
Result<Tensor> read_onnx_tensor_file(const std::string& path);

}  // namespace faultline
