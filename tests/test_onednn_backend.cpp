// The oneDNN backend (kernels/onednn/onednn_backend.h) against the reference backend: every op on random
// inputs with a per-op tolerance, fused chains (conv + BN + activation, residual sum, option-A shortcut)
// against the unfused oracle, blocked layouts behind read_value/write_value, observability and re-runs.
#include <gtest/gtest.h>

#include <cstring>
#include <limits>
#include <random>

#include "engine/executor.h"
#include "engine/shape_inference.h"
#include "kernels/onednn/onednn_backend.h"
#include "kernels/reference/reference_backend.h"
#include "tests/support/backend_comparison.h"
#include "tests/support/graph_builder.h"
#include "tests/support/test_support.h"

namespace faultline {
namespace {

using testing::compile_or_fail;
using testing::conv3x3;
using testing::GraphBuilder;
using testing::random_batch_norm;
using testing::random_conv;
using testing::random_inputs;
using testing::random_tensor;
using testing::run_model;
using testing::tensors_near;
using testing::Tolerance;

// Per-op tolerances: data movement is exact, element-wise ops and pools are float-exact up to the order of a
// few operations, reductions over many products (conv, gemm, BN folded into weights) are relative.
constexpr Tolerance kExact{0.0, 0.0};
constexpr Tolerance kElementwise{1e-5, 1e-6};
constexpr Tolerance kPool{1e-5, 1e-6};
constexpr Tolerance kSoftmax{1e-5, 1e-6};
constexpr Tolerance kTranscendental{1e-5, 2e-6};
constexpr Tolerance kConv{1e-4, 1e-4};
constexpr Tolerance kGemm{1e-4, 1e-4};
constexpr Tolerance kNorm{1e-4, 1e-5};

void expect_matches_reference(const Graph& graph, Tolerance tol, const PlanOptions& options = {},
                              std::vector<Tensor> inputs = {}) {
  testing::expect_backend_matches_reference(*make_onednn_backend(), graph, tol, options, std::move(inputs));
}

size_t step_of(const CompiledModel& model, NodeId node) {
  for (size_t s = 0; s < model.num_steps(); ++s)
    for (NodeId n : model.step(s).nodes)
      if (n == node) return s;
  return model.num_steps();
}

// --- convolution variants ------------------------------------------------------------------------------

struct ConvCase {
  const char* name;
  Shape input;
  int64_t out_channels;
  ConvAttrs attrs;
  bool bias;
};

class OnednnConv : public ::testing::TestWithParam<ConvCase> {};

TEST_P(OnednnConv, MatchesReference) {
  const ConvCase& c = GetParam();
  GraphBuilder b;
  const ValueId x = b.input("x", c.input);
  b.output(random_conv(b, x, c.input[1], c.out_channels, c.attrs, c.bias, 7));
  expect_matches_reference(b.build_with_shapes(), kConv);
}

INSTANTIATE_TEST_SUITE_P(
    Variants, OnednnConv,
    ::testing::Values(
        ConvCase{"basic3x3", {2, 3, 9, 9}, 16, conv3x3(), true},
        ConvCase{"stride2", {2, 16, 10, 10}, 32, conv3x3(2), true},
        ConvCase{"dilation2", {1, 8, 12, 12}, 8, {{3, 3}, {1, 1}, {2, 2}, {2, 2, 2, 2}, 1}, true},
        ConvCase{"asymmetric_pads", {2, 4, 7, 8}, 6, {{3, 2}, {2, 1}, {1, 1}, {0, 1, 2, 0}, 1}, false},
        ConvCase{"group2", {2, 8, 6, 6}, 12, {{3, 3}, {1, 1}, {1, 1}, {1, 1, 1, 1}, 2}, true},
        ConvCase{"group2_full_blocks", {2, 16, 6, 6}, 32, {{3, 3}, {1, 1}, {1, 1}, {1, 1, 1, 1}, 2}, true},
        ConvCase{"group4_wide", {2, 64, 5, 5}, 64, {{3, 3}, {1, 1}, {1, 1}, {1, 1, 1, 1}, 4}, false},
        ConvCase{"depthwise", {2, 16, 8, 8}, 16, {{3, 3}, {1, 1}, {1, 1}, {1, 1, 1, 1}, 16}, true},
        ConvCase{"no_bias", {1, 16, 8, 8}, 16, conv3x3(), false},
        ConvCase{"pointwise", {3, 24, 5, 5}, 40, {{1, 1}, {}, {}, {}, 1}, true},
        ConvCase{"odd_channels", {2, 5, 7, 7}, 7, conv3x3(), true},
        ConvCase{"conv1d", {2, 4, 20}, 8, {{5}, {2}, {1}, {2, 2}, 1}, true},
        ConvCase{"conv3d", {1, 4, 5, 6, 6}, 8, {{3, 3, 3}, {1, 1, 1}, {1, 1, 1}, {1, 1, 1, 1, 1, 1}, 1}, true}),
    [](const ::testing::TestParamInfo<ConvCase>& info) { return std::string(info.param.name); });

// --- fusion ----------------------------------------------------------------------------------------------

TEST(OnednnFusion, ConvBatchNormReluIsOneStep) {
  GraphBuilder b;
  const ValueId x = b.input("x", {4, 16, 12, 12});
  const ValueId c = random_conv(b, x, 16, 32, conv3x3(), true, 3, "conv");
  const ValueId n = random_batch_norm(b, c, 32, 11, "bn");
  b.output(b.node(OpKind::kRelu, {n}, {}, "relu"));
  const Graph graph = b.build_with_shapes();
  std::unique_ptr<CompiledModel> model = compile_or_fail(*make_onednn_backend(), graph, {});
  ASSERT_TRUE(model);
  ASSERT_EQ(model->num_steps(), 1u);
  EXPECT_EQ(model->step(0).nodes.size(), 3u);
  EXPECT_EQ(model->step(0).outputs, graph.outputs());
  expect_matches_reference(graph, kConv);
  PlanOptions unfused;
  unfused.fuse = false;
  expect_matches_reference(graph, kConv, unfused);
}

TEST(OnednnFusion, ResidualBlockWithSumPostOp) {
  // stem conv -> [conv+BN+relu -> conv+BN] + stem -> relu, twice: the stem output has two readers.
  GraphBuilder b;
  const ValueId x = b.input("x", {3, 3, 16, 16});
  ValueId h = b.node(OpKind::kRelu, {random_batch_norm(b, random_conv(b, x, 3, 16, conv3x3(), false, 1), 16, 2)});
  for (int block = 0; block < 2; ++block) {
    const uint32_t seed = 100 + 20 * block;
    ValueId r = random_batch_norm(b, random_conv(b, h, 16, 16, conv3x3(), false, seed), 16, seed + 2);
    r = b.node(OpKind::kRelu, {r});
    r = random_batch_norm(b, random_conv(b, r, 16, 16, conv3x3(), false, seed + 6), 16, seed + 8);
    h = b.node(OpKind::kRelu, {b.node(OpKind::kAdd, {r, h})}, {}, "block" + std::to_string(block));
  }
  b.output(h);
  const Graph graph = b.build_with_shapes();
  std::unique_ptr<CompiledModel> model = compile_or_fail(*make_onednn_backend(), graph, {});
  ASSERT_TRUE(model);
  EXPECT_EQ(model->num_steps(), 5u);  // stem, then two steps per block
  const NodeId last = graph.value(graph.outputs()[0]).producer;
  EXPECT_EQ(model->step(step_of(*model, last)).nodes.size(), 4u);  // conv, BN, add, relu
  expect_matches_reference(graph, kConv);
}

TEST(OnednnFusion, SumPostOpCopiesAnOperandThatIsStillNeeded) {
  // The residual operand is also a graph output (then: observable): the sum may not accumulate into it.
  for (bool observable : {false, true}) {
    GraphBuilder b;
    const ValueId x = b.input("x", {2, 16, 8, 8});
    const ValueId h = b.node(OpKind::kRelu, {random_conv(b, x, 16, 16, conv3x3(), true, 1)}, {}, "stem");
    const ValueId r = random_conv(b, h, 16, 16, conv3x3(), true, 3);
    const ValueId y = b.node(OpKind::kRelu, {b.node(OpKind::kAdd, {h, r})});
    b.output(b.node(OpKind::kSigmoid, {y}));
    if (!observable) b.output(h);
    const Graph graph = b.build_with_shapes();
    PlanOptions options;
    if (observable) options.observable = {h};
    std::unique_ptr<CompiledModel> model = compile_or_fail(*make_onednn_backend(), graph, options);
    ASSERT_TRUE(model);
    EXPECT_EQ(model->num_steps(), observable ? 4u : 3u);  // a fault site's producer runs unfused
    expect_matches_reference(graph, kConv, options);
  }
}

TEST(OnednnFusion, OptionAShortcutSlicePad) {
  // ResNet20's downsampling block: conv(stride 2) + BN + relu, conv + BN, plus x[:, :, ::2, ::2] padded with
  // zero channels, then relu.
  GraphBuilder b;
  const ValueId x = b.input("x", {2, 3, 16, 16});
  const ValueId stem = b.node(OpKind::kRelu, {random_conv(b, x, 3, 16, conv3x3(), true, 1)});
  ValueId r = b.node(OpKind::kRelu, {random_batch_norm(b, random_conv(b, stem, 16, 32, conv3x3(2), false, 5), 32, 7)});
  r = random_batch_norm(b, random_conv(b, r, 32, 32, conv3x3(), false, 11), 32, 13);
  const ValueId sliced = b.node(OpKind::kSlice, {stem}, SliceAttrs{{0, 0}, {INT64_MAX, INT64_MAX}, {2, 3}, {2, 2}});
  const ValueId padded = b.node(OpKind::kPad, {sliced}, PadAttrs{{0, 8, 0, 0, 0, 8, 0, 0}, PadMode::kConstant, 0.0f});
  b.output(b.node(OpKind::kRelu, {b.node(OpKind::kAdd, {r, padded})}));
  const Graph graph = b.build_with_shapes();
  std::unique_ptr<CompiledModel> model = compile_or_fail(*make_onednn_backend(), graph, {});
  ASSERT_TRUE(model);
  EXPECT_EQ(model->num_steps(), 4u);  // stem, conv1 (+BN+relu), slice+pad, conv2 (+BN+add+relu)
  expect_matches_reference(graph, kConv);
  PlanOptions unfused;
  unfused.fuse = false;
  expect_matches_reference(graph, kConv, unfused);
}

TEST(OnednnFusion, InceptionConcatOfTwoBranches) {
  GraphBuilder b;
  const ValueId x = b.input("x", {2, 8, 10, 10});
  const ValueId a = b.node(OpKind::kRelu, {random_conv(b, x, 8, 16, conv3x3(), true, 1)});
  const ValueId c = b.node(OpKind::kRelu, {random_conv(b, x, 8, 16, {{1, 1}, {}, {}, {}, 1}, true, 3)});
  const ValueId d = b.node(OpKind::kMaxPool, {x}, PoolAttrs{{3, 3}, {1, 1}, {}, {1, 1, 1, 1}});
  const ValueId cat = b.node(OpKind::kConcat, {a, c, d}, ConcatAttrs{1});
  b.output(random_conv(b, cat, 40, 16, {{1, 1}, {}, {}, {}, 1}, true, 5));
  expect_matches_reference(b.build_with_shapes(), kConv);
}

TEST(OnednnFusion, UnfusedChainInBlockedLayout) {
  // conv -> BN -> relu -> pool -> conv with fusion off: standalone BN, eltwise and pool on oneDNN's layout.
  GraphBuilder b;
  const ValueId x = b.input("x", {2, 16, 12, 12});
  ValueId h = random_conv(b, x, 16, 32, conv3x3(), true, 1);
  h = b.node(OpKind::kRelu, {random_batch_norm(b, h, 32, 3)});
  h = b.node(OpKind::kMaxPool, {h}, PoolAttrs{{2, 2}, {2, 2}});
  h = b.node(OpKind::kLeakyRelu, {random_conv(b, h, 32, 32, conv3x3(), true, 9)}, LeakyReluAttrs{0.1f});
  b.output(b.node(OpKind::kGlobalAveragePool, {h}));
  PlanOptions unfused;
  unfused.fuse = false;
  expect_matches_reference(b.build_with_shapes(), kConv, unfused);
}

TEST(OnednnFusion, ObservableValueDisablesFusion) {
  GraphBuilder b;
  const ValueId x = b.input("x", {2, 8, 8, 8});
  const ValueId c = random_conv(b, x, 8, 16, conv3x3(), true, 1, "conv");
  const ValueId n = random_batch_norm(b, c, 16, 3, "bn");
  b.output(b.node(OpKind::kRelu, {n}, {}, "relu"));
  const Graph graph = b.build_with_shapes();
  PlanOptions options;
  options.observable = {n};
  std::unique_ptr<CompiledModel> model = compile_or_fail(*make_onednn_backend(), graph, options);
  ASSERT_TRUE(model);
  EXPECT_EQ(model->num_steps(), 3u);  // bn's output is a fault site: BN is a barrier on both sides
  // Not necessarily alive after the run; read it right after its step instead.
  struct Reader : StepObserver {
    ValueId id;
    Tensor seen;
    Status before_step(CompiledModel&, size_t) override { return Status::ok(); }
    Status after_step(CompiledModel& m, size_t s) override {
      for (ValueId v : m.step(s).outputs)
        if (v == id) return m.read_value(id, seen);
      return Status::ok();
    }
  } onednn_reader, reference_reader;
  onednn_reader.id = reference_reader.id = n;
  const std::vector<Tensor> inputs = random_inputs(graph, 4);
  run_model(*model, inputs, &onednn_reader);
  std::unique_ptr<CompiledModel> reference = compile_or_fail(*make_reference_backend(), graph, {});
  run_model(*reference, inputs, &reference_reader);
  ASSERT_FALSE(onednn_reader.seen.empty());
  EXPECT_TRUE(tensors_near(reference_reader.seen, onednn_reader.seen, kConv));
  expect_matches_reference(graph, kConv, options);
}

TEST(OnednnFusion, FusedAwayValueIsNotReadable) {
  GraphBuilder b;
  const ValueId x = b.input("x", {1, 4, 6, 6});
  const ValueId c = random_conv(b, x, 4, 8, conv3x3(), true, 1, "conv");
  b.output(b.node(OpKind::kRelu, {c}, {}, "relu"));
  const Graph graph = b.build_with_shapes();
  std::unique_ptr<CompiledModel> model = compile_or_fail(*make_onednn_backend(), graph, {});
  ASSERT_TRUE(model);
  run_model(*model, random_inputs(graph, 1));
  Tensor out;
  const Status status = model->read_value(c, out);
  ASSERT_FALSE(status.is_ok());
  EXPECT_NE(status.message().find("fused"), std::string::npos) << status.message();
  EXPECT_NE(status.message().find("conv"), std::string::npos) << status.message();
  EXPECT_FALSE(model->write_value(c, random_tensor({1, 8, 6, 6}, 2)).is_ok());
}

// --- pooling ---------------------------------------------------------------------------------------------

struct PoolCase {
  const char* name;
  OpKind op;
  Shape input;
  PoolAttrs attrs;
};

class OnednnPool : public ::testing::TestWithParam<PoolCase> {};

TEST_P(OnednnPool, MatchesReference) {
  const PoolCase& c = GetParam();
  GraphBuilder b;
  const ValueId x = b.input("x", c.input);
  // Through a conv so that the pool also runs on a blocked layout.
  const ValueId h = random_conv(b, x, c.input[1], 16, {{1, 1}, {}, {}, {}, 1}, true, 3);
  b.output(b.node(c.op, {x}, c.attrs));
  b.output(b.node(c.op, {h}, c.attrs));
  expect_matches_reference(b.build_with_shapes(), kPool);
}

INSTANTIATE_TEST_SUITE_P(
    Variants, OnednnPool,
    ::testing::Values(
        PoolCase{"max2x2", OpKind::kMaxPool, {2, 4, 8, 8}, {{2, 2}, {2, 2}}},
        PoolCase{"max3x3_pad_ceil", OpKind::kMaxPool, {2, 4, 10, 9}, {{3, 3}, {2, 2}, {}, {1, 1, 1, 1}, AutoPad::kNotSet, true}},
        PoolCase{"max_dilated", OpKind::kMaxPool, {1, 4, 11, 11}, {{3, 3}, {1, 1}, {2, 2}, {2, 2, 2, 2}}},
        PoolCase{"avg_exclude_pad", OpKind::kAveragePool, {2, 4, 9, 9}, {{3, 3}, {2, 2}, {}, {1, 1, 1, 1}}},
        PoolCase{"avg_include_pad", OpKind::kAveragePool, {2, 4, 9, 9}, {{3, 3}, {2, 2}, {}, {1, 1, 1, 1}, AutoPad::kNotSet, false, true}},
        PoolCase{"avg_exclude_ceil", OpKind::kAveragePool, {2, 4, 10, 10}, {{3, 3}, {2, 2}, {}, {0, 0, 0, 0}, AutoPad::kNotSet, true, false}},
        PoolCase{"avg_include_ceil", OpKind::kAveragePool, {2, 4, 10, 10}, {{3, 3}, {2, 2}, {}, {1, 1, 1, 1}, AutoPad::kNotSet, true, true}},
        PoolCase{"avg_asymmetric", OpKind::kAveragePool, {1, 4, 7, 8}, {{2, 3}, {1, 2}, {}, {0, 1, 1, 0}, AutoPad::kNotSet, false, true}}),
    [](const ::testing::TestParamInfo<PoolCase>& info) { return std::string(info.param.name); });

TEST(OnednnOps, GlobalPools) {
  GraphBuilder b;
  const ValueId x = b.input("x", {3, 8, 7, 5});
  const ValueId h = random_conv(b, x, 8, 16, conv3x3(), true, 3);
  for (ValueId v : {x, h}) {
    b.output(b.node(OpKind::kGlobalAveragePool, {v}));
    b.output(b.node(OpKind::kGlobalMaxPool, {v}));
  }
  expect_matches_reference(b.build_with_shapes(), kPool);
}

// --- element-wise, normalization, softmax ----------------------------------------------------------------

TEST(OnednnOps, Activations) {
  GraphBuilder b;
  const ValueId x = b.input("x", {2, 5, 4, 3});
  b.output(b.node(OpKind::kRelu, {x}));
  b.output(b.node(OpKind::kLeakyRelu, {x}, LeakyReluAttrs{0.2f}));
  b.output(b.node(OpKind::kClip, {x}, ClipAttrs{-0.5f, 0.25f}));
  b.output(b.node(OpKind::kClip, {x}, ClipAttrs{0.0f}));  // only a lower bound
  b.output(b.node(OpKind::kSigmoid, {x}));
  b.output(b.node(OpKind::kTanh, {x}));
  expect_matches_reference(b.build_with_shapes(), kTranscendental);
}

TEST(OnednnOps, ActivationsFusedIntoConv) {
  for (OpKind op : {OpKind::kRelu, OpKind::kLeakyRelu, OpKind::kClip, OpKind::kSigmoid, OpKind::kTanh}) {
    GraphBuilder b;
    const ValueId x = b.input("x", {2, 8, 6, 6});
    OpAttrs attrs;
    if (op == OpKind::kLeakyRelu) attrs = LeakyReluAttrs{0.1f};
    if (op == OpKind::kClip) attrs = ClipAttrs{0.0f, 6.0f};
    b.output(b.node(op, {random_conv(b, x, 8, 16, conv3x3(), true, 1)}, attrs));
    SCOPED_TRACE(std::string(op_name(op)));
    expect_matches_reference(b.build_with_shapes(), kConv);
  }
}

TEST(OnednnOps, BatchNormalizationStandalone) {
  GraphBuilder b;
  const ValueId x = b.input("x", {3, 6, 5, 5});
  b.output(random_batch_norm(b, x, 6, 1));
  const ValueId m = b.input("m", {4, 6});
  b.output(random_batch_norm(b, m, 6, 9));
  expect_matches_reference(b.build_with_shapes(), kNorm);
}

TEST(OnednnOps, Softmax) {
  GraphBuilder b;
  const ValueId x = b.input("x", {4, 10});
  b.output(b.node(OpKind::kSoftmax, {x}, SoftmaxAttrs{-1}));
  const ValueId y = b.input("y", {2, 3, 4, 5});
  b.output(b.node(OpKind::kSoftmax, {y}, SoftmaxAttrs{1}));
  b.output(b.node(OpKind::kSoftmax, {y}, SoftmaxAttrs{1, true}));  // opset < 13: over dims [1, 4)
  expect_matches_reference(b.build_with_shapes(), kSoftmax);
}

// --- binary ----------------------------------------------------------------------------------------------

TEST(OnednnOps, BinaryBroadcast) {
  GraphBuilder b;
  const ValueId x = b.input("x", {2, 16, 5, 5});
  const ValueId h = random_conv(b, x, 16, 16, conv3x3(), true, 1);  // blocked
  const ValueId per_channel = b.constant("pc", random_tensor({16, 1, 1}, 3));
  const ValueId row = b.input("row", {5});
  const ValueId scalar = b.constant("s", Tensor::from_floats({}, {1.5f}));
  b.output(b.node(OpKind::kAdd, {h, per_channel}));
  b.output(b.node(OpKind::kAdd, {per_channel, x}));   // broadcast first operand: swapped
  b.output(b.node(OpKind::kSub, {h, row}));
  b.output(b.node(OpKind::kSub, {per_channel, h}));   // not commutative: reference fallback
  b.output(b.node(OpKind::kMul, {x, scalar}));
  b.output(b.node(OpKind::kDiv, {h, b.constant("d", random_tensor({1, 16, 1, 1}, 5, 0.5f, 2.0f))}));
  b.output(b.node(OpKind::kAdd, {h, x}));             // two layouts
  b.output(b.node(OpKind::kMul, {h, h}));
  expect_matches_reference(b.build_with_shapes(), kElementwise);
}

TEST(OnednnOps, BinaryWithFusedActivation) {
  GraphBuilder b;
  const ValueId x = b.input("x", {2, 8, 4, 4});
  const ValueId y = b.input("y", {2, 8, 4, 4});
  b.output(b.node(OpKind::kRelu, {b.node(OpKind::kAdd, {x, y})}));
  const Graph graph = b.build_with_shapes();
  std::unique_ptr<CompiledModel> model = compile_or_fail(*make_onednn_backend(), graph, {});
  ASSERT_TRUE(model);
  EXPECT_EQ(model->num_steps(), 1u);
  expect_matches_reference(graph, kElementwise);
}

// --- gemm, matmul --------------------------------------------------------------------------------------

TEST(OnednnOps, Gemm) {
  GraphBuilder b;
  const ValueId a = b.input("a", {6, 20});
  const ValueId at = b.input("at", {20, 6});
  const ValueId w = b.constant("w", random_tensor({10, 20}, 1));    // [N, K]: transB
  const ValueId wk = b.constant("wk", random_tensor({20, 10}, 2));  // [K, N]
  const ValueId bias = b.constant("bias", random_tensor({10}, 3));
  const ValueId bias_col = b.constant("bias_col", random_tensor({6, 1}, 4));
  b.output(b.node(OpKind::kGemm, {a, w, bias}, GemmAttrs{1.0f, 1.0f, false, true}));
  b.output(b.node(OpKind::kGemm, {a, wk, bias_col}, GemmAttrs{0.5f, 2.0f, false, false}));
  b.output(b.node(OpKind::kGemm, {at, w}, GemmAttrs{1.0f, 1.0f, true, true}));
  const ValueId b_input = b.input("b_input", {10, 20});
  b.output(b.node(OpKind::kGemm, {a, b_input, bias}, GemmAttrs{1.0f, 1.0f, false, true}));  // non-constant B
  expect_matches_reference(b.build_with_shapes(), kGemm);
}

TEST(OnednnOps, FlattenThenGemmAfterBlockedConv) {
  GraphBuilder b;
  const ValueId x = b.input("x", {4, 8, 6, 6});
  ValueId h = b.node(OpKind::kRelu, {random_conv(b, x, 8, 16, conv3x3(), true, 1)});
  h = b.node(OpKind::kGlobalAveragePool, {h});
  h = b.node(OpKind::kFlatten, {h}, FlattenAttrs{1});
  h = b.node(OpKind::kGemm, {h, b.constant("fc", random_tensor({10, 16}, 2)), b.constant("fcb", random_tensor({10}, 3))},
             GemmAttrs{1.0f, 1.0f, false, true});
  b.output(b.node(OpKind::kSoftmax, {h}, SoftmaxAttrs{1}));
  expect_matches_reference(b.build_with_shapes(), kGemm);
}

TEST(OnednnOps, MatMul) {
  GraphBuilder b;
  const ValueId a = b.input("a", {5, 12});
  b.output(b.node(OpKind::kMatMul, {a, b.constant("w", random_tensor({12, 7}, 1))}));
  const ValueId batched = b.input("batched", {3, 4, 6});
  const ValueId rhs = b.input("rhs", {6, 5});
  b.output(b.node(OpKind::kMatMul, {batched, rhs}));  // broadcast over the batch
  const ValueId other = b.input("other", {3, 6, 2});
  b.output(b.node(OpKind::kMatMul, {batched, other}));
  expect_matches_reference(b.build_with_shapes(), kGemm);
}

// --- data movement -------------------------------------------------------------------------------------

// A 1x1 conv with identity weights: x itself, exactly, in the conv's (blocked) layout.
ValueId identity_conv(GraphBuilder& b, ValueId x, int64_t channels) {
  std::vector<float> eye(static_cast<size_t>(channels * channels), 0.0f);
  for (int64_t c = 0; c < channels; ++c) eye[static_cast<size_t>(c * channels + c)] = 1.0f;
  return b.node(OpKind::kConv, {x, b.constant("eye", Tensor::from_floats({channels, channels, 1, 1}, eye))},
                ConvAttrs{{1, 1}});
}

TEST(OnednnOps, DataMovementOnPlainAndBlockedInputs) {
  GraphBuilder b;
  const ValueId x = b.input("x", {2, 20, 6, 5});
  const ValueId h = identity_conv(b, x, 20);  // blocked, with a partly filled last channel block
  for (ValueId v : {x, h}) {
    b.output(b.node(OpKind::kSlice, {v}, SliceAttrs{{1, -1}, {INT64_MAX, 0}, {1, 3}, {2, -2}}));
    b.output(b.node(OpKind::kPad, {v}, PadAttrs{{0, 3, 1, 0, 0, 2, 0, 2}, PadMode::kConstant, 0.5f}));
    b.output(b.node(OpKind::kPad, {v}, PadAttrs{{0, 0, 2, 1, 0, 0, 1, 3}, PadMode::kReflect}));
    b.output(b.node(OpKind::kPad, {v}, PadAttrs{{0, 0, -1, 2, 0, 0, 2, -1}, PadMode::kEdge}));
    b.output(b.node(OpKind::kTranspose, {v}, TransposeAttrs{{0, 2, 3, 1}}));
    b.output(b.node(OpKind::kReshape, {v}, ReshapeAttrs{{2, -1}, false, false}));
    b.output(b.node(OpKind::kFlatten, {v}, FlattenAttrs{2}));
    b.output(b.node(OpKind::kIdentity, {v}));
  }
  expect_matches_reference(b.build_with_shapes(), kExact);
}

TEST(OnednnOps, ZeroPadIsAnAlias) {
  // PyTorch exports avg_pool2d(x, 8) as Pad(all zeros) + AveragePool.
  GraphBuilder b;
  const ValueId x = b.input("x", {2, 16, 8, 8});
  const ValueId h = identity_conv(b, x, 16);
  const ValueId p = b.node(OpKind::kPad, {h}, PadAttrs{std::vector<int64_t>(8, 0)}, "zero_pad");
  b.output(b.node(OpKind::kAveragePool, {p}, PoolAttrs{{8, 8}, {8, 8}}));
  const Graph graph = b.build_with_shapes();
  std::unique_ptr<CompiledModel> model = compile_or_fail(*make_onednn_backend(), graph, {});
  ASSERT_TRUE(model);
  const size_t pad_step = step_of(*model, graph.value(p).producer);
  ASSERT_LT(pad_step, model->num_steps());
  EXPECT_EQ(model->step(pad_step).outputs, std::vector<ValueId>{p});
  expect_matches_reference(graph, kPool);
}

TEST(OnednnOps, NaNPropagatesLikeTheReference) {
  // A bit flip can make a NaN; it must not vanish. In plain plans oneDNN's max-based kernels (Relu and Clip,
  // fused or not, MaxPool, GlobalMaxPool, Softmax) turn a NaN into a number, where the reference (like eager
  // PyTorch) keeps it; those ops are not listed here: PlanOptions.propagate_nan covers them
  // (tests/test_onednn_nan.cpp).
  GraphBuilder b;
  const ValueId x = b.input("x", {1, 16, 4, 4});
  const ValueId h = identity_conv(b, x, 16);
  for (ValueId v : {x, h}) {
    b.output(v == h ? b.node(OpKind::kIdentity, {v}) : b.node(OpKind::kTanh, {v}));
    b.output(b.node(OpKind::kLeakyRelu, {v}, LeakyReluAttrs{0.1f}));
    b.output(b.node(OpKind::kSigmoid, {v}));
    b.output(b.node(OpKind::kAveragePool, {v}, PoolAttrs{{2, 2}, {2, 2}}));
    b.output(b.node(OpKind::kGlobalAveragePool, {v}));
    b.output(b.node(OpKind::kAdd, {v, v}));
    b.output(b.node(OpKind::kSlice, {v}, SliceAttrs{{1}, {3}, {2}, {}}));
    b.output(random_conv(b, v, 16, 16, conv3x3(), true, 5));
  }
  const Graph graph = b.build_with_shapes();
  Tensor input = random_tensor({1, 16, 4, 4}, 3);
  for (int i : {0, 5, 17, 40, 63, 64, 130, 255}) input.data<float>()[i] = std::numeric_limits<float>::quiet_NaN();
  expect_matches_reference(graph, kConv, {}, {input});
}

TEST(OnednnOps, ReshapeAliasesItsInput) {
  GraphBuilder b;
  const ValueId x = b.input("x", {2, 3, 4});
  const ValueId r = b.node(OpKind::kRelu, {x});
  const ValueId f = b.node(OpKind::kFlatten, {r}, FlattenAttrs{1});
  b.output(b.node(OpKind::kSigmoid, {f}));
  const Graph graph = b.build_with_shapes();
  PlanOptions unfused;
  unfused.fuse = false;
  expect_matches_reference(graph, kTranscendental, unfused);
}

// --- values: read/write, re-runs, weights, support --------------------------------------------------------

// Reads (and optionally overwrites) one value right after the step that produces it.
class ValueTap : public StepObserver {
 public:
  ValueTap(ValueId id, std::optional<Tensor> replacement) : id_(id), replacement_(std::move(replacement)) {}
  Status before_step(CompiledModel&, size_t) override { return Status::ok(); }
  Status after_step(CompiledModel& model, size_t s) override {
    for (ValueId v : model.step(s).outputs) {
      if (v != id_) continue;
      FL_RETURN_IF_ERROR(model.read_value(id_, seen));
      if (replacement_) FL_RETURN_IF_ERROR(model.write_value(id_, *replacement_));
    }
    return Status::ok();
  }
  Tensor seen;

