// Reference kernels (kernels/reference/reference_ops.h) on tiny hand-worked cases and identities, and the
// reference backend (kernels/reference/reference_backend.h) on hand-built branching and long graphs.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "engine/executor.h"
#include "engine/shape_inference.h"
#include "kernels/reference/reference_backend.h"
#include "kernels/reference/reference_ops.h"
#include "tests/support/graph_builder.h"
#include "tests/support/test_support.h"

namespace faultline {
namespace {

using testing::GraphBuilder;
using testing::tensors_near;

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr int64_t kInt64Max = std::numeric_limits<int64_t>::max();
constexpr int64_t kInt64Min = std::numeric_limits<int64_t>::min();

// Runs one node named "probe" on constant inputs (nullopt-free: every tensor given is present) through shape
// inference and the reference kernel.
Result<Tensor> run_op(OpKind op, const std::vector<Tensor>& inputs, OpAttrs attrs = {}) {
  GraphBuilder builder;
  std::vector<ValueId> ids;
  for (size_t i = 0; i < inputs.size(); ++i) ids.push_back(builder.constant("in" + std::to_string(i), inputs[i]));
  const ValueId out = builder.node(op, ids, std::move(attrs), "probe");
  Graph& graph = builder.graph();
  const NodeId node = graph.value(out).producer;
  FL_RETURN_IF_ERROR(infer_output_shapes(graph, node));
  FL_ASSIGN_OR_RETURN(Tensor result, Tensor::allocate(graph.value(out).dtype, graph.value(out).shape));
  std::vector<const Tensor*> input_pointers;
  for (const Tensor& tensor : inputs) input_pointers.push_back(&tensor);
  Tensor* output_pointer = &result;
  FL_RETURN_IF_ERROR(
      run_reference_node(graph.node(node), input_pointers, std::span<Tensor* const>(&output_pointer, 1)));
  return result;
}

Tensor run_ok(OpKind op, const std::vector<Tensor>& inputs, OpAttrs attrs = {}) {
  Result<Tensor> result = run_op(op, inputs, std::move(attrs));
  EXPECT_TRUE(result.is_ok()) << result.status().message();
  return result.is_ok() ? std::move(result).value() : Tensor();
}

Tensor floats(Shape shape, std::vector<float> values) {
  return Tensor::from_floats(std::move(shape), values);
}
Tensor int64s(Shape shape, std::vector<int64_t> values) {
  return Tensor::from_int64s(std::move(shape), values);
}
Tensor int32s(Shape shape, std::vector<int64_t> values) {
  return Tensor::from_int64s(std::move(shape), values).cast(DType::kInt32);
}

// 0, 1, 2, ... in the given shape.
Tensor iota(Shape shape, float first = 0.0f) {
  std::vector<float> values(static_cast<size_t>(numel(shape)));
  for (size_t i = 0; i < values.size(); ++i) values[i] = first + static_cast<float>(i);
  return floats(std::move(shape), values);
}

Tensor filled(Shape shape, float value) {
  return floats(shape, std::vector<float>(static_cast<size_t>(numel(shape)), value));
}

constexpr double kTight = 1e-6;

#define EXPECT_TENSOR(expected, actual) EXPECT_TRUE(tensors_near((expected), (actual), kTight, kTight))

// --- Conv -----------------------------------------------------------------------------------------------

TEST(ReferenceConv, HandWorked2x2Kernel) {
  // x = [[1 2 3] [4 5 6] [7 8 9]], w = [[1 0] [0 -1]]: y[i][j] = x[i][j] - x[i+1][j+1] = -4, plus bias 1.
  Tensor y = run_ok(OpKind::kConv, {iota({1, 1, 3, 3}, 1), floats({1, 1, 2, 2}, {1, 0, 0, -1}), floats({1}, {1})},
                    ConvAttrs{});
  EXPECT_TENSOR(filled({1, 1, 2, 2}, -3), y);
}

TEST(ReferenceConv, ZeroPaddingCountsNeighbours) {
  ConvAttrs attrs;
  attrs.pads = {1, 1, 1, 1};
  Tensor y = run_ok(OpKind::kConv, {filled({1, 1, 3, 3}, 1), filled({1, 1, 3, 3}, 1)}, attrs);
  EXPECT_TENSOR(floats({1, 1, 3, 3}, {4, 6, 4, 6, 9, 6, 4, 6, 4}), y);
}

TEST(ReferenceConv, StrideWithAsymmetricPads) {
  // pads: top 1, left 0, bottom 0, right 1; stride 2. Rows read: -1 (pad), 1; columns read: 0, 2.
  ConvAttrs attrs;
  attrs.pads = {1, 0, 0, 1};
  attrs.strides = {2, 2};
  Tensor y = run_ok(OpKind::kConv, {iota({1, 1, 3, 3}, 1), filled({1, 1, 1, 1}, 1)}, attrs);
  EXPECT_TENSOR(floats({1, 1, 2, 2}, {0, 0, 4, 6}), y);
}

TEST(ReferenceConv, Dilation) {
  // x[i][j] = 5i + j on 5x5; a 2x2 kernel of ones with dilation 2 sums x[i][j] + x[i][j+2] + x[i+2][j] +
  // x[i+2][j+2] = 4(5i + j) + 24.
  ConvAttrs attrs;
  attrs.dilations = {2, 2};
  Tensor y = run_ok(OpKind::kConv, {iota({1, 1, 5, 5}), filled({1, 1, 2, 2}, 1)}, attrs);
  std::vector<float> expected;
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) expected.push_back(static_cast<float>(4 * (5 * i + j) + 24));
  EXPECT_TENSOR(floats({1, 1, 3, 3}, expected), y);
}

TEST(ReferenceConv, OneByOneConvIsAMatrixProduct) {
  // y[m, p] = sum_c w[m, c] * x[c, p] over the 4 pixels p.
  const Tensor x = iota({1, 2, 2, 2}, 1);
  const Tensor w = floats({3, 2, 1, 1}, {1, 2, -1, 0.5f, 0, 3});
  Tensor y = run_ok(OpKind::kConv, {x, w}, ConvAttrs{});
  std::vector<float> expected(12);
  for (int m = 0; m < 3; ++m)
    for (int p = 0; p < 4; ++p)
      expected[m * 4 + p] =
          w.data<float>()[m * 2] * x.data<float>()[p] + w.data<float>()[m * 2 + 1] * x.data<float>()[4 + p];
  EXPECT_TENSOR(floats({1, 3, 2, 2}, expected), y);
}

TEST(ReferenceConv, GroupsReadOnlyTheirChannels) {
  // group 2: out 0 = 1*x0 + 2*x1, out 1 = 3*x2 + 4*x3 (1x1 spatial).
  ConvAttrs attrs;
  attrs.group = 2;
  Tensor y =
      run_ok(OpKind::kConv, {floats({1, 4, 1, 1}, {1, 10, 100, 1000}), floats({2, 2, 1, 1}, {1, 2, 3, 4})}, attrs);
  EXPECT_TENSOR(floats({1, 2, 1, 1}, {21, 4300}), y);
}

TEST(ReferenceConv, DepthwiseEqualsPerChannelConv) {
  const Tensor x = floats({1, 3, 3, 3}, {1,  -2, 3, 0, 5,  -1, 2, 2, 1,  //
                                         0,  1,  0, 1, 0,  1,  0, 1, 0,  //
                                         -3, 4,  2, 7, -1, 0,  1, 1, 9});
  const Tensor w = floats({3, 1, 2, 2}, {1, 2, 3, 4, -1, 1, -1, 1, 0.5f, 0, 0, 2});
  ConvAttrs depthwise;
  depthwise.group = 3;
  depthwise.pads = {1, 0, 0, 1};
  Tensor y = run_ok(OpKind::kConv, {x, w}, depthwise);
  ASSERT_EQ(y.shape(), (Shape{1, 3, 3, 3}));
  ConvAttrs single = depthwise;
  single.group = 1;
  for (int c = 0; c < 3; ++c) {
    Tensor x_c = floats({1, 1, 3, 3}, std::vector<float>(x.data<float>() + 9 * c, x.data<float>() + 9 * c + 9));
    Tensor w_c = floats({1, 1, 2, 2}, std::vector<float>(w.data<float>() + 4 * c, w.data<float>() + 4 * c + 4));
    Tensor y_c = run_ok(OpKind::kConv, {x_c, w_c}, single);
    EXPECT_TENSOR(y_c, floats({1, 1, 3, 3}, std::vector<float>(y.data<float>() + 9 * c, y.data<float>() + 9 * c + 9)))
        << "channel " << c;
  }
}

TEST(ReferenceConv, OneAndThreeDimensional) {
  EXPECT_TENSOR(floats({1, 1, 4}, {3, 5, 7, 9}),
                run_ok(OpKind::kConv, {iota({1, 1, 5}, 1), floats({1, 1, 2}, {1, 1})}, ConvAttrs{}));
  EXPECT_TENSOR(floats({1, 1, 1, 1, 1}, {36}),
                run_ok(OpKind::kConv, {iota({1, 1, 2, 2, 2}, 1), filled({1, 1, 2, 2, 2}, 1)}, ConvAttrs{}));
}

TEST(ReferenceConv, BatchAndBias) {
  Tensor y = run_ok(OpKind::kConv, {floats({2, 1, 1, 1}, {2, 3}), floats({2, 1, 1, 1}, {1, -1}), floats({2}, {10, 20})},
                    ConvAttrs{});
  EXPECT_TENSOR(floats({2, 2, 1, 1}, {12, 18, 13, 17}), y);
}

TEST(ReferenceConv, RefusesOtherDtypes) {
  Result<Tensor> result = run_op(OpKind::kConv, {int64s({1, 1, 1, 1}, {1}), int64s({1, 1, 1, 1}, {1})}, ConvAttrs{});
  ASSERT_FALSE(result.is_ok());
  EXPECT_NE(result.status().message().find("node 'probe'"), std::string::npos);
}

// --- pooling ----------------------------------------------------------------------------------------------

PoolAttrs pool(std::vector<int64_t> kernel, std::vector<int64_t> strides = {}, std::vector<int64_t> pads = {},
               bool ceil_mode = false, bool count_include_pad = false) {
  PoolAttrs attrs;
  attrs.kernel_shape = std::move(kernel);
  attrs.strides = std::move(strides);
  attrs.pads = std::move(pads);
  attrs.ceil_mode = ceil_mode;
  attrs.count_include_pad = count_include_pad;
  return attrs;
}

TEST(ReferenceMaxPool, HandWorked) {
  const Tensor x = floats({1, 1, 4, 4}, {1, 5, 2, 0, 3, 4, 8, 1, 0, 0, 1, 1, -1, 9, 2, 3});
  EXPECT_TENSOR(floats({1, 1, 2, 2}, {5, 8, 9, 3}), run_ok(OpKind::kMaxPool, {x}, pool({2, 2}, {2, 2})));
}

TEST(ReferenceMaxPool, CeilModeAndPaddingIgnored) {
  EXPECT_TENSOR(floats({1, 1, 3}, {2, 4, 5}), run_ok(OpKind::kMaxPool, {iota({1, 1, 5}, 1)}, pool({2}, {2}, {}, true)));
  // Pads 1+1, ceil: windows [-1,0], [1,2], [3,4] (the one starting in the end pad is dropped).
  EXPECT_TENSOR(floats({1, 1, 3}, {1, 3, 5}),
                run_ok(OpKind::kMaxPool, {iota({1, 1, 5}, 1)}, pool({2}, {2}, {1, 1}, true)));
  // Padding never wins a max, even over negative values.
  EXPECT_TENSOR(filled({1, 1, 3, 3}, -1),
                run_ok(OpKind::kMaxPool, {filled({1, 1, 3, 3}, -1)}, pool({3, 3}, {}, {1, 1, 1, 1})));
}

TEST(ReferenceMaxPool, DilationAndNaN) {
  PoolAttrs dilated = pool({2});
  dilated.dilations = {2};
  EXPECT_TENSOR(floats({1, 1, 3}, {3, 2, 7}), run_ok(OpKind::kMaxPool, {floats({1, 1, 5}, {3, 2, 1, -4, 7})}, dilated));
  Tensor y = run_ok(OpKind::kMaxPool, {floats({1, 1, 4}, {1, kNaN, 3, 2})}, pool({2}, {2}));
  EXPECT_TRUE(std::isnan(y.data<float>()[0]));
  EXPECT_EQ(y.data<float>()[1], 3.0f);
}

TEST(ReferenceAveragePool, ConstantInputStaysConstantWithoutCountingPads) {
  Tensor y = run_ok(OpKind::kAveragePool, {filled({1, 2, 5, 5}, 2.5f)}, pool({3, 3}, {2, 2}, {1, 1, 1, 1}, true));
  EXPECT_TENSOR(filled({1, 2, 3, 3}, 2.5f), y);
}

TEST(ReferenceAveragePool, CountIncludePad) {
  const PoolAttrs include = pool({3, 3}, {}, {1, 1, 1, 1}, false, true);
  EXPECT_TENSOR(floats({1, 1, 3, 3}, {4 / 9.f, 6 / 9.f, 4 / 9.f, 6 / 9.f, 1, 6 / 9.f, 4 / 9.f, 6 / 9.f, 4 / 9.f}),
                run_ok(OpKind::kAveragePool, {filled({1, 1, 3, 3}, 1)}, include));
  const PoolAttrs exclude = pool({3, 3}, {}, {1, 1, 1, 1}, false, false);
  EXPECT_TENSOR(filled({1, 1, 3, 3}, 1), run_ok(OpKind::kAveragePool, {filled({1, 1, 3, 3}, 1)}, exclude));
}

TEST(ReferenceAveragePool, CeilModeWindowPastThePaddedInput) {
  // x = 1..6, kernel 3, stride 2, pads 1+1, ceil: windows [-1..1], [1..3], [3..5], [5..7]; position 7 lies
  // past the padded input, so the last window counts 2 elements with count_include_pad (PyTorch: 6 / 2).
  const Tensor x = iota({1, 1, 6}, 1);
  EXPECT_TENSOR(floats({1, 1, 4}, {1, 3, 5, 3}), run_ok(OpKind::kAveragePool, {x}, pool({3}, {2}, {1, 1}, true, true)));
  EXPECT_TENSOR(floats({1, 1, 4}, {1.5f, 3, 5, 6}),
                run_ok(OpKind::kAveragePool, {x}, pool({3}, {2}, {1, 1}, true, false)));
  // No pads: the ceil window holds only the last element either way.
  EXPECT_TENSOR(floats({1, 1, 3}, {1.5f, 3.5f, 5}),
                run_ok(OpKind::kAveragePool, {iota({1, 1, 5}, 1)}, pool({2}, {2}, {}, true, true)));
}

TEST(ReferencePool, OutputOfTheWrongSizeIsAnError) {
  Node node;
  node.op = OpKind::kMaxPool;
  node.name = "probe";
  node.attrs = pool({2, 2}, {2, 2});
  const Tensor x = filled({1, 1, 4, 4}, 1);
  Tensor y = filled({1, 1, 3, 3}, 0);  // the window gives 2x2
  const Tensor* inputs[] = {&x};
  Tensor* outputs[] = {&y};
  Status status = run_reference_node(node, inputs, outputs);
  ASSERT_FALSE(status.is_ok());
  EXPECT_NE(status.message().find("node 'probe' (MaxPool)"), std::string::npos) << status.message();
}

TEST(ReferenceGlobalPool, AverageAndMax) {
  const Tensor x = floats({1, 2, 2, 2}, {1, 2, 3, 6, -1, -2, -3, -4});
  EXPECT_TENSOR(floats({1, 2, 1, 1}, {3, -2.5f}), run_ok(OpKind::kGlobalAveragePool, {x}));
  EXPECT_TENSOR(floats({1, 2, 1, 1}, {6, -1}), run_ok(OpKind::kGlobalMaxPool, {x}));
}

// --- element-wise -----------------------------------------------------------------------------------------

TEST(ReferenceUnary, Activations) {
  const Tensor x = floats({5}, {-2, -0.5f, 0, 0.5f, 3});
  EXPECT_TENSOR(floats({5}, {0, 0, 0, 0.5f, 3}), run_ok(OpKind::kRelu, {x}));
  EXPECT_TENSOR(floats({5}, {-0.2f, -0.05f, 0, 0.5f, 3}), run_ok(OpKind::kLeakyRelu, {x}, LeakyReluAttrs{0.1f}));
  ClipAttrs clip;
  clip.min = -1;
  clip.max = 1;
  EXPECT_TENSOR(floats({5}, {-1, -0.5f, 0, 0.5f, 1}), run_ok(OpKind::kClip, {x}, clip));
  ClipAttrs crossed;  // min > max: numpy.clip gives max everywhere
  crossed.min = 6;
  crossed.max = 2;
  EXPECT_TENSOR(filled({5}, 2), run_ok(OpKind::kClip, {x}, crossed));
  EXPECT_TENSOR(floats({1}, {0.5f}), run_ok(OpKind::kSigmoid, {floats({1}, {0})}));
  EXPECT_TENSOR(floats({2}, {1 / (1 + std::exp(2.0f)), std::tanh(0.5f)}),
                floats({2}, {run_ok(OpKind::kSigmoid, {floats({1}, {-2})}).data<float>()[0],
                             run_ok(OpKind::kTanh, {floats({1}, {0.5f})}).data<float>()[0]}));
}

TEST(ReferenceUnary, NaNPassesThrough) {
  for (OpKind op : {OpKind::kRelu, OpKind::kLeakyRelu, OpKind::kClip, OpKind::kSigmoid, OpKind::kTanh}) {
    OpAttrs attrs;
    if (op == OpKind::kClip) attrs = ClipAttrs{0.0f, 6.0f, false};
    Tensor y = run_ok(op, {floats({1}, {kNaN})}, attrs);
    EXPECT_TRUE(std::isnan(y.data<float>()[0])) << op_name(op);
  }
}

TEST(ReferenceBinary, BroadcastsPerChannel) {
  // [N, C, 1, 1] + [C, 1, 1] and [N, C, H, W] * [C, 1, 1].
  EXPECT_TENSOR(floats({2, 3, 1, 1}, {11, 22, 33, 14, 25, 36}),
                run_ok(OpKind::kAdd, {iota({2, 3, 1, 1}, 1), floats({3, 1, 1}, {10, 20, 30})}));
  EXPECT_TENSOR(floats({1, 2, 1, 2}, {1, 2, -3, -4}),
                run_ok(OpKind::kMul, {iota({1, 2, 1, 2}, 1), floats({2, 1, 1}, {1, -1})}));
  EXPECT_TENSOR(floats({2, 2}, {-9, -8, 0, 1}),
                run_ok(OpKind::kSub, {floats({2, 1}, {1, 10}), floats({1, 2}, {10, 9})}));
  EXPECT_TENSOR(floats({3}, {0.5f, 1, 1.5f}), run_ok(OpKind::kDiv, {iota({3}, 1), floats({}, {2})}));
}

TEST(ReferenceBinary, IntegersTruncateLikeC) {
  Tensor q = run_ok(OpKind::kDiv, {int64s({4}, {7, -7, 7, -7}), int64s({4}, {2, 2, -2, -2})});
  EXPECT_EQ(q.to_int64s(), (std::vector<int64_t>{3, -3, -3, 3}));
  Tensor sum = run_ok(OpKind::kAdd, {int32s({2}, {5, -1}), int32s({1}, {3})});
  EXPECT_EQ(sum.dtype(), DType::kInt32);
  EXPECT_EQ(sum.to_int64s(), (std::vector<int64_t>{8, 2}));
  EXPECT_EQ(run_ok(OpKind::kMul, {int64s({2}, {3, -4}), int64s({2}, {5, 6})}).to_int64s(),
            (std::vector<int64_t>{15, -24}));
  EXPECT_EQ(run_ok(OpKind::kSub, {int64s({1}, {3}), int64s({2}, {5, 6})}).to_int64s(), (std::vector<int64_t>{-2, -3}));
}

TEST(ReferenceBinary, IntegerDivisionByZeroIsAnError) {
  Result<Tensor> result = run_op(OpKind::kDiv, {int64s({2}, {1, 2}), int64s({2}, {1, 0})});
  ASSERT_FALSE(result.is_ok());
  EXPECT_NE(result.status().message().find("division by zero"), std::string::npos);
}

// --- normalization ----------------------------------------------------------------------------------------

TEST(ReferenceBatchNorm, HandWorked) {
  // channel 0: (x - 1) / 2 * 1 + 0; channel 1: (x - 3) / 1 * 2 + 1.
  Tensor y = run_ok(OpKind::kBatchNormalization,
                    {floats({1, 2, 1, 2}, {1, 2, 3, 4}), floats({2}, {1, 2}), floats({2}, {0, 1}), floats({2}, {1, 3}),
                     floats({2}, {4, 1})},
                    BatchNormAttrs{0.0f});
  EXPECT_TENSOR(floats({1, 2, 1, 2}, {0, 0.5f, 1, 3}), y);
  Tensor with_epsilon =
      run_ok(OpKind::kBatchNormalization,
             {floats({1, 1}, {3}), floats({1}, {1}), floats({1}, {0}), floats({1}, {0}), floats({1}, {0})},
             BatchNormAttrs{0.25f});
  EXPECT_TENSOR(floats({1, 1}, {6}), with_epsilon);  // 3 / sqrt(0.25)
}

TEST(ReferenceSoftmax, HandCaseAndSums) {
  Tensor y = run_ok(OpKind::kSoftmax, {floats({1, 3}, {1, 2, 3})});
  const double total = std::exp(1.0) + std::exp(2.0) + std::exp(3.0);
  EXPECT_TENSOR(floats({1, 3}, {static_cast<float>(std::exp(1.0) / total), static_cast<float>(std::exp(2.0) / total),
                                static_cast<float>(std::exp(3.0) / total)}),
                y);
  // Large logits do not overflow.
  Tensor big = run_ok(OpKind::kSoftmax, {floats({2}, {1000, 1000})});
  EXPECT_TENSOR(floats({2}, {0.5f, 0.5f}), big);
}

TEST(ReferenceSoftmax, AxisAndCoerceTo2d) {
  SoftmaxAttrs axis0;
  axis0.axis = 0;
  Tensor y = run_ok(OpKind::kSoftmax, {floats({2, 2}, {0, 5, 0, 5})}, axis0);  // columns are equal pairs
  EXPECT_TENSOR(filled({2, 2}, 0.5f), y);
  SoftmaxAttrs coerced;
  coerced.axis = 1;
  coerced.coerce_to_2d = true;
  Tensor z = run_ok(OpKind::kSoftmax, {floats({2, 2, 2}, {0, 0, 0, 0, 1, 1, 1, 1})}, coerced);
  EXPECT_TENSOR(filled({2, 2, 2}, 0.25f), z);  // 4 equal logits per batch row
  SoftmaxAttrs last;
  Tensor w = run_ok(OpKind::kSoftmax, {floats({2, 2, 2}, {0, 0, 3, 3, 1, 2, 2, 1})}, last);
  const float low = static_cast<float>(1.0 / (1.0 + std::exp(1.0)));
  EXPECT_TENSOR(floats({2, 2, 2}, {0.5f, 0.5f, 0.5f, 0.5f, low, 1 - low, 1 - low, low}), w);
}

// --- matrix products --------------------------------------------------------------------------------------

TEST(ReferenceGemm, HandWorkedWithTransposesAndBias) {
  const Tensor a = floats({2, 2}, {1, 2, 3, 4});
  const Tensor b = floats({2, 2}, {5, 6, 7, 8});
  EXPECT_TENSOR(floats({2, 2}, {19, 22, 43, 50}), run_ok(OpKind::kGemm, {a, b}, GemmAttrs{}));
  GemmAttrs trans_a;
  trans_a.trans_a = true;  // A^T = [[1 3] [2 4]]
  EXPECT_TENSOR(floats({2, 2}, {26, 30, 38, 44}), run_ok(OpKind::kGemm, {a, b}, trans_a));
  GemmAttrs trans_b;
  trans_b.trans_b = true;  // B^T = [[5 7] [6 8]]
  EXPECT_TENSOR(floats({2, 2}, {17, 23, 39, 53}), run_ok(OpKind::kGemm, {a, b}, trans_b));
  GemmAttrs scaled;
  scaled.alpha = 2;
  scaled.beta = -1;
  EXPECT_TENSOR(floats({2, 2}, {37, 24, 85, 80}), run_ok(OpKind::kGemm, {a, b, floats({2}, {1, 20})}, scaled));
  EXPECT_TENSOR(floats({2, 2}, {20, 23, 44, 51}), run_ok(OpKind::kGemm, {a, b, floats({}, {1})}, GemmAttrs{}));
  EXPECT_TENSOR(floats({2, 2}, {20, 23, 45, 52}), run_ok(OpKind::kGemm, {a, b, floats({2, 1}, {1, 2})}, GemmAttrs{}));
}

TEST(ReferenceGemm, NonSquareTransposedB) {
  // A [1, 3], B^T given as [2, 3]: y = [1*1 + 2*2 + 3*3, 1*(-1) + 0 + 3*1] = [14, 2].
  GemmAttrs attrs;
  attrs.trans_b = true;
  EXPECT_TENSOR(floats({1, 2}, {14, 2}),
                run_ok(OpKind::kGemm, {floats({1, 3}, {1, 2, 3}), floats({2, 3}, {1, 2, 3, -1, 0, 1})}, attrs));
}

TEST(ReferenceMatMul, VectorsAndBatchBroadcast) {
  const Tensor a = floats({2, 2}, {1, 2, 3, 4});
  const Tensor b = floats({2, 2}, {5, 6, 7, 8});
  EXPECT_TENSOR(floats({2, 2}, {19, 22, 43, 50}), run_ok(OpKind::kMatMul, {a, b}));
  EXPECT_TENSOR(floats({2}, {26, 30}), run_ok(OpKind::kMatMul, {floats({2}, {1, 3}), b}));  // row vector
  EXPECT_TENSOR(floats({2}, {17, 39}), run_ok(OpKind::kMatMul, {a, floats({2}, {5, 6})}));  // column vector
  EXPECT_TENSOR(floats({}, {11}), run_ok(OpKind::kMatMul, {floats({2}, {1, 2}), floats({2}, {3, 4})}));
  // Batch [2] x unbatched B: each batch matrix times B. Second batch matrix is 2 * a.
  Tensor batched = run_ok(OpKind::kMatMul, {floats({2, 2, 2}, {1, 2, 3, 4, 2, 4, 6, 8}), b});
  EXPECT_TENSOR(floats({2, 2, 2}, {19, 22, 43, 50, 38, 44, 86, 100}), batched);
  // [2, 1, 1, 2] x [3, 2, 1] -> [2, 3, 1, 1]: every pair (batch i of A, batch j of B).
  Tensor crossed = run_ok(OpKind::kMatMul, {floats({2, 1, 1, 2}, {1, 0, 0, 1}), floats({3, 2, 1}, {1, 2, 3, 4, 5, 6})});
  EXPECT_TENSOR(floats({2, 3, 1, 1}, {1, 3, 5, 2, 4, 6}), crossed);
}

// --- data movement ----------------------------------------------------------------------------------------

TEST(ReferenceDataMovement, ReshapeFlattenIdentitySqueezeUnsqueezeKeepTheBytes) {
  const Tensor x = iota({2, 3});
  ReshapeAttrs reshape;
  reshape.shape = {3, -1};
  reshape.shape_from_input = false;
  EXPECT_TENSOR(iota({3, 2}), run_ok(OpKind::kReshape, {x}, reshape));
  EXPECT_TENSOR(iota({1, 6}), run_ok(OpKind::kFlatten, {x}, FlattenAttrs{0}));
  EXPECT_TENSOR(x, run_ok(OpKind::kIdentity, {x}));
  EXPECT_TENSOR(iota({2, 1, 3}), run_ok(OpKind::kUnsqueeze, {x}, AxesAttrs{{1}, false}));
  EXPECT_TENSOR(iota({2, 3}), run_ok(OpKind::kSqueeze, {iota({1, 2, 3, 1})}, AxesAttrs{}));
  ReshapeAttrs to_vector;
  to_vector.shape = {4};
  to_vector.shape_from_input = false;
  EXPECT_EQ(run_ok(OpKind::kReshape, {int64s({2, 2}, {1, 2, 3, 4})}, to_vector).to_int64s(),
            (std::vector<int64_t>{1, 2, 3, 4}));
}

TEST(ReferenceDataMovement, Transpose) {
  EXPECT_TENSOR(floats({3, 2}, {0, 3, 1, 4, 2, 5}), run_ok(OpKind::kTranspose, {iota({2, 3})}));
  // [2, 3, 4] with perm [1, 2, 0]: y[j][k][i] = x[i][j][k] = 12i + 4j + k.
  Tensor y = run_ok(OpKind::kTranspose, {iota({2, 3, 4})}, TransposeAttrs{{1, 2, 0}});
  ASSERT_EQ(y.shape(), (Shape{3, 4, 2}));
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j)
      for (int k = 0; k < 4; ++k) EXPECT_EQ(y.data<float>()[(j * 4 + k) * 2 + i], 12 * i + 4 * j + k);
  Tensor ints = run_ok(OpKind::kTranspose, {int64s({2, 2}, {1, 2, 3, 4})});
  EXPECT_EQ(ints.to_int64s(), (std::vector<int64_t>{1, 3, 2, 4}));
}

