#include "kernels/reference/reference_backend.h"

#include <algorithm>
#include <cstring>

#include "engine/buffer_plan.h"
#include "engine/specialize.h"
#include "engine/weight_storage.h"
#include "kernels/reference/reference_ops.h"

namespace faultline {

namespace {

std::string describe_value(const Graph& graph, ValueId id) {
  return "value '" + graph.value(id).name + "'";
}

// One step per node in topological order. Constants are private copies (a weight fault written through
// write_value() never reaches the caller's graph); every other value is a view into one arena whose regions
// are shared by values with disjoint lifetimes. A kernel error (which a specialized float32 graph does not
// produce) is kept and returned by read_value() until the next run starts at step 0.
class ReferenceModel final : public CompiledModel {
 public:
  static Result<std::unique_ptr<CompiledModel>> create(const Graph& graph, bool keep_values) {
    std::unique_ptr<ReferenceModel> model(new ReferenceModel(graph, keep_values));
    FL_RETURN_IF_ERROR(model->plan());
    return std::unique_ptr<CompiledModel>(std::move(model));
  }

  const Graph& graph() const override { return graph_; }
  size_t num_steps() const override { return steps_.size(); }
  const StepInfo& step(size_t index) const override { return steps_[index].info; }

  void run_step(size_t index) override {
    if (index == 0) run_error_ = Status::ok();
    if (!run_error_.is_ok()) return;
    const Step& step = steps_[index];
    Status status = run_reference_node(graph_.node(step.info.nodes[0]), step.inputs, step.outputs);
    if (!status.is_ok()) run_error_ = status.with_context("reference backend, step " + std::to_string(index));
  }

  Status write_value(ValueId id, const Tensor& src) override {
    FL_ASSIGN_OR_RETURN(Tensor * value, stored_value(id));
    FL_RETURN_IF_ERROR(expect_same_layout(id, *value, src));
    if (src.nbytes() > 0) std::memcpy(value->raw(), src.raw(), src.nbytes());
    return Status::ok();
  }

  std::span<std::byte> value_storage(ValueId id) override {
    if (id < 0 || static_cast<size_t>(id) >= values_.size()) return {};
    const Tensor& value = values_[static_cast<size_t>(id)];
    if (value.raw() == nullptr || graph_.value(id).is_constant()) return {};
    return {static_cast<std::byte*>(const_cast<void*>(value.raw())), value.nbytes()};
  }

  std::optional<size_t> value_element_offset(ValueId id, int64_t index) override {
    const std::span<std::byte> bytes = value_storage(id);
    const size_t word = bytes.empty() ? 0 : dtype_size(graph_.value(id).dtype);
    if (bytes.empty() || index < 0 || (static_cast<size_t>(index) + 1) * word > bytes.size()) return std::nullopt;
    return static_cast<size_t>(index) * word;  // dense, in the logical order
  }

  std::span<std::byte> kept_storage(ValueId id) override {
    if (!keep_values_) return {};
    return value_storage(id);
  }

  std::optional<KeptLayout> kept_layout(ValueId id) override {
    const Shape& shape = graph_.value(id).shape;
    if (kept_storage(id).empty() || shape.size() != 4) return std::nullopt;
    return KeptLayout::dense(shape[0], shape[1], shape[2], shape[3], 1, dtype_size(graph_.value(id).dtype));
  }

  Status read_value(ValueId id, Tensor& dst) override {
    FL_RETURN_IF_ERROR(run_error_);
    FL_ASSIGN_OR_RETURN(Tensor * value, stored_value(id));
    if (dst.empty()) {
      FL_ASSIGN_OR_RETURN(dst, Tensor::allocate(value->dtype(), value->shape()));
    }
    FL_RETURN_IF_ERROR(expect_same_layout(id, *value, dst));
    if (value->nbytes() > 0) std::memcpy(dst.raw(), value->raw(), value->nbytes());
    return Status::ok();
  }

