// Word fault models against hand-computed bit patterns, bit-exact restore, and bit-error-rate flips.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "faults/bit_ops.h"

namespace faultline {
namespace {

uint32_t bits_of(float value) {
  return std::bit_cast<uint32_t>(value);
}
float float_of(uint32_t bits) {
  return std::bit_cast<float>(bits);
}

WordFault flip(int bit) {
  return {FaultModel::kBitFlip, bit, 0, 0.0, 0};
}
WordFault model_at(FaultModel model, int bit) {
  return {model, bit, 0, 0.0, 0};
}

// Applies `fault` to a float32 word holding `value` and returns the new bits.
uint32_t fault_float(float value, const WordFault& fault) {
  float word = value;
  auto original = apply_word_fault(DType::kFloat32, &word, fault);
  EXPECT_TRUE(original.is_ok()) << original.status().message();
  EXPECT_EQ(original.value(), bits_of(value));
  return bits_of(word);
}

uint16_t fault_16(DType dtype, uint16_t word, const WordFault& fault) {
  auto original = apply_word_fault(dtype, &word, fault);
  EXPECT_TRUE(original.is_ok()) << original.status().message();
  return word;
}

int8_t fault_int8(int8_t word, const WordFault& fault) {
  auto original = apply_word_fault(DType::kInt8, &word, fault);
  EXPECT_TRUE(original.is_ok()) << original.status().message();
  return word;
}

TEST(FaultBitOps, Float32BitFlips) {
  // 1.0f = 0x3F800000: sign 0, exponent 0x7F (bits 30..23 = 0111 1111), mantissa 0.
  EXPECT_EQ(fault_float(1.0f, flip(30)), 0x7F800000u);  // exponent becomes 0xFF: +inf
  EXPECT_TRUE(std::isinf(float_of(0x7F800000u)));
  EXPECT_EQ(fault_float(1.0f, flip(31)), 0xBF800000u);  // -1.0
  EXPECT_EQ(float_of(0xBF800000u), -1.0f);
  EXPECT_EQ(fault_float(1.0f, flip(23)), 0x3F000000u);  // exponent 0x7E: 0.5
  EXPECT_EQ(float_of(0x3F000000u), 0.5f);
  EXPECT_EQ(fault_float(1.0f, flip(22)), 0x3FC00000u);  // top mantissa bit: 1.5
  EXPECT_EQ(float_of(0x3FC00000u), 1.5f);
  EXPECT_EQ(fault_float(1.0f, flip(0)), 0x3F800001u);   // one ulp above 1
  EXPECT_EQ(fault_float(0.0f, flip(31)), 0x80000000u);  // -0.0
  EXPECT_EQ(fault_float(2.0f, flip(30)), 0x00000000u);  // 2.0 = 0x40000000 -> +0.0
}

TEST(FaultBitOps, Float32StuckAtAndMultibit) {
  EXPECT_EQ(fault_float(1.0f, model_at(FaultModel::kStuckAt1, 30)), 0x7F800000u);
  EXPECT_EQ(fault_float(1.0f, model_at(FaultModel::kStuckAt0, 30)), 0x3F800000u);  // already 0: unchanged
  // Bits 29..23 of 1.0f are set; clearing bit 29 leaves exponent 0x3F: 2^(63 - 127) = 2^-64.
  EXPECT_EQ(fault_float(1.0f, model_at(FaultModel::kStuckAt0, 29)), 0x1F800000u);
  EXPECT_EQ(float_of(0x1F800000u), std::ldexp(1.0f, -64));
  EXPECT_EQ(fault_float(1.0f, model_at(FaultModel::kStuckAt1, 29)), 0x3F800000u);
  WordFault multi{FaultModel::kMultiBitFlip, kNoBit, 0xC0000000u, 0.0, 0};  // bits 31 and 30
  EXPECT_EQ(fault_float(1.0f, multi), 0xFF800000u);                         // -inf
  EXPECT_EQ(fault_float(-3.5f, model_at(FaultModel::kZero, kNoBit)), 0u);
}

TEST(FaultBitOps, Float16AndBFloat16) {
  // float16 1.0 = 0x3C00 (exponent bits 14..10 = 01111).
  EXPECT_EQ(fault_16(DType::kFloat16, 0x3C00, flip(14)), 0x7C00);  // +inf
  EXPECT_EQ(fault_16(DType::kFloat16, 0x3C00, flip(15)), 0xBC00);  // -1.0
  EXPECT_EQ(fault_16(DType::kFloat16, 0x3C00, flip(10)), 0x3800);  // 0.5
  EXPECT_EQ(half_bits_to_float(0x3800), 0.5f);
  EXPECT_EQ(fault_16(DType::kFloat16, 0x3C00, flip(9)), 0x3E00);  // 1.5
  // bfloat16 1.0 = 0x3F80 (the top half of 0x3F800000).
  EXPECT_EQ(fault_16(DType::kBFloat16, 0x3F80, flip(14)), 0x7F80);  // +inf
  EXPECT_EQ(fault_16(DType::kBFloat16, 0x3F80, flip(15)), 0xBF80);  // -1.0
  EXPECT_EQ(fault_16(DType::kBFloat16, 0x3F80, flip(6)), 0x3FC0);   // 1.5
  EXPECT_EQ(bfloat16_bits_to_float(0x3FC0), 1.5f);
  EXPECT_EQ(fault_16(DType::kBFloat16, 0x3F80, model_at(FaultModel::kStuckAt0, 7)), 0x3F00);  // 0.5
}

TEST(FaultBitOps, Int8AndInt32) {
  EXPECT_EQ(fault_int8(5, flip(7)), -123);  // 0x05 -> 0x85
  EXPECT_EQ(fault_int8(5, flip(1)), 7);
  EXPECT_EQ(fault_int8(5, flip(0)), 4);
  EXPECT_EQ(fault_int8(0, model_at(FaultModel::kStuckAt1, 7)), -128);
  EXPECT_EQ(fault_int8(-1, model_at(FaultModel::kStuckAt0, 7)), 127);
  int32_t word = 1;
  ASSERT_TRUE(apply_word_fault(DType::kInt32, &word, flip(31)).is_ok());
  EXPECT_EQ(word, std::numeric_limits<int32_t>::min() + 1);
}

TEST(FaultBitOps, BitOutOfRangeIsAnError) {
  float f = 1.0f;
  auto r = apply_word_fault(DType::kFloat32, &f, flip(40));
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), StatusCode::kOutOfRange);
  EXPECT_EQ(r.status().message(), "bit 40 is out of range for float32 (0-31)");
  EXPECT_EQ(f, 1.0f);  // untouched
  int8_t i = 5;
  auto r8 = apply_word_fault(DType::kInt8, &i, flip(8));
  ASSERT_FALSE(r8.is_ok());
  EXPECT_EQ(r8.status().message(), "bit 8 is out of range for int8 (0-7)");
  uint16_t h = 0x3C00;
  EXPECT_FALSE(apply_word_fault(DType::kFloat16, &h, flip(16)).is_ok());
  EXPECT_FALSE(apply_word_fault(DType::kFloat16, &h, flip(-2)).is_ok());
  EXPECT_FALSE(apply_word_fault(DType::kFloat16, &h, flip(kNoBit)).is_ok());
  WordFault wide_mask{FaultModel::kMultiBitFlip, kNoBit, 0x10000, 0.0, 0};
  EXPECT_FALSE(apply_word_fault(DType::kFloat16, &h, wide_mask).is_ok());
  WordFault no_mask{FaultModel::kMultiBitFlip, kNoBit, 0, 0.0, 0};
  EXPECT_FALSE(apply_word_fault(DType::kFloat16, &h, no_mask).is_ok());
  WordFault ber{FaultModel::kBitErrorRate, kNoBit, 0, 1e-3, 0};
  EXPECT_FALSE(apply_word_fault(DType::kFloat16, &h, ber).is_ok());
  EXPECT_EQ(h, 0x3C00);
}

