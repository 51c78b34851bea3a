// specialize(): shape subgraphs folded once shapes are static, operands absorbed into attributes,
// auto_pad resolved, Identity removed, and run-time shape computations refused with the node's name.
#include <gtest/gtest.h>

#include "engine/specialize.h"
#include "tests/support/graph_builder.h"

namespace faultline {
namespace {

using testing::GraphBuilder;

int count_op(const Graph& g, OpKind op) {
  int n = 0;
  for (const Node& node : g.nodes()) n += node.op == op;
  return n;
}

// x.view(x.size(0), -1) as torch.onnx.export writes it: Shape -> Gather -> Unsqueeze -> Concat -> Reshape.
Graph flatten_by_shape_subgraph() {
  GraphBuilder b;
  ValueId x = b.input("x", {kDynamicDim, 3, 4, 4});
  ValueId shape = b.node(OpKind::kShape, {x});
  ValueId zero = b.constant("zero", Tensor::from_int64s({}, {0}), false);
  ValueId n = b.node(OpKind::kGather, {shape, zero}, GatherAttrs{0});
  ValueId n1 = b.node(OpKind::kUnsqueeze, {n}, AxesAttrs{{0}, false});
  ValueId minus_one = b.constant("minus_one", Tensor::from_int64s({1}, {-1}), false);
  ValueId target = b.node(OpKind::kConcat, {n1, minus_one}, ConcatAttrs{0});
  ValueId y = b.node(OpKind::kReshape, {x, target}, ReshapeAttrs{{}, false, true}, "reshape");
  b.output(y);
  return b.build();
}

TEST(Specialize, FoldsShapeSubgraphOnceTheBatchIsKnown) {
  Graph imported = flatten_by_shape_subgraph();
  ASSERT_TRUE(fold_constants(imported).is_ok());
  EXPECT_EQ(count_op(imported, OpKind::kShape), 1) << "the batch is dynamic at import: Shape must stay";

  SpecializeOptions options;
  options.batch = 5;
  auto g = specialize(imported, options);
  ASSERT_TRUE(g.is_ok()) << g.status().message();
  ASSERT_EQ(g->nodes().size(), 1u);
  const Node& reshape = g->nodes()[0];
  EXPECT_EQ(reshape.op, OpKind::kReshape);
  EXPECT_EQ(reshape.inputs.size(), 1u) << "the shape operand is absorbed into the attributes";
  EXPECT_EQ(std::get<ReshapeAttrs>(reshape.attrs).shape, (std::vector<int64_t>{5, -1}));
  EXPECT_EQ(g->value(g->outputs()[0]).shape, (Shape{5, 48}));
}

TEST(Specialize, FoldsPadOperandsComputedFromConstants) {
  // The zero channel-pad of an option-A ResNet shortcut: pads arrive through ConstantOfShape + Concat.
  GraphBuilder b;
  ValueId x = b.input("x", {kDynamicDim, 2, 4, 4});
  ValueId four = b.constant("four", Tensor::from_int64s({1}, {4}), false);
  ConstantOfShapeAttrs zeros{Tensor::from_int64s({1}, {0})};
  ValueId spatial = b.node(OpKind::kConstantOfShape, {four}, zeros);
  ValueId channel = b.constant("channel", Tensor::from_int64s({4}, {0, 1, 0, 0}), false);
  ValueId tail = b.constant("tail", Tensor::from_int64s({0}, {}), false);
  ValueId pads = b.node(OpKind::kConcat, {channel, spatial, tail}, ConcatAttrs{0});
  PadAttrs pad;
  pad.pads_from_inputs = true;
  ValueId y = b.node(OpKind::kPad, {x, pads}, pad, "pad");
  b.output(y);
  Graph imported = b.build();
  ASSERT_TRUE(fold_constants(imported).is_ok());
  EXPECT_EQ(imported.nodes().size(), 1u) << "everything but the Pad depends on constants only";

  auto g = specialize(imported, {{}, 3});
  ASSERT_TRUE(g.is_ok()) << g.status().message();
  const auto& attrs = std::get<PadAttrs>(g->nodes()[0].attrs);
  EXPECT_EQ(attrs.pads, (std::vector<int64_t>{0, 1, 0, 0, 0, 0, 0, 0}));
  EXPECT_EQ(g->value(g->outputs()[0]).shape, (Shape{3, 3, 4, 4}));
}

TEST(Specialize, ResolvesAutoPadAndRemovesIdentity) {
  GraphBuilder b;
  ValueId x = b.input("x", {kDynamicDim, 1, 5, 5});
  ValueId w = b.constant("w", Tensor::allocate(DType::kFloat32, {2, 1, 2, 2}).value());
  ValueId id = b.node(OpKind::kIdentity, {x});
  ConvAttrs conv;
  conv.auto_pad = AutoPad::kSameUpper;
  conv.strides = {2, 2};
  ValueId y = b.node(OpKind::kConv, {id, w}, conv, "conv");
  b.output(y);
  auto g = specialize(b.build(), {{}, 1});
  ASSERT_TRUE(g.is_ok()) << g.status().message();
  EXPECT_EQ(count_op(*g, OpKind::kIdentity), 0);
  const auto& attrs = std::get<ConvAttrs>(g->nodes()[0].attrs);
  EXPECT_EQ(attrs.auto_pad, AutoPad::kNotSet);
  // SAME_UPPER, input 5, kernel 2, stride 2: output 3, total pad (3-1)*2+2-5 = 1, at the end.
  EXPECT_EQ(attrs.pads, (std::vector<int64_t>{0, 0, 1, 1}));
  EXPECT_EQ(g->value(g->outputs()[0]).shape, (Shape{1, 2, 3, 3}));
}

TEST(Specialize, RefusesRunTimeShapeArithmeticNamingTheNode) {
  GraphBuilder b;
  ValueId x = b.input("x", {kDynamicDim, 4});
  ValueId y = b.node(OpKind::kReshape, {x, x}, ReshapeAttrs{{}, false, true}, "dynamic_reshape");
  b.output(y);
  auto g = specialize(b.build(), {{}, 1});
  ASSERT_FALSE(g.is_ok());
  EXPECT_NE(g.status().message().find("dynamic_reshape"), std::string::npos) << g.status().message();
}

TEST(Specialize, ChecksGivenInputShapes) {
  Graph imported = flatten_by_shape_subgraph();
  auto g = specialize(imported, {{{2, 3, 5, 4}}, 1});
  ASSERT_FALSE(g.is_ok());
  EXPECT_NE(g.status().message().find("input 'x'"), std::string::npos) << g.status().message();
  EXPECT_FALSE(specialize(imported, {{}, 0}).is_ok());
}

}  // namespace
}  // namespace faultline

