#include "tests/support/graph_builder.h"

#include <gtest/gtest.h>

#include "engine/shape_inference.h"
#include "tests/support/test_support.h"

namespace faultline::testing {

ValueId GraphBuilder::input(const std::string& name, Shape shape, DType dtype) {
  Value v;
  v.name = name;
  v.dtype = dtype;
  v.shape = std::move(shape);
  v.shape_known = true;
  ValueId id = graph_.add_value(std::move(v));
  graph_.inputs().push_back(id);
  return id;
}

ValueId GraphBuilder::constant(const std::string& name, Tensor value, bool is_parameter) {
  Value v;
  v.name = name;
  v.dtype = value.dtype();
  v.shape = value.shape();
  v.shape_known = true;
  v.constant = std::move(value);
  v.is_parameter = is_parameter;
  return graph_.add_value(std::move(v));
}

ValueId GraphBuilder::node(OpKind op, std::vector<ValueId> inputs, OpAttrs attrs, const std::string& name,
                           const std::string& output_name) {
  const std::string node_name =
      name.empty() ? std::string(op_name(op)) + "_" + std::to_string(graph_.nodes().size()) : name;
  return node_with_outputs(op, std::move(inputs), std::move(attrs), node_name,
                           {output_name.empty() ? node_name + ":0" : output_name})
      .front();
}

std::vector<ValueId> GraphBuilder::node_with_outputs(OpKind op, std::vector<ValueId> inputs, OpAttrs attrs,
                                                     const std::string& name,
                                                     const std::vector<std::string>& output_names) {
  Node n;
  n.op = op;
  n.name = name;
  n.layer = n.name;
  n.inputs = std::move(inputs);
  n.attrs = std::move(attrs);
  for (const std::string& output_name : output_names) {
    Value out;
    out.name = output_name;
    n.outputs.push_back(graph_.add_value(std::move(out)));
  }
  std::vector<ValueId> outputs = n.outputs;
  graph_.add_node(std::move(n));
  return outputs;
}

void GraphBuilder::output(ValueId id) { graph_.outputs().push_back(id); }

Graph GraphBuilder::build_with_shapes() {
  Graph graph = graph_;
  Result<std::vector<NodeId>> order = graph.topological_order();
  EXPECT_TRUE(order.is_ok()) << order.status().message();
  if (order.is_ok())
    for (NodeId id : *order) {
      Status status = infer_output_shapes(graph, id);
      EXPECT_TRUE(status.is_ok()) << status.message();
    }
  return graph;
}

ConvAttrs conv3x3(int64_t stride) { return ConvAttrs{{3, 3}, {stride, stride}, {1, 1}, {1, 1, 1, 1}, 1}; }

ValueId random_conv(GraphBuilder& b, ValueId x, int64_t in_channels, int64_t out_channels, ConvAttrs attrs, bool bias,
                    uint32_t seed, const std::string& name) {
  Shape w_shape = {out_channels, in_channels / attrs.group};
  for (int64_t k : attrs.kernel_shape) w_shape.push_back(k);
  const ValueId w = b.constant(name + "w" + std::to_string(seed), random_tensor(w_shape, seed, -0.3f, 0.3f));
  std::vector<ValueId> inputs = {x, w};
  if (bias) inputs.push_back(b.constant(name + "b" + std::to_string(seed), random_tensor({out_channels}, seed + 1)));
  return b.node(OpKind::kConv, inputs, attrs, name);
}

ValueId random_batch_norm(GraphBuilder& b, ValueId x, int64_t channels, uint32_t seed, const std::string& name) {
  const std::string p = "bn" + std::to_string(seed);
  return b.node(OpKind::kBatchNormalization,
                {x, b.constant(p + "s", random_tensor({channels}, seed, 0.5f, 1.5f)),
                 b.constant(p + "b", random_tensor({channels}, seed + 1)),
                 b.constant(p + "m", random_tensor({channels}, seed + 2, -0.2f, 0.2f)),
                 b.constant(p + "v", random_tensor({channels}, seed + 3, 0.5f, 2.0f))},
                BatchNormAttrs{1e-5f}, name);
}

}  // namespace faultline::testing