TEST(FaultBitOps, SetValueConvertsToTheDType) {
  auto bits = [](DType dtype, double value) {
    auto r = value_to_word_bits(dtype, value);
    EXPECT_TRUE(r.is_ok()) << r.status().message();
    return r.is_ok() ? r.value() : ~uint64_t{0};
  };
  EXPECT_EQ(bits(DType::kFloat32, 0.1), 0x3DCCCCCDu);
  EXPECT_EQ(bits(DType::kFloat16, 0.1), 0x2E66u);
  EXPECT_EQ(bits(DType::kBFloat16, 0.1), 0x3DCDu);  // 0x3DCCCCCD rounds up (low half 0xCCCD > 0x8000)
  EXPECT_EQ(bits(DType::kFloat16, 1e6), 0x7C00u);   // overflow -> +inf
  EXPECT_EQ(bits(DType::kInt8, 3.5), 4u);           // ties to even
  EXPECT_EQ(bits(DType::kInt8, 2.5), 2u);
  EXPECT_EQ(bits(DType::kInt8, -1.5), 0xFEu);    // -2
  EXPECT_EQ(bits(DType::kInt8, -200.0), 0x80u);  // saturates to -128
  EXPECT_EQ(bits(DType::kInt8, 300.0), 0x7Fu);   // saturates to 127
  EXPECT_EQ(bits(DType::kInt32, -1.0), 0xFFFFFFFFu);
  EXPECT_EQ(bits(DType::kInt32, 1e12), 0x7FFFFFFFu);
  EXPECT_FALSE(value_to_word_bits(DType::kInt8, std::nan("")).is_ok());

  int8_t word = 9;
  WordFault set{FaultModel::kValue, kNoBit, 0, -7.0, 0};
  ASSERT_TRUE(apply_word_fault(DType::kInt8, &word, set).is_ok());
  EXPECT_EQ(word, -7);
  uint16_t half = 0;
  WordFault set_half{FaultModel::kValue, kNoBit, 0, -2.0, 0};
  ASSERT_TRUE(apply_word_fault(DType::kFloat16, &half, set_half).is_ok());
  EXPECT_EQ(half, 0xC000);
  WordFault random{FaultModel::kRandomValue, kNoBit, 0, 0.0, 0x1234567890ABCDEFull};
  ASSERT_TRUE(apply_word_fault(DType::kFloat16, &half, random).is_ok());
  EXPECT_EQ(half, 0xCDEF);  // only the word's 16 bits of the random draw
}

