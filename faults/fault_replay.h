// Replaying a fault list: every fault of a resolved list, one at a time, over the same input images.
//
// One Session is planned for the whole list, with every faulted tensor (weight, activation, or input with its
// consumer's outputs) of the list observable and nothing else, so fusion stays everywhere the list does not look. Each fault is armed alone
// on a FaultInjector (faults/fault_injector.h) and runs over all N images (Session::run splits them into
// batches of options.batch); after each fault the faulted weights are checked to be bit-identical to the
// model's constants again.
//
// Persistence (faults/fault.h). A permanent fault runs over all N images with the fault armed throughout. An
// inference or batch fault runs the model clean once per replay (the golden rows, shared by every such
// fault), then runs only the executed batch that holds the Batch image, [b / B * B, + B), with the fault
// armed, and takes from it the Batch image's row (inference) or all of that batch's rows (batch); every other
// row is golden. Re-running the whole executed batch keeps the image on the plan and among the neighbours it
// has in a permanent run, so its row is bit-identical to the permanent fault's. A weight of an inference
// fault is thus faulty for the one image only: the other images of its batch keep their clean rows.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "engine/checkpoint_executor.h"
#include "engine/graph.h"
#include "engine/incremental_executor.h"
#include "engine/session.h"
#include "engine/tensor.h"
#include "faults/fault_injector.h"
#include "faults/fault_list.h"
#include "faults/fault_targets.h"

