#include "faults/fault_targets.h"

#include <set>

#include "engine/specialize.h"

namespace faultline {

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
                         numel(v.shape)});
    }
  }
  for (NodeId id : order) {
    const Node& node = g.node(id);
    for (size_t i = 0; i < node.outputs.size(); ++i) {
      const Value& v = g.value(node.outputs[i]);
      Shape per_image(v.shape.begin() + (v.shape.empty() ? 0 : 1), v.shape.end());
      std::string layer = node.outputs.size() == 1 ? node.layer : node.layer + ":" + std::to_string(i);
      targets.push_back({TargetKind::kActivation, layer, v.name, std::string(op_name(node.op)), per_image, v.dtype,
                         numel(per_image)});
    }
  }
  return targets;
}

}  // namespace faultline
