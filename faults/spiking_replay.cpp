#include "faults/spiking_replay.h"

#include <algorithm>
#include <cstring>

#include "engine/spiking/step_cone.h"
#include "faults/fault_replay.h"

namespace faultline {

namespace {

// Forwards the hooks to the injector only during the fault's time steps, with the injector's image count
// restarted at each executed batch's first sample (the session runs T passes per batch).
// With hold_weights (a fault on parameters only), the parameters stay patched from the first faulty time step
// to the last one (restored at the next time step's begin_pass, or by finish() at the end of the batch's
// run) instead of being patched and restored around every time step's pass: the same bytes during every
// faulty step, one patch per batch.
class StepGate final : public StepObserver {
 public:
  StepGate(FaultInjector& injector, const SpikingSession& session, std::optional<StepRange> steps,
           bool hold_weights = false)
      : injector_(injector), session_(session), steps_(steps), hold_weights_(hold_weights) {}

  Status begin_pass(CompiledModel& model) override {
    const int64_t t = session_.time_step();
    active_ = !steps_ || (t >= steps_->first && t <= steps_->last);
    if (!active_) return finish(model);
    injector_.set_image_offset(session_.first_sample());
    if (!held_) {
      FL_RETURN_IF_ERROR(injector_.begin_pass(model));
      held_ = hold_weights_;
    }
    if (!checked_) {
      checked_ = true;
      FL_ASSIGN_OR_RETURN(changes_nothing_, changes_nothing(model));
    }
    return Status::ok();
  }
  Status end_pass(CompiledModel& model) override {
    return active_ && !held_ ? injector_.end_pass(model) : Status::ok();
  }
  // Restores parameters still held patched (hold_weights).
  Status finish(CompiledModel& model) {
    if (!held_) return Status::ok();
    held_ = false;
    return injector_.end_pass(model);
  }
  Status before_step(CompiledModel& model, size_t index) override {
    return active_ ? injector_.before_step(model, index) : Status::ok();
  }
  Status after_step(CompiledModel& model, size_t index) override {
    return active_ ? injector_.after_step(model, index) : Status::ok();
  }
  // Whether the fault, as armed in the gate's first active pass, has no value site and leaves every
  // parameter it patches bit-identical to the constant (a stuck-at bit that already holds its value).
  bool changed_nothing() const { return checked_ && changes_nothing_; }

 private:
  Result<bool> changes_nothing(CompiledModel& model) {
    FL_ASSIGN_OR_RETURN(std::vector<size_t> acting, injector_.acting_steps(model));
    if (!acting.empty()) return false;
    FL_ASSIGN_OR_RETURN(std::vector<ValueId> weights, injector_.faulted_weights(model));
    for (ValueId id : weights) {
      Tensor current;
      FL_RETURN_IF_ERROR(model.read_value(id, current));
      const Tensor& constant = model.graph().value(id).constant;
      if (current.nbytes() != constant.nbytes() || std::memcmp(current.raw(), constant.raw(), current.nbytes()) != 0)
        return false;
    }
    return true;
  }

  FaultInjector& injector_;
  const SpikingSession& session_;
  std::optional<StepRange> steps_;
  bool hold_weights_ = false;
  bool held_ = false;  // the parameters are patched across passes
  bool active_ = false;
  bool checked_ = false;
  bool changes_nothing_ = false;
};

// dst[k] += src[k]: how SpikingSession::run() sums a step's outputs into counts (the same order, the same bits).
void add_into(float* dst, const float* src, int64_t n) {
  for (int64_t k = 0; k < n; ++k) dst[k] += src[k];
}

bool same_bytes(const Tensor& a, const Tensor& b) {
  return a.nbytes() == b.nbytes() && std::memcmp(a.raw(), b.raw(), a.nbytes()) == 0;
}

size_t value_bytes(const Value& value) {
  size_t bytes = dtype_size(value.dtype);
  for (int64_t d : value.shape) bytes *= static_cast<size_t>(d);
  return bytes;
}

// Copies every step output into a batch's records (one stride of bytes per time step) as the golden pass
// computes it.
class StepRecorder final : public StepObserver {
 public:
  StepRecorder(const SpikingSession& session, std::vector<std::byte>& records, const std::vector<int64_t>& offset,
               size_t stride)
      : session_(session), records_(records), offset_(offset), stride_(stride) {}
  Status before_step(CompiledModel&, size_t) override { return Status::ok(); }
  Status after_step(CompiledModel& model, size_t index) override {
    std::byte* base = records_.data() + static_cast<size_t>(session_.time_step()) * stride_;
    for (ValueId v : model.step(index).outputs) {
      Tensor value;
      FL_RETURN_IF_ERROR(model.read_value(v, value));
      std::memcpy(base + offset_[static_cast<size_t>(v)], value.raw(), value.nbytes());
    }
    return Status::ok();
  }