namespace faultline {
namespace {

TEST(Specialize, ARearrangedParameterStaysAParameter) {
  // mnist-8 stores its MatMul weight as Reshape(Parameter193, [256, 10]); folding must keep it a fault target.
  testing::GraphBuilder b;
  ValueId x = b.input("x", {kDynamicDim, 256});
  ValueId w = b.constant("Parameter193", Tensor::allocate(DType::kFloat32, {16, 4, 4, 10}).value());
  ValueId shape = b.constant("shape", Tensor::from_int64s({2}, {256, 10}), false);
  ValueId w2 = b.node(OpKind::kReshape, {w, shape}, ReshapeAttrs{{}, false, true}, "reshape_w");
  ValueId two = b.constant("two", Tensor::from_floats({1}, {2.0f}));
  ValueId scaled = b.node(OpKind::kMul, {w2, two}, {}, "scale_w");
  b.output(b.node(OpKind::kMatMul, {x, scaled}, {}, "matmul"));
  Graph g = b.build();
  ASSERT_TRUE(fold_constants(g).is_ok());
  ASSERT_EQ(g.nodes().size(), 1u);
  const Value& weight = g.value(g.nodes()[0].inputs[1]);
  EXPECT_TRUE(weight.is_constant());
  EXPECT_FALSE(weight.is_parameter) << "arithmetic on a weight makes a new constant, not the trained parameter";
  Graph g2 = b.build();
  g2.nodes().pop_back();
  g2.nodes().pop_back();
  g2.outputs() = {w2};
  g2.relink();
  ASSERT_TRUE(fold_constants(g2).is_ok());
  EXPECT_TRUE(g2.value(g2.outputs()[0]).is_parameter);
  EXPECT_EQ(g2.value(g2.outputs()[0]).shape, (Shape{256, 10}));
}

}  // namespace
}  // namespace faultline
