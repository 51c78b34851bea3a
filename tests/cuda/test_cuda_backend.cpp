// The CUDA backend (kernels/cuda/cuda_backend.h) against the reference backend on a GPU: every op on random
// inputs with a per-op tolerance (TF32 off, the default), fused conv + BN + activation against the unfused oracle,
// NaN propagation under propagate_nan, reference fallbacks, values read and written between steps, weight faults
// written, run and restored bit-exactly, identical bits on a re-run. Every test skips without a GPU.
#include <gtest/gtest.h>

#include <cstring>
#include <limits>
#include <ostream>
#include <utility>

#include "engine/executor.h"
#include "engine/incremental_executor.h"
#include "faults/bit_ops.h"
#include "kernels/reference/reference_backend.h"
#include "tests/cuda/cuda_test_support.h"
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

// Per-op tolerances, as tests/test_onednn_backend.cpp: data movement exact, element-wise ops and pools float-exact
// up to a few roundings (sigmoid/tanh: the device's exp/tanh against the host's), reductions relative.
constexpr Tolerance kExact{0.0, 0.0};
constexpr Tolerance kElementwise{1e-6, 1e-7};
constexpr Tolerance kTranscendental{1e-6, 1e-7};
constexpr Tolerance kPool{1e-6, 1e-7};
constexpr Tolerance kSoftmax{1e-6, 1e-7};
constexpr Tolerance kConv{1e-4, 1e-4};
constexpr Tolerance kGemm{1e-4, 1e-4};
constexpr Tolerance kNorm{1e-5, 1e-6};

void expect_matches_reference(const Graph& graph, Tolerance tol, const PlanOptions& options = {},
                              std::vector<Tensor> inputs = {}) {
  std::unique_ptr<Backend> cuda = testing::cuda_backend_or_fail();
  ASSERT_TRUE(cuda);
  testing::expect_backend_matches_reference(*cuda, graph, tol, options, std::move(inputs));
}

// `graph` compiled by the CUDA backend with `options`; nullptr after a test failure.
std::unique_ptr<CompiledModel> compile_on_cuda(const Graph& graph, const PlanOptions& options = {}) {
  std::unique_ptr<Backend> cuda = testing::cuda_backend_or_fail();
  return cuda ? compile_or_fail(*cuda, graph, options) : nullptr;
}

// One input "x" of `shape` and one output per (op, attributes) applied to it.
Graph ops_on_one_input(const Shape& shape, const std::vector<std::pair<OpKind, OpAttrs>>& ops) {
  GraphBuilder b;
  const ValueId x = b.input("x", shape);
  for (const auto& [op, attrs] : ops) b.output(b.node(op, {x}, attrs));
  return b.build_with_shapes();
}

// --- convolution ------------------------------------------------------------------------------------------

struct ConvCase {
  const char* name;
  Shape input;
  int64_t out_channels;
  ConvAttrs attrs;
  bool bias;
};

void PrintTo(const ConvCase& c, std::ostream* os) { *os << c.name; }

class CudaConv : public ::testing::TestWithParam<ConvCase> {};

TEST_P(CudaConv, MatchesReference) {
  FAULTLINE_SKIP_WITHOUT_GPU();
  const ConvCase& c = GetParam();
  GraphBuilder b;
  const ValueId x = b.input("x", c.input);
  b.output(random_conv(b, x, c.input[1], c.out_channels, c.attrs, c.bias, 7));
  expect_matches_reference(b.build_with_shapes(), kConv);
  PlanOptions fault_plan;  // implicit-GEMM/direct algorithms only
  fault_plan.propagate_nan = true;
  expect_matches_reference(b.build_with_shapes(), kConv, fault_plan);
}

