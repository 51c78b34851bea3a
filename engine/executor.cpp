#include "engine/executor.h"

namespace faultline {

Status execute(CompiledModel& model, StepObserver* observer) {
  const size_t steps = model.num_steps();
  if (observer == nullptr) {
    for (size_t i = 0; i < steps; ++i) model.run_step(i);
    return Status::ok();
  }
  for (size_t i = 0; i < steps; ++i) {
    FL_RETURN_IF_ERROR(observer->before_step(model, i));
    model.run_step(i);
    FL_RETURN_IF_ERROR(observer->after_step(model, i));
  }
  return Status::ok();
}

}  // namespace faultline
