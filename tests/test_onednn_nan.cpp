// PlanOptions::propagate_nan on the oneDNN backend: NaN in, NaN out through every op, as PyTorch/aten (and the
// reference backend) compute. Every op on inputs holding NaN, +inf, -inf and -0.0, on plain and blocked
// layouts, fused chains (conv -> BN -> relu -> add -> relu) with a NaN in one input element or a negative
// BatchNorm variance, and that plain plans (propagate_nan = false) stay the fused ones.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <optional>
#include <random>

#include "engine/executor.h"
#include "engine/session.h"
#include "engine/shape_inference.h"
#include "kernels/onednn/onednn_backend.h"
#include "kernels/reference/reference_backend.h"
#include "tests/support/graph_builder.h"
#include "tests/support/test_support.h"

namespace faultline {
namespace {

using testing::GraphBuilder;
using testing::random_tensor;
using testing::compile_or_fail;
using testing::run_model;
using testing::tensors_near;

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr double kRtol = 1e-4, kAtol = 1e-4;

// Random values with NaN, +inf, -inf, -0.0 and +0.0 sprinkled over it (every 7th element is special).
Tensor special_tensor(Shape shape, uint32_t seed) {
  Tensor t = random_tensor(std::move(shape), seed);
  const float specials[] = {kNaN, kInf, -kInf, -0.0f, 0.0f};
  float* data = t.data<float>();
  for (int64_t i = seed % 7, k = 0; i < t.numel(); i += 7, ++k) data[i] = specials[k % 5];
  return t;
}

// Overwrites one value right after the step that produces it (puts specials into a blocked intermediate).
class Replace : public StepObserver {
 public:
  Replace(ValueId id, Tensor value) : id_(id), value_(std::move(value)) {}
  Status before_step(CompiledModel&, size_t) override { return Status::ok(); }
  Status after_step(CompiledModel& model, size_t s) override {
    for (ValueId v : model.step(s).outputs)
      if (v == id_) return model.write_value(id_, value_);
    return Status::ok();
  }