namespace faultline {

// How a replay runs each fault.
struct ReplayOptions {
  // Re-execute only what each fault changes, from golden values kept for every batch
  // (engine/incremental_executor.h: steps downstream of the fault, branch-aware, stopping when everything
  // equals golden again). The outputs are bit-identical to full passes. Off: every fault re-runs the model.
  bool incremental = true;
  // With incremental: a step whose output can differ only in a window of its rows and columns (the cone of an
  // activation fault), or only in some of the batch's images (the others masked the fault), recomputes that
  // part alone (engine/incremental_executor.h: window re-execution, image subsets). The same bytes either way.
  // The environment variable FAULTLINE_WINDOWS=0 turns it off too (for A/B runs).
  bool windows = true;
  // The golden values of all batches must fit in this many bytes (checked once the model is planned).
  // Otherwise, when one batch's values fit, the replay goes batch-major: run_group() runs each batch clean
  // once and then every fault of the group on it. When not even one batch's fit (or they take more than
  // pass_batch_bytes), passes run on fewer images (the largest divisor k of the batch whose values fit both,
  // batch-major when needed; FaultReplayer::plan_pass_batches)
  // if the images go through the model independently and the first batch's clean outputs are the same bytes
  // at both sizes. Failing that, the model is planned without
  // kept values and only the values crossing a few step boundaries are kept (engine/checkpoint_executor.h):
  // each fault re-runs from the last checkpoint before it, every batch's checkpoints when they fit the budget,
  // else one batch's at a time (batch-major, for callers of run_group as above). Full passes when not even
  // the graph inputs and one more boundary fit.
  size_t golden_budget_bytes = size_t{4} << 30;
  // One pass batch's golden values at most, when a batch's values fit the budget but are larger than this:
  // passes then run on fewer images as above (when the images are independent and the bytes the same):
  // restoring and comparing values that fit the caches. benchmarks/imagenet_budget.sh (12 faults x 40 images,
  // batch 20, 2 threads; activation / weight faults; full passes, then caps of 512, 256 and 128 MB), session 12:
  //   ResNet-50 (1.7 GB a batch):    17.1 / 16.4 s;  13.5 / 9.2;  11.7 / 8.6;  12.3 / 10.7
  //   MobileNetV2 (2.4 GB a batch):   3.1 / 2.5 s;   3.5-3.9 / 3.1-3.8 (slower than full passes);  3.1 / 2.2;
  //                                   2.3 / 1.9
  //   VGG-11:                        30.4 / 64.9 s; 20.1 / 112.5;  18.7 / 126.3
  // (every value of the batch kept instead: ResNet-50 22.1 / 13.3 s, MobileNetV2 7.3 / 3.8 s). ResNet20 at
  // batch 100 (162 MB) is below it. Host memory only: a backend keeping values in device memory
  // (CompiledModel::kept_device, the cuda backend) keeps whole batches within golden_budget_bytes.
  // The environment variable FAULTLINE_PASS_BATCH_MB replaces it (for A/B runs:
  // benchmarks/imagenet_budget.sh --pass-batch-mb).
  size_t pass_batch_bytes = size_t{256} << 20;
  // For callers that run faults through FaultReplayer::run_group (run_campaign does): go batch-major even
  // when every batch's values would fit, if more than one batch runs and at least half of the faults are
  // permanent or share passes one per image (shares_image_passes). One slot's memory is then written over and
  // over instead of a slot per batch being touched for the first time, and the buffers keep the batch's
  // golden bytes from one fault to the next; on the
  // peer's ResNet20 weight campaign (100 faults x 500 images) the campaign ran in 6.5-6.9 s instead of
  // 8.4-8.8 s. Each group of faults then runs every batch clean once more, which a caller running one fault
  // at a time (run) would pay per fault: leave it off there.
  bool prefer_batch_major = false;
};

// What the replay has run so far (for benchmarks and the run summary).
struct ReplayStats {
  bool incremental = false;     // passes run incrementally
  bool batch_major = false;     // one batch's golden values kept at a time (run_group)
  int64_t passes = 0;           // faulty batch passes
  int64_t steps_run = 0;        // steps executed by them
  int64_t steps_total = 0;      // steps a full pass would have executed
  int64_t stopped_early = 0;    // passes that ended with everything equal to golden
  int64_t window_steps = 0;     // steps of them run on part of their output only (ReplayOptions::windows)
  int64_t image_steps = 0;      // steps of those run on some of the batch's images (the others were golden)
  int64_t channel_steps = 0;    // convolutions run on the output channels a weight fault reaches
  int64_t wave_faults = 0;      // single-image faults run in shared waves (run_group), and the waves they took
  int64_t waves = 0;
  size_t golden_bytes = 0;      // memory the kept golden values take (every batch's, or one in batch-major)
  bool golden_on_device = false;  // ... in device memory (CompiledModel::kept_device: the cuda backend)
  // Passes on fewer images (ReplayOptions::golden_budget_bytes): the images per pass when one batch's kept
  // values do not fit but those of pass_batch images do (0: the batch), or why that was not done.
  int64_t pass_batch = 0;
  size_t pass_batch_cap = 0;  // ReplayOptions::pass_batch_bytes as the replay ran (FAULTLINE_PASS_BATCH_MB)
  std::string pass_batch_refused;
  // Checkpointed passes (ReplayOptions::golden_budget_bytes): the step boundaries kept besides the graph
  // inputs, of `boundaries` in the plan, and what one batch's values would have taken.
  int64_t checkpoints = 0;
  int64_t boundaries = 0;
  size_t all_values_bytes = 0;
  // Why faults run full passes although incremental ones were asked for (empty otherwise): one batch's golden
  // values do not fit ReplayOptions::golden_budget_bytes, or the backend keeps no values.
  std::string full_passes_reason;
};

// How FaultReplayer::run_group runs a fault (FaultReplayer::group_kind).
enum class GroupKind { kAlone, kWave, kBatchMajor };

// A resolved row as an ArmedFault (pointers into `list` and `targets`, which must outlive it).
ArmedFault armed_fault(const FaultList& list, const ResolvedFault& resolved, const std::vector<FaultTarget>& targets);

// The model's value names of the targets `faults` hit, each once, in list order: the observable set a
// Session needs to inject them. An input site adds its value and its consumer's outputs (which makes the
// consumer a fusion barrier, a step of its own, and keeps it from computing in place over the value).
std::vector<std::string> faulted_value_names(std::span<const ResolvedFault> faults,
                                             const std::vector<FaultTarget>& targets);

// Checks, before anything runs, that every fault can be armed and that a Batch image index is below the
// input's `images`, and the persistence: inference and batch need a Batch, a permanent weight fault takes
// none, steps is refused ("persistence 'steps' needs a spiking model"). Errors start with the fault's
// location ("faults.csv:17: ...").
Status check_replayable(const FaultList& list, std::span<const ResolvedFault> faults,
                        const std::vector<FaultTarget>& targets, int64_t images);

// The per-fault entry point of replay_faults: one Session planned for every fault of `faults` (as below),
// then each fault run on demand. `list`, `faults`, `targets` and `input` must outlive it. create() runs
// check_replayable() first, so nothing is planned for a list that cannot run. With
// ReplayOptions::incremental (the default) the golden pass keeps every batch's values and each fault pass
// recomputes only what it changes; the outputs are the same bytes.
class FaultReplayer {
 public:
  static Result<std::unique_ptr<FaultReplayer>> create(std::shared_ptr<const Graph> model, SessionOptions options,
                                                       const FaultList& list, std::span<const ResolvedFault> faults,
                                                       const std::vector<FaultTarget>& targets, const Tensor& input,
                                                       InjectorOptions injector_options = {},
                                                       ReplayOptions replay_options = {});
  // The clean outputs (the model's first output, [N, out...]), run once on the replay's Session and kept; the
  // returned tensor is a view of them, valid while the replayer lives.
  Result<Tensor> golden();
  // The model's first output for every image with faults[f] armed ([N, out...], float32). Errors name the
  // fault's location in the list.
  Result<Tensor> run(size_t f);
  // The model's first output for every image with the faults faults[i], i in `together`, armed at once (all
  // permanent: an error-rate run arms one ber fault per layer), their ber / random draws seeded by
  // `injector_options` ([N, out...], float32). Errors name the first fault's location.
  Result<Tensor> run_together(std::span<const size_t> together, InjectorOptions injector_options);
  // The outputs of faults[f] for every f in `group`, in group order, each exactly as run(f) gives it. In
  // batch-major mode (ReplayStats::batch_major) the permanent faults of the group share each batch's clean
  // pass: batch by batch, the batch runs clean once into the one golden slot and every permanent fault runs
  // its incremental pass from it. Single-image faults on activations and inputs (inference, or permanent with
  // a Batch) share passes one per image when the images go through the model independently
  // (engine/image_independence.h): the group's faults in one executed batch run in waves, each wave one incremental pass that arms every fault of it on its own
  // image (a wave never holds two faults on one image), and each fault keeps its image's row of that pass
  // (golden rows elsewhere, as run(f)). ReplayStats::passes counts the waves. Other faults run as run(f).
  // `progress` (optional) is called after each batch of the permanent faults' shared passes with the share of
  // those passes done, in (0, 1].
  Result<std::vector<Tensor>> run_group(std::span<const size_t> group,
                                        const std::function<void(double)>& progress = {});
  // Whether run_group runs faults[f] in a wave with other single-image faults (an inference fault, or a
  // permanent one given a Batch, on an activation or input, in an incremental replay whose model keeps the
  // images apart), rather than as run(f).
  bool shares_image_passes(size_t f) const;
  // How run_group runs faults[f]: in a wave (shares_image_passes), in a batch-major group (batch-major mode),
  // or alone, as run(f) would. Callers group runs of consecutive faults of one kind.
  GroupKind group_kind(size_t f) const;
  // The images [first, first + count) faults[f] can change, and so the rows its outcome counts: its Batch image
  // (an inference fault, or a permanent one given a Batch), the executed batch holding it (a batch fault), or
  // every image.
  std::pair<int64_t, int64_t> reached_rows(size_t f) const;
  size_t size() const { return faults_.size(); }
  const ReplayStats& stats() const { return stats_; }
  // The targets as faulted: weights in their stored dtype (SessionOptions::weight_dtype).
  const std::vector<FaultTarget>& targets() const { return targets_; }

