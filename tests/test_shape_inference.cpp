// Shape inference (engine/shape_inference.h): hand-computed output shapes for every op, the window and
// broadcast helpers, and errors that name the node.
#include <gtest/gtest.h>

#include <limits>

#include "engine/shape_inference.h"
#include "tests/support/graph_builder.h"

namespace faultline {
namespace {

using testing::GraphBuilder;

constexpr int64_t kInt64Max = std::numeric_limits<int64_t>::max();
constexpr int64_t kInt64Min = std::numeric_limits<int64_t>::min();

struct Inferred {
  Status status;
  Shape shape;
  DType dtype = DType::kFloat32;
};

// Builds one node named "probe" over graph inputs of the given shapes (float32 unless `dtypes` says
// otherwise) and infers its output.
Inferred infer(OpKind op, const std::vector<Shape>& shapes, OpAttrs attrs = {}, std::vector<DType> dtypes = {}) {
  GraphBuilder builder;
  std::vector<ValueId> inputs;
  for (size_t i = 0; i < shapes.size(); ++i)
    inputs.push_back(
        builder.input("in" + std::to_string(i), shapes[i], i < dtypes.size() ? dtypes[i] : DType::kFloat32));
  ValueId out = builder.node(op, inputs, std::move(attrs), "probe");
  Graph& graph = builder.graph();
  Inferred result;
  result.status = infer_output_shapes(graph, graph.value(out).producer);
  result.shape = graph.value(out).shape;
  result.dtype = graph.value(out).dtype;
  if (result.status.is_ok()) {
    EXPECT_TRUE(graph.value(out).shape_known);
  }
  return result;
}

// Same, with constant inputs (ConstantOfShape, Range).
Inferred infer_on_constants(OpKind op, const std::vector<Tensor>& constants, OpAttrs attrs = {}) {
  GraphBuilder builder;
  std::vector<ValueId> inputs;
  for (size_t i = 0; i < constants.size(); ++i)
    inputs.push_back(builder.constant("c" + std::to_string(i), constants[i]));
  ValueId out = builder.node(op, inputs, std::move(attrs), "probe");
  Graph& graph = builder.graph();
  Inferred result;
  result.status = infer_output_shapes(graph, graph.value(out).producer);
  result.shape = graph.value(out).shape;
  result.dtype = graph.value(out).dtype;
  return result;
}

Shape shape_of(OpKind op, const std::vector<Shape>& shapes, OpAttrs attrs = {}) {
  Inferred result = infer(op, shapes, std::move(attrs));
  EXPECT_TRUE(result.status.is_ok()) << result.status.message();
  return result.shape;
}

// The error names the node and mentions `fragment`.
void expect_error(const Inferred& result, const std::string& fragment) {
  ASSERT_FALSE(result.status.is_ok()) << "expected an error mentioning '" << fragment << "'";
  EXPECT_NE(result.status.message().find("node 'probe'"), std::string::npos) << result.status.message();
  EXPECT_NE(result.status.message().find(fragment), std::string::npos) << result.status.message();
}

Tensor scalar_int64(int64_t value) {
  return Tensor::from_int64s({}, {value});
}
Tensor scalar_float(float value) {
  return Tensor::from_floats({}, {value});
}

// --- helpers --------------------------------------------------------------------------------------------

TEST(WindowOutputSize, FloorDivision) {
  EXPECT_EQ(window_output_size(32, 3, 1, 1, 1, 1, false), 32);
  EXPECT_EQ(window_output_size(32, 3, 2, 1, 1, 1, false), 16);
  EXPECT_EQ(window_output_size(7, 2, 2, 1, 0, 0, false), 3);
  EXPECT_EQ(window_output_size(7, 3, 1, 2, 0, 0, false), 3);  // effective kernel 5
  EXPECT_EQ(window_output_size(2, 3, 1, 1, 0, 0, false), 0);  // does not fit
}

TEST(WindowOutputSize, CeilModeAddsAPartialWindow) {
  EXPECT_EQ(window_output_size(7, 2, 2, 1, 0, 0, true), 4);
  EXPECT_EQ(window_output_size(6, 2, 2, 1, 0, 0, true), 3);  // exact: no extra window
  EXPECT_EQ(window_output_size(6, 3, 2, 1, 1, 1, true), 4);  // last window starts at 5, inside the input
}

TEST(WindowOutputSize, CeilModeDropsAWindowStartingInTheEndPadding) {
  // Length 5, kernel 2, stride 2, pads 1+1: ceil gives 4 windows, the 4th starting at 5 = the end pad.
  // PyTorch's MaxPool1d(2, 2, padding=1, ceil_mode=True) returns 3.
  EXPECT_EQ(window_output_size(5, 2, 2, 1, 1, 1, true), 3);
  EXPECT_EQ(window_output_size(5, 2, 2, 1, 1, 1, false), 3);
}

TEST(ResolveWindow, FillsDefaults) {
  std::vector<int64_t> strides, dilations, pads;
  AutoPad auto_pad = AutoPad::kNotSet;
  resolve_window({5, 6}, {3, 3}, auto_pad, strides, dilations, pads);
  EXPECT_EQ(strides, (std::vector<int64_t>{1, 1}));
  EXPECT_EQ(dilations, (std::vector<int64_t>{1, 1}));
  EXPECT_EQ(pads, (std::vector<int64_t>{0, 0, 0, 0}));
}

TEST(ResolveWindow, SameUpperPutsTheExtraPadAtTheEnd) {
  std::vector<int64_t> strides, dilations, pads;
  AutoPad auto_pad = AutoPad::kSameUpper;
  resolve_window({5}, {4}, auto_pad, strides, dilations, pads);  // total pad 3
  EXPECT_EQ(pads, (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(auto_pad, AutoPad::kNotSet);
}

TEST(ResolveWindow, SameLowerPutsTheExtraPadAtTheBeginning) {
  std::vector<int64_t> strides, dilations, pads;
  AutoPad auto_pad = AutoPad::kSameLower;
  resolve_window({5}, {4}, auto_pad, strides, dilations, pads);
  EXPECT_EQ(pads, (std::vector<int64_t>{2, 1}));
}

TEST(ResolveWindow, SameWithStrideAndDilation) {
  std::vector<int64_t> strides = {2, 2}, dilations = {1, 2}, pads;
  AutoPad auto_pad = AutoPad::kSameUpper;
  // Axis 0: out ceil(7/2)=4, total (4-1)*2+3-7 = 2. Axis 1: effective kernel 5, out 4, total 6+5-8 = 3.
  resolve_window({7, 8}, {3, 3}, auto_pad, strides, dilations, pads);
  EXPECT_EQ(pads, (std::vector<int64_t>{1, 1, 1, 2}));
}

TEST(ResolveWindow, ValidDropsExplicitPads) {
  std::vector<int64_t> strides, dilations, pads = {1, 1};
  AutoPad auto_pad = AutoPad::kValid;
  resolve_window({5}, {3}, auto_pad, strides, dilations, pads);
  EXPECT_EQ(pads, (std::vector<int64_t>{0, 0}));
}

TEST(BroadcastShapes, NumPyRules) {
  EXPECT_EQ(broadcast_shapes({2, 3, 4}, {3, 1}).value(), (Shape{2, 3, 4}));
  EXPECT_EQ(broadcast_shapes({2, 3, 1, 1}, {3, 1, 1}).value(), (Shape{2, 3, 1, 1}));
  EXPECT_EQ(broadcast_shapes({1, 3, 1, 5}, {2, 1, 4, 1}).value(), (Shape{2, 3, 4, 5}));
  EXPECT_EQ(broadcast_shapes({}, {2, 3}).value(), (Shape{2, 3}));
  EXPECT_EQ(broadcast_shapes({0, 3}, {1, 3}).value(), (Shape{0, 3}));
  Result<Shape> bad = broadcast_shapes({2, 3}, {4});
  ASSERT_FALSE(bad.is_ok());
  EXPECT_NE(bad.status().message().find("[2, 3]"), std::string::npos);
  EXPECT_NE(bad.status().message().find("[4]"), std::string::npos);
}

TEST(ResolveSlice, NegativeIndicesClampingAndSteps) {
  SliceAttrs attrs;
  attrs.starts = {-3};
  attrs.ends = {kInt64Max};
  std::vector<SliceAxisRange> ranges = resolve_slice({10}, attrs).value();
  EXPECT_EQ(ranges[0].start, 7);
  EXPECT_EQ(ranges[0].count, 3);

  attrs.starts = {-1};
  attrs.ends = {kInt64Min};
  attrs.steps = {-1};
  ranges = resolve_slice({10}, attrs).value();  // the whole axis reversed
  EXPECT_EQ(ranges[0].start, 9);
  EXPECT_EQ(ranges[0].step, -1);
  EXPECT_EQ(ranges[0].count, 10);

  attrs.starts = {8};
  attrs.ends = {1};
  attrs.steps = {-3};
  ranges = resolve_slice({10}, attrs).value();  // 8, 5, 2
  EXPECT_EQ(ranges[0].count, 3);

  attrs.starts = {20};
  attrs.ends = {0};
  attrs.steps = {-1};
  ranges = resolve_slice({10}, attrs).value();  // start clamps to 9: 9..1
  EXPECT_EQ(ranges[0].start, 9);
  EXPECT_EQ(ranges[0].count, 9);

  attrs.starts = {5};
  attrs.ends = {2};
  attrs.steps = {1};
  EXPECT_EQ(resolve_slice({10}, attrs).value()[0].count, 0);
}

TEST(ResolveSlice, UnnamedAxesReadEverything) {
  SliceAttrs attrs;
  attrs.starts = {1};
  attrs.ends = {3};
  attrs.axes = {-1};
  std::vector<SliceAxisRange> ranges = resolve_slice({4, 5}, attrs).value();
  EXPECT_EQ(ranges[0].count, 4);
  EXPECT_EQ(ranges[0].start, 0);
  EXPECT_EQ(ranges[1].start, 1);
  EXPECT_EQ(ranges[1].count, 2);
}

TEST(ResolveSlice, Errors) {
  SliceAttrs attrs;
  attrs.starts = {0};
  attrs.ends = {1};
  attrs.steps = {0};
  EXPECT_FALSE(resolve_slice({4}, attrs).is_ok());
  attrs.steps = {};
  attrs.axes = {1};
  EXPECT_FALSE(resolve_slice({4}, attrs).is_ok());
  attrs.starts = {0, 0};
  attrs.ends = {1, 1};
  attrs.axes = {0, -1};
  EXPECT_FALSE(resolve_slice({4}, attrs).is_ok());  // axis 0 named twice
  attrs.axes = {0};
  EXPECT_FALSE(resolve_slice({4}, attrs).is_ok());  // lengths differ
}

// --- ops ------------------------------------------------------------------------------------------------

TEST(InferConv, TwoDimensional) {
  ConvAttrs attrs;
  attrs.pads = {1, 1, 1, 1};
  EXPECT_EQ(shape_of(OpKind::kConv, {{1, 3, 32, 32}, {8, 3, 3, 3}, {8}}, attrs), (Shape{1, 8, 32, 32}));
  attrs.strides = {2, 2};
  EXPECT_EQ(shape_of(OpKind::kConv, {{2, 3, 32, 32}, {8, 3, 3, 3}}, attrs), (Shape{2, 8, 16, 16}));
}

TEST(InferConv, OneAndThreeDimensional) {
  EXPECT_EQ(shape_of(OpKind::kConv, {{2, 3, 10}, {5, 3, 3}}, ConvAttrs{}), (Shape{2, 5, 8}));
  EXPECT_EQ(shape_of(OpKind::kConv, {{1, 2, 4, 5, 6}, {3, 2, 2, 2, 2}}, ConvAttrs{}), (Shape{1, 3, 3, 4, 5}));
}

TEST(InferConv, GroupDilationAsymmetricPads) {
  ConvAttrs depthwise;
  depthwise.group = 4;
  EXPECT_EQ(shape_of(OpKind::kConv, {{1, 4, 8, 8}, {8, 1, 3, 3}}, depthwise), (Shape{1, 8, 6, 6}));
  ConvAttrs dilated;
  dilated.dilations = {2, 2};
  EXPECT_EQ(shape_of(OpKind::kConv, {{1, 1, 7, 7}, {1, 1, 3, 3}}, dilated), (Shape{1, 1, 3, 3}));
  ConvAttrs asymmetric;
  asymmetric.pads = {0, 1, 2, 3};  // H: 5+0+2-3+1 = 5, W: 5+1+3-3+1 = 7
  EXPECT_EQ(shape_of(OpKind::kConv, {{1, 1, 5, 5}, {1, 1, 3, 3}}, asymmetric), (Shape{1, 1, 5, 7}));
}

TEST(InferConv, UnresolvedAutoPadIsResolvedForTheShape) {
  ConvAttrs attrs;
  attrs.auto_pad = AutoPad::kSameUpper;
  attrs.strides = {2, 2};
  EXPECT_EQ(shape_of(OpKind::kConv, {{1, 1, 7, 7}, {1, 1, 3, 3}}, attrs), (Shape{1, 1, 4, 4}));
}

TEST(InferConv, Errors) {
  expect_error(infer(OpKind::kConv, {{1, 4, 8, 8}, {8, 3, 3, 3}}, ConvAttrs{}), "4 channels");
  ConvAttrs grouped;
  grouped.group = 2;
  expect_error(infer(OpKind::kConv, {{1, 4, 8, 8}, {3, 2, 3, 3}}, grouped), "group 2");
  expect_error(infer(OpKind::kConv, {{1, 3, 8, 8}, {8, 3, 3, 3}, {4}}, ConvAttrs{}), "bias");
  expect_error(infer(OpKind::kConv, {{1, 3, 2, 2}, {8, 3, 3, 3}}, ConvAttrs{}), "does not fit");
  ConvAttrs wrong_kernel;
  wrong_kernel.kernel_shape = {5, 5};
  expect_error(infer(OpKind::kConv, {{1, 3, 8, 8}, {8, 3, 3, 3}}, wrong_kernel), "kernel_shape");
  ConvAttrs wrong_strides;
  wrong_strides.strides = {1, 1, 1};
  expect_error(infer(OpKind::kConv, {{1, 3, 8, 8}, {8, 3, 3, 3}}, wrong_strides), "strides");
}

TEST(InferPool, MaxAndAverage) {
  PoolAttrs attrs;
  attrs.kernel_shape = {2, 2};
  attrs.strides = {2, 2};
  EXPECT_EQ(shape_of(OpKind::kMaxPool, {{1, 3, 7, 7}}, attrs), (Shape{1, 3, 3, 3}));
  attrs.ceil_mode = true;
  EXPECT_EQ(shape_of(OpKind::kMaxPool, {{1, 3, 7, 7}}, attrs), (Shape{1, 3, 4, 4}));
  attrs.pads = {1, 1, 1, 1};
  EXPECT_EQ(shape_of(OpKind::kAveragePool, {{1, 3, 5, 5}}, attrs), (Shape{1, 3, 3, 3}));  // PyTorch rule
  PoolAttrs resnet_stem;
  resnet_stem.kernel_shape = {3, 3};
  resnet_stem.strides = {2, 2};
  resnet_stem.pads = {1, 1, 1, 1};
  EXPECT_EQ(shape_of(OpKind::kMaxPool, {{1, 64, 112, 112}}, resnet_stem), (Shape{1, 64, 56, 56}));
}

TEST(InferPool, Errors) {
  PoolAttrs attrs;
  attrs.kernel_shape = {4, 4};
  expect_error(infer(OpKind::kMaxPool, {{1, 1, 3, 3}}, attrs), "does not fit");
  attrs.kernel_shape = {2};
  expect_error(infer(OpKind::kMaxPool, {{1, 1, 3, 3}}, attrs), "kernel_shape");
}

TEST(InferGlobalPool, KeepsNAndC) {
  EXPECT_EQ(shape_of(OpKind::kGlobalAveragePool, {{2, 3, 5, 7}}), (Shape{2, 3, 1, 1}));
  EXPECT_EQ(shape_of(OpKind::kGlobalMaxPool, {{2, 3, 5}}), (Shape{2, 3, 1}));
}

TEST(InferElementwise, UnaryKeepsTheShape) {
  for (OpKind op : {OpKind::kRelu, OpKind::kLeakyRelu, OpKind::kSigmoid, OpKind::kTanh, OpKind::kIdentity})
    EXPECT_EQ(shape_of(op, {{2, 3, 4}}), (Shape{2, 3, 4})) << op_name(op);
  EXPECT_EQ(shape_of(OpKind::kClip, {{5}}, ClipAttrs{}), (Shape{5}));
  ClipAttrs unspecialized;
  unspecialized.bounds_from_inputs = true;
  expect_error(infer(OpKind::kClip, {{5}}, unspecialized), "specialized");
}

TEST(InferElementwise, BinaryBroadcasts) {
  EXPECT_EQ(shape_of(OpKind::kAdd, {{2, 3, 1, 1}, {3, 1, 1}}), (Shape{2, 3, 1, 1}));
  EXPECT_EQ(shape_of(OpKind::kMul, {{2, 3, 4, 4}, {3, 1, 1}}), (Shape{2, 3, 4, 4}));
  EXPECT_EQ(shape_of(OpKind::kDiv, {{}, {4}}), (Shape{4}));
  Inferred ints = infer(OpKind::kSub, {{3}, {1}}, {}, {DType::kInt64, DType::kInt64});
  EXPECT_EQ(ints.dtype, DType::kInt64);
  expect_error(infer(OpKind::kAdd, {{2, 3}, {4}}), "broadcast");
  expect_error(infer(OpKind::kAdd, {{3}, {3}}, {}, {DType::kFloat32, DType::kInt64}), "int64");
}

TEST(InferBatchNorm, ChecksPerChannelParameters) {
  EXPECT_EQ(shape_of(OpKind::kBatchNormalization, {{2, 3, 4, 4}, {3}, {3}, {3}, {3}}), (Shape{2, 3, 4, 4}));
  expect_error(infer(OpKind::kBatchNormalization, {{2, 3, 4, 4}, {3}, {3}, {4}, {3}}), "mean");
}

TEST(InferSoftmax, AxisRange) {
  SoftmaxAttrs attrs;
  attrs.axis = -1;
  EXPECT_EQ(shape_of(OpKind::kSoftmax, {{2, 10}}, attrs), (Shape{2, 10}));
  attrs.axis = 2;
  expect_error(infer(OpKind::kSoftmax, {{2, 10}}, attrs), "axis 2");
}

TEST(InferGemm, TransposesAndBias) {
  EXPECT_EQ(shape_of(OpKind::kGemm, {{2, 3}, {3, 4}}, GemmAttrs{}), (Shape{2, 4}));
  GemmAttrs trans;
  trans.trans_a = true;
  trans.trans_b = true;
  EXPECT_EQ(shape_of(OpKind::kGemm, {{3, 2}, {4, 3}, {4}}, trans), (Shape{2, 4}));
  EXPECT_EQ(shape_of(OpKind::kGemm, {{2, 3}, {3, 4}, {2, 1}}, GemmAttrs{}), (Shape{2, 4}));
  EXPECT_EQ(shape_of(OpKind::kGemm, {{2, 3}, {3, 4}, {}}, GemmAttrs{}), (Shape{2, 4}));
  expect_error(infer(OpKind::kGemm, {{2, 3}, {4, 4}}, GemmAttrs{}), "disagree on K");
  expect_error(infer(OpKind::kGemm, {{2, 3}, {3, 4}, {3}}, GemmAttrs{}), "does not broadcast");
}

TEST(InferMatMul, VectorsAndBatchBroadcast) {
  EXPECT_EQ(shape_of(OpKind::kMatMul, {{2, 3}, {3, 4}}), (Shape{2, 4}));
  EXPECT_EQ(shape_of(OpKind::kMatMul, {{3}, {3, 4}}), (Shape{4}));
  EXPECT_EQ(shape_of(OpKind::kMatMul, {{2, 3}, {3}}), (Shape{2}));
  EXPECT_EQ(shape_of(OpKind::kMatMul, {{3}, {3}}), (Shape{}));
  EXPECT_EQ(shape_of(OpKind::kMatMul, {{5, 1, 2, 3}, {4, 3, 6}}), (Shape{5, 4, 2, 6}));
  EXPECT_EQ(shape_of(OpKind::kMatMul, {{3}, {7, 3, 2}}), (Shape{7, 2}));
  expect_error(infer(OpKind::kMatMul, {{2, 3}, {4, 5}}), "disagree on K");
  expect_error(infer(OpKind::kMatMul, {{2, 2, 3}, {3, 3, 4}}), "batch");
}

TEST(InferConcat, AlongAnyAxis) {
  ConcatAttrs attrs;
  attrs.axis = -1;
  EXPECT_EQ(shape_of(OpKind::kConcat, {{2, 3}, {2, 5}, {2, 1}}, attrs), (Shape{2, 9}));
  attrs.axis = 0;
  EXPECT_EQ(shape_of(OpKind::kConcat, {{2, 3}, {4, 3}}, attrs), (Shape{6, 3}));
  expect_error(infer(OpKind::kConcat, {{2, 3}, {2, 5}}, attrs), "outside axis 0");
  expect_error(infer(OpKind::kConcat, {{2, 3}, {2, 3, 1}}, attrs), "does not match");
}

TEST(InferFlatten, AxisZeroNegativeAndRank) {
  FlattenAttrs attrs;
  EXPECT_EQ(shape_of(OpKind::kFlatten, {{2, 3, 4}}, attrs), (Shape{2, 12}));
  attrs.axis = 0;
  EXPECT_EQ(shape_of(OpKind::kFlatten, {{2, 3, 4}}, attrs), (Shape{1, 24}));
  attrs.axis = -1;
  EXPECT_EQ(shape_of(OpKind::kFlatten, {{2, 3, 4}}, attrs), (Shape{6, 4}));
  attrs.axis = 3;
  EXPECT_EQ(shape_of(OpKind::kFlatten, {{2, 3, 4}}, attrs), (Shape{24, 1}));
  attrs.axis = 4;
  expect_error(infer(OpKind::kFlatten, {{2, 3, 4}}, attrs), "axis 4");
}

ReshapeAttrs reshape_to(std::vector<int64_t> shape, bool allowzero = false) {
  ReshapeAttrs attrs;
  attrs.shape = std::move(shape);
  attrs.allowzero = allowzero;
  attrs.shape_from_input = false;
  return attrs;
}

TEST(InferReshape, ZeroCopiesAndMinusOneInfers) {
  EXPECT_EQ(shape_of(OpKind::kReshape, {{2, 3, 4}}, reshape_to({0, -1})), (Shape{2, 12}));
  EXPECT_EQ(shape_of(OpKind::kReshape, {{2, 3, 4}}, reshape_to({-1})), (Shape{24}));
  EXPECT_EQ(shape_of(OpKind::kReshape, {{2, 3, 4}}, reshape_to({4, 0, 2})), (Shape{4, 3, 2}));
  EXPECT_EQ(shape_of(OpKind::kReshape, {{0, 3}}, reshape_to({3, 0}, true)), (Shape{3, 0}));
}

TEST(InferReshape, Errors) {
  expect_error(infer(OpKind::kReshape, {{2, 3, 4}}, reshape_to({-1, -1})), "more than one -1");
  expect_error(infer(OpKind::kReshape, {{2, 3, 4}}, reshape_to({5, -1})), "cannot infer");
  expect_error(infer(OpKind::kReshape, {{2, 3, 4}}, reshape_to({5, 5})), "cannot reshape");
  expect_error(infer(OpKind::kReshape, {{2, 3, 4}}, ReshapeAttrs{}), "specialized");
}

TEST(InferTranspose, DefaultReversesAxes) {
  EXPECT_EQ(shape_of(OpKind::kTranspose, {{2, 3, 4}}, TransposeAttrs{}), (Shape{4, 3, 2}));
  EXPECT_EQ(shape_of(OpKind::kTranspose, {{2, 3, 4}}, TransposeAttrs{{0, 2, 1}}), (Shape{2, 4, 3}));
  expect_error(infer(OpKind::kTranspose, {{2, 3, 4}}, TransposeAttrs{{0, 0, 1}}), "permutation");
}

TEST(InferPad, PositiveAndNegativePads) {
  PadAttrs attrs;
  attrs.pads = {0, 0, 1, 2, 0, 0, 3, -1};
  EXPECT_EQ(shape_of(OpKind::kPad, {{1, 2, 3, 3}}, attrs), (Shape{1, 2, 7, 4}));
  attrs.pads = {-2, -2};
  expect_error(infer(OpKind::kPad, {{3}}, attrs), "remove more");
  attrs.pads = {1, 1, 1};
  expect_error(infer(OpKind::kPad, {{3}}, attrs), "entries");
}

TEST(InferSlice, Shapes) {
  SliceAttrs attrs;
  attrs.starts = {1, -1};
  attrs.ends = {kInt64Max, kInt64Min};
  attrs.axes = {0, 2};
  attrs.steps = {2, -1};
  EXPECT_EQ(shape_of(OpKind::kSlice, {{6, 3, 4}}, attrs), (Shape{3, 3, 4}));
  attrs.steps = {0, 1};
  expect_error(infer(OpKind::kSlice, {{6, 3, 4}}, attrs), "step");
}

TEST(InferShapeOps, ShapeGatherSqueezeUnsqueezeCast) {
  Inferred shape = infer(OpKind::kShape, {{2, 3, 4}});
  EXPECT_EQ(shape.shape, (Shape{3}));
  EXPECT_EQ(shape.dtype, DType::kInt64);

  GatherAttrs gather;
  gather.axis = 1;
  EXPECT_EQ(infer(OpKind::kGather, {{5, 4, 3}, {2, 2}}, gather, {DType::kFloat32, DType::kInt64}).shape,
            (Shape{5, 2, 2, 3}));
  gather.axis = 0;
  EXPECT_EQ(infer(OpKind::kGather, {{4, 3}, {}}, gather, {DType::kInt64, DType::kInt64}).shape, (Shape{3}));
  gather.axis = -1;
  EXPECT_EQ(infer(OpKind::kGather, {{4, 3}, {5}}, gather, {DType::kFloat32, DType::kInt32}).shape, (Shape{4, 5}));
  expect_error(infer(OpKind::kGather, {{4, 3}, {5}}, gather), "indices");

  AxesAttrs unsqueeze;
  unsqueeze.axes = {0, 3};
  EXPECT_EQ(shape_of(OpKind::kUnsqueeze, {{3, 4}}, unsqueeze), (Shape{1, 3, 4, 1}));
  unsqueeze.axes = {-1};
  EXPECT_EQ(shape_of(OpKind::kUnsqueeze, {{3, 4}}, unsqueeze), (Shape{3, 4, 1}));
  unsqueeze.axes = {1, 1};
  expect_error(infer(OpKind::kUnsqueeze, {{3, 4}}, unsqueeze), "twice");

  AxesAttrs squeeze;
  EXPECT_EQ(shape_of(OpKind::kSqueeze, {{1, 3, 1, 4}}, squeeze), (Shape{3, 4}));
  squeeze.axes = {-2};
  EXPECT_EQ(shape_of(OpKind::kSqueeze, {{1, 3, 1, 4}}, squeeze), (Shape{1, 3, 4}));
  squeeze.axes = {1};
  expect_error(infer(OpKind::kSqueeze, {{1, 3, 1, 4}}, squeeze), "size 3");

  Inferred cast = infer(OpKind::kCast, {{2, 2}}, CastAttrs{DType::kInt64});
  EXPECT_EQ(cast.shape, (Shape{2, 2}));
  EXPECT_EQ(cast.dtype, DType::kInt64);
}

TEST(InferShapeOps, ConstantOfShapeReadsTheConstant) {
  Inferred zeros = infer_on_constants(OpKind::kConstantOfShape, {Tensor::from_int64s({2}, {2, 3})});
  ASSERT_TRUE(zeros.status.is_ok()) << zeros.status.message();
  EXPECT_EQ(zeros.shape, (Shape{2, 3}));
  EXPECT_EQ(zeros.dtype, DType::kFloat32);
  ConstantOfShapeAttrs ints;
  ints.value = Tensor::from_int64s({1}, {7});
  Inferred typed = infer_on_constants(OpKind::kConstantOfShape, {Tensor::from_int64s({1}, {4})}, ints);
  EXPECT_EQ(typed.shape, (Shape{4}));
  EXPECT_EQ(typed.dtype, DType::kInt64);
  Inferred unknown = infer(OpKind::kConstantOfShape, {{2}}, {}, {DType::kInt64});
  ASSERT_TRUE(unknown.status.is_ok()) << unknown.status.message();
  EXPECT_EQ(unknown.shape, (Shape{kDynamicDim, kDynamicDim}));  // rank known, values not yet
  expect_error(infer(OpKind::kConstantOfShape, {{2}}), "int64");
}

TEST(InferShapeOps, RangeLength) {
  Inferred ints = infer_on_constants(OpKind::kRange, {scalar_int64(0), scalar_int64(10), scalar_int64(3)});
  ASSERT_TRUE(ints.status.is_ok()) << ints.status.message();
  EXPECT_EQ(ints.shape, (Shape{4}));  // 0 3 6 9
  EXPECT_EQ(ints.dtype, DType::kInt64);
  EXPECT_EQ(infer_on_constants(OpKind::kRange, {scalar_int64(10), scalar_int64(4), scalar_int64(-2)}).shape,
            (Shape{3}));  // 10 8 6
  EXPECT_EQ(infer_on_constants(OpKind::kRange, {scalar_int64(5), scalar_int64(1), scalar_int64(1)}).shape, (Shape{0}));
  Inferred floats = infer_on_constants(OpKind::kRange, {scalar_float(1.0f), scalar_float(2.0f), scalar_float(0.3f)});
  EXPECT_EQ(floats.shape, (Shape{4}));  // 1, 1.3, 1.6, 1.9
  EXPECT_EQ(floats.dtype, DType::kFloat32);
  expect_error(infer_on_constants(OpKind::kRange, {scalar_int64(0), scalar_int64(4), scalar_int64(0)}), "delta");
  Inferred unknown = infer(OpKind::kRange, {{}, {}, {}}, {}, {DType::kInt64, DType::kInt64, DType::kInt64});
  ASSERT_TRUE(unknown.status.is_ok()) << unknown.status.message();
  EXPECT_EQ(unknown.shape, (Shape{kDynamicDim}));
}

TEST(InferOutputShapes, RefusesNonStaticInputs) {
  expect_error(infer(OpKind::kRelu, {{kDynamicDim, 3}}), "no static shape");
}

TEST(InferOutputShapes, RefusesExtraOutputs) {
  GraphBuilder builder;
  ValueId x = builder.input("x", {1, 1, 4, 4});
  PoolAttrs attrs;
  attrs.kernel_shape = {2, 2};
  ValueId y = builder.node(OpKind::kMaxPool, {x}, attrs, "probe");
  Graph& graph = builder.graph();
  NodeId id = graph.value(y).producer;
  Value indices;
  indices.name = "indices";
  graph.node(id).outputs.push_back(graph.add_value(indices));
  Status status = infer_output_shapes(graph, id);
  ASSERT_FALSE(status.is_ok());
  EXPECT_EQ(status.code(), StatusCode::kUnsupported);
  EXPECT_NE(status.message().find("node 'probe'"), std::string::npos);
}

}  // namespace
}  // namespace faultline