 private:
  struct Step {
    StepInfo info;
    std::vector<const Tensor*> inputs;  // null for an omitted optional input
    std::vector<Tensor*> outputs;
  };

  ReferenceModel(const Graph& graph, bool keep_values) : graph_(graph), keep_values_(keep_values) {}

  Status plan() {
    FL_ASSIGN_OR_RETURN(const std::vector<NodeId> order, graph_.topological_order());
    const size_t value_count = graph_.values().size();
    values_.resize(value_count);
    // Lifetimes in steps; -1 marks a value no step or caller touches.
    std::vector<int> first_step(value_count, -1), last_step(value_count, -1);
    auto touch = [&](ValueId id, int step) {
      const size_t v = static_cast<size_t>(id);
      if (first_step[v] < 0) first_step[v] = step;
      first_step[v] = std::min(first_step[v], step);
      last_step[v] = std::max(last_step[v], step);
    };
    const int final_step = std::max<int>(0, static_cast<int>(order.size()) - 1);
    for (ValueId id : graph_.inputs()) touch(id, 0);
    for (size_t s = 0; s < order.size(); ++s) {
      const Node& node = graph_.node(order[s]);
      for (ValueId id : node.inputs)
        if (id != kNoValue) touch(id, static_cast<int>(s));
      for (ValueId id : node.outputs) touch(id, static_cast<int>(s));
    }
    for (ValueId id : graph_.outputs()) {
      const Value& value = graph_.value(id);
      if (value.producer == kNoNode && !value.is_constant() &&
          std::find(graph_.inputs().begin(), graph_.inputs().end(), id) == graph_.inputs().end())
        return invalid_argument("graph output " + describe_value(graph_, id) +
                                " is neither a graph input, a constant nor any node's output");
      touch(id, final_step);
    }

    std::vector<ValueId> arena_values;
    std::vector<BufferRequest> requests;
    for (size_t v = 0; v < value_count; ++v) {
      const ValueId id = static_cast<ValueId>(v);
      const Value& value = graph_.value(id);
      if (value.is_constant()) {
        values_[v] = value.constant.clone();
        continue;
      }
      if (first_step[v] < 0) continue;
      Result<int64_t> count = checked_numel(value.shape);
      if (!value.shape_known || !count.is_ok())
        return invalid_argument(describe_value(graph_, id) + " has no static shape (" + shape_to_string(value.shape) +
                                "); compile a specialized graph");
      arena_values.push_back(id);
      requests.push_back({static_cast<size_t>(*count) * dtype_size(value.dtype), first_step[v], last_step[v]});
    }
    if (keep_values_)  // PlanOptions::keep_values: every value lives to the end, in a buffer of its own
      for (BufferRequest& request : requests) request.last_step = final_step + 1;
    const BufferPlan buffers = plan_buffers(requests);
    FL_ASSIGN_OR_RETURN(arena_, Tensor::allocate(DType::kUInt8, {static_cast<int64_t>(buffers.total_bytes)}));
    for (size_t i = 0; i < arena_values.size(); ++i) {
      const Value& value = graph_.value(arena_values[i]);
      values_[static_cast<size_t>(arena_values[i])] =
          Tensor::view(value.dtype, value.shape, arena_.data<char>() + buffers.offsets[i]);
    }

    for (NodeId id : order) {
      const Node& node = graph_.node(id);
      Step step;
      step.info.nodes = {id};
      step.info.outputs = node.outputs;
      for (ValueId input : node.inputs)
        step.inputs.push_back(input == kNoValue ? nullptr : &values_[static_cast<size_t>(input)]);
      for (ValueId output : node.outputs) step.outputs.push_back(&values_[static_cast<size_t>(output)]);
      steps_.push_back(std::move(step));
    }
    return Status::ok();
  }

  Result<Tensor*> stored_value(ValueId id) {
    if (id < 0 || static_cast<size_t>(id) >= values_.size())
      return out_of_range("value id " + std::to_string(id) + " is not in the compiled graph");
    Tensor& value = values_[static_cast<size_t>(id)];
    if (value.raw() == nullptr)
      return not_found(describe_value(graph_, id) + " is not read or written by any step of the compiled graph");
    return &value;
  }

