#include "kernels/cuda/cuda_plan.h"

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string_view>

#include "engine/shape_inference.h"
#include "engine/specialize.h"
#include "engine/weight_storage.h"
#include "kernels/cuda/cuda_plan_internal.h"
#include "kernels/reference/reference_backend.h"
#include "kernels/reference/reference_internal.h"

namespace faultline::cuda_plan {

namespace {

using internal::all_float32;
using internal::fallback;
using internal::is_float32;
using internal::shape_of;

bool is_copy_op(OpKind op) {
  return op == OpKind::kReshape || op == OpKind::kFlatten || op == OpKind::kIdentity || op == OpKind::kSqueeze ||
         op == OpKind::kUnsqueeze;
}

// The GPU kind of a single node, or kReference with `reason`.
StepKind kind_of(const Graph& graph, NodeId id, std::string& reason) {
  const Node& node = graph.node(id);
  auto refuse = [&](const Status& status) {
    reason = status.message();
    return StepKind::kReference;
  };
  const bool float32 = all_float32(graph, node);
  auto need_float32 = [&]() { return refuse(fallback("operands are not all float32")); };
  if (node.outputs.size() != 1) return refuse(fallback("has several outputs"));
  switch (node.op) {
    case OpKind::kConv: {
      Result<ConvShape> shape = conv_shape(graph, id);
      return shape.is_ok() ? StepKind::kConv : refuse(shape.status());
    }
    case OpKind::kBatchNormalization: {
      if (!float32) return need_float32();
      if (node.inputs.size() != 5 || shape_of(graph, node.inputs[0]).size() < 2)
        return refuse(fallback("not [X, scale, bias, mean, var] over an [N, C, ...] input"));
      const int64_t channels = shape_of(graph, node.inputs[0])[1];
      for (size_t i = 1; i < 5; ++i) {
        const ValueId v = node.inputs[i];
        if (v == kNoValue || !graph.value(v).is_constant() || graph.value(v).constant.numel() != channels)
          return refuse(fallback("parameters are not constants with one value per channel"));
      }
      return StepKind::kAffine;
    }
    case OpKind::kRelu:
    case OpKind::kLeakyRelu:
    case OpKind::kClip:
    case OpKind::kSigmoid:
    case OpKind::kTanh: {
      if (!float32) return need_float32();
      Result<cuda_detail::ChannelAffine> act = activation_of(node);
      return act.is_ok() ? StepKind::kAffine : refuse(act.status());
    }
    case OpKind::kAdd:
    case OpKind::kSub:
    case OpKind::kMul:
    case OpKind::kDiv: {
      if (!float32) return need_float32();
      if (node.inputs.size() != 2 || node.inputs[1] == kNoValue) return refuse(fallback("needs two operands"));
      Result<cuda_detail::BroadcastMap> map = broadcast_map(shape_of(graph, node.inputs[0]),
                                                            shape_of(graph, node.inputs[1]),
                                                            shape_of(graph, node.outputs[0]));
      return map.is_ok() ? StepKind::kBinary : refuse(map.status());
    }
    case OpKind::kMaxPool:
    case OpKind::kAveragePool: {
      if (!float32) return need_float32();
      Result<cuda_detail::PoolWindow> window = pool_window(graph, id);
      return window.is_ok() ? StepKind::kPool : refuse(window.status());
    }
    case OpKind::kGlobalAveragePool:
    case OpKind::kGlobalMaxPool:
      if (!float32) return need_float32();
      if (shape_of(graph, node.inputs[0]).size() < 3) return refuse(fallback("input is not [N, C, spatial...]"));
      return StepKind::kGlobalPool;
    case OpKind::kSoftmax: {
      if (!float32) return need_float32();
      Result<SoftmaxShape> shape = softmax_shape(graph, id);
      return shape.is_ok() ? StepKind::kSoftmax : refuse(shape.status());
    }
    case OpKind::kSlice:
    case OpKind::kPad:
    case OpKind::kTranspose: {
      Result<cuda_detail::GatherMap> map = gather_map(graph, id);
      return map.is_ok() ? StepKind::kGather : refuse(map.status());
    }
    case OpKind::kConcat:
      for (ValueId v : node.inputs)
        if (v == kNoValue || graph.value(v).dtype != graph.value(node.outputs[0]).dtype)
          return refuse(fallback("inputs do not share the output's dtype"));
      return StepKind::kConcat;
    case OpKind::kGemm: {
      if (!float32) return need_float32();
      Result<GemmShape> shape = gemm_shape(graph, id);
      return shape.is_ok() ? StepKind::kGemm : refuse(shape.status());
    }
    case OpKind::kMatMul: {
      if (!float32) return need_float32();
      Result<MatMulShape> shape = matmul_shape(graph, id);
      return shape.is_ok() ? StepKind::kMatMul : refuse(shape.status());
    }
    default:
      if (is_copy_op(node.op)) return StepKind::kCopy;
      return refuse(fallback("no CUDA kernel for " + std::string(op_name(node.op))));
  }
}

// The fusion policy (see the header): which values may vanish inside a step, which nodes run alone.
class Grouper {
 public:
  Grouper(const Graph& graph, const PlanOptions& options) : graph_(graph), options_(options) {
    const size_t count = graph.values().size();
    observable_.assign(count, false);
    boundary_.assign(count, false);
    for (ValueId v : options.observable)
      if (v >= 0 && static_cast<size_t>(v) < count) observable_[static_cast<size_t>(v)] = true;
    for (ValueId v : graph.inputs()) boundary_[static_cast<size_t>(v)] = true;
    for (ValueId v : graph.outputs()) boundary_[static_cast<size_t>(v)] = true;
  }