TEST(ReferenceDataMovement, Concat) {
  ConcatAttrs last;
  last.axis = -1;
  EXPECT_TENSOR(floats({2, 3}, {0, 10, 11, 1, 12, 13}),
                run_ok(OpKind::kConcat, {iota({2, 1}), floats({2, 2}, {10, 11, 12, 13})}, last));
  EXPECT_TENSOR(floats({3, 2}, {0, 1, 2, 3, 7, 8}),
                run_ok(OpKind::kConcat, {iota({2, 2}), floats({1, 2}, {7, 8})}, ConcatAttrs{0}));
  EXPECT_EQ(run_ok(OpKind::kConcat, {int64s({1}, {5}), int64s({2}, {6, 7})}, ConcatAttrs{0}).to_int64s(),
            (std::vector<int64_t>{5, 6, 7}));
}

SliceAttrs slice(std::vector<int64_t> starts, std::vector<int64_t> ends, std::vector<int64_t> axes = {},
                 std::vector<int64_t> steps = {}) {
  SliceAttrs attrs;
  attrs.starts = std::move(starts);
  attrs.ends = std::move(ends);
  attrs.axes = std::move(axes);
  attrs.steps = std::move(steps);
  return attrs;
}

TEST(ReferenceDataMovement, Slice) {
  const Tensor x = iota({6});
  EXPECT_TENSOR(floats({6}, {5, 4, 3, 2, 1, 0}), run_ok(OpKind::kSlice, {x}, slice({-1}, {kInt64Min}, {}, {-1})));
  EXPECT_TENSOR(floats({3}, {1, 3, 5}), run_ok(OpKind::kSlice, {x}, slice({1}, {kInt64Max}, {}, {2})));
  EXPECT_TENSOR(floats({2}, {4, 1}), run_ok(OpKind::kSlice, {x}, slice({4}, {0}, {0}, {-3})));
  EXPECT_TENSOR(floats({2}, {3, 4}), run_ok(OpKind::kSlice, {x}, slice({-3}, {-1})));
  EXPECT_EQ(run_ok(OpKind::kSlice, {x}, slice({4}, {2})).numel(), 0);
  // 2-D: rows 1.. reversed columns of a 3x3.
  EXPECT_TENSOR(floats({2, 3}, {5, 4, 3, 8, 7, 6}),
                run_ok(OpKind::kSlice, {iota({3, 3})}, slice({1, 10}, {3, -10}, {0, 1}, {1, -1})));
}

