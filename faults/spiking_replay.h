// Replaying a fault list on a spiking model (engine/spiking/spiking_session.h): SpikingJET's campaigns.
//
// One SpikingSession is planned for the whole list (every faulted value observable, as faults/fault_replay.h
// does for CNNs). golden() runs the T-step input clean once and keeps the spike counts of the model's first
// output ([N, classes]); run(f) arms fault f alone on a FaultInjector (faults/fault_injector.h) and runs the
// whole input again through the session, which calls the injector's hooks around every step of every time
// step, gated by the time step:
//   - permanent (no Step): armed at every time step of every sample. A parameter (weight, bias, threshold,
//     tau, ...) is patched before each time step's pass and restored after it, so it is faulty throughout; a
//     state (<layer>.potential / .current) is faulted after every step's update; a spike output (.dead /
//     .saturated) is forced at every step.
//   - steps (Step "t" or "a-b"): the hooks run only in time steps a..b. A parameter is faulty during those
//     steps' updates (transient); a state is hit once per step in the range, after that step's update (the
//     link carries it to step t + 1: the spike of step t itself is computed before the fault); a spike output
//     is forced in those steps only.
// A Batch column limits a state / spike fault to that sample (FaultSite::batch, counted over the whole input;
// the gate sets the injector's image offset to the session's first sample of each executed batch). Weights
// take no Batch, and persistences inference / batch are refused (they are the CNN replay's image-level
// notions): "<list>:<line>: ...". A Step range past the input's last time step is refused too.
// After each fault the faulted parameters are checked to be bit-identical to the model's constants again.
//
// Incremental runs (ReplayOptions::incremental, the default; `faultline run --full-passes` turns it off). The
// golden pass keeps, per executed batch, the first output of every time step ([T, N, out...]) and the states
// every state link carries into step s, for the checkpoint steps s = k, 2k, ... < T (k = 1 when T states of
// every batch fit ReplayOptions::golden_budget_bytes with the outputs, else the smallest k that fits; the
// memory is ReplayStats::golden_bytes: N * (T * out + (ceil(T / k) - 1) * state elements) * 4 bytes, plus the
// step records below). A fault with first faulty step a (Step "a" or "a-b"; a = 0 when permanent) and last
// faulty step b then runs, batch by batch:
//   - a batch that cannot see it (a state / spike fault whose Batch sample lies in another batch) is not run:
//     its rows are the golden ones;
//   - the others start at the last checkpoint c <= a from its golden states (step 0 from zeros), with the
//     counts of steps 0 .. c-1 summed from the golden outputs in step order, as the full run sums them;
//     steps c .. a-1 run clean (the gate is closed there), and steps from a on run with the fault gated (a
//     fault on parameters only stays patched from step a to b, one patch per batch instead of per step);
//   - early masking: after a step t >= b (the last faulty step) whose end is a checkpoint, when every state
//     equals the golden one bit for bit, the remaining steps would compute exactly the golden outputs (the
//     same inputs, states and parameters; the outputs of steps <= t are already summed from the faulty run,
//     so only the states decide): the batch stops, and the golden outputs of steps t+1 .. T-1 are summed in.
//     A permanent fault never stops early, except one that changes nothing: no value site, and every
//     faulted parameter bit-identical to its constant once patched (seen at the first step's begin_pass).
//
// Layer skipping. When, with k = 1, every step output of every time step and batch fits the budget too (the
// incremental session is planned with keep_values), the golden pass records them, and a fault runs only the
// steps it can reach (engine/spiking/step_cone.h: downstream of its site, through the state links too): the
// others' outputs are golden at every time step, so each reached step first gets the golden bytes of the
// values it reads from skipped steps (SpikingSession::run_steps with a StepSelection), and the states of
// unreached links are kept golden from the records. A fault that cannot reach the first output leaves the
// counts golden and runs nothing. For the spiking MNIST network (784 -> 100 -> 10, 500 samples, 25 steps)
// the kept golden values take 23 MB: 5.5 MB of states, 17 MB of step records.
//
// The counts are the same bytes as a full run's for every fault (tests/test_spiking_incremental.cpp);
// ReplayStats counts the incremental runs' steps of the one-step graph, over the time steps (steps_run
// executed, steps_total those full passes would run), and passes and stopped_early per executed batch (a
// batch skipped for its Batch, or left golden because the fault cannot reach the output, counts as stopped
// early); time_steps_run() counts the time steps run. Full runs leave them at zero, as the CNN replay does.
#pragma once

