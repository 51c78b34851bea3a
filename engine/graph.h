// Graph: named values, each produced by at most one node and read by any number of nodes.
//
// A value is a graph input, a constant (a model parameter or a folded constant), or a node output.
// Branching needs nothing special: a residual Add or a Concat simply names several producers' values.
// Nodes are stored in any order; topological_order() gives an execution order.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "engine/op_attrs.h"
#include "engine/op_kind.h"
#include "engine/status.h"
#include "engine/tensor.h"

namespace faultline {

using ValueId = int32_t;
using NodeId = int32_t;
inline constexpr ValueId kNoValue = -1;  // an omitted optional input
inline constexpr NodeId kNoNode = -1;

struct Value {
  std::string name;    // the model's own name (ONNX value / initializer name)
  DType dtype = DType::kFloat32;
  Shape shape;         // may hold kDynamicDim before specialize()
  bool shape_known = false;  // false when the frontend could not tell the rank (an untyped intermediate)
  Tensor constant;     // non-empty for a constant (parameter or folded)
  bool is_parameter = false;  // a trained parameter (weight, bias, BN stats): a weight-fault target
  NodeId producer = kNoNode;
  std::vector<NodeId> consumers;  // one entry per (node, input slot) that reads the value
  // The model's own axis order, when it differs from the one the engine computes in (a Keras kernel is HWIO
  // and a Keras activation NHWC, where the engine's Conv works in OIHW / NCHW): the model's tensor is
  // transpose(this value, model_axes), i.e. the model's axis k is this value's axis model_axes[k]. Empty: the
  // same order. Fault sites (their shapes and element indices) are given in the model's order.
  std::vector<int> model_axes;

  bool is_constant() const { return constant.raw() != nullptr; }
};

struct Node {
  OpKind op = OpKind::kIdentity;
  std::string name;   // the model's node name (generated "<op>_<index>" when the model has none)
  std::string layer;  // canonical layer name, e.g. "layer1.0.conv1" (see frontends)
  std::vector<ValueId> inputs;   // kNoValue for an omitted optional input
  std::vector<ValueId> outputs;
  OpAttrs attrs;
};

// A spiking model's graph computes ONE time step (engine/spiking/spiking_session.h). Each link names a graph
// input that carries state and the value whose content it takes at the next step (zeros at step 0): a neuron's
// "<node>.v@prev" <- "<node>.v", or a recurrent edge's "<src>@prev" <- "<src>" (a one-step delay). Names, not
// ids, so the links stay valid through every pass that renumbers (specialize); the next-state values are graph
// outputs too, so no pass removes them.
struct StateLink {
  std::string state_input;
  std::string next_value;
};

class Graph {
 public:
  ValueId add_value(Value value);
  // Adds a node and links it to its values (producer/consumers).
  NodeId add_node(Node node);

  std::vector<Value>& values() { return values_; }
  const std::vector<Value>& values() const { return values_; }
  std::vector<Node>& nodes() { return nodes_; }
  const std::vector<Node>& nodes() const { return nodes_; }
  Value& value(ValueId id) { return values_[static_cast<size_t>(id)]; }
  const Value& value(ValueId id) const { return values_[static_cast<size_t>(id)]; }
  Node& node(NodeId id) { return nodes_[static_cast<size_t>(id)]; }
  const Node& node(NodeId id) const { return nodes_[static_cast<size_t>(id)]; }

  std::vector<ValueId>& inputs() { return inputs_; }
  const std::vector<ValueId>& inputs() const { return inputs_; }
  std::vector<ValueId>& outputs() { return outputs_; }
  const std::vector<ValueId>& outputs() const { return outputs_; }

  std::optional<ValueId> find_value(std::string_view name) const;
  std::optional<NodeId> find_node(std::string_view name) const;

  // Recomputes every value's producer and consumers from the nodes (after nodes were edited/removed).
  void relink();
  // Node ids in an order where every node comes after the producers of its inputs; fails on a cycle or
  // on an input that is neither a graph input, a constant nor produced by a node.
  Result<std::vector<NodeId>> topological_order() const;
  // Removes nodes marked in `dead` (by id) and values no longer referenced; keeps ids dense and in order.
  void erase_nodes(const std::vector<bool>& dead);

  // Where the model came from, for error messages ("resnet20.onnx").
  std::string source;
  // Spiking models only (see StateLink): empty for a model without state.
  std::vector<StateLink> state_links;

  // "node 'name' (Op)" for messages.
  std::string describe(NodeId id) const;

 private:
  std::vector<Value> values_;
  std::vector<Node> nodes_;
  std::vector<ValueId> inputs_;
  std::vector<ValueId> outputs_;
  std::unordered_map<std::string, ValueId> value_index_;
};

}  // namespace faultline