PadAttrs pad(std::vector<int64_t> pads, PadMode mode = PadMode::kConstant, float value = 0) {
  PadAttrs attrs;
  attrs.pads = std::move(pads);
  attrs.mode = mode;
  attrs.value = value;
  return attrs;
}

TEST(ReferenceDataMovement, PadModes) {
  const Tensor x = iota({3}, 1);
  EXPECT_TENSOR(floats({6}, {9, 1, 2, 3, 9, 9}), run_ok(OpKind::kPad, {x}, pad({1, 2}, PadMode::kConstant, 9)));
  EXPECT_TENSOR(floats({7}, {3, 2, 1, 2, 3, 2, 1}), run_ok(OpKind::kPad, {x}, pad({2, 2}, PadMode::kReflect)));
  EXPECT_TENSOR(floats({7}, {1, 1, 1, 2, 3, 3, 3}), run_ok(OpKind::kPad, {x}, pad({2, 2}, PadMode::kEdge)));
  EXPECT_TENSOR(floats({4}, {2, 3, 4, 0}), run_ok(OpKind::kPad, {iota({4}, 1)}, pad({-1, 1})));
  // 2-D reflect: [[1 2] [3 4]] padded by one row on top and one column on the right.
  EXPECT_TENSOR(floats({3, 3}, {3, 4, 3, 1, 2, 1, 3, 4, 3}),
                run_ok(OpKind::kPad, {iota({2, 2}, 1)}, pad({1, 0, 0, 1}, PadMode::kReflect)));
  EXPECT_EQ(run_ok(OpKind::kPad, {int64s({2}, {5, 6})}, pad({1, 0}, PadMode::kConstant, 7)).to_int64s(),
            (std::vector<int64_t>{7, 5, 6}));
}