#include <memory>
#include <span>
#include <vector>

#include "engine/graph.h"
#include "engine/spiking/spiking_session.h"
#include "engine/status.h"
#include "engine/tensor.h"
#include "faults/fault_injector.h"
#include "faults/fault_list.h"
#include "faults/fault_replay.h"
#include "faults/fault_targets.h"

namespace faultline {

// Checks every fault of `faults` against the rules above for an input of `steps` time steps and `samples`
// samples. Errors start with the fault's location.
Status check_spiking_replayable(const FaultList& list, std::span<const ResolvedFault> faults,
                                const std::vector<FaultTarget>& targets, int64_t steps, int64_t samples);

class SpikingReplayer {
 public:
  // `input`: [T, N, features...] (engine/spiking/spike_encoding.h makes it from images). `list`, `faults` and
  // `targets` must outlive the replayer. options.observable is extended with the faulted values.
  static Result<std::unique_ptr<SpikingReplayer>> create(std::shared_ptr<const Graph> model, SpikingOptions options,
                                                         const FaultList& list, std::span<const ResolvedFault> faults,
                                                         const std::vector<FaultTarget>& targets, Tensor input,
                                                         InjectorOptions injector_options = {},
                                                         ReplayOptions replay_options = {});
  // The clean spike counts of the model's first output, [N, out...], run once and kept (with the golden
  // states and step outputs of an incremental replay).
  Result<Tensor> golden();
  // The spike counts with faults[f] armed (gated as above). Errors name the fault's location.
  Result<Tensor> run(size_t f);
  size_t size() const { return faults_.size(); }
  // Time steps run so far (see above); the replay mode and the kept golden memory.
  const ReplayStats& stats() const { return stats_; }
  // The checkpoint interval k (1: the states of every time step are kept); 0 before golden() in full mode.
  int64_t checkpoint_interval() const { return interval_; }
  // Whether faulty runs skip the steps their fault cannot reach (golden step outputs recorded; see above).
  bool skips_layers() const { return skip_layers_; }
  // Time steps the incremental runs have executed (a time step that ran some steps counts once).
  int64_t time_steps_run() const { return time_steps_run_; }

 private:
  // What the golden pass keeps of one executed batch (incremental mode).
  struct GoldenBatch {
    int64_t first = 0, count = 0;
    CompiledModel* compiled = nullptr;             // the plan it runs on
    Tensor outputs;                                // [T, count, out...]: the first output of every step
    std::vector<std::vector<Tensor>> checkpoints;  // [j - 1]: the states carried into step j * interval_
    // Layer skipping: every step output of every time step, at record_offset[value] (bytes; -1: not kept)
    // within each step's record_stride bytes.
    std::vector<std::byte> records;
    std::vector<int64_t> record_offset;
    size_t record_stride = 0;
  };
  SpikingReplayer() = default;
  Status run_golden_incremental();
  // One batch of fault run `f` from its checkpoint, its counts written into `counts` rows.
  // A fault on parameters only keeps them patched over its time steps instead of patching every step.
  Status run_batch_incremental(const GoldenBatch& batch, const Fault& fault, bool parameters_only,
                               FaultInjector& injector, Tensor& counts);

  const FaultList* list_ = nullptr;
  std::span<const ResolvedFault> faults_;
  const std::vector<FaultTarget>* targets_ = nullptr;
  Tensor input_;
  InjectorOptions injector_options_;
  std::unique_ptr<SpikingSession> session_;
  Tensor golden_;
  bool has_golden_ = false;
  ReplayOptions replay_options_;
  int64_t interval_ = 0;
  bool skip_layers_ = false;  // step outputs recorded: faulty runs skip the steps a fault cannot reach
  int64_t time_steps_run_ = 0;
  std::vector<GoldenBatch> batches_;
  ReplayStats stats_;
};

}  // namespace faultline
