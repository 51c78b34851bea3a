#include "faults/fault_targets.h"

#include <set>
#include <unordered_map>

#include "engine/op_kind.h"
#include "engine/specialize.h"
#include "engine/weight_storage.h"
#include "faults/kernel_sites.h"

namespace faultline {

namespace {

Shape per_image_shape(const Shape& shape) {
  return Shape(shape.begin() + (shape.empty() ? 0 : 1), shape.end());
}

// The site's shape in the model's order, and the model axes over the engine tensor the site addresses (the
// whole value for a weight; one image of it, the batch axis dropped, for an activation or input).
struct SiteLayout {
  Shape shape;
  std::vector<int> model_axes;
};

SiteLayout weight_layout(const Value& v) {
  if (v.model_axes.size() != v.shape.size()) return {v.shape, {}};
  Shape shape;
  for (int axis : v.model_axes) shape.push_back(v.shape[static_cast<size_t>(axis)]);
  return {std::move(shape), v.model_axes};
}

SiteLayout image_layout(const Value& v) {
  Shape per_image = per_image_shape(v.shape);
  // The batch must stay the model's first axis for a per-image order to exist.
  if (v.model_axes.size() != v.shape.size() || v.model_axes.empty() || v.model_axes[0] != 0)
    return {std::move(per_image), {}};
  SiteLayout layout;
  for (size_t k = 1; k < v.model_axes.size(); ++k) {
    const int axis = v.model_axes[k] - 1;
    layout.model_axes.push_back(axis);
    layout.shape.push_back(per_image[static_cast<size_t>(axis)]);
  }
  return layout;
}

// SpikingJET's name of a neuron parameter field (engine/op_kind.h neuron_layout), see "Spiking sites".
std::string_view spiking_parameter_alias(std::string_view field) {
  if (field == "v_threshold" || field == "threshold") return "threshold";
  if (field == "tau" || field == "tau_mem") return "tau";
  if (field == "v_leak") return "leak";
  if (field == "v_reset") return "reset";
  return field;  // r, tau_syn, w_in
}

// The site layer of a neuron node's parameter in input slot `slot`, or "" when the slot is not a parameter.
std::string neuron_parameter_layer(const Node& node, size_t slot) {
  if (!is_neuron_op(node.op)) return "";
  const NeuronLayout layout = neuron_layout(node.op);
  const size_t first = 1 + layout.states.size();
  if (slot < first || slot - first >= layout.params.size()) return "";
  return node.layer + "." + std::string(spiking_parameter_alias(layout.params[slot - first]));
}

// The site layer of a neuron node's output `i`: the node's layer for its spikes, "<layer>.potential" for v and
// "<layer>.current" for i (the next states); "" for another node.
std::string neuron_output_layer(const Node& node, size_t i) {
  if (!is_neuron_op(node.op)) return "";
  const NeuronLayout layout = neuron_layout(node.op);
  if (layout.fires && i == 0) return node.layer;
  const size_t state = i - (layout.fires ? 1 : 0);
  if (state >= layout.states.size()) return "";
  return node.layer + (layout.states[state] == "i" ? ".current" : ".potential");
}

}  // namespace

int64_t engine_element(const FaultTarget& target, int64_t element) {
  if (target.model_axes.empty()) return element;
  const size_t rank = target.shape.size();
  Shape engine_shape(rank);
  for (size_t k = 0; k < rank; ++k) engine_shape[static_cast<size_t>(target.model_axes[k])] = target.shape[k];
  const std::vector<int64_t> engine_strides = contiguous_strides(engine_shape);
  int64_t offset = 0;
  for (size_t k = rank; k-- > 0;) {  // unravel `element` over the model's shape, innermost axis first
    const int64_t index = element % target.shape[k];
    element /= target.shape[k];
    offset += index * engine_strides[static_cast<size_t>(target.model_axes[k])];
  }
  return offset;
}

Result<std::vector<FaultTarget>> list_fault_targets(const Graph& model) {
  SpecializeOptions options;
  options.batch = 1;
  auto specialized = specialize(model, options);
  if (!specialized.is_ok()) return specialized.status().with_context(model.source);
  const Graph& g = specialized.value();
  FL_ASSIGN_OR_RETURN(std::vector<NodeId> order, g.topological_order());

  // Nodes of one layer (see "Layers of several nodes"): a weight decode is not part of its weight's layer.
  std::vector<bool> decode(g.nodes().size(), false);
  for (NodeId id : order) decode[static_cast<size_t>(id)] = is_weight_decode(g, g.node(id));
  auto inside_layer = [&](ValueId value, const Node& reader) {
    const NodeId producer = g.value(value).producer;
    return producer != kNoNode && !decode[static_cast<size_t>(producer)] && g.node(producer).layer == reader.layer;
  };
  std::set<ValueId> graph_outputs(g.outputs().begin(), g.outputs().end());

  std::vector<FaultTarget> targets;
  std::set<ValueId> listed;
  for (NodeId id : order) {
    const Node& node = g.node(id);
    for (size_t slot = 0; slot < node.inputs.size(); ++slot) {
      const ValueId in = node.inputs[slot];
      if (in == kNoValue || !g.value(in).is_parameter || !listed.insert(in).second) continue;
      const Value& v = g.value(in);
      SiteLayout layout = weight_layout(v);
      std::string layer = neuron_parameter_layer(node, slot);
      if (layer.empty()) layer = node.layer;
      FaultTarget target{TargetKind::kWeight, std::move(layer), v.name, std::string(op_name(node.op)), layout.shape, v.dtype,
                         numel(v.shape), node.name};
      target.model_axes = std::move(layout.model_axes);
      targets.push_back(std::move(target));
    }
  }
  std::set<std::string> layers_with_activation;
  for (NodeId id : order) {
    const Node& node = g.node(id);
    const bool is_decode = decode[static_cast<size_t>(id)];
    for (size_t i = 0; i < node.outputs.size(); ++i) {
      const ValueId out = node.outputs[i];
      const Value& v = g.value(out);
      std::string layer = neuron_output_layer(node, i);
      if (layer.empty()) layer = node.outputs.size() == 1 ? node.layer : node.layer + ":" + std::to_string(i);
      if (!is_decode) {
        bool handed_out = v.consumers.empty() || graph_outputs.count(out) > 0;
        for (NodeId reader : v.consumers) handed_out = handed_out || !inside_layer(out, g.node(reader));
        if (!handed_out || !layers_with_activation.insert(layer).second) continue;
      }
      SiteLayout layout = image_layout(v);
      std::string node_name = node.outputs.size() == 1 ? node.name : node.name + ":" + std::to_string(i);
      FaultTarget target{TargetKind::kActivation, std::move(layer), v.name, std::string(op_name(node.op)),
                         layout.shape, v.dtype, numel(layout.shape), std::move(node_name)};
      target.model_axes = std::move(layout.model_axes);
      targets.push_back(std::move(target));
    }
  }
  std::unordered_map<std::string, int> next_slot;  // per layer: its readings of outside values so far
  for (NodeId id : order) {
    const Node& node = g.node(id);
    if (decode[static_cast<size_t>(id)]) continue;  // reads only its stored parameter
    std::vector<std::string> outputs;
    for (ValueId out : node.outputs) outputs.push_back(g.value(out).name);
    for (size_t slot = 0; slot < node.inputs.size(); ++slot) {
      const ValueId in = node.inputs[slot];
      if (in != kNoValue && inside_layer(in, node)) continue;
      const int layer_slot = next_slot[node.layer]++;
      if (in == kNoValue || g.value(in).is_constant()) continue;
      const Value& v = g.value(in);
      SiteLayout layout = image_layout(v);
      FaultTarget target{TargetKind::kInput,
                         layer_slot == 0 ? node.layer : node.layer + ":" + std::to_string(layer_slot), v.name,
                         std::string(op_name(node.op)), layout.shape, v.dtype, numel(layout.shape),
                         slot == 0 ? node.name : node.name + ":" + std::to_string(slot)};
      target.consumer = node.name;
      target.slot = static_cast<int>(slot);
      target.consumer_outputs = outputs;
      target.model_axes = std::move(layout.model_axes);
      targets.push_back(std::move(target));
    }
  }
  for (NodeId id : order) {
    if (decode[static_cast<size_t>(id)]) continue;
    auto target = kernel_target(g, id);
    if (!target) continue;
    SiteLayout layout = image_layout(g.value(g.node(id).outputs[0]));
    target->shape = std::move(layout.shape);
    target->model_axes = std::move(layout.model_axes);
    targets.push_back(std::move(*target));
  }
  return targets;
}

}  // namespace faultline
