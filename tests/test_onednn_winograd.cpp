// The oneDNN backend's Winograd convolutions (kernels/onednn/onednn_backend.h, "Convolution algorithm"): wide
// 3x3 stride-1 convolutions in plain-inference plans match the reference backend within the convolution
// tolerance, also after a weight is rewritten (the Winograd weight layout is re-derived); and plans with fault
// machinery keep direct arithmetic, checked with a huge value that Winograd's transforms overflow (a NaN or an
// infinity) where the reference and a direct convolution give a finite number.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

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
using testing::random_tensor;
using testing::run_backend;
using testing::run_model;
using testing::tensors_near;
using testing::Tolerance;

constexpr Tolerance kConv{1e-4, 1e-4};  // as tests/test_onednn_backend.cpp's kConv
constexpr float kHuge = 1e38f;                         // finite; 4 x kHuge overflows float32
// The fault-plan cases' batch and image size: large enough for oneDNN's F(4x4, 3x3) kernel (its input transform
// multiplies by up to 25); with a plain plan these cases give NaN and infinities.
constexpr int64_t kFaultBatch = 4, kFaultSize = 16;

struct WideConv {
  Graph graph;
  ValueId x = kNoValue, w = kNoValue;
};

// x [batch, in, size, size] -> conv3x3 (bias) -> relu [-> + skip -> relu when in == out]: the shape of a
// ResNet layer2/layer3 convolution. Weights in [-0.3, 0.3].
WideConv wide_conv(int64_t batch, int64_t in, int64_t out, int64_t size, bool residual, Tensor weights = {}) {
  GraphBuilder b;
  WideConv c;
  c.x = b.input("x", {batch, in, size, size});
  if (weights.empty()) weights = random_tensor({out, in, 3, 3}, 11, -0.3f, 0.3f);
  c.w = b.constant("w", std::move(weights));
  const ValueId bias = b.constant("b", random_tensor({out}, 12));
  ValueId y = b.node(OpKind::kRelu, {b.node(OpKind::kConv, {c.x, c.w, bias}, conv3x3(), "conv")}, {}, "relu");
  if (residual) y = b.node(OpKind::kRelu, {b.node(OpKind::kAdd, {y, c.x}, {}, "add")}, {}, "relu_out");
  b.output(y);
  c.graph = b.build_with_shapes();
  return c;
}

bool all_finite(const Tensor& t) {
  for (int64_t i = 0; i < t.numel(); ++i)
    if (!std::isfinite(t.data<float>()[i])) return false;
  return true;
}

struct Shape3x3 {
  int64_t in, out, size;
  bool residual;
};

class OnednnWinograd : public ::testing::TestWithParam<Shape3x3> {};

TEST_P(OnednnWinograd, PlainPlanMatchesReference) {
  const Shape3x3& s = GetParam();
  const WideConv c = wide_conv(4, s.in, s.out, s.size, s.residual);
  const Tensor x = random_tensor({4, s.in, s.size, s.size}, 5);
  testing::expect_backend_matches_reference(*make_onednn_backend(), c.graph, kConv, {}, {x});
}

// A weight fault on a plain plan (write_value of the weights): the prepared Winograd weights follow.
TEST_P(OnednnWinograd, RewrittenWeightsMatchReference) {
  const Shape3x3& s = GetParam();
  const WideConv c = wide_conv(2, s.in, s.out, s.size, s.residual);
  const Tensor x = random_tensor({2, s.in, s.size, s.size}, 6);
  Tensor rewritten = random_tensor({s.out, s.in, 3, 3}, 21, -0.3f, 0.3f);
  rewritten.data<float>()[7] = 2.5f;
  std::unique_ptr<CompiledModel> onednn = compile_or_fail(*make_onednn_backend(), c.graph, {});
  ASSERT_TRUE(onednn);
  const std::vector<Tensor> before = run_model(*onednn, {x});
  ASSERT_TRUE(onednn->write_value(c.w, rewritten).is_ok());
  const std::vector<Tensor> actual = run_model(*onednn, {x});
  const WideConv expected_model = wide_conv(2, s.in, s.out, s.size, s.residual, rewritten.clone());
  const std::vector<Tensor> expected = run_backend(*make_reference_backend(), expected_model.graph, {x});
  ASSERT_EQ(actual.size(), 1u);
  ASSERT_EQ(expected.size(), 1u);
  EXPECT_TRUE(tensors_near(expected[0], actual[0], kConv));
  EXPECT_FALSE(tensors_near(before[0], actual[0], kConv)) << "the rewrite changed nothing";
}

