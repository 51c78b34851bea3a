// The CUDA backend's host-side planning (kernels/cuda/cuda_plan.h), checked without a GPU: the index maps the
// kernels evaluate (kernels/cuda/cuda_index_maps.h, compiled here for the host) against the reference kernels,
// descriptor shapes, fusion and fallback decisions, the convolution-algorithm policy, and the clear error a
// machine without a GPU gives. Runs everywhere the CUDA backend is built (CI compiles it with no GPU).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <limits>

#include "engine/specialize.h"
#include "frontends/load_model.h"
#include "kernels/cuda/cuda_backend.h"
#include "kernels/cuda/cuda_index_maps.h"
#include "kernels/cuda/cuda_plan.h"
#include "kernels/reference/reference_ops.h"
#include "tests/cuda/cuda_test_support.h"
#include "tests/support/backend_comparison.h"
#include "tests/support/graph_builder.h"
#include "tests/support/run_command.h"
#include "tests/support/test_support.h"

namespace faultline {
namespace {

using cuda_plan::StepKind;
using testing::GraphBuilder;
using testing::random_tensor;

// The single node of `graph` run by the reference kernel on `input`.
Tensor reference_output(const Graph& graph, const std::vector<const Tensor*>& inputs) {
  const Node& node = graph.node(0);
  const Value& out = graph.value(node.outputs[0]);
  Tensor y = Tensor::allocate(out.dtype, out.shape).value();
  Tensor* outputs[] = {&y};
  const Status status = run_reference_node(node, inputs, outputs);
  EXPECT_TRUE(status.is_ok()) << status.message();
  return y;
}

Tensor gather_on_host(const cuda_detail::GatherMap& map, const Tensor& src, const Shape& out_shape) {
  Tensor y = Tensor::allocate(DType::kFloat32, out_shape).value();
  float fill;
  std::memcpy(&fill, &map.fill_bits, sizeof(fill));
  for (int64_t i = 0; i < y.numel(); ++i) {
    const int64_t source = cuda_detail::gather_source(map, i);
    y.data<float>()[i] = source < 0 ? fill : src.data<float>()[source];
  }
  return y;
}

// One-node graph over input `shape`.
Graph one_node(OpKind op, Shape shape, OpAttrs attrs = {}) {
  GraphBuilder b;
  b.output(b.node(op, {b.input("x", std::move(shape))}, std::move(attrs), "n"));
  return b.build_with_shapes();
}

void expect_gather_matches_reference(const Graph& graph, const std::string& label) {
  const Tensor x = random_tensor(graph.value(graph.inputs()[0]).shape, 5);
  auto map = cuda_plan::gather_map(graph, 0);
  ASSERT_TRUE(map.is_ok()) << label << ": " << map.status().message();
  const Tensor expected = reference_output(graph, {&x});
  const Tensor actual = gather_on_host(*map, x, expected.shape());
  EXPECT_TRUE(testing::tensors_near(expected, actual, 0.0, 0.0)) << label;
}

TEST(CudaIndexMaps, GatherMatchesSliceReference) {
  expect_gather_matches_reference(one_node(OpKind::kSlice, {2, 6, 7}, SliceAttrs{{1, 0}, {5, 7}, {1, 2}, {2, 3}}),
                                  "strided slice");
  expect_gather_matches_reference(one_node(OpKind::kSlice, {3, 8}, SliceAttrs{{-1}, {INT64_MIN}, {1}, {-2}}),
                                  "negative step");
  expect_gather_matches_reference(
      one_node(OpKind::kSlice, {2, 16, 8, 8}, SliceAttrs{{0, 0}, {INT64_MAX, INT64_MAX}, {2, 3}, {2, 2}}),
      "option-A shortcut");
}

TEST(CudaIndexMaps, GatherMatchesPadReference) {
  expect_gather_matches_reference(one_node(OpKind::kPad, {2, 3, 4}, PadAttrs{{0, 1, 2, 0, 3, 1}, PadMode::kConstant, 1.5f}),
                                  "constant");
  expect_gather_matches_reference(one_node(OpKind::kPad, {2, 5, 4}, PadAttrs{{0, 3, 2, 0, 4, 5}, PadMode::kReflect}),
                                  "reflect");
  expect_gather_matches_reference(one_node(OpKind::kPad, {2, 5, 4}, PadAttrs{{0, 2, 1, 0, 3, 2}, PadMode::kEdge}), "edge");
  expect_gather_matches_reference(one_node(OpKind::kPad, {3, 6}, PadAttrs{{-1, 2, 0, -3}, PadMode::kConstant}),
                                  "negative pads crop");
}

TEST(CudaIndexMaps, GatherMatchesTransposeReference) {
  expect_gather_matches_reference(one_node(OpKind::kTranspose, {2, 3, 4, 5}, TransposeAttrs{{0, 2, 3, 1}}), "NCHW->NHWC");
  expect_gather_matches_reference(one_node(OpKind::kTranspose, {3, 4, 5}, TransposeAttrs{}), "reversed axes");
}

TEST(CudaIndexMaps, BinaryBroadcastMatchesReference) {
  const struct {
    Shape a, b;
  } cases[] = {{{2, 3, 4}, {2, 3, 4}}, {{2, 3, 4}, {4}}, {{2, 1, 4}, {3, 1}}, {{1}, {2, 3}}, {{2, 3, 1, 5}, {3, 4, 1}}};
  for (const auto& c : cases) {
    GraphBuilder b;
    b.output(b.node(OpKind::kSub, {b.input("a", c.a), b.input("b", c.b)}, {}, "sub"));
    const Graph graph = b.build_with_shapes();
    const Tensor ta = random_tensor(c.a, 1), tb = random_tensor(c.b, 2);
    const Tensor expected = reference_output(graph, {&ta, &tb});
    auto map = cuda_plan::broadcast_map(c.a, c.b, expected.shape());
    ASSERT_TRUE(map.is_ok()) << map.status().message();
    Tensor actual = Tensor::allocate(DType::kFloat32, expected.shape()).value();
    for (int64_t i = 0; i < actual.numel(); ++i) {
      int64_t ia = 0, ib = 0;
      cuda_detail::broadcast_sources(*map, i, ia, ib);
      actual.data<float>()[i] = ta.data<float>()[ia] - tb.data<float>()[ib];
    }
    EXPECT_TRUE(testing::tensors_near(expected, actual, 0.0, 0.0)) << shape_to_string(c.a) << " - " << shape_to_string(c.b);
  }
  EXPECT_FALSE(cuda_plan::broadcast_map({2, 3}, {4}, {2, 3}).is_ok());
}

TEST(CudaIndexMaps, PoolWindowMatchesReference) {
  const struct {
    OpKind op;
    Shape input;
    PoolAttrs attrs;
  } cases[] = {
      {OpKind::kMaxPool, {2, 3, 9, 9}, PoolAttrs{{3, 3}, {2, 2}, {}, {1, 1, 1, 1}}},
      {OpKind::kMaxPool, {1, 2, 10, 11}, PoolAttrs{{3, 2}, {2, 3}, {2, 1}, {1, 0, 2, 1}, AutoPad::kNotSet, true}},
      {OpKind::kAveragePool, {2, 3, 8, 8}, PoolAttrs{{3, 3}, {2, 2}, {}, {1, 1, 1, 1}}},
      {OpKind::kAveragePool, {2, 3, 8, 8}, PoolAttrs{{3, 3}, {2, 2}, {}, {1, 1, 1, 1}, AutoPad::kNotSet, false, true}},
      {OpKind::kAveragePool, {1, 2, 7, 7}, PoolAttrs{{3, 3}, {2, 2}, {}, {1, 1, 1, 1}, AutoPad::kNotSet, true, true}},
      {OpKind::kAveragePool, {1, 2, 6, 7}, PoolAttrs{{2, 3}, {2, 2}, {}, {0, 0, 0, 0}, AutoPad::kNotSet, true, false}},
      {OpKind::kMaxPool, {2, 4, 13}, PoolAttrs{{3}, {2}, {}, {1, 1}}},
  };
  for (const auto& c : cases) {
    const Graph graph = one_node(c.op, c.input, c.attrs);
    Tensor x = random_tensor(c.input, 3);
    x.data<float>()[4] = std::numeric_limits<float>::quiet_NaN();  // a NaN must survive max pooling
    const Tensor expected = reference_output(graph, {&x});
    auto window = cuda_plan::pool_window(graph, 0);
    ASSERT_TRUE(window.is_ok()) << window.status().message();
    Tensor actual = Tensor::allocate(DType::kFloat32, expected.shape()).value();
    for (int64_t i = 0; i < actual.numel(); ++i) actual.data<float>()[i] = cuda_detail::pool_value(*window, x.data<float>(), i);
    EXPECT_TRUE(testing::tensors_near(expected, actual, 0.0, 0.0)) << op_name(c.op) << " " << shape_to_string(c.input);
  }
  auto three_d = cuda_plan::pool_window(one_node(OpKind::kMaxPool, {1, 1, 4, 4, 4}, PoolAttrs{{2, 2, 2}, {2, 2, 2}}), 0);
  EXPECT_FALSE(three_d.is_ok());
}

TEST(CudaIndexMaps, ActivationsMatchReference) {
  Tensor x = random_tensor({4, 50}, 9, -4.0f, 4.0f);
  x.data<float>()[3] = std::numeric_limits<float>::quiet_NaN();
  for (const auto& [op, attrs] : std::vector<std::pair<OpKind, OpAttrs>>{{OpKind::kRelu, {}},
                                                                         {OpKind::kLeakyRelu, LeakyReluAttrs{0.2f}},
                                                                         {OpKind::kClip, ClipAttrs{-0.5f, 0.7f}},
                                                                         {OpKind::kSigmoid, {}},
                                                                         {OpKind::kTanh, {}}}) {
    const Graph graph = one_node(op, {4, 50}, attrs);
    const Tensor expected = reference_output(graph, {&x});
    auto act = cuda_plan::activation_of(graph.node(0));
    ASSERT_TRUE(act.is_ok());
    Tensor actual = Tensor::allocate(DType::kFloat32, {4, 50}).value();
    for (int64_t i = 0; i < x.numel(); ++i)
      actual.data<float>()[i] = cuda_detail::apply_activation(act->activation, x.data<float>()[i], act->alpha, act->low, act->high);
    EXPECT_TRUE(testing::tensors_near(expected, actual, 0.0, 0.0)) << op_name(op);
  }
}

// --- descriptor shapes ------------------------------------------------------------------------------------

TEST(CudaPlanShapes, ConvShapes) {
  GraphBuilder b;
  const ValueId x = b.input("x", {2, 8, 10, 12});
  const ValueId w = b.constant("w", random_tensor({6, 4, 3, 3}, 1));
  b.output(b.node(OpKind::kConv, {x, w}, ConvAttrs{{3, 3}, {2, 1}, {1, 2}, {1, 2, 1, 2}, 2}, "grouped"));
  auto s = cuda_plan::conv_shape(b.build_with_shapes(), 0);
  ASSERT_TRUE(s.is_ok()) << s.status().message();
  EXPECT_EQ(s->n, 2);
  EXPECT_EQ(s->c, 8);
  EXPECT_EQ(s->k, 6);
  EXPECT_EQ(s->groups, 2);
  EXPECT_EQ(s->pad_h, 1);
  EXPECT_EQ(s->pad_w, 2);
  EXPECT_EQ(s->stride_h, 2);
  EXPECT_EQ(s->dilation_w, 2);
  EXPECT_EQ(s->out_h, 5);   // (10 + 2 - 3) / 2 + 1
  EXPECT_EQ(s->out_w, 12);  // 12 + 4 - 2 * 2 - 1 + 1

  GraphBuilder one_d;
  one_d.output(one_d.node(OpKind::kConv, {one_d.input("x", {2, 4, 20}), one_d.constant("w", random_tensor({8, 4, 5}, 2))},
                          ConvAttrs{{5}, {2}, {1}, {2, 2}, 1}));
  auto s1 = cuda_plan::conv_shape(one_d.build_with_shapes(), 0);
  ASSERT_TRUE(s1.is_ok()) << s1.status().message();
  EXPECT_EQ(s1->h, 1);
  EXPECT_EQ(s1->r, 1);
  EXPECT_EQ(s1->out_h, 1);
  EXPECT_EQ(s1->w, 20);
  EXPECT_EQ(s1->out_w, 10);
  EXPECT_EQ(s1->pad_w, 2);
  EXPECT_EQ(s1->stride_w, 2);

  GraphBuilder asym;
  asym.output(asym.node(OpKind::kConv, {asym.input("x", {1, 2, 7, 8}), asym.constant("w", random_tensor({3, 2, 3, 2}, 3))},
                        ConvAttrs{{3, 2}, {2, 1}, {1, 1}, {0, 1, 2, 0}, 1}, "asym"));
  auto s2 = cuda_plan::conv_shape(asym.build_with_shapes(), 0);
  ASSERT_FALSE(s2.is_ok());
  EXPECT_NE(s2.status().message().find("asymmetric pads"), std::string::npos) << s2.status().message();
}

TEST(CudaPlanShapes, MatMulBatching) {
  auto shape_of = [](Shape a, Shape b) {
    GraphBuilder g;
    g.output(g.node(OpKind::kMatMul, {g.input("a", a), g.input("b", b)}));
    return cuda_plan::matmul_shape(g.build_with_shapes(), 0);
  };
  auto plain = shape_of({3, 4}, {4, 5});
  ASSERT_TRUE(plain.is_ok());
  EXPECT_EQ(plain->batch, 1);
  EXPECT_EQ(plain->m, 3);
  EXPECT_EQ(plain->n, 5);
  EXPECT_EQ(plain->k, 4);
  auto batched = shape_of({2, 3, 3, 4}, {4, 5});  // B shared by every batch
  ASSERT_TRUE(batched.is_ok());
  EXPECT_EQ(batched->batch, 6);
  EXPECT_EQ(batched->a_stride, 12);
  EXPECT_EQ(batched->b_stride, 0);
  EXPECT_EQ(batched->y_stride, 15);
  auto vectors = shape_of({4}, {2, 4, 5});
  ASSERT_TRUE(vectors.is_ok());
  EXPECT_EQ(vectors->m, 1);
  EXPECT_EQ(vectors->batch, 2);
  EXPECT_EQ(vectors->a_stride, 0);
  EXPECT_FALSE(shape_of({2, 1, 3, 4}, {1, 3, 4, 5}).is_ok());  // [2, 1] x [1, 3] batches: partial broadcast
}

TEST(CudaPlanShapes, SoftmaxAndGemm) {
  auto softmax = cuda_plan::softmax_shape(one_node(OpKind::kSoftmax, {2, 3, 4, 5}, SoftmaxAttrs{1, false}), 0);
  ASSERT_TRUE(softmax.is_ok());
  EXPECT_EQ(softmax->outer, 2);
  EXPECT_EQ(softmax->length, 3);
  EXPECT_EQ(softmax->inner, 20);
  auto coerced = cuda_plan::softmax_shape(one_node(OpKind::kSoftmax, {2, 3, 4, 5}, SoftmaxAttrs{1, true}), 0);
  ASSERT_TRUE(coerced.is_ok());
  EXPECT_EQ(coerced->length, 60);
  EXPECT_EQ(coerced->inner, 1);

  GraphBuilder g;
  g.output(g.node(OpKind::kGemm, {g.input("a", {7, 3}), g.constant("b", random_tensor({5, 7}, 1)),
                                  g.constant("c", random_tensor({5}, 2))},
                  GemmAttrs{0.5f, 2.0f, true, true}));
  auto gemm = cuda_plan::gemm_shape(g.build_with_shapes(), 0);
  ASSERT_TRUE(gemm.is_ok()) << gemm.status().message();
  EXPECT_EQ(gemm->m, 3);
  EXPECT_EQ(gemm->n, 5);
  EXPECT_EQ(gemm->k, 7);
  EXPECT_EQ(gemm->lda, 3);
  EXPECT_EQ(gemm->ldb, 7);
}

// --- steps ------------------------------------------------------------------------------------------------

struct ConvBnRelu {
  Graph graph;
  ValueId conv, bn, weight;
};

ConvBnRelu conv_bn_relu() {
  GraphBuilder b;
  const ValueId x = b.input("x", {2, 4, 6, 6});
  const ValueId w = b.constant("w", random_tensor({8, 4, 3, 3}, 1));
  const ValueId c = b.node(OpKind::kConv, {x, w, b.constant("b", random_tensor({8}, 2))},
                           ConvAttrs{{3, 3}, {1, 1}, {1, 1}, {1, 1, 1, 1}, 1}, "conv");
  const ValueId n = b.node(OpKind::kBatchNormalization,
                           {c, b.constant("s", random_tensor({8}, 3, 0.5f, 1.5f)), b.constant("t", random_tensor({8}, 4)),
                            b.constant("m", random_tensor({8}, 5)), b.constant("v", random_tensor({8}, 6, 0.5f, 2.0f))},
                           BatchNormAttrs{}, "bn");
  b.output(b.node(OpKind::kRelu, {n}, {}, "relu"));
  return {b.build_with_shapes(), c, n, w};
}

TEST(CudaPlanSteps, ConvBatchNormReluFuse) {
  const ConvBnRelu m = conv_bn_relu();
  auto plan = cuda_plan::plan_steps(m.graph, {});
  ASSERT_TRUE(plan.is_ok()) << plan.status().message();
  ASSERT_EQ(plan->size(), 1u);
  EXPECT_EQ((*plan)[0].kind, StepKind::kConv);
  EXPECT_EQ((*plan)[0].nodes.size(), 3u);
  EXPECT_NE((*plan)[0].batch_norm, kNoNode);
  EXPECT_TRUE((*plan)[0].cudnn_bias_activation);  // plain inference: cuDNN's fused bias + ReLU

  PlanOptions nan;
  nan.propagate_nan = true;
  auto nan_plan = cuda_plan::plan_steps(m.graph, nan);
  ASSERT_TRUE(nan_plan.is_ok());
  ASSERT_EQ(nan_plan->size(), 1u);
  EXPECT_FALSE((*nan_plan)[0].cudnn_bias_activation);  // the NaN-preserving epilogue instead

  PlanOptions unfused;
  unfused.fuse = false;
  EXPECT_EQ(cuda_plan::plan_steps(m.graph, unfused)->size(), 3u);
}

TEST(CudaPlanSteps, ResidualAddFusesIntoTheConvOnlyInCleanPlans) {
  const Graph graph = testing::residual_block_classifier();
  auto plan = cuda_plan::plan_steps(graph, {});
  ASSERT_TRUE(plan.is_ok()) << plan.status().message();
  int fused = 0;
  for (const auto& step : *plan) {
    if (step.residual_add == kNoNode) continue;
    ++fused;
    EXPECT_EQ(step.kind, StepKind::kConv);
    ASSERT_EQ(step.nodes.size(), 4u) << "conv, BN, Add, ReLU";
    EXPECT_EQ(graph.node(step.nodes[2]).op, OpKind::kAdd);
    EXPECT_EQ(graph.node(step.nodes[3]).op, OpKind::kRelu);
    const Node& add = graph.node(step.residual_add);
    EXPECT_TRUE(add.inputs[0] == step.residual || add.inputs[1] == step.residual);
    EXPECT_TRUE(step.cudnn_bias_activation);
  }
  EXPECT_EQ(fused, 1);
  PlanOptions nan;  // fault plans keep the Add a step of its own (the reference's order of additions)
  nan.propagate_nan = true;
  auto nan_plan = cuda_plan::plan_steps(graph, nan);
  ASSERT_TRUE(nan_plan.is_ok());
  for (const auto& step : *nan_plan) EXPECT_EQ(step.residual_add, kNoNode);
}

TEST(CudaPlanSteps, AConvWaitsForAResidualComputedAfterIt) {
  // ResNet20's option-A shortcut (Slice, Pad) comes after the block's second conv in node order: the conv
  // (and its BN) wait, then run as one step with the Add and the ReLU right after the shortcut's last step.
  testing::GraphBuilder b;
  const ValueId x = b.input("x", {2, 4, 6, 6});
  const ValueId h = b.node(OpKind::kRelu, {testing::random_conv(b, x, 4, 8, testing::conv3x3(), true, 1)});
  const ValueId main = testing::random_batch_norm(b, testing::random_conv(b, h, 8, 8, testing::conv3x3(), false, 2, "main"), 8, 3);
  const ValueId shortcut = b.node(OpKind::kSigmoid, {h}, {}, "shortcut");
  b.output(b.node(OpKind::kRelu, {b.node(OpKind::kAdd, {main, shortcut})}));
  const Graph graph = b.build_with_shapes();
  auto plan = cuda_plan::plan_steps(graph, {});
  ASSERT_TRUE(plan.is_ok()) << plan.status().message();
  ASSERT_EQ(plan->size(), 3u);
  EXPECT_EQ(graph.node((*plan)[1].nodes[0]).name, "shortcut");
  const auto& fused = (*plan)[2];
  EXPECT_EQ(fused.kind, StepKind::kConv);
  EXPECT_EQ(fused.nodes.size(), 4u) << "conv, BN, Add, ReLU";
  EXPECT_EQ(fused.residual, shortcut);
  std::vector<bool> seen(graph.nodes().size(), false);  // every node once, each after its inputs' producers
  for (const auto& step : *plan)
    for (NodeId n : step.nodes) {
      EXPECT_FALSE(seen[static_cast<size_t>(n)]);
      for (ValueId v : graph.node(n).inputs) {
        const NodeId producer = v == kNoValue ? kNoNode : graph.value(v).producer;
        if (producer != kNoNode && std::find(step.nodes.begin(), step.nodes.end(), producer) == step.nodes.end())
          EXPECT_TRUE(seen[static_cast<size_t>(producer)]) << graph.describe(n);
      }
      seen[static_cast<size_t>(n)] = true;
    }
  EXPECT_EQ(std::count(seen.begin(), seen.end(), true), static_cast<long>(graph.nodes().size()));
}

TEST(CudaPlanSteps, TwoConvsIntoOneAddFuseItIntoTheLaterOne) {
  // A bottleneck's main path and its downsample both end in a conv + BN feeding one Add: neither waits for
  // the other (that would never end); the later one fuses the Add and the ReLU.
  testing::GraphBuilder b;
  const ValueId x = b.input("x", {2, 4, 6, 6});
  const ValueId main = testing::random_batch_norm(
      b, testing::random_conv(b, x, 4, 8, testing::conv3x3(), false, 1, "main"), 8, 2);
  const ValueId down = testing::random_batch_norm(
      b, testing::random_conv(b, x, 4, 8, testing::conv3x3(), false, 3, "down"), 8, 4);
  b.output(b.node(OpKind::kRelu, {b.node(OpKind::kAdd, {main, down})}));
  const Graph graph = b.build_with_shapes();
  auto plan = cuda_plan::plan_steps(graph, {});
  ASSERT_TRUE(plan.is_ok()) << plan.status().message();
  ASSERT_EQ(plan->size(), 2u);
  EXPECT_EQ((*plan)[0].residual_add, kNoNode);
  EXPECT_EQ((*plan)[0].nodes.size(), 2u) << "conv, BN";
  EXPECT_EQ((*plan)[1].nodes.size(), 4u) << "conv, BN, Add, ReLU";
  EXPECT_EQ((*plan)[1].residual, graph.node((*plan)[0].nodes.back()).outputs[0]);
}

// Every node of every real test model lands in exactly one step, after the steps that compute its inputs,
// in clean plans (residual Adds fused, convs waiting for their shortcut) and fault plans.
TEST(CudaPlanSteps, RealModelsPlanEveryNodeOnceAfterItsInputs) {
  for (const char* file : {"models/resnet20.onnx", "models/resnet20_bn.onnx", "models/googlenet_small.onnx",
                           "models/densenet_small.onnx", "models/bottleneck_1x1.onnx",
                           "keras/mlperf_tiny_ic_pretrainedResnet.h5", "keras/resnet8.keras",
                           "keras/synthetic_branches.h5", "keras/acetone_concat.h5"}) {
    auto model = load_model(testing::test_data(file));
    ASSERT_TRUE(model.is_ok()) << file << ": " << model.status().message();
    SpecializeOptions specializing;
    specializing.batch = 2;
    auto graph = specialize(**model, specializing);
    ASSERT_TRUE(graph.is_ok()) << file << ": " << graph.status().message();
    for (bool nan : {false, true}) {
      PlanOptions options;
      options.propagate_nan = nan;
      auto plan = cuda_plan::plan_steps(*graph, options);
      ASSERT_TRUE(plan.is_ok()) << file << ": " << plan.status().message();
      std::vector<bool> done(graph->nodes().size(), false);
      int fused_adds = 0;
      for (const auto& step : *plan) {
        fused_adds += step.residual_add != kNoNode ? 1 : 0;
        for (NodeId n : step.nodes) {
          EXPECT_FALSE(done[static_cast<size_t>(n)]) << file << ": " << graph->describe(n) << " planned twice";
          for (ValueId v : graph->node(n).inputs) {
            const NodeId producer = v == kNoValue ? kNoNode : graph->value(v).producer;
            const bool in_step = std::find(step.nodes.begin(), step.nodes.end(), producer) != step.nodes.end();
            if (producer != kNoNode && !in_step)
              EXPECT_TRUE(done[static_cast<size_t>(producer)]) << file << ": " << graph->describe(n) << " before its input";
          }
          done[static_cast<size_t>(n)] = true;
        }
      }
      EXPECT_EQ(std::count(done.begin(), done.end(), true), static_cast<long>(graph->nodes().size())) << file;
      if (nan) EXPECT_EQ(fused_adds, 0) << file;
    }
  }
}

TEST(CudaPlanSteps, FaultSitesAreBarriers) {
  const ConvBnRelu m = conv_bn_relu();
  PlanOptions activation_site;
  activation_site.observable = {m.conv};  // the conv output must exist: no BN folding, no epilogue fusion
  auto plan = cuda_plan::plan_steps(m.graph, activation_site);
  ASSERT_TRUE(plan.is_ok());
  ASSERT_EQ(plan->size(), 2u);  // conv alone, then BN and ReLU in one affine kernel
  EXPECT_EQ((*plan)[0].kind, StepKind::kConv);
  EXPECT_EQ((*plan)[0].nodes.size(), 1u);
  EXPECT_EQ((*plan)[1].kind, StepKind::kAffine);
  EXPECT_EQ((*plan)[1].nodes.size(), 2u);
  EXPECT_NE((*plan)[1].activation, kNoNode);

  PlanOptions weight_site;
  weight_site.observable = {m.weight};  // the conv reads a faulted weight as the model has it: no folding
  weight_site.propagate_nan = true;
  auto weight_plan = cuda_plan::plan_steps(m.graph, weight_site);
  ASSERT_TRUE(weight_plan.is_ok());
  ASSERT_EQ(weight_plan->size(), 2u);
  EXPECT_EQ((*weight_plan)[0].nodes.size(), 1u);
  EXPECT_EQ((*weight_plan)[1].nodes.size(), 2u) << "BN + ReLU";

  PlanOptions bn_site;  // the BN's output is a fault site: the ReLU runs on its own
  bn_site.observable = {m.bn};
  auto bn_plan = cuda_plan::plan_steps(m.graph, bn_site);
  ASSERT_TRUE(bn_plan.is_ok());
  EXPECT_EQ(bn_plan->size(), 3u);
}

TEST(CudaPlanSteps, UnsupportedNodesFallBackNamingWhy) {
  GraphBuilder b;
  const ValueId x = b.input("x", {1, 2, 4, 4, 4});
  const ValueId c = b.node(OpKind::kConv, {x, b.constant("w", random_tensor({3, 2, 3, 3, 3}, 1))},
                           ConvAttrs{{3, 3, 3}, {1, 1, 1}, {1, 1, 1}, {1, 1, 1, 1, 1, 1}, 1}, "conv3d");
  b.output(b.node(OpKind::kMaxPool, {b.input("v", {1, 2, 4, 4, 4})}, PoolAttrs{{2, 2, 2}, {2, 2, 2}}, "pool3d"));
  b.output(c);
  const Graph graph = b.build_with_shapes();
  auto plan = cuda_plan::plan_steps(graph, {});
  ASSERT_TRUE(plan.is_ok()) << plan.status().message();
  ASSERT_EQ(plan->size(), 2u);
  for (const auto& step : *plan) {
    EXPECT_EQ(step.kind, StepKind::kReference) << graph.describe(step.nodes[0]);
    EXPECT_FALSE(step.reference_reason.empty());
  }
}

TEST(CudaPlanSteps, RefusalsNameTheNode) {
  GraphBuilder b;
  b.output(b.node(OpKind::kShape, {b.input("x", {2, 3})}, {}, "shape_of_x"));
  Graph graph = b.build();
  const Status status = cuda_plan::check_support(graph, 0);
  ASSERT_FALSE(status.is_ok());
  EXPECT_NE(status.message().find("shape_of_x"), std::string::npos) << status.message();
  EXPECT_NE(status.message().find("cuda backend"), std::string::npos) << status.message();

  // No CUDA kernel, and the reference fallback runs integer arithmetic nowhere: refused, naming both.
  GraphBuilder i;
  i.output(i.node(OpKind::kAdd, {i.input("a", {2, 3}, DType::kInt64), i.input("b", {2, 3}, DType::kInt64)}, {}, "iadd"));
  const Graph integer = i.build_with_shapes();
  const Status refused = cuda_plan::check_support(integer, 0);
  ASSERT_FALSE(refused.is_ok());
  EXPECT_NE(refused.message().find("iadd"), std::string::npos) << refused.message();
  EXPECT_NE(refused.message().find("reference fallback refuses"), std::string::npos) << refused.message();
  EXPECT_NE(refused.message().find("int64"), std::string::npos) << refused.message();
}

TEST(CudaPlanSteps, ConvAlgorithmPolicy) {
  using cuda_plan::ConvAlgorithm;
  // cuDNN numbering: 1 IMPLICIT_PRECOMP_GEMM, 6 WINOGRAD, 4 FFT.
  const std::vector<ConvAlgorithm> candidates = {
      {6, true, 1000, false, true},   // Winograd: fastest
      {4, true, 1 << 20, false, true},
      {1, true, 0, true, true},       // tensor-op (TF32) precomp GEMM
      {1, true, 100, false, false},   // non-deterministic
      {0, true, 0, false, true},      // implicit GEMM
  };
  EXPECT_EQ(cuda_plan::choose_conv_algorithm(candidates, false, false, 1 << 30), 0);
  EXPECT_EQ(cuda_plan::choose_conv_algorithm(candidates, false, true, 1 << 30), 4);  // fault plans: no Winograd/FFT
  EXPECT_EQ(cuda_plan::choose_conv_algorithm(candidates, true, true, 1 << 30), 2);   // TF32 allowed
  EXPECT_EQ(cuda_plan::choose_conv_algorithm(candidates, false, false, 500), 4);     // workspace limit
  EXPECT_EQ(cuda_plan::choose_conv_algorithm(std::vector<ConvAlgorithm>{{0, false}}, true, false, 1 << 30), -1);
}

// --- no GPU -----------------------------------------------------------------------------------------------

TEST(CudaBackendWithoutGpu, CreatingTheBackendSaysWhy) {
  if (testing::cuda_unavailable_reason().empty()) GTEST_SKIP() << "a CUDA device is present: this tests the no-GPU error";
  auto backend = create_backend("cuda");
  ASSERT_FALSE(backend.is_ok());
  EXPECT_EQ(backend.status().message().rfind("backend 'cuda': no CUDA device (cudaGetDeviceCount: ", 0), 0u)
      << backend.status().message();
}

TEST(CudaBackendWithoutGpu, InferFailsWithOneClearLine) {
  if (testing::cuda_unavailable_reason().empty()) GTEST_SKIP() << "a CUDA device is present: this tests the no-GPU error";
  const std::string dir = testing::temp_dir();
  auto r = testing::run_faultline("infer " + testing::test_data("models/resnet20.onnx") + " --input " +
                                  testing::test_data("models/resnet20_input.npy") + " --output " + dir + "/y.npy --backend cuda");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("backend 'cuda': no CUDA device (cudaGetDeviceCount: "), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_FALSE(std::filesystem::exists(dir + "/y.npy"));
}

TEST(CudaBackendWithoutGpu, CudaIsAnAvailableBackend) {
  const std::vector<std::string> names = available_backends();
  EXPECT_NE(std::find(names.begin(), names.end(), "cuda"), names.end());
}

}  // namespace
}  // namespace faultline