INSTANTIATE_TEST_SUITE_P(
    Variants, CudaConv,
    ::testing::Values(
        ConvCase{"basic3x3", {2, 3, 9, 9}, 16, conv3x3(), true},
        ConvCase{"stride2", {2, 16, 10, 10}, 32, conv3x3(2), true},
        ConvCase{"wide", {4, 64, 8, 8}, 64, conv3x3(), true},
        ConvCase{"dilation2", {1, 8, 12, 12}, 8, {{3, 3}, {1, 1}, {2, 2}, {2, 2, 2, 2}, 1}, true},
        ConvCase{"asymmetric_pads_fallback", {2, 4, 7, 8}, 6, {{3, 2}, {2, 1}, {1, 1}, {0, 1, 2, 0}, 1}, false},
        ConvCase{"group2", {2, 8, 6, 6}, 12, {{3, 3}, {1, 1}, {1, 1}, {1, 1, 1, 1}, 2}, true},
        ConvCase{"depthwise", {2, 16, 8, 8}, 16, {{3, 3}, {1, 1}, {1, 1}, {1, 1, 1, 1}, 16}, true},
        ConvCase{"no_bias", {1, 16, 8, 8}, 16, conv3x3(), false},
        ConvCase{"pointwise", {3, 24, 5, 5}, 40, {{1, 1}, {}, {}, {}, 1}, true},
        ConvCase{"conv1d", {2, 4, 20}, 8, {{5}, {2}, {1}, {2, 2}, 1}, true},
        ConvCase{"conv3d_fallback", {1, 4, 5, 6, 6}, 8, {{3, 3, 3}, {1, 1, 1}, {1, 1, 1}, {1, 1, 1, 1, 1, 1}, 1}, true}),
    [](const ::testing::TestParamInfo<ConvCase>& info) { return std::string(info.param.name); });

TEST(CudaFusion, ConvBatchNormActivationIsOneStep) {
  FAULTLINE_SKIP_WITHOUT_GPU();
  for (OpKind act : {OpKind::kRelu, OpKind::kLeakyRelu, OpKind::kSigmoid}) {
    for (bool propagate_nan : {false, true}) {
      GraphBuilder b;
      const ValueId x = b.input("x", {4, 16, 12, 12});
      const ValueId c = random_conv(b, x, 16, 32, conv3x3(), true, 3, "conv");
      const ValueId n = random_batch_norm(b, c, 32, 11, "bn");
      b.output(b.node(act, {n}, act == OpKind::kLeakyRelu ? OpAttrs{LeakyReluAttrs{0.1f}} : OpAttrs{}, "act"));
      const Graph graph = b.build_with_shapes();
      PlanOptions options;
      options.propagate_nan = propagate_nan;
      std::unique_ptr<CompiledModel> model = compile_on_cuda(graph, options);
      ASSERT_TRUE(model);
      ASSERT_EQ(model->num_steps(), 1u);
      EXPECT_EQ(model->step(0).nodes.size(), 3u);
      expect_matches_reference(graph, kConv, options);
      PlanOptions unfused = options;
      unfused.fuse = false;
      expect_matches_reference(graph, kConv, unfused);
    }
  }
}

TEST(CudaFusion, ResidualAddsFusedIntoConvolutionsMatchTheReference) {
  // Conv + Add without bias (the epilogue kernel adds the residual), with a bias and no activation (cuDNN's
  // identity activation on the implicit precomputed GEMM, else the epilogue), and with a ReLU (cuDNN's z).
  FAULTLINE_SKIP_WITHOUT_GPU();
  GraphBuilder b;
  const ValueId x = b.input("x", {2, 8, 10, 10});
  const ValueId s1 = b.node(OpKind::kAdd, {random_conv(b, x, 8, 8, conv3x3(), false, 31), x});
  const ValueId s2 = b.node(OpKind::kAdd, {s1, random_conv(b, s1, 8, 8, conv3x3(), true, 32)});
  const ValueId s3 = b.node(OpKind::kRelu, {b.node(OpKind::kAdd, {random_conv(b, s2, 8, 8, conv3x3(), true, 33), s2})});
  b.output(s3);
  const Graph graph = b.build_with_shapes();
  std::unique_ptr<CompiledModel> model = compile_on_cuda(graph);
  ASSERT_TRUE(model);
  EXPECT_EQ(model->num_steps(), 3u) << "each Add (and the ReLU) runs inside its convolution's step";
  expect_matches_reference(graph, kConv);
  PlanOptions nan;
  nan.propagate_nan = true;
  expect_matches_reference(graph, kConv, nan);
}

