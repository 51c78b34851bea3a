// ONNX node attributes to the normalized structs of engine/op_attrs.h (internal to the ONNX frontend).
//
// One converter per op applies the op's defaults for the model's opset and records where opset versions
// moved parameters from attributes to inputs (Reshape 5, Clip 11, Pad 11, Slice 10, Squeeze/Unsqueeze 13).
// Legacy semantics of opsets 1-6 are mapped where they agree with today's (Concat's default axis, Cast's
// type name, Pad's `paddings`) and refused where they do not (training-mode BatchNormalization/Dropout by
// default, broadcasting along an explicit `axis`).
#pragma once

#include <onnx/onnx_pb.h>

#include <cstdint>
#include <optional>

#include "engine/op_attrs.h"
#include "engine/op_kind.h"
#include "engine/status.h"
#include "engine/tensor.h"

namespace faultline {

// Attributes of a node whose op type is `op`, for default-domain opset `opset`. Errors say which attribute
// is missing, malformed or holds a value faultline does not implement (context: the caller names the node).
Result<OpAttrs> convert_onnx_attributes(OpKind op, const onnx::NodeProto& node, int64_t opset);

// The tensor a Constant node defines (value, value_float(s) or value_int(s)).
Result<Tensor> onnx_constant_value(const onnx::NodeProto& node);

// Whether a Dropout node asks for training-mode dropout through its attributes (`is_test` = 0, the default
// before opset 7). The training_mode input of opset 12 is the caller's to check.
Result<bool> onnx_dropout_is_training(const onnx::NodeProto& node, int64_t opset);

// Shape (opset 15+) with `start`/`end`: the Slice of the full shape vector they select; nullopt when the
// node keeps the whole shape.
Result<std::optional<SliceAttrs>> onnx_shape_slice(const onnx::NodeProto& node);

}  // namespace faultline
