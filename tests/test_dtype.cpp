// float16 / bfloat16 conversions against bit patterns from IEEE 754 and the bfloat16 definition.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "engine/dtype.h"
#include "engine/tensor.h"

namespace faultline {
namespace {

TEST(DType, SizesAndNames) {
  EXPECT_EQ(dtype_size(DType::kFloat32), 4u);
  EXPECT_EQ(dtype_bits(DType::kBFloat16), 16);
  EXPECT_EQ(dtype_bits(DType::kInt8), 8);
  EXPECT_EQ(dtype_from_name("bfloat16"), DType::kBFloat16);
  EXPECT_EQ(dtype_from_name("float128"), std::nullopt);
}

TEST(DType, HalfKnownBitPatterns) {
  EXPECT_EQ(float_to_half_bits(1.0f), 0x3c00);
  EXPECT_EQ(float_to_half_bits(-2.0f), 0xc000);
  EXPECT_EQ(float_to_half_bits(65504.0f), 0x7bff);      // largest finite half
  EXPECT_EQ(float_to_half_bits(65520.0f), 0x7c00);      // rounds to +inf
  EXPECT_EQ(float_to_half_bits(5.9604645e-8f), 0x0001);  // smallest subnormal 2^-24
  EXPECT_EQ(float_to_half_bits(0.333333343f), 0x3555);
  EXPECT_EQ(float_to_half_bits(1.0f + 1.0f / 2048), 0x3c00);  // tie rounds to even
  EXPECT_EQ(float_to_half_bits(1.0f + 3.0f / 2048), 0x3c02);  // tie rounds to even (up)
  EXPECT_TRUE(std::isnan(half_bits_to_float(float_to_half_bits(std::numeric_limits<float>::quiet_NaN()))));
  EXPECT_FLOAT_EQ(half_bits_to_float(0x3555), 0.333251953125f);
  EXPECT_FLOAT_EQ(half_bits_to_float(0x0001), 5.9604645e-8f);
  EXPECT_EQ(half_bits_to_float(0xfc00), -std::numeric_limits<float>::infinity());
}

TEST(DType, HalfRoundTripsEveryFiniteHalf) {
  for (uint32_t bits = 0; bits < 0x10000; ++bits) {
    if ((bits & 0x7c00) == 0x7c00) continue;  // inf/NaN
    float value = half_bits_to_float(static_cast<uint16_t>(bits));
    ASSERT_EQ(float_to_half_bits(value), bits) << std::hex << bits;
  }
}

TEST(DType, BFloat16KnownBitPatterns) {
  EXPECT_EQ(float_to_bfloat16_bits(1.0f), 0x3f80);
  EXPECT_EQ(float_to_bfloat16_bits(-3.0f), 0xc040);
  EXPECT_EQ(float_to_bfloat16_bits(1.00390625f), 0x3f80);  // tie (bit 16 clear) rounds down to even
  EXPECT_EQ(float_to_bfloat16_bits(1.01171875f), 0x3f82);  // tie rounds up to even
  EXPECT_FLOAT_EQ(bfloat16_bits_to_float(0x4049), 3.140625f);
  EXPECT_TRUE(std::isnan(bfloat16_bits_to_float(float_to_bfloat16_bits(std::nanf("")))));
}

TEST(Tensor, CastAndAllocationLimits) {
  Tensor t = Tensor::from_floats({3}, {1.5f, -2.5f, 3.0f});
  EXPECT_EQ(t.cast(DType::kInt64).to_int64s(), (std::vector<int64_t>{1, -2, 3}));
  EXPECT_FALSE(Tensor::allocate(DType::kFloat32, {1 << 20, 1 << 20, 1 << 10}).is_ok());
  EXPECT_FALSE(Tensor::allocate(DType::kFloat32, {-1, 3}).is_ok());
  EXPECT_FALSE(checked_numel({int64_t{1} << 40, int64_t{1} << 40}).is_ok());
}

}  // namespace
}  // namespace faultline