TEST(ReferenceDataMovement, Gather) {
  const Tensor data = iota({3, 2});  // [[0 1] [2 3] [4 5]]
  EXPECT_TENSOR(floats({2, 2}, {4, 5, 0, 1}), run_ok(OpKind::kGather, {data, int64s({2}, {-1, 0})}, GatherAttrs{0}));
  EXPECT_TENSOR(floats({3, 1}, {1, 3, 5}), run_ok(OpKind::kGather, {data, int32s({1}, {1})}, GatherAttrs{1}));
  EXPECT_TENSOR(floats({2}, {2, 3}), run_ok(OpKind::kGather, {data, int64s({}, {1})}, GatherAttrs{0}));
  EXPECT_EQ(run_ok(OpKind::kGather, {int64s({3}, {10, 20, 30}), int64s({2}, {2, 2})}, GatherAttrs{0}).to_int64s(),
            (std::vector<int64_t>{30, 30}));
  Result<Tensor> out_of_range = run_op(OpKind::kGather, {data, int64s({1}, {3})}, GatherAttrs{0});
  ASSERT_FALSE(out_of_range.is_ok());
  EXPECT_NE(out_of_range.status().message().find("out of range"), std::string::npos);
}

// --- shape arithmetic -------------------------------------------------------------------------------------

