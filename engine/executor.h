// Runs a CompiledModel step by step, giving an optional observer (the fault hooks) a turn before and
// after every step. With no observer the loop pays nothing but one branch per step.
#pragma once

#include <cstddef>

#include "engine/backend.h"
#include "engine/status.h"

namespace faultline {

class StepObserver {
 public:
  virtual ~StepObserver() = default;
  // Once per pass over the model (one batch), before any step runs: e.g. patch faulted weights.
  virtual Status begin_pass(CompiledModel& model) { return Status::ok(); }
  // Once per pass, after the last step that runs (also when a pass stops early): e.g. restore the weights.
  virtual Status end_pass(CompiledModel& model) { return Status::ok(); }
  // Before step `index` runs: may rewrite the step's inputs (an `input` fault) or weights.
  virtual Status before_step(CompiledModel& model, size_t index) = 0;
  // After step `index` ran: may rewrite its outputs (an `activation` fault).
  virtual Status after_step(CompiledModel& model, size_t index) = 0;
};

// Ends a pass: observer.end_pass() whatever `status` the pass reached; the pass's error first, else
// end_pass's.
Status finish_pass(StepObserver& observer, CompiledModel& model, const Status& status);

// Runs every step of `model` in order, between the observer's begin_pass and end_pass (end_pass also runs
// when a step hook fails). Inputs must have been written with write_value().
Status execute(CompiledModel& model, StepObserver* observer = nullptr);

}  // namespace faultline
