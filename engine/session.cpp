#include "engine/session.h"

#include <cstring>

#include "engine/specialize.h"
#include "engine/weight_storage.h"

namespace faultline {

namespace {

// Images per batch that the model itself fixes (a static first input dimension), or 0 when it is dynamic.
int64_t fixed_batch_of(const Graph& model) {
  if (model.inputs().empty()) return 0;
  const Value& first = model.value(model.inputs()[0]);
  if (!first.shape_known || first.shape.empty() || first.shape[0] == kDynamicDim) return 0;
  return first.shape[0];
}

Status check_input(const Value& declared, const Tensor& given) {
  if (given.dtype() != declared.dtype)
    return invalid_argument("input '" + declared.name + "' must be " + std::string(dtype_name(declared.dtype)) +
                            ", got " + std::string(dtype_name(given.dtype())));
  if (!declared.shape_known) return Status::ok();
  bool fits = given.rank() == static_cast<int>(declared.shape.size());
  for (size_t d = 1; fits && d < declared.shape.size(); ++d)
    fits = declared.shape[d] == kDynamicDim || declared.shape[d] == given.shape()[d];
  if (!fits)
    return invalid_argument("input '" + declared.name + "' must have shape " + shape_to_string(declared.shape) +
                            " (N images first), got " + shape_to_string(given.shape()));
  return Status::ok();
}

// Rows [first, first + count) of a tensor whose first dimension counts images, without copying.
Tensor rows_view(const Tensor& t, int64_t first, int64_t count) {
  Shape shape = t.shape();
  const size_t row_bytes = t.numel() == 0 ? 0 : t.nbytes() / static_cast<size_t>(shape[0]);
  shape[0] = count;
  auto* base = static_cast<std::byte*>(const_cast<void*>(t.raw()));
  return Tensor::view(t.dtype(), std::move(shape), base + static_cast<size_t>(first) * row_bytes);
}

// Writes one batch of inputs, executes every step and reads the graph outputs (a constant output is cloned).
Status run_compiled(CompiledModel& compiled, const std::vector<Tensor>& inputs, std::vector<Tensor>& outputs,
                    StepObserver* observer) {
  const Graph& graph = compiled.graph();
  for (size_t i = 0; i < inputs.size(); ++i) FL_RETURN_IF_ERROR(compiled.write_value(graph.inputs()[i], inputs[i]));
  FL_RETURN_IF_ERROR(execute(compiled, observer));
  outputs.resize(graph.outputs().size());
  for (size_t i = 0; i < graph.outputs().size(); ++i) {
    const Value& out = graph.value(graph.outputs()[i]);
    if (out.is_constant()) outputs[i] = out.constant.clone();
    else FL_RETURN_IF_ERROR(compiled.read_value(graph.outputs()[i], outputs[i]));
  }
  return Status::ok();
}

// A non-constant value of an integer dtype: an int8 model's quantized activation or int32 accumulator.
bool is_integer_activation(const Graph& graph, ValueId id) {
  if (id == kNoValue) return false;
  const Value& value = graph.value(id);
  return !value.is_constant() &&
         (value.dtype == DType::kInt8 || value.dtype == DType::kUInt8 || value.dtype == DType::kInt32);
}

// Only the reference backend runs int8 models (engine/op_kind.h is_integer_op): on another backend, the first
// node that reads or writes an integer activation and that the backend refuses fails with that hint.
Status check_integer_nodes(const Backend& backend, const Graph& graph) {
  if (backend.name() == "reference") return Status::ok();
  FL_ASSIGN_OR_RETURN(std::vector<NodeId> order, graph.topological_order());
  for (NodeId id : order) {
    const Node& node = graph.node(id);
    bool integer = is_integer_op(node.op);
    for (ValueId v : node.inputs) integer = integer || is_integer_activation(graph, v);
    for (ValueId v : node.outputs) integer = integer || is_integer_activation(graph, v);
    if (integer && !backend.check_support(graph, id).is_ok())
      return unsupported(graph.describe(id) + ": int8 ops run on the reference backend (--backend reference)");
  }
  return Status::ok();
}

}  // namespace

Result<std::unique_ptr<Session>> Session::create(std::shared_ptr<const Graph> model, SessionOptions options) {
  if (options.batch < 1) return invalid_argument("batch size must be at least 1, got " + std::to_string(options.batch));
  std::unique_ptr<Session> session(new Session());
  if (options.weight_dtype) {
    auto stored = std::make_shared<Graph>(*model);
    Status status = store_weights_as(*stored, *options.weight_dtype);
    if (!status.is_ok()) return status.with_context(model->source);
    model = std::move(stored);
  }
  session->model_ = std::move(model);
  if (int64_t fixed = fixed_batch_of(*session->model_)) options.batch = fixed;
  session->options_ = std::move(options);
  FL_ASSIGN_OR_RETURN(session->backend_, create_backend(session->options_.backend));
  FL_RETURN_IF_ERROR(session->plan_for(session->options_.batch).status());
  return session;
}

Result<std::unique_ptr<CompiledModel>> compile_for_batch(const Backend& backend, const Graph& model, int64_t batch,
                                                         PlanOptions options, const std::vector<std::string>& observable) {
  SpecializeOptions specialize_options;
  specialize_options.batch = batch;
  specialize_options.fold_weight_decodes = true;  // clean inference reads folded float32 weights
  specialize_options.observable = observable;
  auto specialized = specialize(model, specialize_options);
  if (!specialized.is_ok()) return specialized.status().with_context(model.source);
  const Graph& graph = specialized.value();
  options.observable.clear();
  for (const std::string& name : observable) {
    auto id = graph.find_value(name);
    if (!id) return not_found(model.source + ": no value named '" + name + "' to observe");
    options.observable.push_back(*id);
  }
  Status integer = check_integer_nodes(backend, graph);
  if (!integer.is_ok()) return integer.with_context(model.source);
  auto compiled = backend.compile(graph, options);
  if (!compiled.is_ok()) return compiled.status().with_context(model.source);
  return std::move(compiled).value();
}

Result<Session::Plan*> Session::plan_for(int64_t batch) {
  for (Plan& plan : plans_)
    if (plan.batch == batch) return &plan;
  PlanOptions plan_options;
  plan_options.threads = options_.threads;
  plan_options.fuse = options_.fuse;
  plan_options.propagate_nan = options_.propagate_nan;
  plan_options.keep_values = options_.keep_values;
  FL_ASSIGN_OR_RETURN(std::unique_ptr<CompiledModel> compiled,
                      compile_for_batch(*backend_, *model_, batch, std::move(plan_options), options_.observable));
  plans_.push_back(Plan{batch, std::move(compiled)});
  return &plans_.back();
}

Result<CompiledModel*> Session::compiled_for(int64_t batch) {
  FL_ASSIGN_OR_RETURN(Plan * plan, plan_for(batch));
  return plan->compiled.get();
}

Status Session::run_batch(const std::vector<Tensor>& inputs, std::vector<Tensor>& outputs, StepObserver* observer) {
  CompiledModel& compiled = *plans_.front().compiled;
  const Graph& graph = compiled.graph();
  if (inputs.size() != graph.inputs().size())
    return invalid_argument("the model takes " + std::to_string(graph.inputs().size()) + " inputs, got " +
                            std::to_string(inputs.size()));
  return run_compiled(compiled, inputs, outputs, observer);
}

Result<std::vector<Tensor>> Session::run(const std::vector<Tensor>& inputs, StepObserver* observer) {
  const Graph& model = *model_;
  if (inputs.size() != model.inputs().size())
    return invalid_argument("the model takes " + std::to_string(model.inputs().size()) + " inputs, got " +
                            std::to_string(inputs.size()));
  for (size_t i = 0; i < inputs.size(); ++i) FL_RETURN_IF_ERROR(check_input(model.value(model.inputs()[i]), inputs[i]));

  // A model without batched inputs (no inputs, or a scalar input) runs once on exactly what it was given.
  const bool batched = !inputs.empty() && inputs[0].rank() > 0;
  const int64_t images = batched ? inputs[0].dim(0) : 1;
  for (const Tensor& t : inputs)
    if (batched && (t.rank() == 0 || t.dim(0) != images))
      return invalid_argument("all inputs must have the same number of images (first dimension)");
  const int64_t fixed = fixed_batch_of(model);
  if (fixed && images % fixed != 0)
    return invalid_argument("the model takes batches of exactly " + std::to_string(fixed) + " images; " +
                            std::to_string(images) + " is not a multiple of it");

  std::vector<Tensor> results;
  std::vector<Tensor> chunk_outputs;
  for (int64_t first = 0; first < images;) {
    const int64_t count = batched ? std::min(options_.batch, images - first) : 1;
    FL_ASSIGN_OR_RETURN(Plan * plan, plan_for(count));
    CompiledModel& compiled = *plan->compiled;
    const Graph& graph = compiled.graph();
    std::vector<Tensor> chunk_inputs;
    for (const Tensor& input : inputs) chunk_inputs.push_back(batched ? rows_view(input, first, count) : input);
    chunk_outputs.assign(graph.outputs().size(), Tensor());
    FL_RETURN_IF_ERROR(run_compiled(compiled, chunk_inputs, chunk_outputs, observer));
    if (!batched || (first == 0 && count == images)) {
      results = std::move(chunk_outputs);
      break;
    }
    if (results.empty()) {
      for (size_t i = 0; i < chunk_outputs.size(); ++i) {
        const Tensor& out = chunk_outputs[i];
        if (out.rank() == 0 || out.dim(0) != count)
          return unsupported("output '" + graph.value(graph.outputs()[i]).name + "' of shape " +
                             shape_to_string(out.shape()) + " is not batched; run the whole input as one batch");
        Shape shape = out.shape();
        shape[0] = images;
        FL_ASSIGN_OR_RETURN(Tensor all, Tensor::allocate(out.dtype(), shape));
        results.push_back(std::move(all));
      }
    }
    for (size_t i = 0; i < chunk_outputs.size(); ++i) {
      Tensor destination = rows_view(results[i], first, count);
      std::memcpy(destination.raw(), chunk_outputs[i].raw(), chunk_outputs[i].nbytes());
    }
    first += count;
  }
  return results;
}

}  // namespace faultline
