// Element types. A tensor's bits are stored exactly as its dtype says (faults flip those bits), so the
// dtype is part of the fault semantics, not only of the arithmetic.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace faultline {

enum class DType : uint8_t {
  kFloat32,
  kFloat16,
  kBFloat16,
  kInt8,
  kUInt8,
  kInt32,
  kInt64,
  kBool,
  kFloat64,
};
inline constexpr int kDTypeCount = 9;

// Bytes per element.
size_t dtype_size(DType dtype);
// Bits per element (the width of the word a bit fault addresses).
inline int dtype_bits(DType dtype) { return static_cast<int>(dtype_size(dtype) * 8); }
// "float32", "float16", "bfloat16", "int8", "uint8", "int32", "int64", "bool", "float64".
std::string_view dtype_name(DType dtype);
std::optional<DType> dtype_from_name(std::string_view name);
bool is_floating(DType dtype);

// IEEE binary16 and bfloat16 conversions (round to nearest even; NaN stays NaN).
uint16_t float_to_half_bits(float value);
float half_bits_to_float(uint16_t bits);
uint16_t float_to_bfloat16_bits(float value);
float bfloat16_bits_to_float(uint16_t bits);

}  // namespace faultline