 private:
  ValueId id_;
  Tensor value_;
};

int64_t count_nan(const Tensor& t) {
  int64_t n = 0;
  for (int64_t i = 0; i < t.numel(); ++i) n += std::isnan(t.data<float>()[i]) ? 1 : 0;
  return n;
}

// Same non-finite pattern (NaN where NaN, the same infinity where infinite: tensors_near compares those
// exactly) and within tolerance elsewhere; with `exact_zeros`, zeros also agree in sign (relu(-0.0) = -0.0).
::testing::AssertionResult same_results(const Tensor& expected, const Tensor& actual, bool exact_zeros) {
  ::testing::AssertionResult near = tensors_near(expected, actual, kRtol, kAtol);
  if (!near || !exact_zeros) return near;
  for (int64_t i = 0; i < expected.numel(); ++i) {
    const float e = expected.data<float>()[i], a = actual.data<float>()[i];
    if (e == 0.0f && (a != 0.0f || std::signbit(e) != std::signbit(a)))
      return ::testing::AssertionFailure() << "element " << i << ": expected " << e << " (sign " << std::signbit(e)
                                           << "), got " << a;
  }
  return ::testing::AssertionSuccess();
}

struct Comparison {
  std::vector<Tensor> expected, actual;
};

// Runs `graph` on the reference backend and on oneDNN (propagate_nan unless told otherwise); `replace`
// overwrites one intermediate in both after its step.
Comparison run_both(const Graph& graph, const std::vector<Tensor>& inputs, std::optional<std::pair<ValueId, Tensor>> replace,
                    bool propagate_nan = true) {
  PlanOptions options;
  options.propagate_nan = propagate_nan;
  if (replace) options.observable = {replace->first};
  std::unique_ptr<CompiledModel> reference = compile_or_fail(*make_reference_backend(), graph, options);
  std::unique_ptr<CompiledModel> onednn = compile_or_fail(*make_onednn_backend(), graph, options);
  if (!reference || !onednn) return {};
  std::optional<Replace> ref_tap, dnnl_tap;
  if (replace) {
    ref_tap.emplace(replace->first, replace->second);
    dnnl_tap.emplace(replace->first, replace->second);
  }
  Comparison c;
  c.expected = run_model(*reference, inputs, ref_tap ? &*ref_tap : nullptr);
  c.actual = run_model(*onednn, inputs, dnnl_tap ? &*dnnl_tap : nullptr);
  return c;
}

// A 1x1 conv with identity weights: puts x into the conv's (blocked) layout.
ValueId identity_conv(GraphBuilder& b, ValueId x, int64_t channels) {
  std::vector<float> eye(static_cast<size_t>(channels * channels), 0.0f);
  for (int64_t c = 0; c < channels; ++c) eye[static_cast<size_t>(c * channels + c)] = 1.0f;
  return b.node(OpKind::kConv, {x, b.constant("eye", Tensor::from_floats({channels, channels, 1, 1}, eye))},
                ConvAttrs{{1, 1}});
}

ConvAttrs conv3x3(int64_t stride = 1) { return ConvAttrs{{3, 3}, {stride, stride}, {1, 1}, {1, 1, 1, 1}, 1}; }

ValueId conv(GraphBuilder& b, ValueId x, int64_t in_channels, int64_t out_channels, ConvAttrs attrs, bool bias,
             uint32_t seed) {
  Shape w_shape = {out_channels, in_channels / attrs.group};
  for (int64_t k : attrs.kernel_shape) w_shape.push_back(k);
  std::vector<ValueId> inputs = {x, b.constant("w" + std::to_string(seed), random_tensor(w_shape, seed, -0.3f, 0.3f))};
  if (bias) inputs.push_back(b.constant("b" + std::to_string(seed), random_tensor({out_channels}, seed + 1)));
  return b.node(OpKind::kConv, inputs, attrs);
}

ValueId batch_norm(GraphBuilder& b, ValueId x, int64_t channels, uint32_t seed, int negative_var_channel = -1) {
  const std::string p = "bn" + std::to_string(seed);
  Tensor var = random_tensor({channels}, seed + 3, 0.5f, 2.0f);
  if (negative_var_channel >= 0) var.data<float>()[negative_var_channel] *= -1.0f;  // a sign flip: sqrt(<0) = NaN
  return b.node(OpKind::kBatchNormalization,
                {x, b.constant(p + "s", random_tensor({channels}, seed, 0.5f, 1.5f)),
                 b.constant(p + "b", random_tensor({channels}, seed + 1)),
                 b.constant(p + "m", random_tensor({channels}, seed + 2, -0.2f, 0.2f)), b.constant(p + "v", var)},
                BatchNormAttrs{1e-5f});
}

// Every single-input op of a CNN applied to `v` (activations, pools, BN, binary with itself, data movement).
void add_unary_ops(GraphBuilder& b, ValueId v, int64_t channels) {
  b.output(b.node(OpKind::kRelu, {v}));
  b.output(b.node(OpKind::kLeakyRelu, {v}, LeakyReluAttrs{0.1f}));
  b.output(b.node(OpKind::kLeakyRelu, {v}, LeakyReluAttrs{0.0f}));
  b.output(b.node(OpKind::kClip, {v}, ClipAttrs{-0.5f, 0.25f}));
  b.output(b.node(OpKind::kClip, {v}, ClipAttrs{0.0f, 6.0f}));
  b.output(b.node(OpKind::kClip, {v}, ClipAttrs{0.0f}));      // only a lower bound
  b.output(b.node(OpKind::kClip, {v}, ClipAttrs{0.5f, 1.0f}));  // f(0) != 0
  b.output(b.node(OpKind::kSigmoid, {v}));
  b.output(b.node(OpKind::kTanh, {v}));
  b.output(b.node(OpKind::kMaxPool, {v}, PoolAttrs{{2, 2}, {2, 2}}));
  b.output(b.node(OpKind::kMaxPool, {v}, PoolAttrs{{3, 3}, {2, 2}, {}, {1, 1, 1, 1}, AutoPad::kNotSet, true}));
  b.output(b.node(OpKind::kGlobalMaxPool, {v}));
  b.output(b.node(OpKind::kAveragePool, {v}, PoolAttrs{{2, 2}, {1, 1}}));
  b.output(b.node(OpKind::kAveragePool, {v}, PoolAttrs{{3, 3}, {2, 2}, {}, {1, 1, 1, 1}, AutoPad::kNotSet, false, true}));
  b.output(b.node(OpKind::kGlobalAveragePool, {v}));
  b.output(batch_norm(b, v, channels, 40));
  b.output(b.node(OpKind::kAdd, {v, v}));
  b.output(b.node(OpKind::kMul, {v, v}));
  b.output(b.node(OpKind::kSub, {v, b.constant("c" + std::to_string(v), random_tensor({channels, 1, 1}, 3))}));
  b.output(b.node(OpKind::kDiv, {v, b.constant("d" + std::to_string(v), random_tensor({channels, 1, 1}, 4, 0.5f, 2.0f))}));
  b.output(b.node(OpKind::kSlice, {v}, SliceAttrs{{1}, {3}, {2}, {}}));
  b.output(b.node(OpKind::kPad, {v}, PadAttrs{{0, 2, 0, 0, 0, 3, 0, 0}, PadMode::kConstant, 0.0f}));
  b.output(b.node(OpKind::kTranspose, {v}, TransposeAttrs{{0, 2, 3, 1}}));
  b.output(b.node(OpKind::kConcat, {v, v}, ConcatAttrs{1}));
  b.output(b.node(OpKind::kFlatten, {v}, FlattenAttrs{1}));
  b.output(conv(b, v, channels, 16, conv3x3(), true, 5));
  // Fused into a conv: the activation after conv (+ sum).
  for (OpKind op : {OpKind::kRelu, OpKind::kClip, OpKind::kLeakyRelu, OpKind::kSigmoid, OpKind::kTanh}) {
    OpAttrs attrs;
    if (op == OpKind::kLeakyRelu) attrs = LeakyReluAttrs{0.1f};
    if (op == OpKind::kClip) attrs = ClipAttrs{0.0f, 6.0f};
    b.output(b.node(op, {conv(b, v, channels, 16, {{1, 1}, {}, {}, {}, 1}, false, 60 + static_cast<uint32_t>(op))}, attrs));
    b.output(b.node(op, {b.node(OpKind::kAdd, {v, v})}, attrs));  // fused into a binary
  }
}

void expect_all_ops_match(const Shape& shape, uint32_t seed) {
  const int64_t channels = shape[1];
  // On the graph input itself (plain layout).
  {
    GraphBuilder b;
    const ValueId x = b.input("x", shape);
    add_unary_ops(b, x, channels);
    const Graph graph = b.build_with_shapes();
    const Tensor input = special_tensor(shape, seed);
    const Comparison c = run_both(graph, {input}, std::nullopt);
    ASSERT_EQ(c.actual.size(), graph.outputs().size());
    for (size_t i = 0; i < c.expected.size(); ++i) {
      const Node& producer = graph.node(graph.value(graph.outputs()[i]).producer);
      EXPECT_TRUE(same_results(c.expected[i], c.actual[i], true)) << "plain, output " << i << " " << op_name(producer.op);
    }
  }
  // On a conv's (blocked) output, overwritten with the specials after its step.
  {
    GraphBuilder b;
    const ValueId x = b.input("x", shape);
    const ValueId h = identity_conv(b, x, channels);
    add_unary_ops(b, h, channels);
    const Graph graph = b.build_with_shapes();
    const Comparison c = run_both(graph, {random_tensor(shape, 1)}, std::make_pair(h, special_tensor(shape, seed)));
    ASSERT_EQ(c.actual.size(), graph.outputs().size());
    for (size_t i = 0; i < c.expected.size(); ++i) {
      const Node& producer = graph.node(graph.value(graph.outputs()[i]).producer);
      EXPECT_TRUE(same_results(c.expected[i], c.actual[i], true)) << "blocked, output " << i << " " << op_name(producer.op);
    }
  }
}

TEST(OnednnNaN, EveryOpFullChannelBlocks) { expect_all_ops_match({2, 32, 6, 5}, 3); }
TEST(OnednnNaN, EveryOpPartialChannelBlock) { expect_all_ops_match({2, 20, 5, 6}, 4); }
TEST(OnednnNaN, EveryOpFewChannels) { expect_all_ops_match({3, 3, 7, 7}, 5); }

// Max pools on a blocked intermediate holding NaNs of distinct payloads and +0/-0 ties: the first NaN of a
// window and the first of equal values win, bit for bit as the reference kernel (on windows, with padding,
// dilated, strided, global), on every layout the NaN-propagating kernel runs on.
TEST(OnednnNaN, MaxPoolsKeepTheFirstNaNAndTheFirstOfEqualValuesBitForBit) {
  for (const int64_t channels : {20, 3}) {  // blocked with a partial block; few channels (plain)
    const Shape shape = {2, channels, 7, 9};
    Tensor special = random_tensor(shape, 8);
    float* data = special.data<float>();
    for (int64_t i = 0; i < special.numel(); ++i) {
      if (i % 3 == 0) {
        const uint32_t bits = 0x7fc00000u | static_cast<uint32_t>(i & 0xffff) | ((i & 1) ? 0x80000000u : 0u);
        std::memcpy(&data[i], &bits, 4);  // NaNs that differ in payload and sign
      } else if (i % 5 == 0) {
        data[i] = (i % 2) ? -0.0f : 0.0f;
      } else if (i % 4 == 0) {
        data[i] = -std::fabs(data[i]);
      }
    }
    for (const OpKind op : {OpKind::kMaxPool, OpKind::kGlobalMaxPool}) {
      for (const PoolAttrs& attrs : {PoolAttrs{{3, 3}, {2, 2}, {}, {1, 1, 1, 1}}, PoolAttrs{{2, 2}, {1, 1}},
                                     PoolAttrs{{3, 2}, {1, 2}, {2, 1}, {2, 0, 2, 1}, AutoPad::kNotSet, true}}) {
        GraphBuilder b;
        const ValueId x = b.input("x", shape);
        const ValueId blocked = identity_conv(b, x, channels);
        b.output(op == OpKind::kMaxPool ? b.node(op, {blocked}, attrs) : b.node(op, {blocked}));
        const Graph graph = b.build_with_shapes();
        const Comparison c = run_both(graph, {random_tensor(shape, 9)}, std::make_pair(blocked, special));
        ASSERT_EQ(c.expected.size(), 1u);
        ASSERT_EQ(c.actual.size(), 1u);
        ASSERT_EQ(c.expected[0].nbytes(), c.actual[0].nbytes());
        EXPECT_EQ(std::memcmp(c.expected[0].raw(), c.actual[0].raw(), c.expected[0].nbytes()), 0)
            << op_name(op) << ", " << channels << " channels, kernel " << attrs.kernel_shape[0] << "x"
            << attrs.kernel_shape[1];
        if (op == OpKind::kGlobalMaxPool) break;
      }
    }
  }
}

TEST(OnednnNaN, LargeBuffersRunOnThreads) {
  // Above the serial threshold of the element-wise loop, with every thread count.
  GraphBuilder b;
  const Shape shape = {8, 32, 16, 16};
  const ValueId x = b.input("x", shape);
  b.output(b.node(OpKind::kRelu, {x}));
  b.output(b.node(OpKind::kClip, {identity_conv(b, x, 32)}, ClipAttrs{-0.5f, 0.5f}));
  const Graph graph = b.build_with_shapes();
  const Tensor input = special_tensor(shape, 6);
  const std::vector<Tensor> expected = run_both(graph, {input}, std::nullopt).expected;
  for (int threads : {1, 2, 3, 0}) {
    PlanOptions options;
    options.propagate_nan = true;
    options.threads = threads;
    std::unique_ptr<CompiledModel> model = compile_or_fail(*make_onednn_backend(), graph, options);
    ASSERT_TRUE(model);
    const std::vector<Tensor> actual = run_model(*model, {input});
    ASSERT_EQ(actual.size(), expected.size());
    for (size_t i = 0; i < expected.size(); ++i)
      EXPECT_TRUE(same_results(expected[i], actual[i], true)) << "threads " << threads << ", output " << i;
  }
}

TEST(OnednnNaN, SoftmaxGemmMatMul) {
  GraphBuilder b;
  const ValueId x = b.input("x", {6, 10});
  b.output(b.node(OpKind::kSoftmax, {x}, SoftmaxAttrs{-1}));
  b.output(b.node(OpKind::kGemm, {x, b.constant("w", random_tensor({7, 10}, 1)), b.constant("bias", random_tensor({7}, 2))},
                  GemmAttrs{1.0f, 1.0f, false, true}));
  b.output(b.node(OpKind::kMatMul, {x, b.constant("m", random_tensor({10, 4}, 3))}));
  const Graph graph = b.build_with_shapes();
  Tensor input = random_tensor({6, 10}, 7);
  float* d = input.data<float>();
  d[3] = kNaN;                                 // row 0: a NaN
  d[12] = kInf;                                // row 1: +inf
  d[25] = -kInf;                               // row 2: -inf
  for (int i = 30; i < 40; ++i) d[i] = -kInf;  // row 3: all -inf
  d[41] = kInf, d[42] = -kInf;                 // row 4: both
  const Comparison c = run_both(graph, {input}, std::nullopt);
  ASSERT_EQ(c.actual.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_GT(count_nan(c.expected[i]), 0) << "output " << i;
    EXPECT_TRUE(same_results(c.expected[i], c.actual[i], false)) << "output " << i;
  }
}

// ResNet's basic block: conv -> BN -> relu -> conv -> BN -> add(shortcut) -> relu, twice.
Graph residual_blocks(int negative_var_channel = -1) {
  GraphBuilder b;
  const ValueId x = b.input("x", {2, 3, 12, 12});
  ValueId h = b.node(OpKind::kRelu, {batch_norm(b, conv(b, x, 3, 16, conv3x3(), false, 1), 16, 2)});
  for (int block = 0; block < 2; ++block) {
    const uint32_t seed = 100 + 20 * block;
    ValueId r = b.node(OpKind::kRelu, {batch_norm(b, conv(b, h, 16, 16, conv3x3(), false, seed), 16, seed + 2,
                                                  block == 1 ? negative_var_channel : -1)});
    r = batch_norm(b, conv(b, r, 16, 16, conv3x3(), false, seed + 6), 16, seed + 8);
    h = b.node(OpKind::kRelu, {b.node(OpKind::kAdd, {r, h})});
  }
  h = b.node(OpKind::kFlatten, {b.node(OpKind::kGlobalAveragePool, {h})}, FlattenAttrs{1});
  b.output(b.node(OpKind::kGemm, {h, b.constant("fc", random_tensor({10, 16}, 9))}, GemmAttrs{1.0f, 1.0f, false, true}));
  return b.build_with_shapes();
}

std::vector<std::vector<NodeId>> plan_of(const CompiledModel& model) {
  std::vector<std::vector<NodeId>> steps;
  for (size_t s = 0; s < model.num_steps(); ++s) steps.push_back(model.step(s).nodes);
  return steps;
}

TEST(OnednnNaN, ResidualChainWithANaNInput) {
  const Graph graph = residual_blocks();
  Tensor input = random_tensor({2, 3, 12, 12}, 1);
  input.data<float>()[2 * 144 + 5 * 12 + 7] = kNaN;  // image 0, channel 2, (5, 7)
  const Comparison c = run_both(graph, {input}, std::nullopt);
  ASSERT_EQ(c.actual.size(), 1u);
  EXPECT_EQ(count_nan(c.expected[0]), 10);  // image 0's logits; image 1's stay finite
  EXPECT_TRUE(same_results(c.expected[0], c.actual[0], false));
}

TEST(OnednnNaN, NegativeBatchNormVarianceMakesNaNLogits) {
  // The fault-campaign case: a sign flip of a running_var makes sqrt(negative) = NaN for one channel; the
  // relu after it must not hide it (oneDNN's eltwise_relu gives 0 for NaN).
  const Graph graph = residual_blocks(/*negative_var_channel=*/5);
  const Tensor input = random_tensor({2, 3, 12, 12}, 1);
  const Comparison c = run_both(graph, {input}, std::nullopt);
  ASSERT_EQ(c.actual.size(), 1u);
  EXPECT_EQ(count_nan(c.expected[0]), 20);
  EXPECT_TRUE(same_results(c.expected[0], c.actual[0], false));
  // Without propagate_nan the fused plan hides it (the known difference the option exists for).
  const Comparison plain = run_both(graph, {input}, std::nullopt, /*propagate_nan=*/false);
  EXPECT_LT(count_nan(plain.actual[0]), 20);
}

TEST(OnednnNaN, PlainPlanIsUnchanged) {
  const Graph graph = residual_blocks();
  std::unique_ptr<CompiledModel> by_default = compile_or_fail(*make_onednn_backend(), graph, {});
  PlanOptions plain;
  plain.propagate_nan = false;
  std::unique_ptr<CompiledModel> explicit_plain = compile_or_fail(*make_onednn_backend(), graph, plain);
  PlanOptions nan;
  nan.propagate_nan = true;
  std::unique_ptr<CompiledModel> nan_model = compile_or_fail(*make_onednn_backend(), graph, nan);
  ASSERT_TRUE(by_default && explicit_plain && nan_model);
  // stem conv+BN+relu; per block conv+BN+relu and conv+BN+add+relu; pool; flatten; gemm.
  EXPECT_EQ(by_default->num_steps(), 8u);
  EXPECT_EQ(plan_of(*by_default), plan_of(*explicit_plain));
  EXPECT_EQ(by_default->step(2).nodes.size(), 4u);  // conv, BN, add, relu
  EXPECT_EQ(by_default->step(4).nodes.size(), 4u);
  // NaN-preserving: every relu is a step of its own after the conv (+BN, +sum) step; nothing else changes.
  EXPECT_EQ(nan_model->num_steps(), 13u);
  for (size_t s = 0; s < nan_model->num_steps(); ++s) {
    const std::vector<NodeId>& nodes = nan_model->step(s).nodes;
    for (NodeId n : nodes)
      if (graph.node(n).op == OpKind::kRelu) EXPECT_EQ(nodes.size(), 1u) << "step " << s;
  }
  // And both compute the same on finite inputs.
  const Tensor input = random_tensor({2, 3, 12, 12}, 2);
  const std::vector<Tensor> a = run_model(*by_default, {input});
  const std::vector<Tensor> b = run_model(*nan_model, {input});
  EXPECT_TRUE(tensors_near(a[0], b[0], kRtol, kAtol));
}

TEST(OnednnNaN, InPlaceReluKeepsOtherReadersIntact) {
  // h has two readers (relu and the residual add): the relu may not overwrite it.
  GraphBuilder b;
  const ValueId x = b.input("x", {2, 16, 8, 8});
  const ValueId h = conv(b, x, 16, 16, conv3x3(), true, 1);
  const ValueId r = b.node(OpKind::kRelu, {h});
  const ValueId y = b.node(OpKind::kRelu, {b.node(OpKind::kAdd, {conv(b, r, 16, 16, conv3x3(), true, 3), h})});
  b.output(b.node(OpKind::kSigmoid, {y}));
  const Graph graph = b.build_with_shapes();
  const Comparison d = run_both(graph, {random_tensor({2, 16, 8, 8}, 2)}, std::make_pair(h, special_tensor({2, 16, 8, 8}, 8)));
  ASSERT_EQ(d.actual.size(), 1u);
  EXPECT_GT(count_nan(d.expected[0]), 0);
  EXPECT_TRUE(same_results(d.expected[0], d.actual[0], false));
}

TEST(OnednnNaN, SessionOptionPassesThrough) {
  GraphBuilder b;
  const ValueId x = b.input("x", {2, 16, 6, 6});
  b.output(b.node(OpKind::kRelu, {conv(b, x, 16, 16, conv3x3(), true, 1)}));
  auto graph = std::make_shared<const Graph>(b.build_with_shapes());
  Tensor input = random_tensor({2, 16, 6, 6}, 2);
  input.data<float>()[100] = kNaN;
  for (bool propagate_nan : {false, true}) {
    SessionOptions options;
    options.batch = 2;
    options.propagate_nan = propagate_nan;
    Result<std::unique_ptr<Session>> session = Session::create(graph, options);
    ASSERT_TRUE(session.is_ok()) << session.status().message();
    EXPECT_EQ((*session)->compiled().num_steps(), propagate_nan ? 2u : 1u);  // conv, then the relu
    Result<std::vector<Tensor>> out = (*session)->run({input});
    ASSERT_TRUE(out.is_ok()) << out.status().message();
    // The NaN reaches the 3x3 neighbourhood in every output channel: 9 * 16 NaNs (relu hides them without).
    if (propagate_nan) EXPECT_EQ(count_nan(out->front()), 9 * 16);
  }
}

}  // namespace
}  // namespace faultline
