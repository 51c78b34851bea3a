// A fault-injection campaign: a golden pass and one faulty pass per fault over a dataset, with results written
// as they come, so that a killed campaign resumes where it stopped.
//
// run_campaign():
//   1. Plans one Session for every fault (faults/fault_replay.h: FaultReplayer; check_replayable runs first),
//      runs the dataset clean once (batched by SessionOptions::batch) and keeps the golden outputs [N, ...] in
//      memory; writes golden.csv atomically: images, top_1_correct, top_5_correct, top_1_accuracy,
//      top_5_accuracy (the correct and accuracy fields are empty without labels).
//   2. summary.csv (faults/outcome_report.h): the header and the GOLDEN record, then, for each fault in list
//      order, the fault-list fields of its row (as format_fault_list writes the whole list) and its outcome
//      columns (evaluate_fault against the golden outputs). Each record is appended with one write() of the
//      whole line, so a kill leaves at most one partial last line; the file is fsync()ed at least once a
//      second and at the end (after every row, the outputs log first, with saved outputs), so a machine
//      crash loses at most the last second.
//   3. Resume. With `resume` and an existing summary.csv: a partial last line (no final "\n") is truncated
//      away; the header and the GOLDEN record must equal this run's (else an error: another model, dataset or
//      fault list); the rows present must be the first K faults of the list, in order (checked by their
//      Injection numbers); those K are skipped and the others appended. The file is then byte-identical to
//      an uninterrupted run's. Without `resume`, a non-empty summary.csv is an error and nothing is written.
//   4. When every fault has run: layers.csv (grouped by the fault list's Layer field, in list order) and
//      bits.csv (grouped by the Bit field, numerically; faults whose model has no bit are left out of it),
//      from every row of summary.csv, the resumed ones included; written atomically.
//   5. faults.csv: the whole list as it ran (format_fault_list), written atomically after the checks of 3
//      and before the golden pass (not when it is the list file itself).
//
// Shards (faults/campaign_shard.h). With shard {I, N}, N > 1, only the list positions k with k mod N == I
// run, in list order (on a Session planned with the whole list's fault sites observable, so that every shard
// computes the bits an unsharded run does), and the folder is <output>/shards/I-of-N/ instead of <output>:
// summary.csv holds their rows (resume works per shard, as above), faults.csv the whole list, shard.csv the
// manifest; layers.csv and bits.csv cover the shard's rows. N above the list's fault count is an error. `faultline merge`
// (faults/campaign_merge.h) turns complete shards into the files of an unsharded run.
//
// Saved outputs (faults/campaign_outputs.h). With save_outputs, each fault's output vectors are appended to
// outputs.h5.part before its summary row, and outputs.h5 is written when the campaign is complete. Resume
// keeps exactly the log records of summary.csv's rows. Resuming a campaign that saves outputs without
// save_outputs is an error (its log would fall behind), and so is resuming with save_outputs a campaign
// whose log lacks rows of summary.csv.
//
// The progress callback is called after each appended row; returning CampaignControl::kStop ends the
// campaign there as a kill would (summary.csv holds the rows so far, layers.csv and bits.csv are not
// written) and run_campaign returns a result with complete = false. kStop after the last fault changes
// nothing: the campaign is complete.
//
// Spiking models (faults/spiking_replay.h). With `spiking` set, the passes run on a SpikingReplayer over
// spiking->input ([T, N, ...], the dataset's images encoded), the outputs compared are the first output's
// spike counts [N, classes], and everything above holds with them. spiking.csv (faults/spiking_analysis.h,
// SpikingJET's table) is written with layers.csv for a spiking campaign, and for any campaign with
// `spiking_report`; rows resumed from summary.csv are re-run once for it (the table needs their outputs).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/graph.h"
#include "engine/session.h"
#include "engine/spiking/spiking_session.h"
#include "engine/status.h"
#include "faults/campaign_shard.h"
#include "faults/fault_injector.h"
#include "faults/fault_list.h"
#include "faults/fault_replay.h"
#include "faults/fault_targets.h"
#include "faults/outcomes.h"
#include "frontends/datasets/dataset.h"

