#include "engine/spiking/spiking_session.h"

#include <algorithm>
#include <cstring>
#include <set>

#include "engine/session.h"

namespace faultline {

namespace {

// Rows [first, first + count) of time step t of a [T, N, ...] tensor, without copying.
Tensor step_view(const Tensor& t, int64_t step, int64_t first, int64_t count) {
  Shape shape(t.shape().begin() + 1, t.shape().end());
  const int64_t samples = shape[0];
  const size_t row_bytes = samples == 0 ? 0 : t.nbytes() / static_cast<size_t>(t.dim(0) * samples);
  shape[0] = count;
  auto* base = static_cast<std::byte*>(const_cast<void*>(t.raw()));
  return Tensor::view(t.dtype(), std::move(shape), base + (static_cast<size_t>(step * samples + first)) * row_bytes);
}

Result<ValueId> id_of(const Graph& graph, const std::string& name) {
  std::optional<ValueId> id = graph.find_value(name);
  if (!id) return internal_error(graph.source + ": the specialized graph has no value '" + name + "'");
  return *id;
}

Status zero(Tensor& t) {
  if (t.nbytes() > 0) std::memset(t.raw(), 0, t.nbytes());
  return Status::ok();
}

// execute() over the selection's steps only, each after its load().
Status execute_selected(CompiledModel& model, const StepSelection& selection, int64_t t, StepObserver* observer) {
  if (observer) FL_RETURN_IF_ERROR(observer->begin_pass(model));
  Status status;
  for (size_t s = 0; s < model.num_steps() && status.is_ok(); ++s) {
    if (!selection.run[s]) continue;
    status = selection.load(model, t, s);
    if (status.is_ok() && observer) status = observer->before_step(model, s);
    if (!status.is_ok()) break;
    model.run_step(s);
    if (observer) status = observer->after_step(model, s);
  }
  const Status ended = observer ? observer->end_pass(model) : Status::ok();
  return status.is_ok() ? ended : status;
}

}  // namespace

Result<std::string> membrane_of_output(const Graph& graph, const std::string& output) {
  std::optional<ValueId> id = graph.find_value(output);
  if (!id) return not_found(graph.source + ": no output named '" + output + "'");
  ValueId value = *id;
  while (true) {
    const NodeId producer = graph.value(value).producer;
    if (producer == kNoNode) break;
    const Node& node = graph.node(producer);
    if (is_neuron_op(node.op) && !neuron_layout(node.op).states.empty()) return graph.value(node.outputs.back()).name;
    if (node.op != OpKind::kIdentity || node.inputs.empty()) break;
    value = node.inputs[0];
  }
  return invalid_argument(graph.source + ": output '" + output +
                          "' is not fed by a neuron with a membrane potential, so it has none to record");
}

Result<std::unique_ptr<SpikingSession>> SpikingSession::create(std::shared_ptr<const Graph> model,
                                                               SpikingOptions options) {
  if (options.batch < 1) return invalid_argument("batch size must be at least 1, got " + std::to_string(options.batch));
  if (options.dt && !(*options.dt > 0.0f)) return invalid_argument("dt must be a positive number");
  std::unique_ptr<SpikingSession> session(new SpikingSession());
  if (options.dt || options.reset) {
    auto adjusted = std::make_shared<Graph>(*model);
    for (Node& node : adjusted->nodes()) {
      if (!is_neuron_op(node.op)) continue;
      NeuronAttrs attrs =
          std::holds_alternative<NeuronAttrs>(node.attrs) ? std::get<NeuronAttrs>(node.attrs) : NeuronAttrs{};
      if (options.dt) attrs.dt = *options.dt;
      if (options.reset) attrs.reset = *options.reset;
      node.attrs = attrs;
    }
    model = std::move(adjusted);
  }
  session->model_ = std::move(model);
  const Graph& graph = *session->model_;
  std::set<std::string> states, nexts;
  for (const StateLink& link : graph.state_links) {
    states.insert(link.state_input);
    nexts.insert(link.next_value);
  }
  for (ValueId id : graph.inputs())
    if (!states.count(graph.value(id).name)) session->data_inputs_.push_back(graph.value(id).name);
  for (ValueId id : graph.outputs())
    if (!nexts.count(graph.value(id).name)) session->model_outputs_.push_back(graph.value(id).name);
  if (session->data_inputs_.empty()) return invalid_argument(graph.source + ": the model has no data input");
  session->options_ = std::move(options);
  FL_ASSIGN_OR_RETURN(session->backend_, create_backend(session->options_.backend));
  FL_RETURN_IF_ERROR(session->plan_for(session->options_.batch).status());
  return session;
}

Result<SpikingSession::Plan*> SpikingSession::plan_for(int64_t batch) {
  for (Plan& plan : plans_)
    if (plan.batch == batch) return &plan;
  PlanOptions plan_options;
  plan_options.threads = options_.threads;
  plan_options.fuse = options_.fuse;
  plan_options.propagate_nan = options_.propagate_nan;
  plan_options.keep_values = options_.keep_values;
  Plan plan;
  plan.batch = batch;
  FL_ASSIGN_OR_RETURN(plan.compiled,
                      compile_for_batch(*backend_, *model_, batch, std::move(plan_options), options_.observable));
  const Graph& graph = plan.compiled->graph();
  for (const std::string& name : data_inputs_) {
    FL_ASSIGN_OR_RETURN(ValueId id, id_of(graph, name));
    plan.data_inputs.push_back(id);
  }
  for (const std::string& name : model_outputs_) {
    FL_ASSIGN_OR_RETURN(ValueId id, id_of(graph, name));
    plan.model_outputs.push_back(id);
    Result<std::string> membrane = membrane_of_output(graph, name);
    plan.membranes.push_back(membrane.is_ok() ? *graph.find_value(*membrane) : kNoValue);
  }
  for (const StateLink& link : graph.state_links) {
    FL_ASSIGN_OR_RETURN(ValueId state, id_of(graph, link.state_input));
    FL_ASSIGN_OR_RETURN(ValueId next, id_of(graph, link.next_value));
    if (graph.value(state).shape != graph.value(next).shape)
      return invalid_argument(model_->source + ": state '" + link.state_input + "' " +
                              shape_to_string(graph.value(state).shape) + " and its next value '" + link.next_value +
                              "' " + shape_to_string(graph.value(next).shape) + " differ in shape");
    plan.state_inputs.push_back(state);
    plan.next_values.push_back(next);
  }
  plans_.push_back(std::move(plan));
  return &plans_.back();
}

Result<std::vector<Tensor>> SpikingSession::checked_inputs(const std::vector<Tensor>& given) const {
  if (given.size() != data_inputs_.size())
    return invalid_argument("the model takes " + std::to_string(data_inputs_.size()) + " data inputs, got " +
                            std::to_string(given.size()));
  std::vector<Tensor> inputs;
  const Plan& main = plans_.front();
  for (size_t i = 0; i < given.size(); ++i) {
    const Tensor& t = given[i];
    const Shape& declared = main.compiled->graph().value(main.data_inputs[i]).shape;
    bool fits = t.rank() == static_cast<int>(declared.size()) + 1;
    for (size_t d = 1; fits && d < declared.size(); ++d) fits = t.dim(static_cast<int>(d) + 1) == declared[d];
    if (!fits || (i > 0 && (t.dim(0) != given[0].dim(0) || t.dim(1) != given[0].dim(1)))) {
      std::string expected = "[T, N";
      for (size_t d = 1; d < declared.size(); ++d) expected += ", " + std::to_string(declared[d]);
      return invalid_argument("input '" + data_inputs_[i] + "' must be " + expected +
                              "] (time steps first, then samples), got " + shape_to_string(t.shape()));
    }
    inputs.push_back(t.dtype() == DType::kFloat32 ? t : t.cast(DType::kFloat32));
  }
  if (inputs[0].dim(0) < 1) return invalid_argument("the input has no time steps");
  return inputs;
}

Status SpikingSession::check_record(SpikeRecord record) const {
  if (record == SpikeRecord::kMembrane)
    for (size_t o = 0; o < model_outputs_.size(); ++o)
      if (plans_.front().membranes[o] == kNoValue) return membrane_of_output(*model_, model_outputs_[o]).status();
  return Status::ok();
}

Result<std::vector<Tensor>> SpikingSession::run(const std::vector<Tensor>& given, SpikeRecord record,
                                                StepObserver* observer) {
  FL_ASSIGN_OR_RETURN(std::vector<Tensor> inputs, checked_inputs(given));
  FL_RETURN_IF_ERROR(check_record(record));
  const int64_t steps = inputs[0].dim(0);
  const int64_t samples = inputs[0].dim(1);
  const Plan& main = plans_.front();
  std::vector<Tensor> results;
  for (size_t o = 0; o < model_outputs_.size(); ++o) {
    const ValueId id = record == SpikeRecord::kMembrane ? main.membranes[o] : main.model_outputs[o];
    Shape shape = main.compiled->graph().value(id).shape;
    shape[0] = samples;
    if (record != SpikeRecord::kCounts) shape.insert(shape.begin(), steps);
    FL_ASSIGN_OR_RETURN(Tensor all, Tensor::allocate(DType::kFloat32, shape));
    FL_RETURN_IF_ERROR(zero(all));
    results.push_back(std::move(all));
  }
  for (int64_t first = 0; first < samples; first += options_.batch) {
    const int64_t count = std::min(options_.batch, samples - first);
    FL_ASSIGN_OR_RETURN(std::vector<Tensor> states, initial_states(count));
    auto gather = [&](int64_t t, const std::vector<Tensor>& outputs, const std::vector<Tensor>&) -> Result<bool> {
      for (size_t o = 0; o < outputs.size(); ++o) {
        const float* src = outputs[o].data<float>();
        const int64_t per_sample = outputs[o].numel() / count;
        float* dst = results[o].data<float>();
        if (record == SpikeRecord::kCounts) {
          dst += first * per_sample;
          for (int64_t k = 0; k < outputs[o].numel(); ++k) dst[k] += src[k];
        } else {
          std::memcpy(dst + (t * samples + first) * per_sample, src, outputs[o].nbytes());
        }
      }
      return true;
    };
    FL_RETURN_IF_ERROR(run_steps(inputs, first, count, 0, states, record, observer, gather));
  }
  return results;
}

Result<CompiledModel*> SpikingSession::compiled_for(int64_t count) {
  FL_ASSIGN_OR_RETURN(Plan * plan, plan_for(count));
  return plan->compiled.get();
}

Result<std::vector<Tensor>> SpikingSession::initial_states(int64_t count) {
  FL_ASSIGN_OR_RETURN(Plan * plan, plan_for(count));
  const Graph& graph = plan->compiled->graph();
  std::vector<Tensor> states;
  for (ValueId id : plan->state_inputs) {
    FL_ASSIGN_OR_RETURN(Tensor state, Tensor::allocate(DType::kFloat32, graph.value(id).shape));
    FL_RETURN_IF_ERROR(zero(state));
    states.push_back(std::move(state));
  }
  return states;
}

Status SpikingSession::run_steps(const std::vector<Tensor>& given, int64_t first, int64_t count, int64_t start,
                                 std::vector<Tensor>& states, SpikeRecord record, StepObserver* observer,
                                 const StepCallback& after_step, const StepSelection* selection) {
  FL_ASSIGN_OR_RETURN(std::vector<Tensor> inputs, checked_inputs(given));
  FL_RETURN_IF_ERROR(check_record(record));
  const int64_t steps = inputs[0].dim(0);
  if (count < 1 || count > options_.batch || first < 0 || first + count > inputs[0].dim(1) || start < 0 ||
      start > steps)
    return invalid_argument("run_steps: samples [" + std::to_string(first) + ", " + std::to_string(first + count) +
                            ") from step " + std::to_string(start) + " do not fit the input " +
                            shape_to_string(inputs[0].shape()) + " and batch " + std::to_string(options_.batch));
  FL_ASSIGN_OR_RETURN(Plan * plan, plan_for(count));
  CompiledModel& compiled = *plan->compiled;
  const Graph& graph = compiled.graph();
  if (states.size() != plan->state_inputs.size())
    return invalid_argument("run_steps: " + std::to_string(states.size()) + " states given, the model has " +
                            std::to_string(plan->state_inputs.size()) + " state links");
  for (size_t s = 0; s < states.size(); ++s)
    if (states[s].dtype() != DType::kFloat32 || states[s].shape() != graph.value(plan->state_inputs[s]).shape)
      return invalid_argument("run_steps: state '" + graph.value(plan->state_inputs[s]).name + "' must be float32 " +
                              shape_to_string(graph.value(plan->state_inputs[s]).shape) + ", got " +
                              shape_to_string(states[s].shape()));
  if (selection && selection->run.size() != compiled.num_steps())
    return invalid_argument("run_steps: the selection has " + std::to_string(selection->run.size()) +
                            " steps, the plan " + std::to_string(compiled.num_steps()));
  // Without a selection every value is read and written; with one, those of the running steps.
  const char all = selection ? 0 : 1;
  std::vector<char> read(graph.values().size(), all), written(graph.values().size(), all);
  for (size_t s = 0; selection && s < compiled.num_steps(); ++s) {
    if (!selection->run[s]) continue;
    for (NodeId n : compiled.step(s).nodes)
      for (ValueId v : graph.node(n).inputs)
        if (v != kNoValue) read[static_cast<size_t>(v)] = 1;
    for (ValueId v : compiled.step(s).outputs) written[static_cast<size_t>(v)] = 1;
  }
  auto is = [](const std::vector<char>& set, ValueId v) { return v != kNoValue && set[static_cast<size_t>(v)]; };
  first_sample_ = first;
  std::vector<Tensor> outputs(plan->model_outputs.size());
  Status status;
  for (int64_t t = start; t < steps && status.is_ok(); ++t) {
    time_step_ = t;
    for (size_t i = 0; i < inputs.size() && status.is_ok(); ++i)
      if (is(read, plan->data_inputs[i]))
        status = compiled.write_value(plan->data_inputs[i], step_view(inputs[i], t, first, count));
    for (size_t s = 0; s < states.size() && status.is_ok(); ++s)
      if (is(read, plan->state_inputs[s])) status = compiled.write_value(plan->state_inputs[s], states[s]);
    if (status.is_ok())
      status = selection ? execute_selected(compiled, *selection, t, observer) : execute(compiled, observer);
    for (size_t s = 0; s < states.size() && status.is_ok(); ++s)
      if (is(written, plan->next_values[s])) status = compiled.read_value(plan->next_values[s], states[s]);
    for (size_t o = 0; o < outputs.size() && status.is_ok(); ++o) {
      const ValueId id = record == SpikeRecord::kMembrane ? plan->membranes[o] : plan->model_outputs[o];
      if (is(written, id))
        status = compiled.read_value(id, outputs[o]);
      else
        outputs[o] = Tensor();
    }
    if (!status.is_ok()) break;
    Result<bool> go_on = after_step(t, outputs, states);
    if (!go_on.is_ok())
      status = go_on.status();
    else if (!*go_on)
      break;
  }
  time_step_ = -1;
  return status;
}

}  // namespace faultline