TEST(CudaFusion, ObservableValueIsReadableAndFusedAwayIsNot) {
  FAULTLINE_SKIP_WITHOUT_GPU();
  GraphBuilder b;
  const ValueId x = b.input("x", {2, 8, 6, 6});
  const ValueId c = random_conv(b, x, 8, 8, conv3x3(), true, 3, "conv");
  b.output(b.node(OpKind::kRelu, {random_batch_norm(b, c, 8, 5, "bn")}, {}, "relu"));
  const Graph graph = b.build_with_shapes();
  std::unique_ptr<CompiledModel> fused = compile_on_cuda(graph);
  ASSERT_TRUE(fused);
  run_model(*fused, random_inputs(graph, 1));
  Tensor value;
  const Status status = fused->read_value(c, value);
  ASSERT_FALSE(status.is_ok());
  EXPECT_NE(status.message().find("fused away"), std::string::npos) << status.message();

  PlanOptions options;
  options.observable = {c};
  std::unique_ptr<CompiledModel> model = compile_on_cuda(graph, options);
  std::unique_ptr<CompiledModel> reference = compile_or_fail(*make_reference_backend(), graph, {});
  ASSERT_TRUE(model && reference);
  // An activation fault's path: read the conv output after its step, zero a channel, write it back.
  struct ZeroChannel : StepObserver {
    ValueId target;
    Status before_step(CompiledModel&, size_t) override { return Status::ok(); }
    Status after_step(CompiledModel& m, size_t index) override {
      const auto& outputs = m.step(index).outputs;
      if (std::find(outputs.begin(), outputs.end(), target) == outputs.end()) return Status::ok();
      Tensor t;
      FL_RETURN_IF_ERROR(m.read_value(target, t));
      for (int64_t i = 36; i < 72; ++i) t.data<float>()[i] = 0.0f;
      return m.write_value(target, t);
    }
  } observer;
  observer.target = c;
  const std::vector<Tensor> inputs = random_inputs(graph, 4);
  const std::vector<Tensor> expected = run_model(*reference, inputs, &observer);
  const std::vector<Tensor> actual = run_model(*model, inputs, &observer);
  ASSERT_EQ(actual.size(), 1u);
  EXPECT_TRUE(tensors_near(expected[0], actual[0], kConv));
}

// --- other ops ----------------------------------------------------------------------------------------------

TEST(CudaOps, Pools) {
  FAULTLINE_SKIP_WITHOUT_GPU();
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
      {OpKind::kMaxPool, {2, 4, 13}, PoolAttrs{{3}, {2}, {}, {1, 1}}},
      {OpKind::kMaxPool, {1, 2, 4, 4, 4}, PoolAttrs{{2, 2, 2}, {2, 2, 2}}},  // 3-D: reference fallback
  };
  for (const auto& c : cases) expect_matches_reference(ops_on_one_input(c.input, {{c.op, c.attrs}}), kPool);
  const Graph global = ops_on_one_input({3, 5, 7, 6}, {{OpKind::kGlobalAveragePool, {}}, {OpKind::kGlobalMaxPool, {}}});
  expect_matches_reference(global, kPool);
}

TEST(CudaOps, ActivationsBatchNormSoftmax) {
  FAULTLINE_SKIP_WITHOUT_GPU();
  expect_matches_reference(ops_on_one_input({2, 6, 5, 4}, {{OpKind::kRelu, {}},
                                                           {OpKind::kLeakyRelu, LeakyReluAttrs{0.2f}},
                                                           {OpKind::kClip, ClipAttrs{-0.3f, 0.4f}}}),
                           kElementwise);
  expect_matches_reference(ops_on_one_input({2, 6, 5, 4}, {{OpKind::kSigmoid, {}}, {OpKind::kTanh, {}}}),
                           kTranscendental);
  GraphBuilder n;
  n.output(random_batch_norm(n, n.input("x", {3, 6, 5, 4}), 6, 9));
  expect_matches_reference(n.build_with_shapes(), kNorm);
  for (const SoftmaxAttrs attrs : {SoftmaxAttrs{-1, false}, SoftmaxAttrs{1, false}, SoftmaxAttrs{1, true}})
    expect_matches_reference(ops_on_one_input({2, 6, 5, 4}, {{OpKind::kSoftmax, attrs}}), kSoftmax);
}