TEST(FaultBitOps, RestoreIsBitExactOverRandomFaults) {
  const DType dtypes[] = {DType::kFloat32, DType::kFloat16, DType::kBFloat16, DType::kInt8, DType::kInt32};
  const FaultModel models[] = {FaultModel::kBitFlip,    FaultModel::kMultiBitFlip, FaultModel::kStuckAt0,
                               FaultModel::kStuckAt1,   FaultModel::kZero,         FaultModel::kValue,
                               FaultModel::kRandomValue};
  std::mt19937_64 rng(2024);
  for (int trial = 0; trial < 1000; ++trial) {
    const DType dtype = dtypes[rng() % 5];
    const int width = dtype_bits(dtype);
    // Words include NaNs with payloads, infinities, -0.0 and subnormals: any bit pattern.
    uint64_t before = rng() & width_mask(width);
    std::vector<std::byte> buffer(16);
    std::byte* word = buffer.data() + 4;
    write_word_bits(dtype, word, before);
    const std::vector<std::byte> snapshot = buffer;
    WordFault fault;
    fault.model = models[rng() % 7];
    fault.bit = static_cast<int>(rng() % static_cast<uint64_t>(width));
    fault.mask = (rng() & width_mask(width)) | 1;
    fault.value = static_cast<double>(static_cast<int64_t>(rng() % 2001) - 1000) / 7.0;
    fault.random_bits = rng();
    auto original = apply_word_fault(dtype, word, fault);
    ASSERT_TRUE(original.is_ok()) << original.status().message();
    ASSERT_EQ(original.value(), before);
    EXPECT_EQ(read_word_bits(dtype, word), faulted_word_bits(dtype, before, fault));
    // Neighbouring bytes are never touched.
    for (size_t i = 0; i < buffer.size(); ++i) {
      if (i < 4 || i >= 4 + dtype_size(dtype)) {
        ASSERT_EQ(buffer[i], snapshot[i]) << "byte " << i;
      }
    }
    restore_word(dtype, word, original.value());
    ASSERT_EQ(buffer, snapshot) << "trial " << trial;
  }
}

TEST(FaultBitOps, BitErrorRateZeroAndOne) {
  std::vector<std::byte> buffer(64, std::byte{0x5A});
  const auto snapshot = buffer;
  auto none = flip_bits_with_probability(buffer, 0.0, 1);
  ASSERT_TRUE(none.is_ok());
  EXPECT_TRUE(none->flipped_bits.empty());
  EXPECT_EQ(buffer, snapshot);
  auto all = flip_bits_with_probability(buffer, 1.0, 1);
  ASSERT_TRUE(all.is_ok());
  EXPECT_EQ(all->flipped_bits.size(), 64u * 8);
  for (std::byte b : buffer) EXPECT_EQ(b, std::byte{0xA5});
  undo_bit_flips(buffer, all.value());
  EXPECT_EQ(buffer, snapshot);
  EXPECT_FALSE(flip_bits_with_probability(buffer, -0.1, 1).is_ok());
  EXPECT_FALSE(flip_bits_with_probability(buffer, 1.5, 1).is_ok());
  EXPECT_FALSE(flip_bits_with_probability(buffer, std::nan(""), 1).is_ok());
}

