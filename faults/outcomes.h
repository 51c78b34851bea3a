// What one fault did to one image, and the per-fault counts of a campaign's summary.csv.
//
// Per image (classify), comparing the faulty output row with the golden (fault-free) row, in this order:
//   1. kMasked:      the faulty row is bit-identical to the golden row (memcmp of the stored bits, so -0.0 vs
//                    +0.0 or a different NaN payload is a difference). Checked first: a fault that changed no
//                    bit is masked even when the golden row itself holds NaN/Inf.
//   2. kDue:         the faulty row holds a NaN or an infinity (a detected unrecoverable error). Such images
//                    are never counted as critical.
//   3. kNonCritical: the rows differ but the faulty top-1 class equals the golden top-1 class.
//   4. kCritical:    the faulty top-1 class differs from the golden top-1 class (SDC-1).
// These are SFIadvancedmodels' masked / non-critical / critical, plus DUE; masked + non_critical + critical +
// due = n_injections.
//
// Ranking (top1, top_k): descending by value, ties broken by the lower index (numpy.argmax / torch.argmax
// return the first maximum); NaN ranks above every number (as numpy.argmax and torch.argmax treat it), +Inf
// above finite values, -Inf below. top-5 is top-min(5, classes).
//
// tf_injector's robustness columns, per image (counts over the images of one fault):
//   top_1_correct: the faulty top-1 class equals the label.
//   top_5_correct: the label is among the faulty top-5 classes.
//   top_1_robust:  the faulty top-1 class equals the golden top-1 class.
//   top_5_robust:  the golden top-1 class is among the faulty top-5 classes.
// These are computed for every image, DUE ones included (with NaN ranked first, as the tools above do).
// Without labels, top_1_correct and top_5_correct stay 0 and `labelled` is false.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "engine/status.h"
#include "engine/tensor.h"

namespace faultline {

enum class Outcome { kMasked, kNonCritical, kCritical, kDue };
// "masked", "non_critical", "critical", "due".
std::string_view outcome_name(Outcome outcome);

// Whether value a at index ia ranks before value b at index ib (the ranking above).
bool ranks_before(float a, int64_t ia, float b, int64_t ib);
// The index of the top-ranked value; `row` must not be empty.
int64_t top1(std::span<const float> row);
// The indices of the min(k, size) top-ranked values, best first.
std::vector<int64_t> top_k(std::span<const float> row, int k);
// Whether `index` is among the min(k, size) top-ranked values (without sorting the row).
bool in_top_k(std::span<const float> row, int64_t index, int k);
bool has_non_finite(std::span<const float> row);

// The outcome of one image; the rows must have the same length (a programmer error otherwise).
Outcome classify(std::span<const float> golden, std::span<const float> faulty);

inline constexpr int kTopK = 5;

// The summary.csv counts of one fault (or, summed with +=, of a group of faults).
struct FaultOutcome {
  int64_t n_injections = 0;  // images run with this fault
  int64_t masked = 0;
  int64_t non_critical = 0;
  int64_t critical = 0;
  int64_t due = 0;
  int64_t top_1_correct = 0;
  int64_t top_5_correct = 0;
  int64_t top_1_robust = 0;
  int64_t top_5_robust = 0;
  bool labelled = false;  // the correct counts mean something

  FaultOutcome& operator+=(const FaultOutcome& other);
};

// The fault-free accuracy (summary.csv's GOLDEN record).
struct GoldenOutcome {
  int64_t n_images = 0;
  int64_t top_1_correct = 0;
  int64_t top_5_correct = 0;
  bool labelled = false;
  double top_1_accuracy() const { return n_images ? static_cast<double>(top_1_correct) / n_images : 0.0; }
  double top_5_accuracy() const { return n_images ? static_cast<double>(top_5_correct) / n_images : 0.0; }
};

// Outputs are [N, classes...] of a floating dtype (float32 as is; float16/bfloat16/float64 are compared bit by
// bit in their own dtype and ranked after conversion to float32). Labels are int64 [N], or empty for none.
// Errors: mismatched shapes or dtypes, a non-float output, a label count other than N, a label outside
// [0, classes) ("label 12 of image 3 is outside the model's 10 classes").
Result<GoldenOutcome> evaluate_golden(const Tensor& golden, const Tensor& labels);
Result<FaultOutcome> evaluate_fault(const Tensor& golden, const Tensor& faulty, const Tensor& labels);

}  // namespace faultline
