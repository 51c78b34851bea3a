#include "engine/dtype.h"

#include <cmath>
#include <cstring>

namespace faultline {

namespace {
struct DTypeInfo {
  DType dtype;
  size_t size;
  std::string_view name;
  bool floating;
};
constexpr DTypeInfo kDTypeInfo[] = {
    {DType::kFloat32, 4, "float32", true}, {DType::kFloat16, 2, "float16", true},
    {DType::kBFloat16, 2, "bfloat16", true}, {DType::kInt8, 1, "int8", false},
    {DType::kUInt8, 1, "uint8", false},      {DType::kInt32, 4, "int32", false},
    {DType::kInt64, 8, "int64", false},      {DType::kBool, 1, "bool", false},
    {DType::kFloat64, 8, "float64", true},
};
static_assert(sizeof(kDTypeInfo) / sizeof(kDTypeInfo[0]) == kDTypeCount, "every DType needs a row in kDTypeInfo");

const DTypeInfo& info(DType dtype) { return kDTypeInfo[static_cast<int>(dtype)]; }

uint32_t float_bits(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof bits);
  return bits;
}
float bits_float(uint32_t bits) {
  float value;
  std::memcpy(&value, &bits, sizeof value);
  return value;
}
}  // namespace

size_t dtype_size(DType dtype) { return info(dtype).size; }
std::string_view dtype_name(DType dtype) { return info(dtype).name; }
bool is_floating(DType dtype) { return info(dtype).floating; }

std::optional<DType> dtype_from_name(std::string_view name) {
  for (const auto& row : kDTypeInfo)
    if (row.name == name) return row.dtype;
  return std::nullopt;
}

uint16_t float_to_bfloat16_bits(float value) {
  uint32_t bits = float_bits(value);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((bits >> 16) | 0x40u);  // quiet NaN
  uint32_t rounding = 0x7fffu + ((bits >> 16) & 1u);
  return static_cast<uint16_t>((bits + rounding) >> 16);
}

float bfloat16_bits_to_float(uint16_t bits) { return bits_float(static_cast<uint32_t>(bits) << 16); }

uint16_t float_to_half_bits(float value) {
  uint32_t f = float_bits(value);
  uint32_t sign = (f >> 16) & 0x8000u;
  uint32_t abs = f & 0x7fffffffu;
  if (abs > 0x7f800000u) return static_cast<uint16_t>(sign | 0x7e00u);  // NaN
  if (abs >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // overflow -> inf (incl. inf)
  if (abs < 0x38800000u) {  // below the smallest normal half: a subnormal (or zero) in units of 2^-24
    // Scaling by 2^24 is exact; nearbyint rounds to nearest, ties to even. 1024 encodes the smallest normal.
    float units = std::nearbyint(bits_float(abs) * 16777216.0f);
    return static_cast<uint16_t>(sign | static_cast<uint32_t>(units));
  }
  uint32_t rounded = abs + 0x0fffu + ((abs >> 13) & 1u);
  return static_cast<uint16_t>(sign | ((rounded - 0x38000000u) >> 13));
}

float half_bits_to_float(uint16_t bits) {
  uint32_t sign = static_cast<uint32_t>(bits & 0x8000u) << 16;
  uint32_t exponent = (bits >> 10) & 0x1fu;
  uint32_t mantissa = bits & 0x3ffu;
  if (exponent == 0x1fu) return bits_float(sign | 0x7f800000u | (mantissa << 13));
  if (exponent == 0) {
    if (mantissa == 0) return bits_float(sign);
    float magnitude = static_cast<float>(mantissa) * (1.0f / 16777216.0f);  // mantissa * 2^-24
    return sign ? -magnitude : magnitude;
  }
  return bits_float(sign | ((exponent + 112u) << 23) | (mantissa << 13));
}

}  // namespace faultline