TEST(CudaOps, BinaryBroadcast) {
  FAULTLINE_SKIP_WITHOUT_GPU();
  for (OpKind op : {OpKind::kAdd, OpKind::kSub, OpKind::kMul, OpKind::kDiv}) {
    GraphBuilder b;
    const ValueId x = b.input("x", {2, 3, 4, 5});
    b.output(b.node(op, {x, b.input("same", {2, 3, 4, 5})}));
    b.output(b.node(op, {x, b.constant("channel", random_tensor({3, 1, 1}, 3, 0.5f, 2.0f))}));
    b.output(b.node(op, {b.input("row", {5}), x}));
    b.output(b.node(op, {b.input("a", {2, 1, 4, 1}), b.input("b", {3, 1, 5})}));
    expect_matches_reference(b.build_with_shapes(), kElementwise);
  }
  // int64 arithmetic: no CUDA kernel, and the reference backend (the fallback) runs these ops on float32 only.
  GraphBuilder i;
  i.output(i.node(OpKind::kAdd, {i.input("a", {2, 3}, DType::kInt64), i.input("b", {3}, DType::kInt64)}, {}, "iadd"));
  std::unique_ptr<Backend> cuda = testing::cuda_backend_or_fail();
  ASSERT_TRUE(cuda);
  auto compiled = cuda->compile(i.build_with_shapes(), {});
  ASSERT_FALSE(compiled.is_ok());
  EXPECT_NE(compiled.status().message().find("iadd"), std::string::npos) << compiled.status().message();
  EXPECT_NE(compiled.status().message().find("int64"), std::string::npos) << compiled.status().message();
}

TEST(CudaOps, GemmAndMatMul) {
  FAULTLINE_SKIP_WITHOUT_GPU();
  for (bool trans_a : {false, true}) {
    for (bool trans_b : {false, true}) {
      GraphBuilder b;
      const ValueId a = b.input("a", trans_a ? Shape{7, 3} : Shape{3, 7});
      const ValueId w = b.constant("w", random_tensor(trans_b ? Shape{5, 7} : Shape{7, 5}, 2));
      b.output(b.node(OpKind::kGemm, {a, w, b.constant("c", random_tensor({5}, 3))}, GemmAttrs{0.5f, 2.0f, trans_a, trans_b}));
      b.output(b.node(OpKind::kGemm, {a, w, b.constant("c2", random_tensor({3, 1}, 4))}, GemmAttrs{1.0f, 1.0f, trans_a, trans_b}));
      b.output(b.node(OpKind::kGemm, {a, w}, GemmAttrs{1.0f, 1.0f, trans_a, trans_b}));
      expect_matches_reference(b.build_with_shapes(), kGemm);
    }
  }
  const struct {
    Shape a, b;
  } cases[] = {{{3, 4}, {4, 5}}, {{2, 3, 3, 4}, {4, 5}}, {{2, 3, 4}, {2, 4, 5}}, {{4}, {2, 4, 5}}, {{3, 4}, {4}},
               {{2, 1, 3, 4}, {1, 3, 4, 5}}};  // the last: partial batch broadcast, reference fallback
  for (const auto& c : cases) {
    GraphBuilder b;
    b.output(b.node(OpKind::kMatMul, {b.input("a", c.a), b.input("b", c.b)}));
    expect_matches_reference(b.build_with_shapes(), kGemm);
  }
}

TEST(CudaOps, DataMovement) {
  FAULTLINE_SKIP_WITHOUT_GPU();
  GraphBuilder b;
  const ValueId x = b.input("x", {2, 6, 5, 4});
  const ValueId y = b.input("y", {2, 3, 5, 4});
  b.output(b.node(OpKind::kSlice, {x}, SliceAttrs{{1, 0}, {5, 4}, {1, 2}, {2, 2}}));
  b.output(b.node(OpKind::kSlice, {x}, SliceAttrs{{-1}, {INT64_MIN}, {3}, {-1}}));
  b.output(b.node(OpKind::kPad, {x}, PadAttrs{{0, 1, 2, 0, 0, 3, 1, 2}, PadMode::kConstant, 0.5f}));
  b.output(b.node(OpKind::kPad, {x}, PadAttrs{{0, 0, 2, 1, 0, 0, 3, 2}, PadMode::kReflect}));
  b.output(b.node(OpKind::kPad, {x}, PadAttrs{{0, 0, 2, 1, 0, 0, 3, 2}, PadMode::kEdge}));
  b.output(b.node(OpKind::kPad, {x}, PadAttrs{{0, -2, 1, 0, 0, 0, -1, 1}, PadMode::kConstant}));
  b.output(b.node(OpKind::kTranspose, {x}, TransposeAttrs{{0, 2, 3, 1}}));
  b.output(b.node(OpKind::kConcat, {x, y, x}, ConcatAttrs{1}));
  b.output(b.node(OpKind::kConcat, {x, x}, ConcatAttrs{-1}));
  b.output(b.node(OpKind::kConcat, {y, y}, ConcatAttrs{0}));
  b.output(b.node(OpKind::kFlatten, {b.node(OpKind::kRelu, {x})}, FlattenAttrs{1}));
  b.output(b.node(OpKind::kIdentity, {y}));
  expect_matches_reference(b.build_with_shapes(), kExact);
}

