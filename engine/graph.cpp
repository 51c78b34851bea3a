#include "engine/graph.h"

#include <queue>

namespace faultline {

ValueId Graph::add_value(Value value) {
  ValueId id = static_cast<ValueId>(values_.size());
  if (!value.name.empty()) value_index_[value.name] = id;
  values_.push_back(std::move(value));
  return id;
}

NodeId Graph::add_node(Node node) {
  NodeId id = static_cast<NodeId>(nodes_.size());
  for (ValueId input : node.inputs)
    if (input != kNoValue) value(input).consumers.push_back(id);
  for (ValueId output : node.outputs) value(output).producer = id;
  nodes_.push_back(std::move(node));
  return id;
}

std::optional<ValueId> Graph::find_value(std::string_view name) const {
  auto it = value_index_.find(std::string(name));
  if (it == value_index_.end()) return std::nullopt;
  return it->second;
}

std::optional<NodeId> Graph::find_node(std::string_view name) const {
  for (size_t i = 0; i < nodes_.size(); ++i)
    if (nodes_[i].name == name) return static_cast<NodeId>(i);
  return std::nullopt;
}

void Graph::relink() {
  for (Value& v : values_) {
    v.producer = kNoNode;
    v.consumers.clear();
  }
  for (size_t i = 0; i < nodes_.size(); ++i) {
    NodeId id = static_cast<NodeId>(i);
    for (ValueId input : nodes_[i].inputs)
      if (input != kNoValue) value(input).consumers.push_back(id);
    for (ValueId output : nodes_[i].outputs) value(output).producer = id;
  }
}

Result<std::vector<NodeId>> Graph::topological_order() const {
  std::vector<int> pending(nodes_.size(), 0);
  std::vector<bool> is_graph_input(values_.size(), false);
  for (ValueId id : inputs_) is_graph_input[static_cast<size_t>(id)] = true;
  for (size_t i = 0; i < nodes_.size(); ++i) {
    for (ValueId input : nodes_[i].inputs) {
      if (input == kNoValue) continue;
      const Value& v = value(input);
      if (v.producer != kNoNode) ++pending[i];
      else if (!v.is_constant() && !is_graph_input[static_cast<size_t>(input)])
        return invalid_argument(describe(static_cast<NodeId>(i)) + " reads '" + v.name +
                                "', which is not a graph input, a constant nor any node's output");
    }
  }
  std::queue<NodeId> ready;
  for (size_t i = 0; i < nodes_.size(); ++i)
    if (pending[i] == 0) ready.push(static_cast<NodeId>(i));
  std::vector<NodeId> order;
  order.reserve(nodes_.size());
  while (!ready.empty()) {
    NodeId id = ready.front();
    ready.pop();
    order.push_back(id);
    for (ValueId output : node(id).outputs)
      for (NodeId consumer : value(output).consumers)
        if (--pending[static_cast<size_t>(consumer)] == 0) ready.push(consumer);
  }
  if (order.size() != nodes_.size()) {
    for (size_t i = 0; i < nodes_.size(); ++i)
      if (pending[i] > 0) return invalid_argument("the graph has a cycle through " + describe(static_cast<NodeId>(i)));
  }
  return order;
}

void Graph::erase_nodes(const std::vector<bool>& dead) {
  std::vector<Node> kept;
  kept.reserve(nodes_.size());
  for (size_t i = 0; i < nodes_.size(); ++i)
    if (!dead[i]) kept.push_back(std::move(nodes_[i]));
  nodes_ = std::move(kept);

  std::vector<bool> used(values_.size(), false);
  for (ValueId id : inputs_) used[static_cast<size_t>(id)] = true;
  for (ValueId id : outputs_) used[static_cast<size_t>(id)] = true;
  for (const Node& n : nodes_) {
    for (ValueId id : n.inputs)
      if (id != kNoValue) used[static_cast<size_t>(id)] = true;
    for (ValueId id : n.outputs) used[static_cast<size_t>(id)] = true;
  }
  std::vector<ValueId> remap(values_.size(), kNoValue);
  std::vector<Value> kept_values;
  for (size_t i = 0; i < values_.size(); ++i) {
    if (!used[i]) continue;
    remap[i] = static_cast<ValueId>(kept_values.size());
    kept_values.push_back(std::move(values_[i]));
  }
  values_ = std::move(kept_values);
  auto fix = [&](std::vector<ValueId>& ids) {
    for (ValueId& id : ids)
      if (id != kNoValue) id = remap[static_cast<size_t>(id)];
  };
  for (Node& n : nodes_) {
    fix(n.inputs);
    fix(n.outputs);
  }
  fix(inputs_);
  fix(outputs_);
  value_index_.clear();
  for (size_t i = 0; i < values_.size(); ++i)
    if (!values_[i].name.empty()) value_index_[values_[i].name] = static_cast<ValueId>(i);
  relink();
}

std::string Graph::describe(NodeId id) const {
  const Node& n = node(id);
  return "node '" + n.name + "' (" + std::string(op_name(n.op)) + ")";
}

}  // namespace faultline
