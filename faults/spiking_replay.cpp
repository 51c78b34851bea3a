#include "faults/spiking_replay.h"

#include <algorithm>

#include "faults/fault_replay.h"

namespace faultline {

namespace {

// Forwards the hooks to the injector only during the fault's time steps, with the injector's image count
// restarted at each executed batch's first sample (the session runs T passes per batch).
class StepGate final : public StepObserver {
 public:
  StepGate(FaultInjector& injector, const SpikingSession& session, std::optional<StepRange> steps)
      : injector_(injector), session_(session), steps_(steps) {}

  Status begin_pass(CompiledModel& model) override {
    const int64_t t = session_.time_step();
    active_ = !steps_ || (t >= steps_->first && t <= steps_->last);
    if (!active_) return Status::ok();
    injector_.set_image_offset(session_.first_sample());
    return injector_.begin_pass(model);
  }
  Status end_pass(CompiledModel& model) override { return active_ ? injector_.end_pass(model) : Status::ok(); }
  Status before_step(CompiledModel& model, size_t index) override {
    return active_ ? injector_.before_step(model, index) : Status::ok();
  }
  Status after_step(CompiledModel& model, size_t index) override {
    return active_ ? injector_.after_step(model, index) : Status::ok();
  }

 private:
  FaultInjector& injector_;
  const SpikingSession& session_;
  std::optional<StepRange> steps_;
  bool active_ = false;
};

Status check_one(const Fault& fault, const FaultTarget& target, int64_t steps, int64_t samples) {
  switch (fault.persistence) {
    case Persistence::kPermanent:
    case Persistence::kSteps:
      break;
    default:
      return invalid_argument("persistence '" + std::string(persistence_name(fault.persistence)) +
                              "' is not for spiking models; use permanent, or a Step range (steps)");
  }
  if (fault.site.steps && fault.site.steps->last >= steps)
    return out_of_range("Step " + step_range_to_string(*fault.site.steps) + " is past the input's last time step " +
                        std::to_string(steps - 1));
  if (fault.site.batch) {
    if (target.kind == TargetKind::kWeight)
      return invalid_argument("a neuron parameter or weight is shared by every sample; it takes no Batch");
    if (*fault.site.batch >= samples)
      return out_of_range("Batch " + std::to_string(*fault.site.batch) + " is past the input's " +
                          std::to_string(samples) + " samples");
  }
  return Status::ok();
}

}  // namespace

Status check_spiking_replayable(const FaultList& list, std::span<const ResolvedFault> faults,
                                const std::vector<FaultTarget>& targets, int64_t steps, int64_t samples) {
  for (const ResolvedFault& resolved : faults) {
    const Fault& fault = list.entries[resolved.entry].fault;
    Status status = check_one(fault, targets[resolved.target], steps, samples);
    if (!status.is_ok()) return status.with_context(fault_list_location(list, resolved.entry));
  }
  return Status::ok();
}

Result<std::unique_ptr<SpikingReplayer>> SpikingReplayer::create(std::shared_ptr<const Graph> model,
                                                                 SpikingOptions options, const FaultList& list,
                                                                 std::span<const ResolvedFault> faults,
                                                                 const std::vector<FaultTarget>& targets, Tensor input,
                                                                 InjectorOptions injector_options) {
  if (input.rank() < 2) return invalid_argument("a spiking replay's input must be [T, N, ...]");
  FL_RETURN_IF_ERROR(check_spiking_replayable(list, faults, targets, input.dim(0), input.dim(1)));
  injector_options.steps_gated_by_caller = true;
  for (const ResolvedFault& resolved : faults) {  // every fault can be armed, before anything runs
    const ArmedFault armed = armed_fault(list, resolved, targets);
    auto injector = FaultInjector::create(std::span<const ArmedFault>(&armed, 1), injector_options);
    if (!injector.is_ok()) return injector.status().with_context(fault_list_location(list, resolved.entry));
  }
  for (std::string& name : faulted_value_names(faults, targets))
    if (std::find(options.observable.begin(), options.observable.end(), name) == options.observable.end())
      options.observable.push_back(std::move(name));
  std::unique_ptr<SpikingReplayer> replayer(new SpikingReplayer());
  FL_ASSIGN_OR_RETURN(replayer->session_, SpikingSession::create(std::move(model), std::move(options)));
  if (replayer->session_->data_inputs().size() != 1)
    return unsupported("a spiking campaign takes models with one data input; this one has " +
                       std::to_string(replayer->session_->data_inputs().size()));
  replayer->list_ = &list;
  replayer->faults_ = faults;
  replayer->targets_ = &targets;
  replayer->input_ = input.dtype() == DType::kFloat32 ? std::move(input) : input.cast(DType::kFloat32);
  replayer->injector_options_ = injector_options;
  return replayer;
}

Result<Tensor> SpikingReplayer::golden() {
  if (!has_golden_) {
    FL_ASSIGN_OR_RETURN(std::vector<Tensor> counts, session_->run({input_}, SpikeRecord::kCounts));
    golden_ = std::move(counts.front());
    has_golden_ = true;
  }
  return golden_;
}

Result<Tensor> SpikingReplayer::run(size_t f) {
  if (f >= faults_.size()) return out_of_range("fault " + std::to_string(f) + " is past the replay's list");
  const ResolvedFault& resolved = faults_[f];
  const std::string where = fault_list_location(*list_, resolved.entry);
  const ArmedFault armed = armed_fault(*list_, resolved, *targets_);
  auto created = FaultInjector::create(std::span<const ArmedFault>(&armed, 1), injector_options_);
  if (!created.is_ok()) return created.status().with_context(where);
  FaultInjector injector = std::move(created).value();
  StepGate gate(injector, *session_, armed.fault->site.steps);
  auto counts = session_->run({input_}, SpikeRecord::kCounts, &gate);
  if (!counts.is_ok()) {
    (void)injector.restore();
    return counts.status().with_context(where);
  }
  Status restored = injector.check_restored();
  if (!restored.is_ok()) return restored.with_context(where);
  return std::move(counts.value().front());
}

}  // namespace faultline