TEST(FaultBitOps, BitErrorRateStatisticsAndUndo) {
  // 1 MiB = 8,388,608 bits at p = 1e-3: 8,388.6 flips expected, sd ~ 91.5. The seed is fixed, so the count
  // is a fixed number; the bound (6 sd) documents that it is plausible.
  std::vector<std::byte> buffer(size_t{1} << 20);
  std::mt19937_64 fill(7);
  for (auto& b : buffer) b = static_cast<std::byte>(fill());
  const auto snapshot = buffer;
  auto log = flip_bits_with_probability(buffer, 1e-3, 42);
  ASSERT_TRUE(log.is_ok());
  const auto& flipped = log->flipped_bits;
  EXPECT_NEAR(static_cast<double>(flipped.size()), 8388.6, 6 * 91.5);
  for (size_t i = 1; i < flipped.size(); ++i) ASSERT_LT(flipped[i - 1], flipped[i]);
  // Every flipped bit differs, every other bit is intact.
  size_t differing = 0;
  for (size_t i = 0; i < buffer.size(); ++i) {
    differing += static_cast<size_t>(std::popcount(static_cast<unsigned>(buffer[i] ^ snapshot[i])));
  }
  EXPECT_EQ(differing, flipped.size());
  // The 8 bit positions in a byte are hit alike (chi-square, 7 degrees of freedom, bound far above the 0.999
  // quantile 24.3).
  double counts[8] = {};
  for (uint64_t position : flipped) counts[position & 7] += 1;
  double chi2 = 0;
  const double expected = static_cast<double>(flipped.size()) / 8;
  for (double c : counts) chi2 += (c - expected) * (c - expected) / expected;
  EXPECT_LT(chi2, 30.0);
  // Same seed, same flips.
  std::vector<std::byte> again = snapshot;
  auto log2 = flip_bits_with_probability(again, 1e-3, 42);
  ASSERT_TRUE(log2.is_ok());
  EXPECT_EQ(log2->flipped_bits, flipped);
  EXPECT_EQ(again, buffer);
  undo_bit_flips(buffer, log.value());
  EXPECT_EQ(buffer, snapshot);
  // A tiny rate costs nothing and flips (almost surely) nothing: 8.4e-4 flips expected.
  auto tiny = flip_bits_with_probability(buffer, 1e-10, 42);
  ASSERT_TRUE(tiny.is_ok());
  EXPECT_LE(tiny->flipped_bits.size(), 1u);
  undo_bit_flips(buffer, tiny.value());
  EXPECT_EQ(buffer, snapshot);
}

TEST(FaultBitOps, BitErrorRateWordBitsMatchElementBits) {
  // Bit i * 32 + b of a float32 buffer is bit b of element i (little-endian words).
  std::vector<float> values(4, 1.0f);
  auto bytes = std::as_writable_bytes(std::span<float>(values));
  BitFlipLog log;
  log.flipped_bits = {2 * 32 + 31};
  undo_bit_flips(bytes, log);  // flipping is its own inverse: use it to flip one chosen bit
  EXPECT_EQ(values[2], -1.0f);
  EXPECT_EQ(values[1], 1.0f);
}

// Two faults on one element, patched on a GPU in one write: the composed masks act as the two in order, for
// every pair of fault models (flip, stuck-at 0/1, zero, value, multibit) on random words.
TEST(FaultBitOps, ComposedMasksActAsBothInOrder) {
  const std::vector<WordFault> faults = {
      {FaultModel::kBitFlip, 3},          {FaultModel::kBitFlip, 30},       {FaultModel::kStuckAt0, 3},
      {FaultModel::kStuckAt1, 3},         {FaultModel::kStuckAt1, 31},      {FaultModel::kZero},
      {FaultModel::kMultiBitFlip, kNoBit, 0xF0F0F0F0u}, {FaultModel::kValue, kNoBit, 0, -2.5}};
  std::mt19937_64 random(7);
  for (const WordFault& first : faults) {
    for (const WordFault& then : faults) {
      const WordMasks composed = compose_word_masks(word_masks(DType::kFloat32, first), word_masks(DType::kFloat32, then));
      for (int trial = 0; trial < 64; ++trial) {
        const uint64_t word = random() & 0xFFFFFFFFu;
        const uint64_t twice = faulted_word_bits(DType::kFloat32, faulted_word_bits(DType::kFloat32, word, first), then);
        EXPECT_EQ(apply_word_masks(word, composed, 32), twice)
            << "models " << static_cast<int>(first.model) << " then " << static_cast<int>(then.model);
      }
    }
  }
}

}  // namespace
}  // namespace faultline
