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

#include <memory>
#include <span>
#include <string>
#include <vector>

#include "engine/graph.h"
#include "engine/session.h"
#include "engine/tensor.h"
#include "faults/fault_injector.h"
#include "faults/fault_list.h"
#include "faults/fault_targets.h"

namespace faultline {

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
// check_replayable() first, so nothing is planned for a list that cannot run.
class FaultReplayer {
 public:
  static Result<std::unique_ptr<FaultReplayer>> create(std::shared_ptr<const Graph> model, SessionOptions options,
                                                       const FaultList& list, std::span<const ResolvedFault> faults,
                                                       const std::vector<FaultTarget>& targets, const Tensor& input,
                                                       InjectorOptions injector_options = {});
  // The clean outputs (the model's first output, [N, out...]), run once on the replay's Session and kept; the
  // returned tensor is a view of them, valid while the replayer lives.
  Result<Tensor> golden();
  // The model's first output for every image with faults[f] armed ([N, out...], float32). Errors name the
  // fault's location in the list.
  Result<Tensor> run(size_t f);
  size_t size() const { return faults_.size(); }

 private:
  FaultReplayer() = default;
  Result<Tensor> run_armed(const ArmedFault& armed, int64_t first, int64_t count);

  const FaultList* list_ = nullptr;
  std::span<const ResolvedFault> faults_;
  std::vector<FaultTarget> targets_;  // with stored weight dtypes (SessionOptions::weight_dtype)
  const Tensor* input_ = nullptr;
  int64_t images_ = 0;
  InjectorOptions injector_options_;
  std::unique_ptr<Session> session_;
  Tensor golden_;
};

// Runs the model once per fault over every image of `input` ([N, ...], the model's single input) and returns
// the model's first output for each, stacked: [F, N, out...] (float32). `options.observable` is extended with
// faulted_value_names(). Errors name the fault's location in the list; no partial result is returned.
Result<Tensor> replay_faults(std::shared_ptr<const Graph> model, SessionOptions options, const FaultList& list,
                             std::span<const ResolvedFault> faults, const std::vector<FaultTarget>& targets,
                             const Tensor& input, InjectorOptions injector_options = {});

}  // namespace faultline
