// The error-rate sweep (`faults.error_rate` in an experiment; NN-Error-Injection's workflow): for every
// integer exponent e from min_exp to max_exp, `repetitions` runs in which every bit of the matched layers'
// weights flips independently with probability p = 10^e, each run evaluated over the whole dataset against
// the golden (fault-free) run.
//
// The faults. The matched layers are the targets generate_ber_faults() chooses for {target weight, layers:
// sweep.layers} (faults/fault_generator.h: conv and linear weights by default), one ber fault per layer,
// numbered (Injection) 0..L-1 in target order. Run r = (e - min_exp) * repetitions + repetition (0-based) arms
// all L faults at once (FaultReplayer::run_together) with injector seed s_r = fault_seed(seed, r)
// (faults/fault_injector.h), so layer l's bits come from the stream fault_seed(s_r, l): a run depends only on
// (seed, e, repetition), never on the order runs are done in. flipped_bits counts the bits flipped over all
// L layers (the same draws as the injector's: flip_bits_with_probability over each layer's stored bytes).
//
// Files, in `output`:
//   golden.csv              as a campaign writes it (faults/campaign_files.h)
//   error_rate_detail.csv   one row per run, in run order: exponent, error_rate, repetition, seed (s_r),
//                           flipped_bits, images, top_1_correct, top_5_correct, top_1_accuracy,
//                           top_5_accuracy (the four empty without labels), masked, non_critical, critical,
//                           due (per image, against golden: faults/outcomes.h)
//   error_rate.csv          one row per exponent: exponent, error_rate, repetitions, flipped_bits_mean,
//                           top_1_accuracy_mean, top_1_accuracy_std, top_5_accuracy_mean, top_5_accuracy_std
//                           (empty without labels), masked_mean, non_critical_mean, critical_mean, due_mean.
//                           _std is the population standard deviation over the repetitions (numpy.std's
//                           default, ddof = 0): 0 for one repetition. Written when every run is done.
// NN-Error-Injection writes "<model>.csv" (the average accuracy per error rate) and "detail-<model>.csv" (every
// repetition), with the error rate and top-1 / top-5 accuracy; these files keep that split and those
// quantities, named as faultline's other reports name them.
//
// Resume and determinism, as for summary.csv (faults/campaign.h): rows are appended and fsynced one run at a
// time; with `resume`, a torn last line is dropped, the header must be this sweep's, golden.csv must hold this
// run's golden accuracy, and the rows present must be exactly this sweep's first K runs (each row is compared
// with the row this sweep would write for it); they are skipped. Without `resume`, an existing non-empty
// error_rate_detail.csv is an error. The same experiment and seed give byte-identical files.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engine/graph.h"
#include "engine/session.h"
#include "engine/status.h"
#include "faults/campaign.h"
#include "faults/experiment_config.h"
#include "faults/fault_targets.h"
#include "faults/outcomes.h"
#include "frontends/datasets/dataset.h"

namespace faultline {

inline constexpr const char* kErrorRateFile = "error_rate.csv";
inline constexpr const char* kErrorRateDetailFile = "error_rate_detail.csv";

struct ErrorRateSpec {
  std::shared_ptr<const Graph> model;
  SessionOptions options;  // backend, batch, weight_dtype, ...
  Dataset dataset;         // images [N, ...] float32, labels int64 [N] or empty
  std::vector<FaultTarget> targets;
  ErrorRateSweep sweep;
  uint64_t seed = kDefaultExperimentSeed;
  std::string output;
  bool resume = false;
  // Called after each run's row (faults_done / faults_total count runs); kStop ends the sweep there.
  std::function<CampaignControl(const CampaignProgress&)> progress;
};

struct ErrorRateRun {
  int exponent = 0;
  double error_rate = 0.0;  // 10^exponent
  int repetition = 0;
  uint64_t seed = 0;  // the injector seed of the run, fault_seed(spec seed, run index)
  int64_t flipped_bits = 0;
  FaultOutcome outcome;
};

struct ErrorRateResult {
  GoldenOutcome golden;
  std::vector<ErrorRateRun> runs;  // in run order, resumed ones first
  int64_t resumed = 0;
  bool complete = false;  // error_rate.csv written
  std::string golden_path, detail_path, error_rate_path;
};

Result<ErrorRateResult> run_error_rate_sweep(const ErrorRateSpec& spec);

}  // namespace faultline
