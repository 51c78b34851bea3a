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
                                                         InjectorOptions injector_options = {});
  // The clean spike counts of the model's first output, [N, out...], run once and kept.
  Result<Tensor> golden();
  // The spike counts with faults[f] armed (gated as above). Errors name the fault's location.
  Result<Tensor> run(size_t f);
  size_t size() const { return faults_.size(); }

 private:
  SpikingReplayer() = default;

  const FaultList* list_ = nullptr;
  std::span<const ResolvedFault> faults_;
  const std::vector<FaultTarget>* targets_ = nullptr;
  Tensor input_;
  InjectorOptions injector_options_;
  std::unique_ptr<SpikingSession> session_;
  Tensor golden_;
  bool has_golden_ = false;
};

}  // namespace faultline
