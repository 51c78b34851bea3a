// Builds small graphs by hand for tests: inputs, constants, nodes with attributes, outputs.
#pragma once

#include <cstdint>
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

// Builders for ResNet-style layers with parameters from random_tensor (tests/support/test_support.h): the same
// values on every run for the same seeds.

// 3x3 convolution attributes, padding 1 on every side, no dilation, one group.
ConvAttrs conv3x3(int64_t stride = 1);

// A Conv node over `x` [N, in_channels, ...] with `out_channels` outputs: weights [out, in / group, kernel...]
// in [-0.3, 0.3) from `seed`, and when `bias`, a bias in [-1, 1) from `seed + 1`. Constants are named
// `name` + "w" / "b" + the seed; the node is `name`.
ValueId random_conv(GraphBuilder& b, ValueId x, int64_t in_channels, int64_t out_channels, ConvAttrs attrs, bool bias,
                    uint32_t seed, const std::string& name = "");

// A BatchNormalization node (epsilon 1e-5) over `channels`: scale in [0.5, 1.5), bias in [-1, 1), mean in
// [-0.2, 0.2), variance in [0.5, 2) from seeds `seed` .. `seed + 3`, constants named "bn" + the seed + s/b/m/v.
ValueId random_batch_norm(GraphBuilder& b, ValueId x, int64_t channels, uint32_t seed, const std::string& name = "");

}  // namespace faultline::testing