 private:
  const SpikingSession& session_;
  std::vector<std::byte>& records_;
  const std::vector<int64_t>& offset_;
  size_t stride_;
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
                                                                 InjectorOptions injector_options,
                                                                 ReplayOptions replay_options) {
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
  options.keep_values = replay_options.incremental;  // layer skipping runs some steps only (StepSelection)
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
  replayer->replay_options_ = replay_options;
  replayer->stats_.incremental = replay_options.incremental;
  return replayer;
}

Result<Tensor> SpikingReplayer::golden() {
  if (!has_golden_) {
    if (replay_options_.incremental) {
      FL_RETURN_IF_ERROR(run_golden_incremental());
    } else {
      FL_ASSIGN_OR_RETURN(std::vector<Tensor> counts, session_->run({input_}, SpikeRecord::kCounts));
      golden_ = std::move(counts.front());
    }
    has_golden_ = true;
  }
  return golden_;
}

Status SpikingReplayer::run_golden_incremental() {
  const int64_t steps = input_.dim(0), samples = input_.dim(1);
  const int64_t batch = std::min(session_->options().batch, samples);
  // The checkpoint interval: every step's states when they fit the budget with the step outputs.
  FL_ASSIGN_OR_RETURN(std::vector<Tensor> zeros, session_->initial_states(batch));
  size_t state_bytes = 0;  // per sample
  for (const Tensor& state : zeros) state_bytes += state.nbytes() / static_cast<size_t>(batch);
  FL_ASSIGN_OR_RETURN(CompiledModel * main, session_->compiled_for(batch));
  const Graph& graph = main->graph();
  const Shape& out_shape = graph.value(*graph.find_value(session_->model_outputs().front())).shape;
  size_t out_bytes = sizeof(float);  // per sample and step
  for (size_t d = 1; d < out_shape.size(); ++d) out_bytes *= static_cast<size_t>(out_shape[d]);
  const size_t n = static_cast<size_t>(samples), t = static_cast<size_t>(steps);
  interval_ = steps;
  for (int64_t k = 1; k <= steps; ++k) {
    const size_t kept = n * (t * out_bytes + static_cast<size_t>((steps + k - 1) / k - 1) * state_bytes);
    if (kept <= replay_options_.golden_budget_bytes || k == steps) {
      interval_ = k;
      stats_.golden_bytes = kept;
      break;
    }
  }
  // Layer skipping: every step output of every time step, when that fits too.
  size_t record_bytes = 0;  // per sample and time step
  for (size_t s = 0; s < main->num_steps(); ++s)
    for (ValueId v : main->step(s).outputs) record_bytes += value_bytes(graph.value(v)) / static_cast<size_t>(batch);
  skip_layers_ = interval_ == 1 && stats_.golden_bytes + n * t * record_bytes <= replay_options_.golden_budget_bytes;
  if (skip_layers_) stats_.golden_bytes += n * t * record_bytes;

  Shape counts_shape = out_shape;
  counts_shape[0] = samples;
  FL_ASSIGN_OR_RETURN(golden_, Tensor::allocate(DType::kFloat32, counts_shape));
  std::memset(golden_.raw(), 0, golden_.nbytes());
  batches_.clear();
  for (int64_t first = 0; first < samples; first += batch) {
    GoldenBatch kept;
    kept.first = first;
    kept.count = std::min(batch, samples - first);
    FL_ASSIGN_OR_RETURN(kept.compiled, session_->compiled_for(kept.count));
    Shape step_shape = out_shape;
    step_shape[0] = kept.count;
    step_shape.insert(step_shape.begin(), steps);
    FL_ASSIGN_OR_RETURN(kept.outputs, Tensor::allocate(DType::kFloat32, step_shape));
    if (skip_layers_) {
      const Graph& plan = kept.compiled->graph();
      kept.record_offset.assign(plan.values().size(), -1);
      for (size_t s = 0; s < kept.compiled->num_steps(); ++s) {
        for (ValueId v : kept.compiled->step(s).outputs) {
          kept.record_offset[static_cast<size_t>(v)] = static_cast<int64_t>(kept.record_stride);
          kept.record_stride += value_bytes(plan.value(v));
        }
      }
      kept.records.resize(kept.record_stride * t);
    }
    FL_ASSIGN_OR_RETURN(std::vector<Tensor> states, session_->initial_states(kept.count));
    float* counts = golden_.data<float>() + first * static_cast<int64_t>(out_bytes / sizeof(float));
    auto keep = [&](int64_t step, const std::vector<Tensor>& outputs, const std::vector<Tensor>& now) -> Result<bool> {
      const Tensor& out = outputs.front();
      add_into(counts, out.data<float>(), out.numel());
      std::memcpy(kept.outputs.data<float>() + step * out.numel(), out.raw(), out.nbytes());
      if ((step + 1) % interval_ == 0 && step + 1 < steps) {
        std::vector<Tensor> copy;
        for (const Tensor& state : now) copy.push_back(state.clone());
        kept.checkpoints.push_back(std::move(copy));
      }
      return true;
    };
    StepRecorder recorder(*session_, kept.records, kept.record_offset, kept.record_stride);
    FL_RETURN_IF_ERROR(session_->run_steps({input_}, first, kept.count, 0, states, SpikeRecord::kCounts,
                                           skip_layers_ ? &recorder : nullptr, keep));
    batches_.push_back(std::move(kept));
  }
  return Status::ok();
}

Status SpikingReplayer::run_batch_incremental(const GoldenBatch& batch, const Fault& fault, bool parameters_only,
                                              FaultInjector& injector, Tensor& counts) {
  const int64_t steps = input_.dim(0);
  const int64_t per_step = batch.outputs.numel() / steps;  // count * out
  const float* golden_steps = batch.outputs.data<float>();
  float* rows = counts.data<float>() + batch.first * (per_step / batch.count);
  CompiledModel& plan = *batch.compiled;
  ++stats_.passes;
  stats_.steps_total += steps * static_cast<int64_t>(plan.num_steps());
  if (fault.site.batch && (*fault.site.batch < batch.first || *fault.site.batch >= batch.first + batch.count)) {
    ++stats_.stopped_early;  // the fault's sample is in another batch: these rows stay golden
    return Status::ok();
  }
  // Layer skipping: only the steps the fault can reach run, the values they read from the others are golden.
  auto recorded = [&](int64_t t, ValueId v) {
    const Value& value = plan.graph().value(v);
    auto* at = const_cast<std::byte*>(batch.records.data()) + static_cast<size_t>(t) * batch.record_stride +
               batch.record_offset[static_cast<size_t>(v)];
    return Tensor::view(value.dtype, value.shape, at);
  };
  StepCone cone;
  StepSelection selection;
  int64_t steps_per_pass = static_cast<int64_t>(plan.num_steps());
  if (skip_layers_) {
    FL_ASSIGN_OR_RETURN(std::vector<size_t> acting, injector.acting_steps(plan));
    FL_ASSIGN_OR_RETURN(std::vector<ValueId> weights, injector.faulted_weights(plan));
    FL_ASSIGN_OR_RETURN(cone, step_cone(plan, acting, weights));
    const ValueId output = *plan.graph().find_value(session_->model_outputs().front());
    if (!cone.differs[static_cast<size_t>(output)]) {
      ++stats_.stopped_early;  // nothing the fault changes reaches the counts
      return Status::ok();
    }
    if (cone.reached_steps < plan.num_steps()) {
      steps_per_pass = static_cast<int64_t>(cone.reached_steps);
      selection.run = cone.reached;
      selection.load = [&](CompiledModel& model, int64_t t, size_t s) -> Status {
        for (ValueId v : cone.frontier[s]) FL_RETURN_IF_ERROR(model.write_value(v, recorded(t, v)));
        return Status::ok();
      };
    }
  }
  const int64_t first_faulty = fault.site.steps ? fault.site.steps->first : 0;
  const int64_t start = first_faulty / interval_ * interval_;
  std::vector<Tensor> states;
  if (start == 0) {
    FL_ASSIGN_OR_RETURN(states, session_->initial_states(batch.count));
  } else {
    for (const Tensor& state : batch.checkpoints[static_cast<size_t>(start / interval_ - 1)])
      states.push_back(state.clone());
  }
  std::memset(rows, 0, static_cast<size_t>(per_step) * sizeof(float));
  for (int64_t t = 0; t < start; ++t) add_into(rows, golden_steps + t * per_step, per_step);

  StepGate gate(injector, *session_, fault.site.steps, parameters_only);
  // A transient fault may be masked after its last step; a permanent one only when it changes nothing.
  const int64_t last_faulty = fault.site.steps ? fault.site.steps->last : steps;
  auto step = [&](int64_t t, const std::vector<Tensor>& outputs, const std::vector<Tensor>& now) -> Result<bool> {
    ++time_steps_run_;
    stats_.steps_run += steps_per_pass;
    add_into(rows, outputs.front().data<float>(), per_step);
    if (!selection.run.empty())  // the states no running step produces: golden (the next step reads them)
      for (size_t l = 0; l < states.size(); ++l)
        if (!cone.links[l]) {
          const Tensor golden = recorded(t, cone.next_values[l]);
          std::memcpy(states[l].raw(), golden.raw(), golden.nbytes());
        }
    const bool may_stop = t >= last_faulty || gate.changed_nothing();
    if (!may_stop || (t + 1) % interval_ != 0 || t + 1 >= steps) return true;
    const std::vector<Tensor>& golden = batch.checkpoints[static_cast<size_t>((t + 1) / interval_ - 1)];
    for (size_t s = 0; s < now.size(); ++s)
      if (!same_bytes(now[s], golden[s])) return true;
    for (int64_t rest = t + 1; rest < steps; ++rest) add_into(rows, golden_steps + rest * per_step, per_step);
    ++stats_.stopped_early;
    return false;
  };
  FL_RETURN_IF_ERROR(session_->run_steps({input_}, batch.first, batch.count, start, states, SpikeRecord::kCounts, &gate,
                                         step, selection.run.empty() ? nullptr : &selection));
  return gate.finish(plan);
}

Result<Tensor> SpikingReplayer::run(size_t f) {
  if (f >= faults_.size()) return out_of_range("fault " + std::to_string(f) + " is past the replay's list");
  const ResolvedFault& resolved = faults_[f];
  const std::string where = fault_list_location(*list_, resolved.entry);
  const ArmedFault armed = armed_fault(*list_, resolved, *targets_);
  auto created = FaultInjector::create(std::span<const ArmedFault>(&armed, 1), injector_options_);
  if (!created.is_ok()) return created.status().with_context(where);
  FaultInjector injector = std::move(created).value();
  Tensor counts;
  Status status;
  if (replay_options_.incremental) {
    status = golden().status();
    if (status.is_ok()) counts = golden_.clone();
    for (size_t b = 0; b < batches_.size() && status.is_ok(); ++b)
      status =
          run_batch_incremental(batches_[b], *armed.fault, armed.target->kind == TargetKind::kWeight, injector, counts);
  } else {
    StepGate gate(injector, *session_, armed.fault->site.steps);
    auto all = session_->run({input_}, SpikeRecord::kCounts, &gate);
    status = all.status();
    if (status.is_ok()) counts = std::move(all.value().front());
  }
  if (!status.is_ok()) {
    (void)injector.restore();
    return status.with_context(where);
  }
  Status restored = injector.check_restored();
  if (!restored.is_ok()) return restored.with_context(where);
  return counts;
}

}  // namespace faultline