TEST(ReferenceShapeOps, ShapeCastConstantOfShapeRange) {
  EXPECT_EQ(run_ok(OpKind::kShape, {iota({2, 3, 4})}).to_int64s(), (std::vector<int64_t>{2, 3, 4}));
  Tensor truncated = run_ok(OpKind::kCast, {floats({3}, {2.7f, -2.7f, 0.2f})}, CastAttrs{DType::kInt64});
  EXPECT_EQ(truncated.dtype(), DType::kInt64);
  EXPECT_EQ(truncated.to_int64s(), (std::vector<int64_t>{2, -2, 0}));
  EXPECT_TENSOR(floats({2}, {3, 4}), run_ok(OpKind::kCast, {int64s({2}, {3, 4})}, CastAttrs{DType::kFloat32}));

  EXPECT_TENSOR(filled({2, 3}, 0), run_ok(OpKind::kConstantOfShape, {int64s({2}, {2, 3})}));
  ConstantOfShapeAttrs sevens;
  sevens.value = int64s({1}, {7});
  EXPECT_EQ(run_ok(OpKind::kConstantOfShape, {int64s({1}, {3})}, sevens).to_int64s(), (std::vector<int64_t>{7, 7, 7}));

  EXPECT_EQ(run_ok(OpKind::kRange, {int64s({}, {10}), int64s({}, {4}), int64s({}, {-2})}).to_int64s(),
            (std::vector<int64_t>{10, 8, 6}));
  EXPECT_TENSOR(floats({4}, {1, 1.5f, 2, 2.5f}),
                run_ok(OpKind::kRange, {floats({}, {1}), floats({}, {2.75f}), floats({}, {0.5f})}));
  EXPECT_EQ(run_ok(OpKind::kRange, {int32s({}, {0}), int32s({}, {3}), int32s({}, {1})}).to_int64s(),
            (std::vector<int64_t>{0, 1, 2}));
}