TEST(CudaOps, NaNPropagatesWithPropagateNan) {
  FAULTLINE_SKIP_WITHOUT_GPU();
  GraphBuilder b;
  const ValueId x = b.input("x", {1, 16, 4, 4});
  b.output(b.node(OpKind::kRelu, {x}));
  b.output(b.node(OpKind::kClip, {x}, ClipAttrs{-0.1f, 0.1f}));
  b.output(b.node(OpKind::kLeakyRelu, {x}, LeakyReluAttrs{0.1f}));
  b.output(b.node(OpKind::kMaxPool, {x}, PoolAttrs{{2, 2}, {2, 2}}));
  b.output(b.node(OpKind::kAveragePool, {x}, PoolAttrs{{2, 2}, {2, 2}}));
  b.output(b.node(OpKind::kGlobalMaxPool, {x}));
  b.output(b.node(OpKind::kGlobalAveragePool, {x}));
  b.output(b.node(OpKind::kSoftmax, {x}, SoftmaxAttrs{1, false}));
  b.output(b.node(OpKind::kAdd, {x, x}));
  b.output(b.node(OpKind::kRelu, {random_conv(b, x, 16, 16, conv3x3(), true, 5)}));  // conv + bias + NaN-preserving ReLU
  b.output(b.node(OpKind::kRelu, {b.node(OpKind::kSub, {x, b.constant("half", random_tensor({16, 1, 1}, 6))})}));
  b.output(b.node(OpKind::kRelu, {random_batch_norm(b, x, 16, 7)}));  // BN + ReLU in one kernel
  const Graph graph = b.build_with_shapes();
  Tensor input = random_tensor({1, 16, 4, 4}, 3);
  for (int i : {0, 5, 17, 40, 63, 64, 130, 255}) input.data<float>()[i] = std::numeric_limits<float>::quiet_NaN();
  PlanOptions options;
  options.propagate_nan = true;
  expect_matches_reference(graph, kConv, options, {input});
}

TEST(CudaOps, SpikingNeuronFallsBackToTheReference) {
  FAULTLINE_SKIP_WITHOUT_GPU();
  GraphBuilder b;
  const ValueId x = b.input("x", {2, 6});
  const ValueId v = b.input("v", {2, 6});
  auto p = [&](const std::string& name, float value) { return b.constant(name, Tensor::from_floats({1}, {value})); };
  const std::vector<ValueId> outs = b.node_with_outputs(
      OpKind::kLIF, {b.node(OpKind::kRelu, {x}), v, p("tau", 2e-3f), p("r", 1.0f), p("v_leak", 0.0f), p("v_th", 0.3f), p("v_reset", 0.0f)},
      NeuronAttrs{}, "lif", {"lif.spikes", "lif.v"});
  b.output(outs[0]);
  b.output(outs[1]);
  expect_matches_reference(b.build_with_shapes(), kElementwise);
}

// --- values and weight faults ---------------------------------------------------------------------------

