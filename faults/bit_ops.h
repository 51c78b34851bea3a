// Fault models applied to the bits of stored words, and their exact undo.
//
// A word is one element of a tensor, faulted as the bits it is stored as: float32 (32 bits), float16 and
// bfloat16 (16), int8/uint8/bool (8), int32 (32), int64/float64 (64). Bit 0 is the least significant bit, the
// highest bit is the sign bit of signed and floating types. Words are read and written in host byte order
// (little-endian on every platform faultline builds for), so bit b of a word is bit b of its integer value.
// Every applier returns the word's original bits; writing them back restores the word bit-exactly (NaN
// payloads and -0.0 included).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "engine/dtype.h"
#include "engine/status.h"
#include "faults/fault.h"

namespace faultline {

// What happens to one word. `bit` is read by bitflip and stuck-at, `mask` by multibit, `value` by value,
// `random_bits` by random (the injector draws them, so this module stays deterministic; bits above the
// word's width are ignored).
struct WordFault {
  FaultModel model = FaultModel::kBitFlip;
  int bit = kNoBit;
  uint64_t mask = 0;
  double value = 0.0;
  uint64_t random_bits = 0;
};

// The word part of a fault (its model, site bit, mask and value); `random_bits` for kRandomValue.
WordFault word_fault_of(const Fault& fault, uint64_t random_bits = 0);

// All bits of a word of `width` bits set (width 1..64).
inline uint64_t width_mask(int width) {
  return width >= 64 ? ~uint64_t{0} : (uint64_t{1} << width) - 1;
}

// The word at `word` as an unsigned integer of dtype_bits(dtype) bits, and back.
uint64_t read_word_bits(DType dtype, const void* word);
void write_word_bits(DType dtype, void* word, uint64_t bits);

// `value` converted to the stored bits of `dtype`:
//   float32: nearest float (round to nearest even); float16/bfloat16: via float32, then float_to_half_bits /
//   float_to_bfloat16_bits (round to nearest even, overflow to infinity); float64: exact.
//   Integer types: rounded to nearest, ties to even (as std::nearbyint in the default rounding mode), then
//   saturated to the type's range (int8: -128..127); NaN is an error. bool: 0 or 1 (non-zero is 1).
Result<uint64_t> value_to_word_bits(DType dtype, double value);

// Checks the fault against the word's width: bit in 0..width-1 for bitflip/stuck-at, a non-zero mask with no
// bit at or above the width for multibit, a convertible value for value; ber is not a word fault. The
// message names the dtype and the valid range ("bit 40 is out of range for float32 (0-31)").
Status validate_word_fault(DType dtype, const WordFault& fault);

// Every word fault as three masks: faulted = ((original & keep) | set) ^ flip, truncated to the word's width.
// This is the single definition of what a fault does to a word; faulted_word_bits applies it on the host and
// a GPU backend applies the same masks in device memory (kernels/cuda/device_word_patch.h). ber is not a
// word fault (identity masks). Validated fault assumed.
struct WordMasks {
  uint64_t keep = ~uint64_t{0};
  uint64_t set = 0;
  uint64_t flip = 0;
};
WordMasks word_masks(DType dtype, const WordFault& fault);
inline uint64_t apply_word_masks(uint64_t original, const WordMasks& masks, int width) {
  return (((original & masks.keep) | masks.set) ^ masks.flip) & width_mask(width);
}

// The masks of `first` then `then` applied to one word, as one: apply_word_masks(apply_word_masks(w, first),
// then) == apply_word_masks(w, compose_word_masks(first, then)) for every word (two faults on one element,
// patched by a device in one write).
WordMasks compose_word_masks(const WordMasks& first, const WordMasks& then);

// The faulted bits of a word whose bits are `original` (validated fault assumed).
uint64_t faulted_word_bits(DType dtype, uint64_t original, const WordFault& fault);

// Validates, applies the fault to the word at `word` and returns its original bits.
Result<uint64_t> apply_word_fault(DType dtype, void* word, const WordFault& fault);
// Writes `original_bits` (from apply_word_fault) back.
inline void restore_word(DType dtype, void* word, uint64_t original_bits) {
  write_word_bits(dtype, word, original_bits);
}

// Bit-error-rate faults over a whole buffer: every bit flips independently with probability p.
// Bits are numbered across the buffer as byte * 8 + bit-in-byte, so with little-endian words bit b of
// element i of a w-bit dtype is bit i * w + b.
//
// Sampling: instead of a draw per bit, the gap to the next flipped bit is drawn from the geometric
// distribution, gap = floor(log(U) / log(1 - p)) with U uniform in (0, 1] from the 53 high bits of
// std::mt19937_64(seed) (fully specified by the C++ standard); the cost is O(number of flips). The flipped
// positions depend only on (seed, p, buffer size) up to the last-ulp agreement of std::log / std::log1p
// between C libraries.
struct BitFlipLog {
  std::vector<uint64_t> flipped_bits;  // ascending bit positions
};

// p in [0, 1]; p = 0 flips nothing, p = 1 every bit. Returns the positions flipped (the undo log).
Result<BitFlipLog> flip_bits_with_probability(std::span<std::byte> bytes, double p, uint64_t seed);
// Flips the logged bits again, restoring the buffer exactly (bit flips are their own inverse).
void undo_bit_flips(std::span<std::byte> bytes, const BitFlipLog& log);

}  // namespace faultline
