// Checkpointed fault passes: for models whose golden values of one batch do not fit the memory budget of
// incremental passes (engine/incremental_executor.h), keep only the values that cross a few step boundaries
// (checkpoints) and re-run each fault from the last checkpoint before the first step it reaches.
//
// The model is planned as for plain inference (no PlanOptions::keep_values: buffers are shared and values are
// computed in place), so memory is the plain plan's plus the checkpoints'. A boundary b lies before step b; the
// values live across it are those produced before b (graph inputs: before step 0) and read by step b or a later
// one, or graph outputs. Boundary 0 (the graph inputs) is always kept.
//
// Choosing checkpoints (create): every boundary whose live values fit the budget is a candidate; boundaries
// are added greedily, the one that saves the most re-run steps per new byte first, where a fault is taken to
// start at any step alike and to re-run the steps from the last kept boundary before it. Values live across
// several kept boundaries (a residual block's skip input) are stored once.
//
// run_clean(slot) executes every step (inputs written by the caller) and copies the values of the kept
// boundaries into golden slot `slot` (slots are created on demand, one per batch or one reused).
//
// A faulty pass, run(slot, observer, seed_steps, changed_constants), starts at the last kept boundary at or
// before the first seed step (where the observer acts on values) and the first step reading a changed constant
// (a faulted weight):
//   - observer.begin_pass(), then the live values of that boundary get the slot's golden values
//     (CompiledModel::write_value), then every step from there runs with the observer's before_step/after_step;
//   - at each later kept boundary past the last seed step and changed-constant reader, the live values are read
//     back and compared with golden byte for byte: when all are equal, the rest of the pass would compute golden
//     values, so it stops (IncrementalPass::outputs_golden: the caller takes the golden outputs);
//   - observer.end_pass().
// Otherwise the graph outputs hold the faulty pass's values (CompiledModel::read_value). The outputs are
// bit-identical to execute(model, &observer) on the same batch, provided the steps are deterministic and the
// observer acts only at its seed steps and through the changed constants.
#pragma once

#include <cstddef>
#include <memory>
#include <span>
#include <vector>

#include "engine/backend.h"
#include "engine/executor.h"
#include "engine/incremental_executor.h"
#include "engine/status.h"
#include "engine/step_dataflow.h"
#include "engine/tensor.h"

namespace faultline {

class CheckpointExecutor {
 public:
  // Chooses the checkpoints of `model` whose values fit `budget_bytes` (one slot). Fails when not even the
  // graph inputs fit, naming both sizes.
  static Result<std::unique_ptr<CheckpointExecutor>> create(CompiledModel& model, size_t budget_bytes);

  // Runs every step of the model clean (graph inputs written before) and keeps the kept boundaries' values in
  // golden slot `slot`.
  Status run_clean(size_t slot);
  // One faulty pass of batch `slot` (run_clean before), as described above. IncrementalPass::steps_run counts
  // the steps run; its window, image and channel counts stay zero.
  Result<IncrementalPass> run(size_t slot, StepObserver& observer, std::span<const size_t> seed_steps,
                              std::span<const ValueId> changed_constants);

  // The kept boundaries, ascending (the first is 0).
  const std::vector<size_t>& boundaries() const { return boundaries_; }
  // Bytes one golden slot takes (the kept values, each once).
  size_t slot_bytes() const { return slot_bytes_; }
  CompiledModel& model() { return model_; }

 private:
  explicit CheckpointExecutor(CompiledModel& model) : model_(model) {}
  // Whether every value live across kept boundary `b` equals the slot's golden bytes.
  Result<bool> live_values_golden(size_t b, size_t slot);

  CompiledModel& model_;
  StepDataflow dataflow_;
  std::vector<size_t> boundaries_;
  // By kept boundary (boundaries_' order): the values live across it, as indices into stored_.
  std::vector<std::vector<size_t>> live_;
  std::vector<ValueId> stored_;  // the kept values, each once
  size_t slot_bytes_ = 0;
  std::vector<std::vector<Tensor>> slots_;  // per slot: the stored_ values' golden tensors
  Tensor scratch_;                          // a live value read back for comparison
};

}  // namespace faultline
