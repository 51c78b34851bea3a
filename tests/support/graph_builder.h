// Builds small graphs by hand for tests: inputs, constants, nodes with attributes, outputs.
#pragma once

#include <string>
#include <vector>

#include "engine/graph.h"

namespace faultline::testing {

class GraphBuilder {
 public:
  ValueId input(const std::string& name, Shape shape, DType dtype = DType::kFloat32);
  ValueId constant(const std::string& name, Tensor value, bool is_parameter = true);
  // Adds a node with one output named `name` + ":0" (or `output_name`), returns the output.
  ValueId node(OpKind op, std::vector<ValueId> inputs, OpAttrs attrs = {}, const std::string& name = "",
               const std::string& output_name = "");
  // Adds a node with one output per name of `output_names` (a neuron's spikes and next states), returns them.
  std::vector<ValueId> node_with_outputs(OpKind op, std::vector<ValueId> inputs, OpAttrs attrs, const std::string& name,
                                         const std::vector<std::string>& output_names);
  void output(ValueId id);
  Graph& graph() { return graph_; }
  Graph build() { return graph_; }
  // The graph with every node's output shapes inferred (engine/shape_inference.h), for hand-built graphs
  // that are already in specialized form; a failure is a test failure naming the error.
  Graph build_with_shapes();

 private:
  Graph graph_;
};

}  // namespace faultline::testing