TEST(CudaValues, WeightFaultPatchRunRestoreBitExactly) {
  FAULTLINE_SKIP_WITHOUT_GPU();
  for (bool fuse : {true, false}) {
    GraphBuilder b;
    const ValueId x = b.input("x", {2, 8, 6, 6});
    const ValueId w = b.constant("w", random_tensor({16, 8, 3, 3}, 1, -0.3f, 0.3f));
    const ValueId c = b.node(OpKind::kConv, {x, w}, conv3x3());
    const ValueId fc = b.constant("fc", random_tensor({10, 16 * 36}, 2));
    const ValueId flat = b.node(OpKind::kFlatten, {b.node(OpKind::kRelu, {random_batch_norm(b, c, 16, 4)})}, FlattenAttrs{1});
    b.output(b.node(OpKind::kGemm, {flat, fc}, GemmAttrs{1.0f, 1.0f, false, true}));
    const Graph graph = b.build_with_shapes();
    PlanOptions options;
    options.fuse = fuse;
    std::unique_ptr<CompiledModel> cuda = compile_on_cuda(graph, options);
    std::unique_ptr<CompiledModel> reference = compile_or_fail(*make_reference_backend(), graph, {});
    ASSERT_TRUE(cuda && reference);
    const std::vector<Tensor> inputs = random_inputs(graph, 2);
    const std::vector<Tensor> golden = run_model(*cuda, inputs);
    const std::vector<Tensor> reference_golden = run_model(*reference, inputs);
    for (ValueId target : {w, fc}) {
      const Tensor original = graph.value(target).constant.clone();
      // An exponent bit flip (bit 30) in the first element from 17 on whose flip changes the reference's
      // outputs (a weight that multiplies only ReLU zeros changes nothing).
      Tensor faulted;
      std::vector<Tensor> expected;
      for (int64_t element = 17; element < original.numel(); ++element) {
        faulted = original.clone();
        uint32_t bits;
        std::memcpy(&bits, &faulted.data<float>()[element], 4);
        bits ^= 1u << 30;
        std::memcpy(&faulted.data<float>()[element], &bits, 4);
        ASSERT_TRUE(reference->write_value(target, faulted).is_ok());
        expected = run_model(*reference, inputs);
        if (!tensors_near(reference_golden[0], expected[0], 1e-3, 1e-3)) break;
      }
      ASSERT_TRUE(cuda->write_value(target, faulted).is_ok());
      const std::vector<Tensor> actual = run_model(*cuda, inputs);
      EXPECT_TRUE(tensors_near(expected[0], actual[0], kConv)) << "fuse " << fuse;
      EXPECT_FALSE(tensors_near(golden[0], actual[0], 1e-3, 1e-3)) << "the fault changed nothing on the GPU";
      ASSERT_TRUE(cuda->write_value(target, original).is_ok());
      ASSERT_TRUE(reference->write_value(target, original).is_ok());
      const std::vector<Tensor> restored = run_model(*cuda, inputs);
      ASSERT_EQ(restored.size(), 1u);
      EXPECT_EQ(std::memcmp(golden[0].raw(), restored[0].raw(), golden[0].nbytes()), 0)
          << "restoring the weight did not restore the device copy bit-exactly";
      Tensor read_back;
      ASSERT_TRUE(cuda->read_value(target, read_back).is_ok());
      EXPECT_EQ(std::memcmp(read_back.raw(), original.raw(), original.nbytes()), 0);
    }
  }
}

TEST(CudaValues, RerunGivesIdenticalBits) {
  FAULTLINE_SKIP_WITHOUT_GPU();
  const Graph graph = testing::residual_block_classifier();
  std::unique_ptr<CompiledModel> model = compile_on_cuda(graph);
  ASSERT_TRUE(model);
  ASSERT_NO_FATAL_FAILURE(testing::expect_rerun_gives_identical_bits(*model, graph));
  expect_matches_reference(graph, kConv);
}

TEST(CudaValues, PatchedWordsAreTheHostsFaultedWords) {
  // Activation faults on the GPU: patch_value_words rewrites the words in the device buffer as the host's
  // masks do, and only those words.
  FAULTLINE_SKIP_WITHOUT_GPU();
  GraphBuilder b;
  const ValueId x = b.input("x", {2, 4, 6, 6});
  const ValueId r = b.node(OpKind::kRelu, {random_conv(b, x, 4, 8, conv3x3(), true, 1)});
  b.output(b.node(OpKind::kGlobalAveragePool, {r}));
  const Graph graph = b.build_with_shapes();
  PlanOptions options;
  options.observable = {r};
  std::unique_ptr<CompiledModel> model = compile_on_cuda(graph, options);
  ASSERT_TRUE(model);
  run_model(*model, random_inputs(graph, 5));
  Tensor before;
  ASSERT_TRUE(model->read_value(r, before).is_ok());
  const std::vector<WordPatch> patches = {{0, ~uint64_t{0}, 0, uint64_t{1} << 30},
                                          {17, ~(uint64_t{1} << 31), 0, 0},
                                          {before.numel() - 1, 0, 0x3F800000u, 0}};
  Result<bool> patched = model->patch_value_words(r, patches);
  ASSERT_TRUE(patched.is_ok()) << patched.status().message();
  ASSERT_TRUE(*patched);
  Tensor after;
  ASSERT_TRUE(model->read_value(r, after).is_ok());
  Tensor expected = before.clone();
  for (const WordPatch& p : patches) {
    uint32_t word;
    std::memcpy(&word, &expected.data<float>()[p.element], 4);
    word = static_cast<uint32_t>(apply_word_masks(word, WordMasks{p.keep, p.set, p.flip}, 32));
    std::memcpy(&expected.data<float>()[p.element], &word, 4);
  }
  EXPECT_EQ(std::memcmp(after.raw(), expected.raw(), after.nbytes()), 0);
  EXPECT_FALSE(model->patch_value_words(r, {{WordPatch{after.numel()}}}).is_ok()) << "an element outside the value";
}