namespace faultline {

inline constexpr const char* kSummaryFile = "summary.csv";
inline constexpr const char* kGoldenFile = "golden.csv";
inline constexpr const char* kLayersFile = "layers.csv";
inline constexpr const char* kBitsFile = "bits.csv";
inline constexpr const char* kFaultsFile = "faults.csv";

struct CampaignProgress {
  int64_t faults_done = 0;  // rows in summary.csv, resumed ones included
  int64_t faults_resumed = 0;  // rows that were there before this run
  int64_t faults_total = 0;
  int64_t critical = 0;  // critical images so far, over every row
  // A batch-major group's faults in flight, counted by the share of their batches done (their rows come when
  // the group ends); 0 in the calls after a row.
  double faults_in_flight = 0.0;
};

enum class CampaignControl { kContinue, kStop };

// How many faults one batch-major group holds (FaultReplayer::run_group). A group runs every batch before its
// first row is written, so a campaign killed mid-group loses up to one group's work; and each group runs every
// batch clean again to recapture its golden values, a cost that bigger groups share. Groups are sized to take
// about a minute: `fault_seconds` is what one fault costs over every image, at first the golden pass's time (a
// fault's incremental passes cost less than a clean pass), then the mean of the groups run so far. At least 1
// and at most 1,024 faults, and at most 256 MB of outputs (`output_bytes` per fault).
size_t batch_major_group_size(double fault_seconds, size_t output_bytes);

// How a spiking campaign runs its passes.
struct SpikingCampaign {
  SpikingOptions options;  // backend, batch, threads, dt, reset; observable gets the faulted values added
  Tensor input;            // [T, N, features...]: the dataset's N images encoded over T time steps
};

struct CampaignSpec {
  std::shared_ptr<const Graph> model;
  SessionOptions options;  // backend, batch, ...; observable gets the faulted values added
  Dataset dataset;         // images [N, ...] float32, labels int64 [N] or empty
  FaultList list;
  std::vector<ResolvedFault> faults;  // resolve_fault_list(list, targets)
  std::vector<FaultTarget> targets;
  InjectorOptions injector_options;
  std::string output;  // folder (created when missing); a shard's results go to output/shards/I-of-N
  bool resume = false;
  CampaignShard shard;        // {0, 1}: every fault
  bool save_outputs = false;  // outputs.h5
  // Incremental passes (default) or full ones; the results are the same bytes. Faults run in groups
  // (FaultReplayer::run_group), so batch-major is preferred (ReplayOptions::prefer_batch_major).
  ReplayOptions replay{.prefer_batch_major = true};
  std::optional<SpikingCampaign> spiking;  // a spiking model (see above); `options` is unused, `replay` says
                                           // whether the time steps run incrementally (faults/spiking_replay.h)
  bool spiking_report = false;             // spiking.csv for a non-spiking campaign too
  // Optional: called after each row is written (kStop ends the campaign there, resumable), and during a
  // batch-major group after each batch with faults_in_flight > 0 (its answer is then ignored).
  std::function<CampaignControl(const CampaignProgress&)> progress;
};

struct CampaignResult {
  GoldenOutcome golden;
  std::vector<FaultOutcome> outcomes;  // one per summary row (of this shard), resumed ones first, in list order
  int64_t resumed = 0;                 // rows found in summary.csv and skipped
  bool complete = false;               // every fault has its row (layers.csv and bits.csv written)
  std::string folder;  // where the files are: output, or output/shards/I-of-N
  std::string summary_path, golden_path, layers_path, bits_path, faults_path;
  std::string outputs_path;  // outputs.h5 (with save_outputs)
  std::string spiking_path;  // spiking.csv, when written
  std::vector<std::string> kernel_report_paths;  // pes.csv / patterns.csv, when the list has such sites
  ReplayStats replay;        // how the faults of this run were executed (steps recomputed, early stops; for a
                             // spiking campaign, the one-step graph's steps over the time steps)
};

// Errors name the file or the fault list's row; a fault that fails to run stops the campaign with the rows
// before it kept (a later resume retries it).
Result<CampaignResult> run_campaign(const CampaignSpec& spec);

}  // namespace faultline
