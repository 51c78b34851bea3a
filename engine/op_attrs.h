// Normalized operator parameters. Frontends translate their format's attributes into these structs
// (defaults applied, opset differences removed); kernels and shape inference read only these.
//
// Operand convention after specialize() (engine/specialize.h): a node's inputs are data tensors only.
//   Conv [X, W, B?]   BatchNormalization [X, scale, bias, mean, var]   Gemm [A, B, C?]   MatMul [A, B]
//   Add/Sub/Mul/Div [A, B]   Concat [X...]   DequantizeLinear [X, scale, zero_point?]   every other op [X]
//   Integer ops (ONNX's operand order; see QuantizeAttrs below for their arithmetic):
//   QuantizeLinear [X, y_scale, y_zero_point?]      ConvInteger [X, W, x_zero_point?, w_zero_point?]
//   MatMulInteger [A, B, a_zero_point?, b_zero_point?]
//   QLinearConv [X, x_scale, x_zero_point, W, w_scale, w_zero_point, y_scale, y_zero_point, B?]
//   QLinearMatMul [A, a_scale, a_zero_point, B, b_scale, b_zero_point, y_scale, y_zero_point]
// Parameters that ONNX passes as extra inputs (Clip min/max, Pad pads/value, Slice starts/ends/axes/steps,
// Reshape shape, Squeeze/Unsqueeze axes) are constant-folded and moved into these structs by
// specialize(); before that, a frontend may leave them as inputs and mark the struct `*_from_inputs`.
// Spatial vectors (kernel_shape, strides, dilations) have one entry per spatial axis; `pads` follows
// ONNX: [begin_0, begin_1, ..., end_0, end_1, ...].
#pragma once

#include <cstdint>
#include <limits>
#include <variant>
#include <vector>

#include "engine/dtype.h"
#include "engine/tensor.h"

