// The operators faultline runs. Adding an op: add it to FAULTLINE_OPS below, give it an attribute struct
// in engine/op_attrs.h if it has parameters, shape inference in engine/shape_inference.cpp, a reference
// kernel in kernels/reference/, and (optionally) a fast kernel per backend. Each of those places switches
// over OpKind without a default, so the compiler names every place a new op is missing from.
#pragma once

#include <cstddef>
#include <optional>
#include <span>
#include <string_view>

namespace faultline {

// X(Name): ONNX spelling of the op type (the integer ops QuantizeLinear ... QLinearMatMul compute on int8/uint8
// data with int32 accumulators: see is_integer_op and engine/op_attrs.h; the spiking neurons, LIF ... Threshold, are NIR's primitives, one time
// step each: see is_neuron_op and kernels/reference/neuron_kernels.h). The last group is shape arithmetic that
// specialize() folds into constants before planning; no backend executes it, except a Cast that decodes a stored
// weight (engine/weight_storage.h: is_weight_decode), which stays a run-time node when its weight is a fault site.
#define FAULTLINE_OPS(X)                                                                                   \
  X(Conv) X(BatchNormalization) X(Relu) X(LeakyRelu) X(Clip) X(Sigmoid) X(Tanh) X(Softmax) X(MaxPool)      \
  X(AveragePool) X(GlobalAveragePool) X(GlobalMaxPool) X(Add) X(Sub) X(Mul) X(Div) X(Concat) X(Flatten)    \
  X(Reshape) X(Transpose) X(Gemm) X(MatMul) X(Pad) X(Slice) X(Identity) X(DequantizeLinear)                \
  X(QuantizeLinear) X(ConvInteger) X(MatMulInteger) X(QLinearConv) X(QLinearMatMul)                        \
  X(LIF) X(CubaLIF) X(IF) X(LI) X(CubaLI) X(Integrator) X(Threshold)                                       \
  X(Shape) X(Gather) X(Unsqueeze) X(Squeeze) X(Cast) X(ConstantOfShape) X(Range)

enum class OpKind : unsigned char {
#define FAULTLINE_OP_ENUM(name) k##name,
  FAULTLINE_OPS(FAULTLINE_OP_ENUM)
#undef FAULTLINE_OP_ENUM
};

#define FAULTLINE_OP_COUNT(name) +1
inline constexpr int kOpKindCount = 0 FAULTLINE_OPS(FAULTLINE_OP_COUNT);
#undef FAULTLINE_OP_COUNT

// "Conv", "BatchNormalization", ...
std::string_view op_name(OpKind op);
std::optional<OpKind> op_from_name(std::string_view name);
// Shape arithmetic (Shape, Gather, Unsqueeze, Squeeze, Cast, ConstantOfShape, Range): folded, never run.
bool is_shape_op(OpKind op);
// Element-wise binary ops with NumPy broadcasting (Add, Sub, Mul, Div).
bool is_binary_elementwise(OpKind op);
// Element-wise unary activations (Relu, LeakyRelu, Clip, Sigmoid, Tanh).
bool is_unary_activation(OpKind op);
// Spiking-neuron ops (LIF, CubaLIF, IF, LI, CubaLI, Integrator, Threshold): one forward-Euler time step of a
// NIR neuron. Their operands are [x, state inputs..., parameters...] and they may have several outputs
// (spikes and next states); see engine/op_attrs.h NeuronAttrs.
bool is_neuron_op(OpKind op);
// Ops that compute on quantized integers (QuantizeLinear, ConvInteger, MatMulInteger, QLinearConv,
// QLinearMatMul): int8/uint8 operands, int32 accumulators and biases; the reference backend runs them.
bool is_integer_op(OpKind op);
// The input slot of a convolution's weight: 3 for QLinearConv [x, x_scale, x_zero_point, w, ...], 1 for Conv
// and ConvInteger. Requires an op whose attributes are ConvAttrs.
size_t conv_weight_slot(OpKind op);

// The operands of a neuron op: inputs [x, states..., params...]; outputs ["spikes" when it fires, then the next
// value of each state in `states` order]. State and parameter names are NIR's ("v", "i"; "tau", "v_threshold",
// ...): the NIR frontend names the graph values "<node>.<name>".
struct NeuronLayout {
  std::span<const std::string_view> states;
  std::span<const std::string_view> params;
  bool fires = false;  // outputs spikes (first output)
  size_t inputs() const { return 1 + states.size() + params.size(); }
  size_t outputs() const { return (fires ? 1 : 0) + states.size(); }
};
// Requires is_neuron_op(op).
NeuronLayout neuron_layout(OpKind op);

}  // namespace faultline
