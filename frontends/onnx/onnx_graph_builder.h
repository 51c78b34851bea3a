// GraphProto to Graph (internal to the ONNX frontend): values from initializers, inputs and node outputs,
// nodes with normalized attributes, graph outputs, canonical layer names. Constant nodes become constant
// values, Dropout becomes Identity, Shape with start/end becomes Shape + Slice. No folding, no file context.
#pragma once

#include <onnx/onnx_pb.h>

#include <cstdint>

#include "engine/graph.h"
#include "engine/status.h"

namespace faultline {

// `opset` is the model's default-domain (ai.onnx) opset version. Errors name the node or value at fault.
Result<Graph> build_graph_from_onnx(const onnx::GraphProto& proto, int64_t opset);

}  // namespace faultline