namespace faultline {

enum class AutoPad : unsigned char { kNotSet, kSameUpper, kSameLower, kValid };

struct ConvAttrs {
  std::vector<int64_t> kernel_shape;  // may be empty on import: taken from W
  std::vector<int64_t> strides;       // empty = all 1
  std::vector<int64_t> dilations;     // empty = all 1
  std::vector<int64_t> pads;          // empty = all 0; resolved from auto_pad by specialize()
  int64_t group = 1;
  AutoPad auto_pad = AutoPad::kNotSet;  // kNotSet after specialize()
};

struct PoolAttrs {  // MaxPool, AveragePool
  std::vector<int64_t> kernel_shape;
  std::vector<int64_t> strides;    // empty = all 1
  std::vector<int64_t> dilations;  // empty = all 1 (MaxPool only)
  std::vector<int64_t> pads;       // empty = all 0
  AutoPad auto_pad = AutoPad::kNotSet;
  bool ceil_mode = false;
  bool count_include_pad = false;  // AveragePool only
};

struct BatchNormAttrs { float epsilon = 1e-5f; };
struct LeakyReluAttrs { float alpha = 0.01f; };

struct ClipAttrs {
  float min = -std::numeric_limits<float>::infinity();
  float max = std::numeric_limits<float>::infinity();
  bool bounds_from_inputs = false;  // opset >= 11: inputs [X, min?, max?] until specialize()
};

struct SoftmaxAttrs {
  int64_t axis = -1;
  bool coerce_to_2d = false;  // opset < 13: softmax over the flattened dims [axis, rank)
};

struct ConcatAttrs { int64_t axis = 0; };
struct FlattenAttrs { int64_t axis = 1; };

struct ReshapeAttrs {
  std::vector<int64_t> shape;  // ONNX semantics: 0 copies the input dim (unless allowzero), -1 is inferred
  bool allowzero = false;
  bool shape_from_input = true;  // inputs [X, shape] until specialize()
};

struct TransposeAttrs { std::vector<int64_t> perm; };  // empty = reverse the axes

struct GemmAttrs {
  float alpha = 1.0f;
  float beta = 1.0f;
  bool trans_a = false;
  bool trans_b = false;
};

enum class PadMode : unsigned char { kConstant, kReflect, kEdge };
struct PadAttrs {
  std::vector<int64_t> pads;  // [begin per axis..., end per axis...], over all axes; may be negative
  PadMode mode = PadMode::kConstant;
  float value = 0.0f;
  bool pads_from_inputs = false;  // opset >= 11: inputs [X, pads, value?] until specialize()
};

struct SliceAttrs {
  std::vector<int64_t> starts, ends, axes, steps;  // axes empty = 0..n-1, steps empty = all 1
  bool from_inputs = false;                        // opset >= 10: inputs [X, starts, ends, axes?, steps?]
};

struct GatherAttrs { int64_t axis = 0; };

struct AxesAttrs {  // Squeeze, Unsqueeze
  std::vector<int64_t> axes;     // Squeeze: empty = every axis of size 1
  bool axes_from_input = false;  // opset >= 13: inputs [X, axes?] until specialize()
};

struct CastAttrs { DType to = DType::kFloat32; };
// DequantizeLinear [x, x_scale, x_zero_point?]: y = (x - zero_point) * scale, float32 y; x int8, uint8 or int32 (an
// int32 x, a QDQ model's bias, has no zero point). A per-tensor scale (one element) or one scale (and zero point)
// per index of `axis`.
struct DequantizeAttrs { int64_t axis = 1; };
struct ConstantOfShapeAttrs { Tensor value; };  // one element; empty = float32 0

// The integer ops (engine/op_kind.h is_integer_op). Quantized data are int8 or uint8; a zero point has the dtype
// of the data it belongs to; scales are float32; accumulators and QLinearConv's bias B are int32.
//   QuantizeLinear: y = saturate(round(x / y_scale) + y_zero_point), x float32, x / y_scale one float32 division,
//     round half to even, saturate to y's range ([-128, 127] int8, [0, 255] uint8). y has y_zero_point's dtype,
//     uint8 when it is omitted. y_scale (and y_zero_point) has one element or one per index of `axis`.
//   ConvInteger / MatMulInteger: int32 y = sum of (x - x_zero_point) * (w - w_zero_point), the sum wrapping
//     modulo 2^32 ("the accumulation may overflow if and only if in 32 bits"). ConvInteger's x_zero_point has
//     one element, w_zero_point one or one per output channel; MatMulInteger's a_zero_point one or one per row
//     of A (A 2-D), b_zero_point one or one per column of B (B 2-D). Omitted zero points are 0.
//   QLinearConv / QLinearMatMul: the same int32 sum (QLinearConv then adds B[m], wrapping), then
//     y = saturate(round(float(acc) * (x_scale * w_scale / y_scale)) + y_zero_point) with the multiplier and the
//     product in float32 (x_scale * w_scale first), round half to even. QLinearConv's w_scale / w_zero_point have
//     one element or one per output channel, every other scale and zero point one element; QLinearMatMul's
//     b_scale / b_zero_point one element or one per column of B (B 2-D). A NaN before saturation (a faulted
//     scale) stores 0.
// ConvInteger and QLinearConv take ConvAttrs; MatMulInteger and QLinearMatMul have no attributes.
struct QuantizeAttrs {
  int64_t axis = 1;       // opset 13+; opset 10-12 quantize per tensor only
  bool saturate = true;   // opset 19+; only float8 outputs may set it to 0, and faultline has none
};

// Spiking neurons (LIF, CubaLIF, IF, LI, CubaLI, Integrator, Threshold): one forward-Euler step of NIR's
// equations, in the operation order kernels/reference/neuron_kernels.h documents. Operands (specialized form
// too; x and the states are [N, features...], every parameter has x's feature shape or one element):
//   LIF        [x, v_prev, tau, r, v_leak, v_threshold, v_reset]                      -> [spikes, v]
//   CubaLIF    [x, i_prev, v_prev, tau_syn, tau_mem, r, v_leak, v_threshold, v_reset, w_in] -> [spikes, i, v]
//   IF         [x, v_prev, r, v_threshold, v_reset]                                   -> [spikes, v]
//   LI         [x, v_prev, tau, r, v_leak]                                            -> [v]
//   CubaLI     [x, i_prev, v_prev, tau_syn, tau_mem, r, v_leak, w_in]                 -> [i, v]
//   Integrator [x, v_prev, r]                                                         -> [v]
//   Threshold  [x, threshold]                                                         -> [spikes]
// Every output except the spikes is the next value of the state input of the same name (v <- v_prev).
enum class ResetMode : unsigned char {
  kToReset,   // v = v_reset after a spike (NIR's semantics)
  kSubtract,  // v = v - v_threshold after a spike (snnTorch's default, which NIR cannot express)
};
struct NeuronAttrs {
  float dt = 1e-4f;  // time step of the Euler discretisation (1e-4 maps snnTorch exports back to beta)
  ResetMode reset = ResetMode::kToReset;
};

using OpAttrs = std::variant<std::monostate, ConvAttrs, PoolAttrs, BatchNormAttrs, LeakyReluAttrs, ClipAttrs,
                             SoftmaxAttrs, ConcatAttrs, FlattenAttrs, ReshapeAttrs, TransposeAttrs, GemmAttrs,
                             PadAttrs, SliceAttrs, GatherAttrs, AxesAttrs, CastAttrs, ConstantOfShapeAttrs,
                             DequantizeAttrs, QuantizeAttrs, NeuronAttrs>;

// A node's attributes as `A`; A's defaults when the node carries none (std::monostate); null when it carries
// another op's attributes (a frontend bug the caller reports).
template <typename A>
const A* attrs_or_default(const OpAttrs& attrs) {
  static const A kDefaults{};
  if (std::holds_alternative<std::monostate>(attrs)) return &kDefaults;
  return std::get_if<A>(&attrs);
}

}  // namespace faultline