TEST(CudaValues, GraphInputsSurviveThePassForAnotherRun) {
  // faultline bench --resident runs the plan again on the inputs it holds: no step may reuse their buffers.
  FAULTLINE_SKIP_WITHOUT_GPU();
  const Graph graph = testing::residual_block_classifier();
  std::unique_ptr<CompiledModel> model = compile_on_cuda(graph);
  ASSERT_TRUE(model);
  const std::vector<Tensor> first = run_model(*model, random_inputs(graph, 4));
  ASSERT_TRUE(execute(*model).is_ok());
  Tensor again;
  ASSERT_TRUE(model->read_value(graph.outputs()[0], again).is_ok());
  EXPECT_EQ(std::memcmp(first[0].raw(), again.raw(), again.nbytes()), 0);
}

TEST(CudaValues, KeepValuesPlansKeepEveryValueOnTheDevice) {
  // kept_storage() gives device memory, with kept_device() to hold golden slots and to copy and compare there.
  FAULTLINE_SKIP_WITHOUT_GPU();
  GraphBuilder b;
  const ValueId x = b.input("x", {2, 4, 6, 6});
  b.output(b.node(OpKind::kRelu, {random_conv(b, x, 4, 8, conv3x3(), true, 1)}));
  const Graph graph = b.build_with_shapes();
  PlanOptions options;
  options.keep_values = true;
  std::unique_ptr<CompiledModel> model = compile_on_cuda(graph, options);
  ASSERT_TRUE(model);
  KeptDevice* device = model->kept_device();
  ASSERT_NE(device, nullptr);
  const std::span<std::byte> out = model->kept_storage(graph.outputs()[0]);
  ASSERT_EQ(out.size(), 2u * 8 * 6 * 6 * sizeof(float));
  EXPECT_EQ(model->value_storage(graph.outputs()[0]).size(), 0u) << "no host view of device bytes";
  const std::vector<Tensor> outputs = run_model(*model, random_inputs(graph, 3));
  // A golden slot: copied, compared equal, then one changed byte (written through write_value) found.
  std::byte* slot = device->allocate(out.size());
  ASSERT_NE(slot, nullptr);
  device->copy(slot, out.data(), out.size());
  EXPECT_FALSE(device->differ(slot, out.data(), out.size()));
  Tensor changed = outputs[0].clone();
  changed.data<float>()[changed.numel() - 1] += 1.0f;  // the last word: the comparison's tail
  ASSERT_TRUE(model->write_value(graph.outputs()[0], changed).is_ok());
  EXPECT_TRUE(device->differ(slot, out.data(), out.size()));
  EXPECT_TRUE(device->differ(slot + 1, out.data() + 1, out.size() - 1)) << "unaligned addresses";
  EXPECT_FALSE(device->differ(slot, out.data(), out.size() - sizeof(float))) << "only the last word changed";
  device->copy(out.data(), slot, out.size());
  Tensor restored;
  ASSERT_TRUE(model->read_value(graph.outputs()[0], restored).is_ok());
  EXPECT_EQ(std::memcmp(restored.raw(), outputs[0].raw(), restored.nbytes()), 0);
  device->release(slot);
  ASSERT_TRUE(IncrementalExecutor::create(*model).is_ok());
  expect_matches_reference(graph, kConv, options);
}

}  // namespace
}  // namespace faultline