INSTANTIATE_TEST_SUITE_P(Shapes, OnednnWinograd,
                         ::testing::Values(Shape3x3{32, 32, 16, true}, Shape3x3{64, 64, 8, true},
                                           Shape3x3{32, 64, 9, false}, Shape3x3{48, 32, 7, false}),
                         [](const ::testing::TestParamInfo<Shape3x3>& info) {
                           return "in" + std::to_string(info.param.in) + "_out" + std::to_string(info.param.out) +
                                  "_size" + std::to_string(info.param.size);
                         });

// One huge activation (a fault's flipped exponent) at the conv's input: every direct product stays below
// float32's maximum, so the reference's outputs are finite; Winograd's input transform multiplies it by up to
// 25 and overflows. Plans for fault runs must agree with the reference.
TEST(OnednnWinogradFaultPlans, HugeActivationStaysFinite) {
  const WideConv c = wide_conv(kFaultBatch, 32, 32, kFaultSize, false);
  Tensor x = random_tensor({kFaultBatch, 32, kFaultSize, kFaultSize}, 8, 0.5f, 1.0f);
  x.data<float>()[5 * kFaultSize + 5] = kHuge;
  const std::vector<Tensor> expected = run_backend(*make_reference_backend(), c.graph, {x});
  ASSERT_EQ(expected.size(), 1u);
  ASSERT_TRUE(all_finite(expected[0]));
  PlanOptions nan_plan, kept_plan, observed_input;
  nan_plan.propagate_nan = true;
  kept_plan.keep_values = true;
  observed_input.observable = {c.x};
  for (const auto& [name, options] : {std::pair{"propagate_nan", nan_plan}, std::pair{"keep_values", kept_plan},
                                      std::pair{"observable input", observed_input}}) {
    const std::vector<Tensor> actual = run_backend(*make_onednn_backend(), c.graph, {x}, options);
    ASSERT_EQ(actual.size(), 1u) << name;
    EXPECT_TRUE(all_finite(actual[0])) << name;
    EXPECT_TRUE(tensors_near(expected[0], actual[0], kConv)) << name;
  }
}

// One huge weight: a weight fault site (observable weights) keeps the convolution direct. The last tap enters
// Winograd's transformed weights with coefficient 1, and its products with the transformed input overflow.
TEST(OnednnWinogradFaultPlans, HugeObservableWeightStaysFinite) {
  Tensor weights = random_tensor({32, 32, 3, 3}, 13, -0.3f, 0.3f);
  weights.data<float>()[8] = kHuge;  // output channel 0, input channel 0, the kernel's last tap
  const WideConv c = wide_conv(kFaultBatch, 32, 32, kFaultSize, false, std::move(weights));
  const Tensor x = random_tensor({kFaultBatch, 32, kFaultSize, kFaultSize}, 9, 0.5f, 1.0f);
  const std::vector<Tensor> expected = run_backend(*make_reference_backend(), c.graph, {x});
  ASSERT_EQ(expected.size(), 1u);
  ASSERT_TRUE(all_finite(expected[0]));
  PlanOptions observed_weights;
  observed_weights.observable = {c.w};
  const std::vector<Tensor> actual = run_backend(*make_onednn_backend(), c.graph, {x}, observed_weights);
  ASSERT_EQ(actual.size(), 1u);
  EXPECT_TRUE(all_finite(actual[0]));
  EXPECT_TRUE(tensors_near(expected[0], actual[0], kConv));
}

}  // namespace
}  // namespace faultline