  Status expect_same_layout(ValueId id, const Tensor& value, const Tensor& other) const {
    if (value.shape() == other.shape() && value.dtype() == other.dtype()) return Status::ok();
    return invalid_argument(describe_value(graph_, id) + " is " + std::string(dtype_name(value.dtype())) + " " +
                            shape_to_string(value.shape()) + ", the tensor given is " +
                            std::string(dtype_name(other.dtype())) + " " + shape_to_string(other.shape()));
  }

  Graph graph_;
  bool keep_values_ = false;
  Tensor arena_;
  std::vector<Tensor> values_;  // by ValueId: a constant's copy, a view into arena_, or empty (unused)
  std::vector<Step> steps_;
  Status run_error_;
};

// Ops whose reference kernels copy elements of any dtype (kernels/reference/reference_ops.h).
bool moves_any_dtype(OpKind op) {
  switch (op) {
    case OpKind::kReshape: case OpKind::kFlatten: case OpKind::kIdentity: case OpKind::kSqueeze:
    case OpKind::kUnsqueeze: case OpKind::kTranspose: case OpKind::kConcat: case OpKind::kSlice: case OpKind::kPad:
      return true;
    default:
      return false;
  }
}

class ReferenceBackend final : public Backend {
 public:
  std::string_view name() const override { return "reference"; }

  Status check_support(const Graph& graph, NodeId id) const override {
    const Node& node = graph.node(id);
    // A stored weight's decode (Cast / DequantizeLinear of a float16/bfloat16/int8 parameter that is a fault
    // site) runs here on its non-float32 constant input; its output is float32.
    const bool decode = is_weight_decode(graph, node);
    if (is_shape_op(node.op) && !decode)
      return unsupported(graph.describe(id) + ": shape arithmetic must be folded by specialize() before planning");
    if (std::optional<std::string> operand = operand_still_an_input(node))
      return unsupported(graph.describe(id) + ": " + *operand + " still an input (not in specialized form)");
    if (node.outputs.size() != 1 && !is_neuron_op(node.op))  // a neuron also outputs its next states
      return unsupported(graph.describe(id) + ": has " + std::to_string(node.outputs.size()) +
                         " outputs; the reference backend computes one");
    // The quantized ops' kernels check their own operands (int8/uint8 data and zero points, float32 scales, int32
    // accumulators and biases); data movement copies any dtype (an int8 activation through Reshape or Concat).
    if (decode || is_integer_op(node.op) || node.op == OpKind::kDequantizeLinear || moves_any_dtype(node.op))
      return Status::ok();
    auto check_float32 = [&](ValueId value_id, const char* role) -> Status {
      if (value_id == kNoValue || graph.value(value_id).dtype == DType::kFloat32) return Status::ok();
      return unsupported(graph.describe(id) + ": " + role + " " + describe_value(graph, value_id) + " is " +
                         std::string(dtype_name(graph.value(value_id).dtype)) +
                         "; the reference backend runs this op on float32 only");
    };
    for (ValueId input : node.inputs) FL_RETURN_IF_ERROR(check_float32(input, "input"));
    for (ValueId output : node.outputs) FL_RETURN_IF_ERROR(check_float32(output, "output"));
    return Status::ok();
  }

  // options (threads, fuse, observable) change nothing here: one step per node, no fusion, nothing in place;
  // keep_values only stops buffer sharing.
  Result<std::unique_ptr<CompiledModel>> compile(const Graph& graph, const PlanOptions& options) const override {
    for (size_t id = 0; id < graph.nodes().size(); ++id)
      FL_RETURN_IF_ERROR(check_support(graph, static_cast<NodeId>(id)));
    return ReferenceModel::create(graph, options.keep_values);
  }
};

}  // namespace

std::unique_ptr<Backend> make_reference_backend() {
  return std::make_unique<ReferenceBackend>();
}

}  // namespace faultline
