// Quantized-integer helpers of the reference kernels (internal to kernels/reference/): QuantizeLinear,
// DequantizeLinear and the integer ops (engine/op_attrs.h QuantizeAttrs) share the per-axis indexing, the
// centring by zero points and the one rounding-and-saturating step; the integer ops and the fault-aware MAC
// arithmetic (kernels/reference/fault_aware_mac.h) share their operand centring and requantization.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "kernels/reference/mac_loops.h"
#include "kernels/reference/reference_internal.h"

namespace faultline::reference {

// Which scale / zero point element one data element uses: element i reads parameter (i / inner) % count, for
// parameters along one axis (inner = the elements after that axis); count 1 is per tensor.
struct PerIndex {
  int64_t inner = 1;
  int64_t count = 1;
  int64_t of(int64_t i) const { return count == 1 ? 0 : (i / inner) % count; }
};
// `count` parameters along axis `axis` of `shape` (count 1: per tensor, the axis is not read).
PerIndex per_axis(const Shape& shape, int64_t axis, int64_t count);

bool is_quantized_dtype(DType dtype);
// Calls f(Q{}) with int8_t or uint8_t for an int8 / uint8 dtype (requires is_quantized_dtype).
template <typename F>
void with_quantized_type(DType dtype, F&& f) {
  if (dtype == DType::kInt8)
    f(int8_t{});
  else
    f(uint8_t{});
}

// The int8/uint8 data of `q` minus its zero point, as int32 (zero_point null: 0). `zero_point` has `index.count`
// elements of q's dtype.
std::vector<int32_t> centered(const Tensor& q, const Tensor* zero_point, PerIndex index);
// Element `i` of a one-element or per-index int8/uint8 tensor as int32 (null: 0).
int32_t quantized_at(const Tensor* t, int64_t i);

// int32 addition modulo 2^32: the integer ops' accumulators wrap ("the accumulation may overflow if and only if
// in 32 bits").
inline int32_t wrapping_add(int32_t a, int32_t b) {
  return static_cast<int32_t>(static_cast<uint32_t>(a) + static_cast<uint32_t>(b));
}

// saturate(round(real) + zero_point) in Q's range, rounding half to even; NaN stores 0.
template <typename Q>
Q saturate_round(float real, int32_t zero_point) {
  if (std::isnan(real)) return 0;
  constexpr double kLow = std::numeric_limits<Q>::min();
  constexpr double kHigh = std::numeric_limits<Q>::max();
  // nearbyint: the default rounding mode, round half to even; double holds every rounded float32 exactly.
  const double value = static_cast<double>(std::nearbyint(real)) + zero_point;
  return static_cast<Q>(value < kLow ? kLow : value > kHigh ? kHigh : value);
}

// The element count of an optional scale or zero point: absent is 1; present, it must have `dtype` and one or
// `count` elements (count 0: one only). Errors name the node and `role`.
Result<int64_t> parameter_count(const Node& node, const Tensor* tensor, const char* role, DType dtype, int64_t count);

// The centred int32 operands of ConvInteger / QLinearConv: x - x_zero_point (one), w - w_zero_point (one or per
// output channel), with the convolution's geometry against output shape `y`. x, w: int8 or uint8; errors name
// the node.
struct CenteredConv {
  ConvGeometry conv;
  std::vector<int32_t> x, w;
};
Result<CenteredConv> center_conv(const Node& node, const Tensor& x, const Tensor* x_zero_point, const Tensor& w,
                                 const Tensor* w_zero_point, const Shape& y);

// The centred int32 operands of MatMulInteger / QLinearMatMul: A - a_zero_point (one, or per row of a 2-D A when
// per_row_a), B - b_zero_point (one or per column of a 2-D B).
struct CenteredMatmul {
  MatmulGeometry mm;
  std::vector<int32_t> a, b;
};
Result<CenteredMatmul> center_matmul(const Node& node, const Tensor& a, const Tensor* a_zero_point, const Tensor& b,
                                     const Tensor* b_zero_point, const Shape& y, bool per_row_a);

// What QLinearConv / QLinearMatMul do to an int32 sum `acc` of output channel / column `channel`:
//   sum = add_bias(acc, channel)           QLinearConv: acc + B[channel] (wrapping); otherwise acc
//   y   = requantize<Q>(sum, channel)      saturate(round(float(sum) * multiplier[channel]) + y_zero_point),
//                                          multiplier = x_scale * w_scale[channel] / y_scale in float32
struct Requantization {
  std::vector<float> multipliers;  // one, or one per channel
  int32_t y_zero_point = 0;
  const int32_t* bias = nullptr;  // QLinearConv's B (one per output channel), or null
  int32_t add_bias(int32_t acc, int64_t channel) const { return bias ? wrapping_add(acc, bias[channel]) : acc; }
  template <typename Q>
  Q requantize(int32_t sum, int64_t channel) const {
    const float multiplier = multipliers[multipliers.size() == 1 ? 0 : static_cast<size_t>(channel)];
    return saturate_round<Q>(static_cast<float>(sum) * multiplier, y_zero_point);
  }
};
// The checked scales, zero points and bias of a QLinearConv / QLinearMatMul node (`inputs` its eight or nine
// inputs, data operands already checked); w_count: the channels a per-channel w_scale / w_zero_point / B has (0:
// per tensor only). The bias pointer borrows inputs[8].
Result<Requantization> qlinear_requantization(const Node& node, Inputs inputs, int64_t w_count);

}  // namespace faultline::reference