// --- the reference backend --------------------------------------------------------------------------------

// Runs the nodes of `graph` one by one in topological order with run_op semantics, on `inputs` (in
// graph().inputs() order): the oracle for the compiled model.
std::vector<Tensor> run_by_hand(const Graph& graph, const std::vector<Tensor>& inputs) {
  std::vector<Tensor> values(graph.values().size());
  for (size_t i = 0; i < inputs.size(); ++i) values[static_cast<size_t>(graph.inputs()[i])] = inputs[i];
  for (size_t v = 0; v < graph.values().size(); ++v)
    if (graph.values()[v].is_constant()) values[v] = graph.values()[v].constant;
  const std::vector<NodeId> order = graph.topological_order().value();
  for (NodeId id : order) {
    const Node& node = graph.node(id);
    std::vector<Tensor> node_inputs;
    for (ValueId input : node.inputs) node_inputs.push_back(values[static_cast<size_t>(input)]);
    values[static_cast<size_t>(node.outputs[0])] = run_ok(node.op, node_inputs, node.attrs);
  }
  std::vector<Tensor> outputs;
  for (ValueId id : graph.outputs()) outputs.push_back(values[static_cast<size_t>(id)]);
  return outputs;
}

// Infers every node's output shape in topological order, as specialize() leaves a graph.
void infer_all(Graph& graph) {
  const std::vector<NodeId> order = graph.topological_order().value();
  for (NodeId id : order) {
    Status status = infer_output_shapes(graph, id);
    ASSERT_TRUE(status.is_ok()) << status.message();
  }
}

