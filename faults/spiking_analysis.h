// SpikingJET's analysis table (spiking.csv): per layer (the fault list's Layer field), how the faults of that
// layer changed the network's top output, in accuracy-drop bins.
//
// The definitions are SpikingJET's (smilies-polito/SpikingJET, its result-analysis script: SDC_interval and
// faulty_vs_ground). Per image, with c the golden top output value (for a spiking classifier, the winning
// neuron's spike count), f the faulty top value, same = the faulty top-1 class equals the golden one
// (faults/outcomes.h top1: ties go to the lowest index, as torch.max / snnTorch's accuracy do), and
// d = 100 * |c - f| / c (IEEE: c = 0 gives +Inf, or NaN when f = 0 too):
//   fully_masked  same and c == f
//   SDC_1         not same (the top-1 class changed: SFIadvancedmodels' critical)
//   SDC_0_5%      same and c != f and d < 5
//   SDC_5_10%     same and 5 < d < 10
//   SDC_10_20%    same and 10 < d < 20
//   SDC_20        same and d > 20
//   facc          the faulty top-1 class equals the label
//   acc           the golden top-1 class equals the label
// The bounds are strict as SpikingJET's are: an image with d exactly 5, 10 or 20 falls in no bin. A faulty row
// with NaN / Inf (a DUE) counts as SDC_1 (its top-1 is the NaN's index, which numpy / torch rank first).
// Each column is the mean over every (fault, image) pair of the layer: SpikingJET averages per-batch means,
// which is the same number when every batch has the same size. "# of faults" is the layer's fault count and
// "# of injections" its (fault, image) pairs (SpikingJET counts (fault, batch) pairs there). facc and acc are
// empty without labels.
//
// The table is transposed as SpikingJET's pandas DataFrame writes it: the first column names the row
// ("# of faults", "# of injections", fully_masked, SDC_1, SDC_0_5%, SDC_5_10%, SDC_10_20%, SDC_20, facc, acc),
// then one column per layer, in the order the layers first appear in the list.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/status.h"
#include "engine/tensor.h"

namespace faultline {

inline constexpr const char* kSpikingFile = "spiking.csv";

// The image counts of one fault (or, summed with +=, of a group of faults).
struct SpikingJetCounts {
  int64_t faults = 0;
  int64_t images = 0;  // (fault, image) pairs
  int64_t fully_masked = 0, sdc_1 = 0, sdc_0_5 = 0, sdc_5_10 = 0, sdc_10_20 = 0, sdc_20 = 0;
  int64_t faulty_correct = 0, golden_correct = 0;
  bool labelled = false;
  SpikingJetCounts& operator+=(const SpikingJetCounts& other);
};

// One fault's counts: golden and faulty are [N, classes] (float32), labels int64 [N] or empty.
Result<SpikingJetCounts> spikingjet_counts(const Tensor& golden, const Tensor& faulty, const Tensor& labels);

struct SpikingJetLayer {
  std::string layer;
  SpikingJetCounts counts;
};

// Groups one SpikingJetCounts per fault by `layers[i]` (first-appearance order).
std::vector<SpikingJetLayer> group_spikingjet(const std::vector<std::string>& layers,
                                              const std::vector<SpikingJetCounts>& counts);
// The CSV text described above (numbers in their shortest round-trip form).
std::string spiking_csv(const std::vector<SpikingJetLayer>& layers);

}  // namespace faultline
