// Quantized-integer helpers of the reference kernels (internal to kernels/reference/): QuantizeLinear,
// DequantizeLinear and the integer ops (engine/op_attrs.h QuantizeAttrs) share the per-axis indexing, the
// centring by zero points and the one rounding-and-saturating step.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

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

}  // namespace faultline::reference