// Conv -> Relu -> {Mul by a per-channel scale, Sigmoid} -> Add -> Concat with the Relu output.
Graph branching_graph() {
  GraphBuilder builder;
  const ValueId x = builder.input("x", {2, 2, 4, 4});
  const ValueId w = builder.constant("w", floats({3, 2, 3, 3}, [] {
                                       std::vector<float> v(54);
                                       for (size_t i = 0; i < v.size(); ++i)
                                         v[i] = static_cast<float>((i * 7) % 11) / 10.0f - 0.5f;
                                       return v;
                                     }()));
  const ValueId b = builder.constant("b", floats({3}, {0.1f, -0.2f, 0.3f}));
  const ValueId scale = builder.constant("scale", floats({3, 1, 1}, {2, -1, 0.5f}));
  ConvAttrs conv;
  conv.pads = {1, 1, 1, 1};
  const ValueId conv_out = builder.node(OpKind::kConv, {x, w, b}, conv, "conv");
  const ValueId relu = builder.node(OpKind::kRelu, {conv_out}, {}, "relu");
  const ValueId scaled = builder.node(OpKind::kMul, {relu, scale}, {}, "scaled");
  const ValueId squashed = builder.node(OpKind::kSigmoid, {relu}, {}, "squashed");
  const ValueId sum = builder.node(OpKind::kAdd, {scaled, squashed}, {}, "sum");
  const ValueId joined = builder.node(OpKind::kConcat, {sum, relu}, ConcatAttrs{1}, "joined");
  builder.output(joined);
  Graph graph = builder.build();
  infer_all(graph);
  return graph;
}

// Reads every step's outputs right after the step and compares them with the oracle's values.
class CheckEveryStep final : public StepObserver {
 public:
  explicit CheckEveryStep(std::vector<Tensor> expected) : expected_(std::move(expected)) {}
  Status before_step(CompiledModel&, size_t) override { return Status::ok(); }
  Status after_step(CompiledModel& model, size_t index) override {
    for (ValueId id : model.step(index).outputs) {
      Tensor actual;
      FL_RETURN_IF_ERROR(model.read_value(id, actual));
      EXPECT_TRUE(tensors_near(expected_[static_cast<size_t>(id)], actual, kTight, kTight))
          << model.graph().value(id).name;
    }
    return Status::ok();
  }

 private:
  std::vector<Tensor> expected_;  // by ValueId
};

std::vector<Tensor> every_value_by_hand(const Graph& graph, const Tensor& input) {
  Graph probe = graph;
  probe.outputs().clear();
  for (size_t v = 0; v < graph.values().size(); ++v)
    if (!graph.values()[v].is_constant() && graph.values()[v].producer != kNoNode)
      probe.outputs().push_back(static_cast<ValueId>(v));
  std::vector<Tensor> outputs = run_by_hand(probe, {input});
  std::vector<Tensor> by_id(graph.values().size());
  for (size_t i = 0; i < outputs.size(); ++i) by_id[static_cast<size_t>(probe.outputs()[i])] = outputs[i];
  return by_id;
}

