#include "engine/specialize.h"

#include <algorithm>

#include "engine/shape_inference.h"
#include "engine/weight_storage.h"
#include "kernels/reference/reference_ops.h"

namespace faultline {

namespace {

const Tensor* constant_of(const Graph& g, const Node& node, size_t slot) {
  if (slot >= node.inputs.size() || node.inputs[slot] == kNoValue) return nullptr;
  const Value& v = g.value(node.inputs[slot]);
  return v.is_constant() ? &v.constant : nullptr;
}

bool operand_is_pending(const Graph& g, const Node& node, size_t slot) {
  return slot < node.inputs.size() && node.inputs[slot] != kNoValue && !g.value(node.inputs[slot]).is_constant();
}

// Moves constant operand inputs (Clip bounds, Pad pads, Slice ranges, Reshape shape, Squeeze axes) into the
// node's attributes. Returns false if an operand is not constant yet (maybe later, after more folding).
bool absorb_operands(Graph& g, Node& node) {
  auto operands_ready = [&](size_t first) {
    for (size_t slot = first; slot < node.inputs.size(); ++slot)
      if (operand_is_pending(g, node, slot)) return false;
    return true;
  };
  auto keep_data_input_only = [&] { node.inputs.resize(1); };
  auto int64s = [&](size_t slot) { return constant_of(g, node, slot)->to_int64s(); };

  if (auto* clip = std::get_if<ClipAttrs>(&node.attrs); clip && clip->bounds_from_inputs) {
    if (!operands_ready(1)) return false;
    if (const Tensor* t = constant_of(g, node, 1)) clip->min = static_cast<float>(t->to_doubles().at(0));
    if (const Tensor* t = constant_of(g, node, 2)) clip->max = static_cast<float>(t->to_doubles().at(0));
    clip->bounds_from_inputs = false;
    keep_data_input_only();
  } else if (auto* pad = std::get_if<PadAttrs>(&node.attrs); pad && pad->pads_from_inputs) {
    if (!operands_ready(1)) return false;
    if (constant_of(g, node, 1)) pad->pads = int64s(1);
    if (const Tensor* t = constant_of(g, node, 2); t && t->numel() > 0) pad->value = static_cast<float>(t->to_doubles()[0]);
    pad->pads_from_inputs = false;
    keep_data_input_only();
  } else if (auto* slice = std::get_if<SliceAttrs>(&node.attrs); slice && slice->from_inputs) {
    if (!operands_ready(1)) return false;
    slice->starts = constant_of(g, node, 1) ? int64s(1) : std::vector<int64_t>{};
    slice->ends = constant_of(g, node, 2) ? int64s(2) : std::vector<int64_t>{};
    slice->axes = constant_of(g, node, 3) ? int64s(3) : std::vector<int64_t>{};
    slice->steps = constant_of(g, node, 4) ? int64s(4) : std::vector<int64_t>{};
    slice->from_inputs = false;
    keep_data_input_only();
  } else if (auto* reshape = std::get_if<ReshapeAttrs>(&node.attrs); reshape && reshape->shape_from_input) {
    if (!operands_ready(1) || !constant_of(g, node, 1)) return false;
    reshape->shape = int64s(1);
    reshape->shape_from_input = false;
    keep_data_input_only();
  } else if (auto* axes = std::get_if<AxesAttrs>(&node.attrs); axes && axes->axes_from_input) {
    if (!operands_ready(1)) return false;
    axes->axes = constant_of(g, node, 1) ? int64s(1) : std::vector<int64_t>{};
    axes->axes_from_input = false;
    keep_data_input_only();
  }
  return true;
}

bool inputs_static(const Graph& g, const Node& node) {
  for (ValueId id : node.inputs) {
    if (id == kNoValue) continue;
    const Value& v = g.value(id);
    if (!v.is_constant() && (!v.shape_known || !is_static(v.shape))) return false;
  }
  return true;
}

// Fills window defaults and resolves auto_pad from the input's spatial size.
void resolve_windows(Graph& g, Node& node) {
  if (node.inputs.empty() || node.inputs[0] == kNoValue) return;
  const Shape& x = g.value(node.inputs[0]).shape;
  if (x.size() < 3) return;
  std::vector<int64_t> spatial(x.begin() + 2, x.end());
  if (auto* conv = std::get_if<ConvAttrs>(&node.attrs)) {
    const size_t weight = conv_weight_slot(node.op);  // QLinearConv's weight is its fourth input
    if (conv->kernel_shape.empty() && node.inputs.size() > weight && node.inputs[weight] != kNoValue) {
      const Shape& w = g.value(node.inputs[weight]).shape;
      if (w.size() >= 3) conv->kernel_shape.assign(w.begin() + 2, w.end());
    }
    if (conv->kernel_shape.size() == spatial.size())
      resolve_window(spatial, conv->kernel_shape, conv->auto_pad, conv->strides, conv->dilations, conv->pads);
  } else if (auto* pool = std::get_if<PoolAttrs>(&node.attrs)) {
    if (pool->kernel_shape.size() == spatial.size())
      resolve_window(spatial, pool->kernel_shape, pool->auto_pad, pool->strides, pool->dilations, pool->pads);
  }
}

bool is_rearrangement(OpKind op) {
  return op == OpKind::kReshape || op == OpKind::kFlatten || op == OpKind::kTranspose || op == OpKind::kSqueeze ||
         op == OpKind::kUnsqueeze || op == OpKind::kIdentity;
}

Status evaluate_constant_node(Graph& g, NodeId id) {
  Node& node = g.node(id);
  std::vector<const Tensor*> inputs;
  for (ValueId in : node.inputs) inputs.push_back(in == kNoValue ? nullptr : &g.value(in).constant);
  std::vector<Tensor> outputs;
  std::vector<Tensor*> output_ptrs;
  outputs.reserve(node.outputs.size());
  for (ValueId out : node.outputs) {
    auto allocated = Tensor::allocate(g.value(out).dtype, g.value(out).shape);
    if (!allocated.is_ok()) return allocated.status().with_context(g.describe(id));
    outputs.push_back(std::move(allocated).value());
  }
  for (Tensor& t : outputs) output_ptrs.push_back(&t);
  FL_RETURN_IF_ERROR(run_reference_node(node, inputs, output_ptrs));  // kernel errors name the node
  // A parameter that an exporter only rearranged (Reshape/Transpose/... of a weight) is still a parameter:
  // a fault target with the same elements in another order.
  const bool rearranged_parameter = is_rearrangement(node.op) && !node.inputs.empty() &&
                                    node.inputs[0] != kNoValue && g.value(node.inputs[0]).is_parameter;
  for (size_t i = 0; i < node.outputs.size(); ++i) {
    g.value(node.outputs[i]).constant = std::move(outputs[i]);
    g.value(node.outputs[i]).is_parameter = rearranged_parameter;
  }
  return Status::ok();
}

bool all_inputs_constant(const Graph& g, const Node& node) {
  for (ValueId id : node.inputs)
    if (id != kNoValue && !g.value(id).is_constant()) return false;
  return true;
}

// Shape of a tensor whose shape is known: a constant even if the tensor itself is computed at run time.
bool fold_shape_of_static(Graph& g, Node& node) {
  if (node.op != OpKind::kShape || node.inputs.empty()) return false;
  const Value& x = g.value(node.inputs[0]);
  if (!x.is_constant() && (!x.shape_known || !is_static(x.shape))) return false;
  Value& out = g.value(node.outputs[0]);
  out.dtype = DType::kInt64;
  out.shape = {static_cast<int64_t>(x.shape.size())};
  out.shape_known = true;
  out.constant = Tensor::from_int64s(out.shape, x.shape);
  return true;
}

// A weight decode stays a run-time node unless `options` folds decodes and none of its inputs is observable.
bool keeps_weight_decode(const Graph& g, const Node& node, const SpecializeOptions* options) {
  if (!is_weight_decode(g, node)) return false;
  if (options == nullptr || !options->fold_weight_decodes) return true;
  for (ValueId in : node.inputs) {  // the stored word, or an ONNX model's own scale / zero point parameter
    if (in == kNoValue) continue;
    const std::string& name = g.value(in).name;
    if (std::find(options->observable.begin(), options->observable.end(), name) != options->observable.end()) return true;
  }
  return false;
}

// Folds what can be folded in topological order. With `require_static`, every node must end with static
// output shapes (specialize); otherwise nodes whose shapes are unknown are left alone (import). `options` is
// null at import.
Status fold_pass(Graph& g, bool require_static, const SpecializeOptions* options) {
  FL_ASSIGN_OR_RETURN(std::vector<NodeId> order, g.topological_order());
  std::vector<bool> dead(g.nodes().size(), false);
  for (NodeId id : order) {
    Node& node = g.node(id);
    bool absorbed = absorb_operands(g, node);
    if (fold_shape_of_static(g, node)) {
      dead[static_cast<size_t>(id)] = true;
      continue;
    }
    if (!absorbed) {
      if (require_static)
        return unsupported(g.describe(id) + ": its parameters (shape, pads, bounds, slice ranges or axes) are "
                           "computed at run time; faultline needs them constant");
      continue;
    }
    if (!inputs_static(g, node)) continue;
    resolve_windows(g, node);
    FL_RETURN_IF_ERROR(infer_output_shapes(g, id));
    if (all_inputs_constant(g, node) && !node.inputs.empty() && !keeps_weight_decode(g, node, options)) {
      FL_RETURN_IF_ERROR(evaluate_constant_node(g, id));
      dead[static_cast<size_t>(id)] = true;
    } else if (node.op == OpKind::kConstantOfShape || node.op == OpKind::kRange) {
      if (require_static) return unsupported(g.describe(id) + ": its input is computed at run time");
    }
  }
  g.erase_nodes(dead);
  return Status::ok();
}

// Identity nodes whose output is not a graph output disappear: consumers read the Identity's input.
void remove_identities(Graph& g) {
  std::vector<bool> dead(g.nodes().size(), false);
  std::vector<ValueId> replacement(g.values().size(), kNoValue);
  auto is_graph_output = [&](ValueId id) {
    return std::find(g.outputs().begin(), g.outputs().end(), id) != g.outputs().end();
  };
  for (size_t i = 0; i < g.nodes().size(); ++i) {
    Node& node = g.nodes()[i];
    if (node.op != OpKind::kIdentity || node.inputs.empty() || is_graph_output(node.outputs[0])) continue;
    replacement[static_cast<size_t>(node.outputs[0])] = node.inputs[0];
    dead[i] = true;
  }
  auto resolve = [&](ValueId id) {
    while (id != kNoValue && replacement[static_cast<size_t>(id)] != kNoValue) id = replacement[static_cast<size_t>(id)];
    return id;
  };
  for (Node& node : g.nodes())
    for (ValueId& in : node.inputs)
      if (in != kNoValue) in = resolve(in);
  g.erase_nodes(dead);
}

Status set_input_shapes(Graph& g, const SpecializeOptions& options) {
  if (!options.input_shapes.empty() && options.input_shapes.size() != g.inputs().size())
    return invalid_argument("the model has " + std::to_string(g.inputs().size()) + " inputs, " +
                            std::to_string(options.input_shapes.size()) + " shapes were given");
  for (size_t i = 0; i < g.inputs().size(); ++i) {
    Value& v = g.value(g.inputs()[i]);
    Shape concrete = v.shape;
    if (!options.input_shapes.empty()) {
      const Shape& given = options.input_shapes[i];
      bool fits = !v.shape_known || given.size() == v.shape.size();
      for (size_t d = 0; fits && v.shape_known && d < given.size(); ++d)
        fits = v.shape[d] == kDynamicDim || v.shape[d] == given[d];
      if (!fits)
        return invalid_argument("input '" + v.name + "' expects shape " + shape_to_string(v.shape) + ", got " +
                                shape_to_string(given));
      concrete = given;
    } else {
      for (int64_t& d : concrete)
        if (d == kDynamicDim) d = options.batch;
    }
    FL_RETURN_IF_ERROR(checked_numel(concrete).status().with_context("input '" + v.name + "'"));
    v.shape = std::move(concrete);
    v.shape_known = true;
  }
  return Status::ok();
}

}  // namespace

Status fold_constants(Graph& graph) { return fold_pass(graph, /*require_static=*/false, nullptr); }

Result<Graph> specialize(const Graph& model, const SpecializeOptions& options) {
  if (options.batch < 1) return invalid_argument("batch size must be at least 1, got " + std::to_string(options.batch));
  Graph g = model;
  FL_RETURN_IF_ERROR(set_input_shapes(g, options));
  for (Value& v : g.values())  // shapes downstream of the inputs are recomputed for the concrete sizes
    if (!v.is_constant() && v.producer != kNoNode) v.shape_known = false;
  FL_RETURN_IF_ERROR(fold_pass(g, /*require_static=*/true, &options));
  for (const Node& node : g.nodes())
    for (ValueId out : node.outputs)
      if (!g.value(out).shape_known)
        return internal_error("specialize left " + g.describe(*g.find_node(node.name)) + " without a shape");
  remove_identities(g);
  for (size_t i = 0; i < g.nodes().size(); ++i)
    if (is_shape_op(g.nodes()[i].op) && !is_weight_decode(g, g.nodes()[i]))
      return unsupported(g.describe(static_cast<NodeId>(i)) + " computes on run-time data; faultline folds shape "
                         "arithmetic only when it depends on constants and static shapes");
  return g;
}

std::optional<std::string> operand_still_an_input(const Node& node) {
  if (const auto* clip = std::get_if<ClipAttrs>(&node.attrs); clip && clip->bounds_from_inputs) return "min/max";
  if (const auto* pad = std::get_if<PadAttrs>(&node.attrs); pad && pad->pads_from_inputs) return "pads";
  if (const auto* slice = std::get_if<SliceAttrs>(&node.attrs); slice && slice->from_inputs) return "starts/ends";
  if (const auto* reshape = std::get_if<ReshapeAttrs>(&node.attrs); reshape && reshape->shape_from_input)
    return "shape";
  return std::nullopt;
}

}  // namespace faultline