  bool is_barrier(NodeId id) const {
    const Node& node = graph_.node(id);
    for (ValueId v : node.outputs)
      if (observable_[static_cast<size_t>(v)]) return true;
    for (ValueId v : node.inputs)
      if (v != kNoValue && graph_.value(v).is_constant() && observable_[static_cast<size_t>(v)]) return true;
    return false;
  }

  // The single reader of `v` when v may vanish inside a fused step (and that reader may join one).
  NodeId fusable_consumer(ValueId v) const {
    if (!options_.fuse) return kNoNode;
    const size_t i = static_cast<size_t>(v);
    const Value& value = graph_.value(v);
    if (observable_[i] || boundary_[i] || value.is_constant() || value.consumers.size() != 1) return kNoNode;
    const NodeId next = value.consumers[0];
    if (is_barrier(next) || graph_.node(next).outputs.size() != 1) return kNoNode;
    return next;
  }

  bool is_const(ValueId v) const { return v != kNoValue && graph_.value(v).is_constant(); }

 private:
  const Graph& graph_;
  const PlanOptions& options_;
  std::vector<bool> observable_, boundary_;
};

}  // namespace

const char* step_kind_name(StepKind kind) {
  switch (kind) {
    case StepKind::kConv: return "cudnn conv";
    case StepKind::kAffine: return "affine/activation kernel";
    case StepKind::kBinary: return "binary kernel";
    case StepKind::kPool: return "pool kernel";
    case StepKind::kGlobalPool: return "global pool kernel";
    case StepKind::kSoftmax: return "softmax kernel";
    case StepKind::kGather: return "gather kernel";
    case StepKind::kConcat: return "concat copies";
    case StepKind::kCopy: return "device copy";
    case StepKind::kGemm: return "cublas gemm";
    case StepKind::kMatMul: return "cublas batched gemm";
    case StepKind::kReference: return "reference kernel on host";
  }
  return "?";
}

Status check_support(const Graph& graph, NodeId id) {
  if (id < 0 || static_cast<size_t>(id) >= graph.nodes().size())
    return out_of_range("cuda backend: no node with id " + std::to_string(id));
  const Node& node = graph.node(id);
  auto fail = [&](const std::string& why) { return unsupported("cuda backend: " + graph.describe(id) + ": " + why); };
  if (is_shape_op(node.op) && !is_weight_decode(graph, node))
    return fail("shape arithmetic is not executed by a backend (specialize() folds it)");
  if (std::optional<std::string> operand = operand_still_an_input(node))
    return fail(*operand + " still an input (not in specialized form; run specialize() first)");
  if (node.outputs.empty()) return fail("has no output");
  for (ValueId v : node.outputs) {
    const Value& value = graph.value(v);
    if (!value.shape_known || !is_static(value.shape))
      return fail("output '" + value.name + "' has no static shape " + shape_to_string(value.shape) +
                  " (run specialize() first)");
  }
  // A node without a GPU kernel runs the reference kernel on the host: only what the reference backend runs.
  std::string reason;
  if (kind_of(graph, id, reason) == StepKind::kReference) {
    static const std::unique_ptr<Backend> reference = make_reference_backend();
    const Status status = reference->check_support(graph, id);
    if (!status.is_ok())
      return fail("no CUDA kernel (" + reason + ") and the reference fallback refuses it: " + status.message());
  }
  return Status::ok();
}

Result<std::vector<PlannedStep>> plan_steps(const Graph& graph, const PlanOptions& options) {
  for (size_t i = 0; i < graph.nodes().size(); ++i) FL_RETURN_IF_ERROR(check_support(graph, static_cast<NodeId>(i)));
  FL_ASSIGN_OR_RETURN(const std::vector<NodeId> order, graph.topological_order());
  const Grouper grouper(graph, options);
  std::vector<bool> taken(graph.nodes().size(), false);
  std::vector<PlannedStep> steps;
  // Whether `v` is itself a conv's (BN's) output that could fuse the Add it feeds: then a conv on the Add's
  // other side does not wait for it (two convs into one Add, a bottleneck's main path and its downsample: the
  // later one fuses the Add).
  auto from_fusable_conv = [&](ValueId v) {
    NodeId producer = graph.value(v).producer;
    if (producer != kNoNode && graph.node(producer).op == OpKind::kBatchNormalization) {
      const ValueId x = graph.node(producer).inputs[0];
      producer = grouper.fusable_consumer(x) == producer ? graph.value(x).producer : kNoNode;
    }
    return producer != kNoNode && graph.node(producer).op == OpKind::kConv;
  };
  // The step that `head` starts; nullopt when it waits: a node reading what a waiting node computes, and
  // (may_wait) a conv whose residual Add's other operand is computed later in `order` (a shortcut's Slice/Pad):
  // it is planned right after that operand's producer, so that the Add fuses into it (nothing else reads the
  // conv's output: it has the Add as its one consumer chain).
  auto plan_head = [&](NodeId head, bool may_wait) -> std::optional<PlannedStep> {
    for (ValueId input : graph.node(head).inputs) {  // a node downstream of a waiting conv waits too
      const NodeId producer = input == kNoValue ? kNoNode : graph.value(input).producer;
      if (producer != kNoNode && !taken[static_cast<size_t>(producer)]) return std::nullopt;
    }
    PlannedStep step;
    step.nodes = {head};
    step.kind = kind_of(graph, head, step.reference_reason);
    const Node& node = graph.node(head);
    if (step.kind == StepKind::kConv && !grouper.is_barrier(head) && grouper.is_const(node.inputs[1]) &&
        (node.inputs.size() < 3 || node.inputs[2] == kNoValue || grouper.is_const(node.inputs[2]))) {
      ValueId v = node.outputs[0];
      const int64_t channels = shape_of(graph, node.inputs[1])[0];
      NodeId next = grouper.fusable_consumer(v);
      if (next != kNoNode && !taken[static_cast<size_t>(next)]) {
        const Node& bn = graph.node(next);
        bool foldable = bn.op == OpKind::kBatchNormalization && bn.inputs.size() == 5 && bn.inputs[0] == v &&
                        attrs_or_default<BatchNormAttrs>(bn.attrs) != nullptr;
        for (size_t i = 1; foldable && i < 5; ++i)
          foldable = grouper.is_const(bn.inputs[i]) && graph.value(bn.inputs[i]).constant.numel() == channels;
        if (foldable) {
          step.batch_norm = next;
          step.nodes.push_back(next);
          v = bn.outputs[0];
        }
      }
      // A residual Add (clean inference plans only: the fused order of additions is cuDNN's) of a non-constant
      // operand of the output's shape: a graph input, or a value some step computes.
      next = grouper.fusable_consumer(v);
      if (!options.propagate_nan && next != kNoNode && !taken[static_cast<size_t>(next)] &&
          graph.node(next).op == OpKind::kAdd && graph.node(next).inputs.size() == 2) {
        const Node& add = graph.node(next);
        const ValueId other = add.inputs[0] == v ? add.inputs[1] : add.inputs[0];
        if (other != v && !grouper.is_const(other) && is_float32(graph, other) &&
            shape_of(graph, other) == shape_of(graph, add.outputs[0]) &&
            shape_of(graph, v) == shape_of(graph, add.outputs[0])) {
          const NodeId producer = graph.value(other).producer;
          const bool ready = producer == kNoNode || taken[static_cast<size_t>(producer)];
          if (!ready && may_wait && !from_fusable_conv(other)) return std::nullopt;  // not yet
          if (ready) {
            step.residual_add = next;
            step.residual = other;
            step.nodes.push_back(next);
            v = add.outputs[0];
          }
        }
      }
      next = grouper.fusable_consumer(v);
      if (next != kNoNode && !taken[static_cast<size_t>(next)] && is_unary_activation(graph.node(next).op) &&
          activation_of(graph.node(next)).is_ok()) {
        step.activation = next;
        step.nodes.push_back(next);
        step.cudnn_bias_activation = !options.propagate_nan && graph.node(next).op == OpKind::kRelu;
      }
    }
    // BatchNormalization or Add/Sub/Mul/Div, then an activation: one kernel, the activation applied to the
    // rounded result as its own kernel would (every plan: the same bytes, NaN kept).
    if ((step.kind == StepKind::kAffine && node.op == OpKind::kBatchNormalization) || step.kind == StepKind::kBinary) {
      const NodeId next = grouper.fusable_consumer(node.outputs[0]);
      if (next != kNoNode && !taken[static_cast<size_t>(next)] && is_unary_activation(graph.node(next).op) &&
          all_float32(graph, graph.node(next)) && activation_of(graph.node(next)).is_ok()) {
        step.activation = next;
        step.nodes.push_back(next);
      }
    }
    return step;
  };
  std::vector<NodeId> waiting;  // nodes planned once what they wait for is computed
  auto emit = [&](PlannedStep step) {
    for (NodeId n : step.nodes) taken[static_cast<size_t>(n)] = true;
    steps.push_back(std::move(step));
  };
  // Plans the waiting nodes that can go now, in order, until none can (may_wait false: a conv stops waiting
  // for its residual, and its Add runs as a step of its own).
  auto plan_waiting = [&](bool may_wait) {
    for (bool planned = true; planned;) {
      planned = false;
      // (a node that waited for a conv may have joined its step)
      std::erase_if(waiting, [&](NodeId n) { return taken[static_cast<size_t>(n)]; });
      for (size_t i = 0; i < waiting.size() && !planned; ++i) {
        if (std::optional<PlannedStep> ready = plan_head(waiting[i], may_wait)) {
          waiting.erase(waiting.begin() + static_cast<std::ptrdiff_t>(i));
          emit(std::move(*ready));
          planned = true;
        }
      }
    }
  };
  for (NodeId head : order) {
    if (taken[static_cast<size_t>(head)] ||
        std::find(waiting.begin(), waiting.end(), head) != waiting.end())
      continue;
    std::optional<PlannedStep> step = plan_head(head, true);
    if (!step) {
      waiting.push_back(head);
      continue;
    }
    emit(std::move(*step));
    plan_waiting(true);  // a conv whose residual is now computed, and what waited for it
  }
  plan_waiting(false);
  if (!waiting.empty())
    return internal_error("cuda backend: cannot order " + graph.describe(waiting.front()) + " after its inputs");
  return steps;
}

}  // namespace faultline::cuda_plan
