// Fault-list generation over a model's fault targets: uniform random, exhaustive, and statistical (the
// sample sizes of faults/sample_size.h).
//
// The fault space of the chosen targets is every (target, element, bit) with the bits of `bits`; positions
// are numbered target by target (in list_fault_targets order), element by element (row-major), bit by bit
// (in ascending order of the chosen bits). Generated lists are sorted by that position, so a campaign visits
// each layer once.
//
// Determinism: all randomness comes from one std::mt19937_64(seed) stream (its output is fixed by the C++
// standard) consumed in a documented order, and bounded integers are drawn with uniform_below() (below)
// instead of std::uniform_int_distribution, whose output differs between standard libraries. The same
// (targets, options, seed) give the same list on every platform.
#pragma once

#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "engine/status.h"
#include "faults/fault.h"
#include "faults/fault_list.h"
#include "faults/fault_targets.h"
#include "faults/kernel_sites.h"
#include "faults/sample_size.h"

namespace faultline {

// Shell-style glob: '*' matches any run of characters (dots included), '?' one character; everything else
// matches itself. "layer3.*", "*conv*", "layer?.0.conv1".
bool glob_match(std::string_view pattern, std::string_view text);

// A bit set spec: comma-separated bits and inclusive ranges, "0-31", "23-30,31", "31". Returns the bits in
// ascending order without duplicates; each in 0..63 (the word width is checked against the targets later).
Result<std::vector<int>> parse_bit_spec(std::string_view spec);

// An unbiased integer in [0, bound) (bound >= 1): draws 64-bit words until one falls below the largest
// multiple of `bound` that fits (2^64 - (2^64 mod bound)), then takes it modulo `bound`. The expected number
// of draws is below 2.
uint64_t uniform_below(std::mt19937_64& rng, uint64_t bound);

// Which parameters a weight campaign covers.
enum class ParameterSet {
  kConvAndLinearWeights,  // the rank >= 2 weights of Conv / Gemm / MatMul: the fault space of SFIadvancedmodels
                          // and dnn-benchmarks (no biases, no BatchNorm parameters)
  kAllParameters,         // every parameter: weights, biases, BatchNorm scale/shift/mean/var
};

struct GeneratorOptions {
  // weight, activation, input, or a kernel-level target (accumulator, product, pe, pattern: the Conv / Gemm /
  // MatMul layers and the integer ops; faults/kernel_sites.h kernel_space_shape() gives their positions:
  // (element, MAC), the PEs of `kernel.array`, or the rows / columns / tiles of `kernel.pattern`; the bits are
  // those of kernel_word_dtype(): an integer op's int32 arithmetic, its int8 / uint8 / int32 output)
  SiteTarget target = SiteTarget::kWeight;
  KernelSite kernel;       // pe: the array; pattern: the pattern
  int64_t tile_rows = 0;   // pattern tile: the tile size
  int64_t tile_cols = 0;
  // Globs over canonical layer names; a target is chosen when a pattern matches its canonical layer name
  // or its own name (parameter or value name, so "*.running_var" works).
  std::vector<std::string> layers = {"*"};
  ParameterSet parameters = ParameterSet::kConvAndLinearWeights;
  std::string bits;  // parse_bit_spec syntax; empty: every bit of each target's word
  // Word fault models; each generated fault takes one of them uniformly at random (random lists) or every
  // one in turn (exhaustive lists). Models without a bit (zero, value, random) still address a (element,
  // bit) position, so they are spread like the others; their Bit is left empty.
  std::vector<FaultModel> models = {FaultModel::kBitFlip};
  int multibit_bits = 2;  // multibit: the drawn bit plus this many - 1 other chosen bits
  double value = 0.0;     // value: the value written
  Persistence persistence = Persistence::kPermanent;
  // With persistence inference or batch: each fault's Batch (the image it hits) is drawn uniformly from
  // [0, images), the images of the run's dataset, from the list's random stream. 0 leaves Batch empty (such a
  // list does not run until its Batch column is filled in).
  int64_t images = 0;
  uint64_t seed = 51195;  // SFIadvancedmodels' default seed
};

// The kernel-level keys of a generated list, one rule for the YAML's faults.generate (array: {rows, cols,
// dataflow, unit}, pattern, tile: {rows, cols}) and `faultline faults generate` (--array RxC, --dataflow, --unit,
// --pattern, --tile RxC): the array (and its dataflow and unit) is read by target pe only, which needs it; the
// pattern by target pattern only, which needs it; the tile by pattern tile only, which needs it. `given` says
// which keys are present; `pattern` is the parsed pattern (target pattern with a pattern given). Returns the
// first key at fault ("array", "dataflow", "unit", "pattern" or "tile") with its message, or nullopt; the
// caller names the key in its own syntax (faults.generate.tile, option --tile).
struct KernelKeysGiven {
  bool array = false, dataflow = false, unit = false, pattern = false, tile = false;
};
struct KernelKeyError {
  std::string key;
  std::string message;
};
std::optional<KernelKeyError> check_kernel_keys(SiteTarget target, std::optional<OutputPattern> pattern,
                                                const KernelKeysGiven& given);

// One chosen target and its bits.
struct FaultSpaceLayer {
  size_t target = 0;  // index into the targets
  std::string layer;  // the name written in fault lists (resolves back to this target)
  Shape shape;        // the target's shape (per image for activations); a kernel target's position shape
  const FaultTarget* source = nullptr;  // the target itself
  int64_t elements = 0;
  std::vector<int> bits;
};

// The targets the options choose, in target order. Fails when a pattern matches nothing (naming it), when
// nothing is chosen, or when a chosen bit is not below a target's word width.
Result<std::vector<FaultSpaceLayer>> select_fault_space(const std::vector<FaultTarget>& targets,
                                                        const GeneratorOptions& options);

// `count` faults drawn uniformly from the whole fault space, without repeating a (target, element, bit)
// position (fails when count exceeds the space). Random order of use of the stream: the positions
// (Robert Floyd's sampling algorithm, one uniform_below per fault), then per fault in list order the model
// (when more than one) and, for multibit, the extra bits.
Result<FaultList> generate_random_faults(const std::vector<FaultTarget>& targets, const GeneratorOptions& options,
                                         int64_t count);

// Every position of the fault space with every model (capped: fails above `max_faults`). Exhaustive per bit:
// options.bits = "7"; per layer: options.layers = {"layer1.0.conv1"}.
Result<FaultList> generate_exhaustive_faults(const std::vector<FaultTarget>& targets, const GeneratorOptions& options,
                                             int64_t max_faults = 100'000'000);

// Statistical fault injection: the counts of sample_sizes() for the chosen layers (words = elements, bits =
// the chosen bits), each drawn without repetition from its layer's (kLayerBit: its layer's and bit's)
// positions, layer after layer.
Result<FaultList> generate_statistical_faults(const std::vector<FaultTarget>& targets, const GeneratorOptions& options,
                                              SampleScope scope, const SampleSizeOptions& sample_options);

// One ber fault (whole tensor, probability p) per chosen target; p in [0, 1] (NN-Error-Injection uses
// 1e-10 .. 1e-3). Refuses the kernel-level targets (they take word faults only).
Result<FaultList> generate_ber_faults(const std::vector<FaultTarget>& targets, const GeneratorOptions& options,
                                      double p);

}  // namespace faultline
