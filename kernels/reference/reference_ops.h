// Reference kernels: plain loops over dense logical (row-major, NCHW/OIHW) tensors. They are the oracle
// every other backend is tested against and the evaluator constant folding uses, so they favour being
// obviously right over being fast. Arithmetic is float32 in natural order with PyTorch's formulas (Conv/Gemm/
// MatMul sums, average pools summing then dividing, BatchNorm as x * alpha + beta), so that a fault driving a
// value past FLT_MAX overflows to inf and NaN here exactly as it does in PyTorch. Softmax uses double.
#pragma once

#include <span>

#include "engine/graph.h"
#include "engine/status.h"
#include "engine/tensor.h"

namespace faultline {

// Computes `node` (specialized form, see engine/op_attrs.h). `inputs[i]` is null for an omitted optional
// input; `outputs` are allocated by the caller with the shapes and dtypes infer_output_shapes() gave.
// Compute ops run on float32; data-movement and shape ops (Reshape, Flatten, Transpose, Concat, Slice, Pad,
// Identity, Gather, Squeeze, Unsqueeze, Shape, Cast, ConstantOfShape) accept any dtype; Add/Sub/Mul/Div and
// Range also run on int64 and int32 (shape arithmetic); DequantizeLinear reads int8/uint8/int32 (float32 scale); the
// integer ops (QuantizeLinear, ConvInteger, MatMulInteger, QLinearConv, QLinearMatMul) compute on int8/uint8 with
// int32 accumulators as engine/op_attrs.h QuantizeAttrs says.
// An unsupported dtype or attribute is an error naming the node.
Status run_reference_node(const Node& node, std::span<const Tensor* const> inputs, std::span<Tensor* const> outputs);

}  // namespace faultline
