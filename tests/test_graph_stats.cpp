// count_macs (engine/graph_stats.h), the MAC count behind `faultline bench`'s GFLOP/s, against hand counts:
//   - each MAC op alone, float and integer forms (Conv / ConvInteger / QLinearConv with groups, strides and padding;
//     MatMul / MatMulInteger / QLinearMatMul with a batched A; Gemm with trans_a): output elements x MACs per
//     element, written out below from the shapes;
//   - the int8 MNIST model (tests/data/int8/mnist_int8.onnx, two QLinearConv and a QLinearMatMul) specialized for
//     a batch of 4, and `faultline bench` on it printing the matching MFLOP per image.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "engine/graph_stats.h"
#include "engine/session.h"
#include "frontends/load_model.h"
#include "tests/support/graph_builder.h"
#include "tests/support/run_command.h"
#include "tests/support/test_support.h"

namespace faultline {
namespace {

using testing::GraphBuilder;

constexpr DType kF32 = DType::kFloat32;
constexpr DType kI8 = DType::kInt8;
constexpr DType kU8 = DType::kUInt8;
constexpr DType kI32 = DType::kInt32;

// One node "probe" over graph inputs of the given shapes and dtypes, its output shape inferred.
Graph single_node(OpKind op, const std::vector<std::pair<Shape, DType>>& operands, OpAttrs attrs = {}) {
  GraphBuilder builder;
  std::vector<ValueId> inputs;
  for (size_t i = 0; i < operands.size(); ++i)
    inputs.push_back(builder.input("in" + std::to_string(i), operands[i].first, operands[i].second));
  builder.output(builder.node(op, inputs, std::move(attrs), "probe"));
  return builder.build_with_shapes();
}

// x [2, 4, 5, 5], w [6, 2, 3, 3], group 2, pads 1: y [2, 6, 5, 5] = 300 elements of 2 * 3 * 3 = 18 MACs.
ConvAttrs grouped_padded() {
  ConvAttrs attrs;
  attrs.group = 2;
  attrs.pads = {1, 1, 1, 1};
  return attrs;
}
constexpr int64_t kGroupedPaddedMacs = 300 * 18;

TEST(CountMacs, ConvolutionsCountTheWeightElementsPerOutputChannelForEveryOutput) {
  EXPECT_EQ(count_macs(single_node(OpKind::kConv, {{{2, 4, 5, 5}, kF32}, {{6, 2, 3, 3}, kF32}}, grouped_padded())),
            kGroupedPaddedMacs);
  EXPECT_EQ(count_macs(single_node(OpKind::kConvInteger, {{{2, 4, 5, 5}, kU8}, {{6, 2, 3, 3}, kI8}}, grouped_padded())),
            kGroupedPaddedMacs);
  // QLinearConv's weight is its fourth input; stride 2, no padding: y [2, 6, 2, 2] = 48 elements of 18 MACs.
  ConvAttrs strided;
  strided.group = 2;
  strided.strides = {2, 2};
  const std::vector<std::pair<Shape, DType>> qlinear = {
      {{2, 4, 5, 5}, kU8}, {{}, kF32}, {{}, kU8}, {{6, 2, 3, 3}, kI8}, {{6}, kF32},
      {{6}, kI8},          {{}, kF32}, {{}, kI8}, {{6}, kI32}};
  EXPECT_EQ(count_macs(single_node(OpKind::kQLinearConv, qlinear, strided)), 48 * 18);
}

TEST(CountMacs, MatmulsCountTheLastAxisOfAForEveryOutput) {
  // A [2, 3, 4] x B [4, 5]: y [2, 3, 5] = 30 elements of K = 4 MACs.
  EXPECT_EQ(count_macs(single_node(OpKind::kMatMul, {{{2, 3, 4}, kF32}, {{4, 5}, kF32}})), 30 * 4);
  EXPECT_EQ(count_macs(single_node(OpKind::kMatMulInteger, {{{2, 3, 4}, kI8}, {{4, 5}, kU8}})), 30 * 4);
  // A [6, 5] x B [5, 2]: y [6, 2] = 12 elements of K = 5 MACs.
  EXPECT_EQ(count_macs(single_node(OpKind::kQLinearMatMul, {{{6, 5}, kI8},
                                                            {{}, kF32},
                                                            {{}, kI8},
                                                            {{5, 2}, kI8},
                                                            {{2}, kF32},
                                                            {{2}, kI8},
                                                            {{}, kF32},
                                                            {{}, kU8}})),
            12 * 5);
  // Gemm with A^T: A [7, 3] is K x M, B [7, 2]: y [3, 2] = 6 elements of K = 7 MACs.
  GemmAttrs trans_a;
  trans_a.trans_a = true;
  EXPECT_EQ(count_macs(single_node(OpKind::kGemm, {{{7, 3}, kF32}, {{7, 2}, kF32}}, trans_a)), 6 * 7);
}

TEST(CountMacs, OtherOpsCountNothing) {
  EXPECT_EQ(count_macs(single_node(OpKind::kRelu, {{{2, 4, 5, 5}, kF32}})), 0);
  EXPECT_EQ(count_macs(single_node(OpKind::kQuantizeLinear, {{{2, 3}, kF32}, {{}, kF32}, {{}, kI8}})), 0);
}

// mnist_int8.onnx per image: conv1 16 x 14 x 14 outputs of 1 x 3 x 3 MACs = 28,224; conv2 32 x 7 x 7 of 16 x 3 x 3
// = 225,792; fc 10 of 1,568 = 15,680.
constexpr int64_t kInt8MnistMacsPerImage = 28224 + 225792 + 15680;

TEST(CountMacs, TheInt8MnistModelCountsItsQLinearConvsAndItsQLinearMatMul) {
  auto model = load_model(testing::test_data("int8/mnist_int8.onnx"));
  ASSERT_TRUE(model.is_ok()) << model.status().message();
  SessionOptions options;
  options.backend = "reference";
  options.batch = 4;
  auto session = Session::create(*model, options);
  ASSERT_TRUE(session.is_ok()) << session.status().message();
  EXPECT_EQ(count_macs((*session)->compiled().graph()), 4 * kInt8MnistMacsPerImage);
}

TEST(CountMacs, BenchPrintsTheInt8ModelsFlopsPerImage) {
  const testing::CommandResult r = testing::run_faultline("bench " + testing::test_data("int8/mnist_int8.onnx") +
                                                          " --backend reference --batch 2 --images 2 --repeat 1");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // 2 * 269,696 = 539,392 FLOP.
  EXPECT_NE(r.out.find("(0.54 MFLOP per image)"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace faultline
