// Fault descriptions: where a fault hits (a FaultSite) and what it does there (a Fault).
//
// A site is (target, layer, logical index, bit[, batch][, steps]). The index is logical, in the model's own
// order (OIHW weights, per-image CHW activations for ONNX); an activation fault hits every image of the batch
// unless `batch` is set. Bit 0 is the least significant bit of the stored word and the highest bit is the
// sign (float32: 31, float16/bfloat16: 15, int8: 7), as in SFIadvancedmodels and tf_injector.
// These types are plain data: resolving a site against a model is faults/fault_list.h, applying a fault to a
// word is faults/bit_ops.h.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/status.h"

namespace faultline {

// What a site addresses. Add new kinds before kCount and give them a name in fault.cpp (a static_assert
// there checks the table).
enum class SiteTarget : uint8_t {
  kWeight,      // a parameter: conv/gemm weights and biases, BatchNorm scale/shift/mean/var
  kActivation,  // the output of a node
  kInput,       // one consumer's copy of an input value
  kState,       // spiking-neuron state (membrane potential, ...)
  kCount,
};
inline constexpr int kSiteTargetCount = static_cast<int>(SiteTarget::kCount);

// "weight", "activation", "input", "state".
std::string_view site_target_name(SiteTarget target);
// Case-insensitive; also accepts the plurals ("weights", "activations").
std::optional<SiteTarget> site_target_from_name(std::string_view name);

enum class FaultModel : uint8_t {
  kBitFlip,       // flip `bit`
  kMultiBitFlip,  // flip every bit set in `mask`
  kStuckAt0,      // force `bit` to 0
  kStuckAt1,      // force `bit` to 1
  kZero,          // the word becomes 0 (all bits clear)
  kValue,         // the word becomes `value` converted to the word's dtype (see bit_ops.h)
  kRandomValue,   // the word becomes a uniformly random bit pattern of its width (drawn by the injector)
  kBitErrorRate,  // every bit of the site's tensor flips independently with probability `value`
  kCount,
};
inline constexpr int kFaultModelCount = static_cast<int>(FaultModel::kCount);

// CSV names: "bitflip", "multibit", "stuck-at-0", "stuck-at-1", "zero", "value", "random", "ber".
std::string_view fault_model_name(FaultModel model);
// Case-insensitive; also accepts "bit-flip", "multi-bit", "sa0"/"sa1", "stuck_at_0", "random-value",
// "bit-error-rate".
std::optional<FaultModel> fault_model_from_name(std::string_view name);
// Whether the model reads FaultSite::bit (bitflip, stuck-at-0/1), Fault::mask (multibit) or Fault::value
// (value; ber reads it as the probability p).
bool fault_model_uses_bit(FaultModel model);
bool fault_model_uses_mask(FaultModel model);
bool fault_model_uses_value(FaultModel model);
// Whether the model addresses one word (every model except kBitErrorRate, which addresses a whole tensor).
bool fault_model_is_word_fault(FaultModel model);

// How long a fault stays armed over a run of N images executed in batches of B (SessionOptions::batch).
// "Image b" is FaultSite::batch, the 0-based index in the whole input; inference and batch require it.
//   kPermanent  every image of every batch (a weight is patched for every executed batch). With Batch, an
//               activation/input/state fault hits only image b (a weight fault refuses Batch: it is shared).
//   kInference  one inference = image b alone. An activation/input fault hits image b only (as Batch does);
//               a weight is faulty only while image b is computed: every other image, of its batch too,
//               sees the clean weight.
//   kBatch      the images of the one executed batch that holds image b, [b / B * B, min(N, that + B)): a
//               weight is faulty while that batch runs and clean for the others; an activation/input fault
//               hits every image of that batch.
//   kSteps      the timestep range FaultSite::steps of a spiking model, as faults/spiking_replay.h runs it
//               (the CNN replay refuses it: "persistence 'steps' needs a spiking model").
// faults/fault_replay.h checks these before anything runs and carries them out.
enum class Persistence : uint8_t {
  kPermanent,
  kInference,
  kBatch,
  kSteps,
  kCount,
};
inline constexpr int kPersistenceCount = static_cast<int>(Persistence::kCount);

// "permanent", "inference", "batch", "steps".
std::string_view persistence_name(Persistence persistence);
std::optional<Persistence> persistence_from_name(std::string_view name);

// An inclusive range of timesteps [first, last].
struct StepRange {
  int64_t first = 0;
  int64_t last = 0;
  bool operator==(const StepRange&) const = default;
};

inline constexpr int kNoBit = -1;  // a site whose model needs no bit (zero, value, multibit, ber)

struct FaultSite {
  SiteTarget target = SiteTarget::kWeight;
  // As written by the user: a canonical layer name ("layer1.0.conv1"), a parameter name
  // ("layer1.0.bn1.running_var"), or an ONNX value name.
  std::string layer;
  // Logical index, one entry per dimension of the target (per image for activations). With `flat_index`
  // it holds one entry, an element offset in row-major order (a list that writes a bare integer).
  // Empty for a whole-tensor model (ber).
  std::vector<int64_t> index;
  bool flat_index = false;
  int bit = kNoBit;
  // The image index in the whole input: the one image an activation/input/state fault hits, and the image
  // (or its batch) of a kInference / kBatch fault, weights included.
  std::optional<int64_t> batch;
  std::optional<StepRange> steps;  // spiking models: only these timesteps

  bool operator==(const FaultSite&) const = default;
};

struct Fault {
  FaultSite site;
  FaultModel model = FaultModel::kBitFlip;
  uint64_t mask = 0;   // kMultiBitFlip: the bits to flip (bit i of the mask = bit i of the word)
  double value = 0.0;  // kValue: the new value; kBitErrorRate: the per-bit probability p
  Persistence persistence = Persistence::kPermanent;

  bool operator==(const Fault&) const = default;
};

// "(3, 0, 2, 1)", "(5,)" for one element, "()" for none: Python's tuple syntax, as the fault lists write it.
std::string index_to_string(const std::vector<int64_t>& index);
// Parses a Python tuple or list of non-negative integers: "(3, 0, 2, 1)", "(5,)", "[3,0]", "()".
// A bare integer ("17") is a flat element offset: the result holds it and `*flat` (if given) is set true.
Result<std::vector<int64_t>> parse_index(std::string_view text, bool* flat = nullptr);
// "0x" + lowercase hex.
std::string mask_to_string(uint64_t mask);
// "0x1f", "31" or "0b11111"; must be non-zero.
Result<uint64_t> parse_mask(std::string_view text);
// "3" or "3-5" (inclusive); first <= last, both >= 0.
Result<StepRange> parse_step_range(std::string_view text);
std::string step_range_to_string(const StepRange& steps);

// One line for messages and logs: "weight layer1.0.conv1 (3, 0, 2, 1) bit 15 bitflip".
std::string describe(const Fault& fault);

}  // namespace faultline
