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
  // Before step `index` runs: may rewrite the step's inputs (an `input` fault) or weights.
  virtual Status before_step(CompiledModel& model, size_t index) = 0;
  // After step `index` ran: may rewrite its outputs (an `activation` fault).
  virtual Status after_step(CompiledModel& model, size_t index) = 0;
};

// Runs every step of `model` in order. Inputs must have been written with write_value().
Status execute(CompiledModel& model, StepObserver* observer = nullptr);

}  // namespace faultline