 private:
  FaultReplayer() = default;
  Result<Tensor> run_armed(std::span<const ArmedFault> armed, int64_t first, int64_t count,
                           const InjectorOptions& injector_options);
  // The incremental path: for every executed batch of images [first, first + count) (from a batch boundary),
  // one IncrementalExecutor pass per injector, its rows written into outputs[i] ([count, out...]). In
  // batch-major mode each batch first runs clean into golden slot 0. After each batch, `progress` (if set)
  // gets the share of the images done.
  Status run_passes(std::span<FaultInjector* const> injectors, int64_t first, int64_t count,
                    std::vector<Tensor>& outputs, const std::function<void(double)>& progress = {});
  Status run_golden_incremental();
  // The executed batch [first, first + count) that holds `image`.
  std::pair<int64_t, int64_t> executed_batch(int64_t image) const;
  // At least half of the faults run in groups in batch-major mode: permanent ones, or single-image ones in waves.
  bool mostly_grouped() const;
  // run_group's per-image path: the waves for the group positions `members`.
  Status run_per_image(std::span<const size_t> group, std::span<const size_t> members, std::vector<Tensor>& outputs);
  // Runs images [first, first + count) clean on `compiled` and captures its values (its checkpoints' values)
  // into golden slot `slot` (none: the executor forgets what its buffers hold).
  Status run_clean_batch(CompiledModel& compiled, int64_t first, int64_t count, std::optional<size_t> slot);
  // One faulty pass of `injector` over the batch in golden slot `slot` of `compiled`: incremental, or from a
  // checkpoint.
  Result<IncrementalPass> run_pass(CompiledModel& compiled, size_t slot, FaultInjector& injector);
  Result<IncrementalExecutor*> executor_for(CompiledModel& compiled);
  Result<CheckpointExecutor*> checkpoint_executor_for(CompiledModel& compiled);
  // With session_ a kept plan whose golden values of one slot (session_->options().batch images) take
  // `slot_bytes`: incremental passes, from every slot's values when they fit the budget, else one slot's at a
  // time (batch-major); batch-major too when prefer_batch_major and the faults are mostly_grouped().
  void keep_values_within(size_t slot_bytes);
  // When one batch's golden values exceed the budget or ReplayOptions::pass_batch_bytes (`limit`, the smaller
  // of the two), with session_ the plain plan of batch_ images and images_independent_ decided on it: replaces
  // it with a kept plan of the largest divisor k of batch_ (k < batch_) whose values (`per_image` bytes an
  // image) fit `limit`, provided the first batch's clean outputs, and a smaller last batch's, are the same
  // bytes on both plans (a backend's kernels may depend on the batch size). Batches keep their meaning
  // (executed_batch, persistence batch); each runs as batch_ / k passes. Needs executors_ empty (the plain
  // plan has none). True when done; otherwise session_ and executors_ are as they were.
  Result<bool> plan_pass_batches(const std::shared_ptr<const Graph>& model, SessionOptions keeping, size_t per_image,
                                 size_t limit);
  // After a kept plan's golden values proved too large: plans checkpoints on the plain session_ within the
  // budget; true when they keep more than the graph inputs (the replay then runs checkpointed passes).
  Result<bool> plan_checkpoints(int64_t batches);