 private:
  ValueId id_;
  std::optional<Tensor> replacement_;
};

TEST(OnednnValues, ReadAndWriteBlockedIntermediateInLogicalOrder) {
  GraphBuilder b;
  const ValueId x = b.input("x", {2, 16, 8, 8});
  const ValueId c = b.node(OpKind::kRelu, {random_conv(b, x, 16, 32, conv3x3(), true, 1)}, {}, "act");
  b.output(b.node(OpKind::kMaxPool, {random_conv(b, c, 32, 16, conv3x3(), true, 5)}, PoolAttrs{{2, 2}, {2, 2}}));
  const Graph graph = b.build_with_shapes();
  const std::vector<Tensor> inputs = random_inputs(graph, 3);
  Tensor replacement = random_tensor(graph.value(c).shape, 99);
  replacement.data<float>()[1234] = 1e6f;  // a "fault" at one logical index

  ValueTap onednn_tap(c, replacement), reference_tap(c, replacement);
  std::unique_ptr<CompiledModel> onednn = compile_or_fail(*make_onednn_backend(), graph, {});
  std::unique_ptr<CompiledModel> reference = compile_or_fail(*make_reference_backend(), graph, {});
  ASSERT_TRUE(onednn && reference);
  const std::vector<Tensor> actual = run_model(*onednn, inputs, &onednn_tap);
  const std::vector<Tensor> expected = run_model(*reference, inputs, &reference_tap);
  ASSERT_FALSE(onednn_tap.seen.empty());
  EXPECT_TRUE(tensors_near(reference_tap.seen, onednn_tap.seen, kConv));
  ASSERT_EQ(actual.size(), 1u);
  EXPECT_TRUE(tensors_near(expected[0], actual[0], kConv));

  // Round trip: what was written is read back bit for bit.
  ValueTap check(c, std::nullopt);
  ValueTap write(c, replacement);
  run_model(*onednn, inputs, &write);
  struct Both : StepObserver {
    ValueTap* a;
    ValueTap* b;
    Status before_step(CompiledModel&, size_t) override { return Status::ok(); }
    Status after_step(CompiledModel& m, size_t s) override {
      FL_RETURN_IF_ERROR(a->after_step(m, s));
      return b->after_step(m, s);
    }
  } both;
  both.a = &write;
  both.b = &check;
  run_model(*onednn, inputs, &both);
  ASSERT_FALSE(check.seen.empty());
  EXPECT_EQ(std::memcmp(check.seen.raw(), replacement.raw(), replacement.nbytes()), 0);
}

TEST(OnednnValues, RerunGivesIdenticalBits) {
  const Graph graph = testing::residual_block_classifier();
  std::unique_ptr<CompiledModel> model = compile_or_fail(*make_onednn_backend(), graph, {});
  ASSERT_TRUE(model);
  testing::expect_rerun_gives_identical_bits(*model, graph);
}

TEST(OnednnValues, WritingAWeightRepreparesIt) {
  for (bool fuse : {true, false}) {
    GraphBuilder b;
    const ValueId x = b.input("x", {2, 8, 6, 6});
    const ValueId w = b.constant("w", random_tensor({16, 8, 3, 3}, 1, -0.3f, 0.3f));
    const ValueId c = b.node(OpKind::kConv, {x, w}, conv3x3());
    b.output(b.node(OpKind::kRelu, {random_batch_norm(b, c, 16, 4)}));
    const Graph graph = b.build_with_shapes();
    PlanOptions options;
    options.fuse = fuse;
    std::unique_ptr<CompiledModel> onednn = compile_or_fail(*make_onednn_backend(), graph, options);
    std::unique_ptr<CompiledModel> reference = compile_or_fail(*make_reference_backend(), graph, {});
    ASSERT_TRUE(onednn && reference);
    Tensor faulted = graph.value(w).constant.clone();
    faulted.data<float>()[17] = 8.0f;
    ASSERT_TRUE(onednn->write_value(w, faulted).is_ok());
    ASSERT_TRUE(reference->write_value(w, faulted).is_ok());
    const std::vector<Tensor> inputs = random_inputs(graph, 2);
    const std::vector<Tensor> actual = run_model(*onednn, inputs);
    const std::vector<Tensor> expected = run_model(*reference, inputs);
    EXPECT_TRUE(tensors_near(expected[0], actual[0], kConv)) << "fuse " << fuse;
    Tensor read_back;
    ASSERT_TRUE(onednn->read_value(w, read_back).is_ok());
    EXPECT_EQ(read_back.data<float>()[17], 8.0f);
    EXPECT_NE(graph.value(w).constant.data<float>()[17], 8.0f);  // the caller's graph is untouched
  }
}

TEST(OnednnSupport, ErrorsNameTheNode) {
  GraphBuilder b;
  const ValueId x = b.input("x", {2, 3}, DType::kInt64);
  b.output(b.node(OpKind::kRelu, {x}, {}, "int_relu"));
  Graph graph = b.build();
  graph.value(graph.outputs()[0]).shape = {2, 3};
  graph.value(graph.outputs()[0]).shape_known = true;
  graph.value(graph.outputs()[0]).dtype = DType::kInt64;
  std::unique_ptr<Backend> backend = make_onednn_backend();
  const Status status = backend->check_support(graph, 0);
  ASSERT_FALSE(status.is_ok());
  EXPECT_NE(status.message().find("int_relu"), std::string::npos) << status.message();
  EXPECT_NE(status.message().find("int64"), std::string::npos) << status.message();
  Result<std::unique_ptr<CompiledModel>> model = backend->compile(graph, {});
  ASSERT_FALSE(model.is_ok());
  EXPECT_NE(model.status().message().find("int_relu"), std::string::npos);
}

TEST(OnednnSupport, ThreadsOption) {
  GraphBuilder b;
  const ValueId x = b.input("x", {8, 16, 10, 10});
  b.output(b.node(OpKind::kRelu, {random_conv(b, x, 16, 16, conv3x3(), true, 1)}));
  const Graph graph = b.build_with_shapes();
  for (int threads : {1, 2, 0}) {
    PlanOptions options;
    options.threads = threads;
    expect_matches_reference(graph, kConv, options);
  }
}

}  // namespace
}  // namespace faultline