TEST(ReferenceBackend, BranchingGraphMatchesTheOpsRunByHand) {
  const Graph graph = branching_graph();
  const Tensor x = iota({2, 2, 4, 4}, -10.0f).cast(DType::kFloat32);
  std::unique_ptr<Backend> backend = make_reference_backend();
  EXPECT_EQ(backend->name(), "reference");
  Result<std::unique_ptr<CompiledModel>> compiled = backend->compile(graph, PlanOptions{});
  ASSERT_TRUE(compiled.is_ok()) << compiled.status().message();
  CompiledModel& model = **compiled;
  ASSERT_EQ(model.num_steps(), 6u);
  for (size_t s = 0; s < model.num_steps(); ++s) {
    ASSERT_EQ(model.step(s).nodes.size(), 1u);
    EXPECT_EQ(model.step(s).outputs, graph.node(model.step(s).nodes[0]).outputs);
  }
  ASSERT_TRUE(model.write_value(graph.inputs()[0], x).is_ok());
  CheckEveryStep observer(every_value_by_hand(graph, x));
  ASSERT_TRUE(execute(model, &observer).is_ok());
  Tensor y;
  ASSERT_TRUE(model.read_value(graph.outputs()[0], y).is_ok());
  EXPECT_EQ(y.shape(), (Shape{2, 6, 4, 4}));
  EXPECT_TRUE(tensors_near(run_by_hand(graph, {x})[0], y, kTight, kTight));

  // A second run on other data gives that data's result (no state left from the first run).
  const Tensor x2 = filled({2, 2, 4, 4}, 0.25f);
  ASSERT_TRUE(model.write_value(graph.inputs()[0], x2).is_ok());
  ASSERT_TRUE(execute(model).is_ok());
  Tensor y2;
  ASSERT_TRUE(model.read_value(graph.outputs()[0], y2).is_ok());
  EXPECT_TRUE(tensors_near(run_by_hand(graph, {x2})[0], y2, kTight, kTight));
}

TEST(ReferenceBackend, BufferReuseKeepsLongLivedValuesIntact) {
  // A chain of 12 element-wise nodes with two skip connections that keep early values alive until the end,
  // so short-lived intermediates share arena regions around them.
  GraphBuilder builder;
  const ValueId x = builder.input("x", {1, 4, 3, 3});
  const ValueId bias = builder.constant("bias", floats({4, 1, 1}, {0.5f, -0.5f, 1, -1}));
  ValueId current = x;
  ValueId first_skip = kNoValue;
  ValueId second_skip = kNoValue;
  for (int i = 0; i < 12; ++i) {
    const OpKind op = i % 3 == 0 ? OpKind::kAdd : (i % 3 == 1 ? OpKind::kTanh : OpKind::kMul);
    std::vector<ValueId> inputs = {current};
    if (op == OpKind::kAdd) inputs.push_back(bias);
    if (op == OpKind::kMul) inputs.push_back(current);
    current = builder.node(op, inputs, {}, "chain" + std::to_string(i));
    if (i == 1) first_skip = current;
    if (i == 5) second_skip = current;
  }
  const ValueId late = builder.node(OpKind::kAdd, {current, first_skip}, {}, "late_skip");
  const ValueId last = builder.node(OpKind::kSub, {late, second_skip}, {}, "last_skip");
  builder.output(last);
  builder.output(first_skip);
  Graph graph = builder.build();
  infer_all(graph);

  const Tensor input = iota({1, 4, 3, 3}, -18.0f);
  Result<std::unique_ptr<CompiledModel>> compiled = make_reference_backend()->compile(graph, PlanOptions{});
  ASSERT_TRUE(compiled.is_ok()) << compiled.status().message();
  ASSERT_TRUE((*compiled)->write_value(x, input).is_ok());
  CheckEveryStep observer(every_value_by_hand(graph, input));
  ASSERT_TRUE(execute(**compiled, &observer).is_ok());
  const std::vector<Tensor> expected = run_by_hand(graph, {input});
  for (size_t i = 0; i < graph.outputs().size(); ++i) {
    Tensor actual;
    ASSERT_TRUE((*compiled)->read_value(graph.outputs()[i], actual).is_ok());
    EXPECT_TRUE(tensors_near(expected[i], actual, kTight, kTight)) << "output " << i;
  }
}

TEST(ReferenceBackend, WriteAndReadCheckShapeAndDtype) {
  const Graph graph = branching_graph();
  Result<std::unique_ptr<CompiledModel>> compiled = make_reference_backend()->compile(graph, PlanOptions{});
  ASSERT_TRUE(compiled.is_ok()) << compiled.status().message();
  CompiledModel& model = **compiled;
  EXPECT_FALSE(model.write_value(graph.inputs()[0], filled({1, 2, 4, 4}, 0)).is_ok());
  EXPECT_FALSE(model.write_value(graph.inputs()[0], Tensor::allocate(DType::kInt32, {2, 2, 4, 4}).value()).is_ok());
  Tensor wrong = filled({1}, 0);
  EXPECT_FALSE(model.read_value(graph.outputs()[0], wrong).is_ok());
  Tensor any;
  EXPECT_FALSE(model.read_value(static_cast<ValueId>(graph.values().size()), any).is_ok());

  // Weights are the model's own copy: writing one leaves the caller's graph untouched.
  const ValueId w = graph.find_value("w").value();
  ASSERT_TRUE(model.write_value(w, filled({3, 2, 3, 3}, 0)).is_ok());
  EXPECT_NE(graph.value(w).constant.data<float>()[1], 0.0f);
  Tensor w_read;
  ASSERT_TRUE(model.read_value(w, w_read).is_ok());
  EXPECT_TENSOR(filled({3, 2, 3, 3}, 0), w_read);
}

TEST(ReferenceBackend, CheckSupportNamesTheNode) {
  GraphBuilder builder;
  const ValueId x = builder.input("x", {3}, DType::kInt64);
  const ValueId y = builder.node(OpKind::kAdd, {x, x}, {}, "int_add");
  const ValueId z = builder.node(OpKind::kShape, {y}, {}, "shape_of");
  builder.output(z);
  Graph graph = builder.build();
  infer_all(graph);
  std::unique_ptr<Backend> backend = make_reference_backend();
  Status add = backend->check_support(graph, graph.value(y).producer);
  ASSERT_FALSE(add.is_ok());
  EXPECT_NE(add.message().find("node 'int_add'"), std::string::npos) << add.message();
  EXPECT_NE(add.message().find("int64"), std::string::npos) << add.message();
  Status shape = backend->check_support(graph, graph.value(z).producer);
  ASSERT_FALSE(shape.is_ok());
  EXPECT_NE(shape.message().find("node 'shape_of'"), std::string::npos) << shape.message();
  Result<std::unique_ptr<CompiledModel>> compiled = backend->compile(graph, PlanOptions{});
  ASSERT_FALSE(compiled.is_ok());
  EXPECT_EQ(compiled.status().code(), StatusCode::kUnsupported);
}

}  // namespace
}  // namespace faultline
