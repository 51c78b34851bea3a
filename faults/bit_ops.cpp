#include "faults/bit_ops.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>

namespace faultline {

namespace {

template <typename T>
uint64_t load(const void* word) {
  T value;
  std::memcpy(&value, word, sizeof value);
  return static_cast<uint64_t>(value);
}

template <typename T>
void store(void* word, uint64_t bits) {
  T value = static_cast<T>(bits);
  std::memcpy(word, &value, sizeof value);
}

template <typename Int>
Result<uint64_t> integer_bits(DType dtype, double value) {
  if (std::isnan(value)) {
    return invalid_argument("value NaN cannot be stored in " + std::string(dtype_name(dtype)));
  }
  double rounded = std::nearbyint(value);
  constexpr double kLow = static_cast<double>(std::numeric_limits<Int>::min());
  constexpr double kHigh = static_cast<double>(std::numeric_limits<Int>::max());
  Int stored;
  if (rounded <= kLow) {
    stored = std::numeric_limits<Int>::min();
  } else if (rounded >= kHigh) {
    stored = std::numeric_limits<Int>::max();
  } else {
    stored = static_cast<Int>(rounded);
  }
  using Unsigned = std::make_unsigned_t<Int>;
  return static_cast<uint64_t>(static_cast<Unsigned>(stored));
}

}  // namespace

uint64_t read_word_bits(DType dtype, const void* word) {
  switch (dtype_size(dtype)) {
    case 1:
      return load<uint8_t>(word);
    case 2:
      return load<uint16_t>(word);
    case 4:
      return load<uint32_t>(word);
    default:
      return load<uint64_t>(word);
  }
}

void write_word_bits(DType dtype, void* word, uint64_t bits) {
  switch (dtype_size(dtype)) {
    case 1:
      store<uint8_t>(word, bits);
      break;
    case 2:
      store<uint16_t>(word, bits);
      break;
    case 4:
      store<uint32_t>(word, bits);
      break;
    default:
      store<uint64_t>(word, bits);
      break;
  }
}

Result<uint64_t> value_to_word_bits(DType dtype, double value) {
  switch (dtype) {
    case DType::kFloat32: {
      float f = static_cast<float>(value);
      uint32_t bits;
      std::memcpy(&bits, &f, sizeof bits);
      return uint64_t{bits};
    }
    case DType::kFloat16:
      return uint64_t{float_to_half_bits(static_cast<float>(value))};
    case DType::kBFloat16:
      return uint64_t{float_to_bfloat16_bits(static_cast<float>(value))};
    case DType::kFloat64: {
      uint64_t bits;
      std::memcpy(&bits, &value, sizeof bits);
      return bits;
    }
    case DType::kInt8:
      return integer_bits<int8_t>(dtype, value);
    case DType::kUInt8:
      return integer_bits<uint8_t>(dtype, value);
    case DType::kInt32:
      return integer_bits<int32_t>(dtype, value);
    case DType::kInt64:
      return integer_bits<int64_t>(dtype, value);
    case DType::kBool:
      if (std::isnan(value)) return invalid_argument("value NaN cannot be stored in bool");
      return uint64_t{value != 0.0 ? 1u : 0u};
  }
  return internal_error("value_to_word_bits: unknown dtype");
}

WordFault word_fault_of(const Fault& fault, uint64_t random_bits) {
  WordFault word;
  word.model = fault.model;
  word.bit = fault.site.bit;
  word.mask = fault.mask;
  word.value = fault.value;
  word.random_bits = random_bits;
  return word;
}

Status validate_word_fault(DType dtype, const WordFault& fault) {
  const int width = dtype_bits(dtype);
  const std::string range = std::string(dtype_name(dtype)) + " (0-" + std::to_string(width - 1) + ")";
  switch (fault.model) {
    case FaultModel::kBitFlip:
    case FaultModel::kStuckAt0:
    case FaultModel::kStuckAt1:
      if (fault.bit == kNoBit) return invalid_argument(std::string(fault_model_name(fault.model)) + " needs a bit");
      if (fault.bit < 0 || fault.bit >= width) {
        return out_of_range("bit " + std::to_string(fault.bit) + " is out of range for " + range);
      }
      return Status::ok();
    case FaultModel::kMultiBitFlip:
      if (fault.mask == 0) return invalid_argument("multibit needs a non-zero mask");
      if ((fault.mask & ~width_mask(width)) != 0) {
        return out_of_range("mask " + mask_to_string(fault.mask) + " has bits out of range for " + range);
      }
      return Status::ok();
    case FaultModel::kValue: {
      auto bits = value_to_word_bits(dtype, fault.value);
      return bits.status();
    }
    case FaultModel::kZero:
    case FaultModel::kRandomValue:
      return Status::ok();
    case FaultModel::kBitErrorRate:
      return invalid_argument("ber is a whole-tensor model, not a word fault");
    case FaultModel::kCount:
      break;
  }
  return internal_error("validate_word_fault: unknown fault model");
}

WordMasks compose_word_masks(const WordMasks& first, const WordMasks& then) {
  // A bit that `then` clears (keep 0) or sets is then.set ^ then.flip whatever came before; any other bit is
  // first's result, flipped by then.flip.
  const uint64_t fixed = ~then.keep | then.set;
  WordMasks m;
  m.keep = first.keep & ~fixed;
  m.set = first.set & ~fixed;
  m.flip = ((first.flip ^ then.flip) & ~fixed) | ((then.set ^ then.flip) & fixed);
  return m;
}

WordMasks word_masks(DType dtype, const WordFault& fault) {
  const uint64_t all = width_mask(dtype_bits(dtype));
  const uint64_t bit = fault.bit >= 0 && fault.bit < 64 ? uint64_t{1} << fault.bit : 0;
  WordMasks m;
  switch (fault.model) {
    case FaultModel::kBitFlip:
      m.flip = bit;
      break;
    case FaultModel::kMultiBitFlip:
      m.flip = fault.mask & all;
      break;
    case FaultModel::kStuckAt0:
      m.keep = ~bit;
      break;
    case FaultModel::kStuckAt1:
      m.set = bit;
      break;
    case FaultModel::kZero:
      m.keep = 0;
      break;
    case FaultModel::kValue: {
      auto bits = value_to_word_bits(dtype, fault.value);
      if (bits.is_ok()) {
        m.keep = 0;
        m.set = bits.value() & all;
      }
      break;
    }
    case FaultModel::kRandomValue:
      m.keep = 0;
      m.set = fault.random_bits & all;
      break;
    case FaultModel::kBitErrorRate:
    case FaultModel::kCount:
      break;
  }
  return m;
}

uint64_t faulted_word_bits(DType dtype, uint64_t original, const WordFault& fault) {
  return apply_word_masks(original, word_masks(dtype, fault), dtype_bits(dtype));
}

Result<uint64_t> apply_word_fault(DType dtype, void* word, const WordFault& fault) {
  FL_RETURN_IF_ERROR(validate_word_fault(dtype, fault));
  const uint64_t original = read_word_bits(dtype, word);
  write_word_bits(dtype, word, faulted_word_bits(dtype, original, fault));
  return original;
}

Result<BitFlipLog> flip_bits_with_probability(std::span<std::byte> bytes, double p, uint64_t seed) {
  if (!(p >= 0.0 && p <= 1.0)) {
    return out_of_range("bit error rate " + std::to_string(p) + " is not a probability in [0, 1]");
  }
  BitFlipLog log;
  const uint64_t total_bits = static_cast<uint64_t>(bytes.size()) * 8;
  if (p == 0.0 || total_bits == 0) return log;
  auto flip = [&](uint64_t position) {
    bytes[position >> 3] ^= static_cast<std::byte>(1u << (position & 7));
    log.flipped_bits.push_back(position);
  };
  if (p == 1.0) {
    log.flipped_bits.reserve(total_bits);
    for (uint64_t position = 0; position < total_bits; ++position) flip(position);
    return log;
  }
  std::mt19937_64 rng(seed);
  const double log_q = std::log1p(-p);  // log(1 - p) < 0
  constexpr double kTwoToMinus53 = 1.0 / 9007199254740992.0;
  uint64_t position = 0;
  for (;;) {
    const double u = 1.0 - static_cast<double>(rng() >> 11) * kTwoToMinus53;  // (0, 1]
    const double gap = std::floor(std::log(u) / log_q);
    if (!(gap < static_cast<double>(total_bits - position))) break;  // also stops on +inf
    position += static_cast<uint64_t>(gap);
    flip(position);
    ++position;
    if (position >= total_bits) break;
  }
  return log;
}

void undo_bit_flips(std::span<std::byte> bytes, const BitFlipLog& log) {
  for (uint64_t position : log.flipped_bits) {
    bytes[position >> 3] ^= static_cast<std::byte>(1u << (position & 7));
  }
}

}  // namespace faultline
