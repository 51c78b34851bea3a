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
  // Kernel-level sites (faults/kernel_sites.h): inside the arithmetic of a Conv / Gemm / MatMul node.
  kAccumulator,  // the partial sum of one output element after MAC KernelSite::mac (or after the bias)
  kProduct,      // the product of MAC KernelSite::mac of one output element
  kPe,           // a processing element of a KernelSite::array: every computation the dataflow maps to it
  kPattern,      // an output pattern of the GEMM view (one element, a row, a column, a channel, a tile)
  kCount,
};
inline constexpr int kSiteTargetCount = static_cast<int>(SiteTarget::kCount);

// "weight", "activation", "input", "state", "accumulator", "product", "pe", "pattern".
std::string_view site_target_name(SiteTarget target);
// accumulator, product, pe, pattern.
bool is_kernel_site(SiteTarget target);
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

// Kernel-level sites (faults/kernel_sites.h defines the GEMM view, the MAC order and the PE mappings).
enum class Dataflow : uint8_t {
  kOutputStationary,  // PE (r, c) computes the outputs (row, col) with row % R == r, col % C == c
  kWeightStationary,  // PE (r, c) holds the weights (MAC t, col) with t % R == r, col % C == c
  kCount,
};
// The register of a processing element a pe fault corrupts.
enum class PeUnit : uint8_t {
  kAccumulator,  // the partial sum it writes
  kProduct,      // the product its multiplier writes
  kCount,
};
enum class OutputPattern : uint8_t { kElement, kRow, kColumn, kChannel, kTile, kCount };

// "output-stationary" (also "os"), "weight-stationary" ("ws").
std::string_view dataflow_name(Dataflow dataflow);
std::optional<Dataflow> dataflow_from_name(std::string_view name);
// "accumulator", "product".
std::string_view pe_unit_name(PeUnit unit);
std::optional<PeUnit> pe_unit_from_name(std::string_view name);
// "element", "row", "column", "channel", "tile".
std::string_view output_pattern_name(OutputPattern pattern);
std::optional<OutputPattern> output_pattern_from_name(std::string_view name);

inline constexpr int64_t kMacLast = -1;  // accumulator: after the last MAC (the output before the bias)
inline constexpr int64_t kMacBias = -2;  // accumulator: after the bias is added (the kernel's output)

struct PeArray {
  int64_t rows = 0;
  int64_t cols = 0;
  Dataflow dataflow = Dataflow::kOutputStationary;
  PeUnit unit = PeUnit::kAccumulator;
  bool operator==(const PeArray&) const = default;
};

// What a kernel-level site adds to (target, layer, index, bit). FaultSite::index holds: the output element
// (per image, in the model's order) for accumulator and product and pattern element; (r, c) of the PE for pe;
// (row,) / (col,) of the GEMM view for pattern row / column / channel; (row, col, rows, cols) for a tile.
struct KernelSite {
  int64_t mac = kMacLast;  // accumulator: MAC t (0-based), kMacLast or kMacBias; product: MAC t
  PeArray array;           // pe
  OutputPattern pattern = OutputPattern::kElement;  // pattern
  bool operator==(const KernelSite&) const = default;
};

// "12", "last", "bias" (the Mac column).
std::string mac_to_string(int64_t mac);
Result<int64_t> parse_mac(std::string_view text);
// "16x16" (the Array column): rows and columns >= 1.
std::string array_to_string(const PeArray& array);
Result<PeArray> parse_array_size(std::string_view text);

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
  KernelSite kernel;               // kernel-level targets only (is_kernel_site)

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
