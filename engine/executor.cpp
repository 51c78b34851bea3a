#include "engine/executor.h"

namespace faultline {

namespace {
Status run_observed(CompiledModel& model, StepObserver& observer) {
  const size_t steps = model.num_steps();
  for (size_t i = 0; i < steps; ++i) {
    FL_RETURN_IF_ERROR(observer.before_step(model, i));
    model.run_step(i);
    FL_RETURN_IF_ERROR(observer.after_step(model, i));
  }
  return Status::ok();
}
}  // namespace

Status execute(CompiledModel& model, StepObserver* observer) {
  if (observer == nullptr) {
    const size_t steps = model.num_steps();
    for (size_t i = 0; i < steps; ++i) model.run_step(i);
    return Status::ok();
  }
  FL_RETURN_IF_ERROR(observer->begin_pass(model));
  return finish_pass(*observer, model, run_observed(model, *observer));
}

Status finish_pass(StepObserver& observer, CompiledModel& model, const Status& status) {
  const Status ended = observer.end_pass(model);
  return status.is_ok() ? ended : status;
}

}  // namespace faultline