  const FaultList* list_ = nullptr;
  std::span<const ResolvedFault> faults_;
  std::vector<FaultTarget> targets_;  // with stored weight dtypes (SessionOptions::weight_dtype)
  const Tensor* input_ = nullptr;
  int64_t images_ = 0;
  int64_t batch_ = 1;  // images per executed batch (SessionOptions::batch); passes may run on fewer (pass_batch)
  InjectorOptions injector_options_;
  std::unique_ptr<Session> session_;
  Tensor golden_;
  ReplayOptions replay_options_;
  bool incremental_ = false;
  bool batch_major_ = false;
  bool images_independent_ = false;  // check_images_independent() of the plan (incremental replays only)
  std::vector<std::unique_ptr<IncrementalExecutor>> executors_;  // one per plan (batch size) used
  bool checkpointed_ = false;  // passes run from checkpoints (CheckpointExecutor) instead
  size_t checkpoint_budget_ = 0;  // per golden slot
  std::vector<std::unique_ptr<CheckpointExecutor>> checkpoint_executors_;  // one per plan used
  ReplayStats stats_;
};

// Runs the model once per fault over every image of `input` ([N, ...], the model's single input) and returns
// the model's first output for each, stacked: [F, N, out...] (float32). `options.observable` is extended with
// faulted_value_names(). Consecutive inference faults that share passes one per image run through run_group.
// Errors name the fault's location in the list; no partial result is returned.
Result<Tensor> replay_faults(std::shared_ptr<const Graph> model, SessionOptions options, const FaultList& list,
                             std::span<const ResolvedFault> faults, const std::vector<FaultTarget>& targets,
                             const Tensor& input, InjectorOptions injector_options = {},
                             ReplayOptions replay_options = {});

}  // namespace faultline
