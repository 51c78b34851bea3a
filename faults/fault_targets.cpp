#include "faults/fault_targets.h"

#include <set>

#include "engine/specialize.h"

namespace faultline {

namespace {

Shape per_image_shape(const Shape& shape) {
  return Shape(shape.begin() + (shape.empty() ? 0 : 1), shape.end());
}

}  // namespace

Result<std::vector<FaultTarget>> list_fault_targets(const Graph& model) {
  SpecializeOptions options;
  options.batch = 1;
  auto specialized = specialize(model, options);
  if (!specialized.is_ok()) return specialized.status().with_context(model.source);
  const Graph& g = specialized.value();
  FL_ASSIGN_OR_RETURN(std::vector<NodeId> order, g.topological_order());

  std::vector<FaultTarget> targets;
  std::set<ValueId> listed;
  for (NodeId id : order) {
    const Node& node = g.node(id);
    for (ValueId in : node.inputs) {
      if (in == kNoValue || !g.value(in).is_parameter || !listed.insert(in).second) continue;
      const Value& v = g.value(in);
      targets.push_back({TargetKind::kWeight, node.layer, v.name, std::string(op_name(node.op)), v.shape, v.dtype,
                         numel(v.shape), node.name});
    }
  }
  for (NodeId id : order) {
    const Node& node = g.node(id);
    for (size_t i = 0; i < node.outputs.size(); ++i) {
      const Value& v = g.value(node.outputs[i]);
      Shape per_image = per_image_shape(v.shape);
      std::string layer = node.outputs.size() == 1 ? node.layer : node.layer + ":" + std::to_string(i);
      std::string node_name = node.outputs.size() == 1 ? node.name : node.name + ":" + std::to_string(i);
      targets.push_back({TargetKind::kActivation, layer, v.name, std::string(op_name(node.op)), per_image, v.dtype,
                         numel(per_image), std::move(node_name)});
    }
  }
  for (NodeId id : order) {
    const Node& node = g.node(id);
    std::vector<std::string> outputs;
    for (ValueId out : node.outputs) outputs.push_back(g.value(out).name);
    for (size_t slot = 0; slot < node.inputs.size(); ++slot) {
      const ValueId in = node.inputs[slot];
      if (in == kNoValue || g.value(in).is_constant()) continue;
      const Value& v = g.value(in);
      Shape per_image = per_image_shape(v.shape);
      FaultTarget target{TargetKind::kInput, slot == 0 ? node.layer : node.layer + ":" + std::to_string(slot), v.name,
                         std::string(op_name(node.op)), per_image, v.dtype, numel(per_image),
                         slot == 0 ? node.name : node.name + ":" + std::to_string(slot)};
      target.consumer = node.name;
      target.slot = static_cast<int>(slot);
      target.consumer_outputs = outputs;
      targets.push_back(std::move(target));
    }
  }
  return targets;
}

}  // namespace faultline
