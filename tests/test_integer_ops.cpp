// The integer ops (engine/op_attrs.h QuantizeAttrs: QuantizeLinear, ConvInteger, MatMulInteger, QLinearConv,
// QLinearMatMul) on the reference backend:
//   - kernels against hand-computed cases: round half to even before the zero point is added, saturation,
//     int32 accumulators that wrap modulo 2^32, padding with the zero point, per-channel scales, NaN scales;
//   - shape and dtype inference, and errors that name the node (zero-point dtypes, per-channel lengths);
//   - a real int8 model (tests/data/int8/mnist_int8.onnx, a QOperator MNIST CNN made by
//     scripts/make_int8_model.py) through Session, bit-exact against the script's NumPy reading of the ONNX
//     spec, in one batch and in several; the oneDNN backend refusing it with a hint; `faultline layers` listing
//     its int8 weights; incremental fault passes on it matching full passes.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "engine/session.h"
#include "engine/shape_inference.h"
#include "faults/fault_generator.h"
#include "faults/fault_list.h"
#include "faults/fault_replay.h"
#include "faults/fault_targets.h"
#include "frontends/load_model.h"
#include "kernels/reference/reference_ops.h"
#include "tests/support/fault_comparison.h"
#include "tests/support/graph_builder.h"
#include "tests/support/run_command.h"
#include "tests/support/test_support.h"

namespace faultline {
namespace {

using testing::GraphBuilder;
using testing::read_npy_or_fail;
using testing::test_data;

Tensor f32(Shape shape, const std::vector<float>& v) {
  return testing::tensor_of(DType::kFloat32, std::move(shape), v);
}
Tensor i8(Shape shape, const std::vector<int8_t>& v) {
  return testing::tensor_of(DType::kInt8, std::move(shape), v);
}
Tensor u8(Shape shape, const std::vector<uint8_t>& v) {
  return testing::tensor_of(DType::kUInt8, std::move(shape), v);
}
Tensor i32(Shape shape, const std::vector<int32_t>& v) {
  return testing::tensor_of(DType::kInt32, std::move(shape), v);
}

// Runs one node's reference kernel on `inputs` (null: omitted) into an output of `dtype` and `shape`.
Result<Tensor> run_node(OpKind op, const std::vector<const Tensor*>& inputs, DType dtype, Shape shape,
                        OpAttrs attrs = {}) {
  Node node;
  node.op = op;
  node.name = "probe";
  node.attrs = std::move(attrs);
  FL_ASSIGN_OR_RETURN(Tensor out, Tensor::allocate(dtype, std::move(shape)));
  Tensor* outputs[] = {&out};
  FL_RETURN_IF_ERROR(run_reference_node(node, inputs, outputs));
  return out;
}

template <typename T>
std::vector<T> values_of(const Tensor& t) {
  return std::vector<T>(t.data<T>(), t.data<T>() + t.numel());
}

// --- QuantizeLinear ----------------------------------------------------------------------------------------

TEST(QuantizeLinear, RoundsHalfToEvenThenAddsTheZeroPointThenSaturates) {
  // x / 2: 0.5 -> 0, 1.5 -> 2, 2.5 -> 2, -0.5 -> -0, -1.5 -> -2; then + 1: 1, 3, 3, 1, -1; 300 / 2 + 1 -> 127;
  // -300 / 2 + 1 -> -128. Adding the odd zero point before rounding would give 2, 4, 4, 0, -2 instead.
  const Tensor x = f32({7}, {1.0f, 3.0f, 5.0f, -1.0f, -3.0f, 300.0f, -300.0f});
  const Tensor scale = f32({}, {2.0f});
  const Tensor zero_point = i8({}, {1});
  auto y = run_node(OpKind::kQuantizeLinear, {&x, &scale, &zero_point}, DType::kInt8, {7});
  ASSERT_TRUE(y.is_ok()) << y.status().message();
  EXPECT_EQ(values_of<int8_t>(*y), (std::vector<int8_t>{1, 3, 3, 1, -1, 127, -128}));
}

TEST(QuantizeLinear, DefaultsToUint8WithZeroPointZeroAndQuantizesPerAxis) {
  const Tensor x = f32({2, 3}, {-1.0f, 10.0f, 600.0f, 1.0f, 10.0f, 7.0f});
  const Tensor scale = f32({}, {1.0f});
  auto y = run_node(OpKind::kQuantizeLinear, {&x, &scale}, DType::kUInt8, {2, 3});
  ASSERT_TRUE(y.is_ok()) << y.status().message();
  EXPECT_EQ(values_of<uint8_t>(*y), (std::vector<uint8_t>{0, 10, 255, 1, 10, 7}));
  // axis 1: column c uses scale[c] and zero_point[c].
  const Tensor scales = f32({3}, {1.0f, 2.0f, 4.0f});
  const Tensor zero_points = u8({3}, {0, 10, 100});
  auto per_axis =
      run_node(OpKind::kQuantizeLinear, {&x, &scales, &zero_points}, DType::kUInt8, {2, 3}, QuantizeAttrs{/*axis=*/1});
  ASSERT_TRUE(per_axis.is_ok()) << per_axis.status().message();
  // 10 / 2 + 10 = 15, 600 / 4 + 100 = 250, 7 / 4 = 1.75 -> 2 + 100 = 102.
  EXPECT_EQ(values_of<uint8_t>(*per_axis), (std::vector<uint8_t>{0, 15, 250, 1, 15, 102}));
}

TEST(QuantizeLinear, NanStoresZeroAndInfinitySaturates) {
  const Tensor x = f32({3}, {std::numeric_limits<float>::quiet_NaN(), INFINITY, -INFINITY});
  const Tensor scale = f32({}, {1.0f});
  const Tensor zero_point = i8({}, {5});
  auto y = run_node(OpKind::kQuantizeLinear, {&x, &scale, &zero_point}, DType::kInt8, {3});
  ASSERT_TRUE(y.is_ok()) << y.status().message();
  EXPECT_EQ(values_of<int8_t>(*y), (std::vector<int8_t>{0, 127, -128}));
}

// --- DequantizeLinear of int32 (a QDQ model's bias) -------------------------------------------------------------

TEST(DequantizeLinear, Int32DataWithoutZeroPoint) {
  const Tensor x = i32({3}, {-3, 5, 1 << 20});
  const Tensor scale = f32({}, {0.5f});
  auto y = run_node(OpKind::kDequantizeLinear, {&x, &scale}, DType::kFloat32, {3});
  ASSERT_TRUE(y.is_ok()) << y.status().message();
  EXPECT_EQ(values_of<float>(*y), (std::vector<float>{-1.5f, 2.5f, 524288.0f}));
  const Tensor zero_point = i32({}, {0});
  EXPECT_FALSE(run_node(OpKind::kDequantizeLinear, {&x, &scale, &zero_point}, DType::kFloat32, {3}).is_ok());
}

// --- ConvInteger, MatMulInteger ------------------------------------------------------------------------------

TEST(ConvInteger, PadsWithTheZeroPointAndSubtractsPerChannelWeightZeroPoints) {
  // x: 2x2 of 3 (its zero point), plus one 5 at (0, 0); two 2x2 output channels with weight zero points 1 and 2.
  const Tensor x = u8({1, 1, 2, 2}, {5, 3, 3, 3});
  const Tensor w = u8({2, 1, 2, 2}, {1, 1, 1, 4,    // channel 0: minus 1 -> 0 0 0 3
                                     2, 2, 2, 2});  // channel 1: minus 2 -> 0
  const Tensor x_zero_point = u8({}, {3});
  const Tensor w_zero_point = u8({2}, {1, 2});
  ConvAttrs attrs;
  attrs.pads = {1, 1, 1, 1};
  // Centred x is 2 at (0, 0) and 0 elsewhere, padded with 0 (a pad value of 3 - 3). Output 3x3: output (i, j)
  // reads x(i - 1 + kh, j - 1 + kw), so channel 0's only non-zero tap w(1, 1) = 3 meets x(0, 0) at output (0, 0):
  // 6. (Padding with a raw 0 would add (0 - 3) * 3 wherever w(1, 1) falls on the padding: row 2 and column 2.)
  auto y = run_node(OpKind::kConvInteger, {&x, &w, &x_zero_point, &w_zero_point}, DType::kInt32, {1, 2, 3, 3}, attrs);
  ASSERT_TRUE(y.is_ok()) << y.status().message();
  std::vector<int32_t> expected(18, 0);
  expected[0] = 6;
  EXPECT_EQ(values_of<int32_t>(*y), expected);
}

TEST(MatMulInteger, AccumulatesInInt32ModuloTwoToThe32) {
  // 33,100 products of 255 * 255 = 65,025: 2,152,327,500, past INT32_MAX; the int32 sum wraps to
  // 2,152,327,500 - 2^32 = -2,142,639,796.
  const int64_t depth = 33100;
  const Tensor a = u8({1, depth}, std::vector<uint8_t>(depth, 255));
  const Tensor b = u8({depth, 1}, std::vector<uint8_t>(depth, 255));
  auto y = run_node(OpKind::kMatMulInteger, {&a, &b}, DType::kInt32, {1, 1});
  ASSERT_TRUE(y.is_ok()) << y.status().message();
  EXPECT_EQ(y->data<int32_t>()[0], static_cast<int32_t>(int64_t{2152327500} - (int64_t{1} << 32)));
}

TEST(MatMulInteger, PerRowAndPerColumnZeroPoints) {
  const Tensor a = i8({2, 2}, {1, 2, 3, 4});
  const Tensor b = i8({2, 2}, {5, 6, 7, 8});
  const Tensor a_zero_point = i8({2}, {1, -1});  // rows: [0, 1], [4, 5]
  const Tensor b_zero_point = i8({2}, {0, 2});   // columns: [5, 7], [4, 6]
  auto y = run_node(OpKind::kMatMulInteger, {&a, &b, &a_zero_point, &b_zero_point}, DType::kInt32, {2, 2});
  ASSERT_TRUE(y.is_ok()) << y.status().message();
  EXPECT_EQ(values_of<int32_t>(*y), (std::vector<int32_t>{7, 6, 55, 46}));
}

// --- QLinearConv, QLinearMatMul ------------------------------------------------------------------------------

TEST(QLinearConv, RequantizesPerChannelWithBiasRoundingHalfToEvenBeforeTheZeroPoint) {
  // 1x1 convolution of one pixel x = 7 (zero point 2: centred 5) by two channels w = 1 and 3 (zero point 0);
  // biases 0 and 1: sums 5 and 16. x_scale 0.5, w_scale [1, 0.25], y_scale 1: multipliers 0.5 and 0.125;
  // reals 2.5 and 2.0; rint 2 and 2; + y_zero_point 1: 3 and 3. (Rounding after adding 1 would give 4 for the
  // first channel.)
  const Tensor x = u8({1, 1, 1, 1}, {7});
  const Tensor x_scale = f32({}, {0.5f});
  const Tensor x_zero_point = u8({}, {2});
  const Tensor w = i8({2, 1, 1, 1}, {1, 3});
  const Tensor w_scale = f32({2}, {1.0f, 0.25f});
  const Tensor w_zero_point = i8({2}, {0, 0});
  const Tensor y_scale = f32({}, {1.0f});
  const Tensor y_zero_point = i8({}, {1});
  const Tensor bias = i32({2}, {0, 1});
  auto y = run_node(OpKind::kQLinearConv,
                    {&x, &x_scale, &x_zero_point, &w, &w_scale, &w_zero_point, &y_scale, &y_zero_point, &bias},
                    DType::kInt8, {1, 2, 1, 1}, ConvAttrs{});
  ASSERT_TRUE(y.is_ok()) << y.status().message();
  EXPECT_EQ(values_of<int8_t>(*y), (std::vector<int8_t>{3, 3}));
}

TEST(QLinearMatMul, SaturatesToTheOutputRangeAndPerColumnScales) {
  const Tensor a = u8({1, 2}, {200, 100});
  const Tensor a_scale = f32({}, {1.0f});
  const Tensor a_zero_point = u8({}, {0});
  const Tensor b = i8({2, 3}, {1, -1, 0, 1, -1, 1});
  const Tensor b_scale = f32({3}, {1.0f, 1.0f, 0.5f});
  const Tensor b_zero_point = i8({3}, {0, 0, 0});
  const Tensor y_scale = f32({}, {1.0f});
  const Tensor y_zero_point = u8({}, {10});
  // sums 300, -300, 100; reals 300, -300, 50; + 10 -> 255 (saturated), 0 (saturated), 60.
  auto y = run_node(OpKind::kQLinearMatMul,
                    {&a, &a_scale, &a_zero_point, &b, &b_scale, &b_zero_point, &y_scale, &y_zero_point}, DType::kUInt8,
                    {1, 3});
  ASSERT_TRUE(y.is_ok()) << y.status().message();
  EXPECT_EQ(values_of<uint8_t>(*y), (std::vector<uint8_t>{255, 0, 60}));
}

// --- shape and dtype inference -------------------------------------------------------------------------------

struct Inferred {
  Status status;
  Shape shape;
  DType dtype = DType::kFloat32;
};

// One node "probe" over graph inputs of the given shapes and dtypes.
Inferred infer(OpKind op, const std::vector<std::pair<Shape, DType>>& operands, OpAttrs attrs = {}) {
  GraphBuilder builder;
  std::vector<ValueId> inputs;
  for (size_t i = 0; i < operands.size(); ++i)
    inputs.push_back(builder.input("in" + std::to_string(i), operands[i].first, operands[i].second));
  ValueId out = builder.node(op, inputs, std::move(attrs), "probe");
  Graph& graph = builder.graph();
  Inferred result;
  result.status = infer_output_shapes(graph, graph.value(out).producer);
  result.shape = graph.value(out).shape;
  result.dtype = graph.value(out).dtype;
  return result;
}

constexpr DType kF32 = DType::kFloat32;
constexpr DType kI8 = DType::kInt8;
constexpr DType kU8 = DType::kUInt8;
constexpr DType kI32 = DType::kInt32;

// QLinearConv operands for x [1, 3, 8, 8] and w [4, 3, 3, 3], with w_scale of `w_scales` elements.
std::vector<std::pair<Shape, DType>> qlinear_conv_operands(int64_t w_scales, DType x_zero_point = kU8) {
  return {{{1, 3, 8, 8}, kU8}, {{}, kF32}, {{}, x_zero_point}, {{4, 3, 3, 3}, kI8},
          {{w_scales}, kF32},  {{4}, kI8}, {{}, kF32},         {{}, kI8}};
}

TEST(IntegerOpShapes, OutputShapesAndDtypes) {
  Inferred q = infer(OpKind::kQuantizeLinear, {{{2, 3, 4}, kF32}, {{}, kF32}});
  ASSERT_TRUE(q.status.is_ok()) << q.status.message();
  EXPECT_EQ(q.shape, (Shape{2, 3, 4}));
  EXPECT_EQ(q.dtype, kU8);  // no zero point: uint8
  q = infer(OpKind::kQuantizeLinear, {{{2, 3, 4}, kF32}, {{3}, kF32}, {{3}, kI8}}, QuantizeAttrs{1});
  ASSERT_TRUE(q.status.is_ok()) << q.status.message();
  EXPECT_EQ(q.dtype, kI8);

  ConvAttrs conv;
  conv.pads = {1, 1, 1, 1};
  conv.strides = {2, 2};
  Inferred ci = infer(OpKind::kConvInteger, {{{1, 3, 8, 8}, kU8}, {{4, 3, 3, 3}, kI8}, {{}, kU8}, {{4}, kI8}}, conv);
  ASSERT_TRUE(ci.status.is_ok()) << ci.status.message();
  EXPECT_EQ(ci.shape, (Shape{1, 4, 4, 4}));
  EXPECT_EQ(ci.dtype, kI32);

  Inferred mi = infer(OpKind::kMatMulInteger, {{{2, 5, 3}, kI8}, {{3, 7}, kU8}});
  ASSERT_TRUE(mi.status.is_ok()) << mi.status.message();
  EXPECT_EQ(mi.shape, (Shape{2, 5, 7}));
  EXPECT_EQ(mi.dtype, kI32);

  Inferred qc = infer(OpKind::kQLinearConv, qlinear_conv_operands(4), conv);
  ASSERT_TRUE(qc.status.is_ok()) << qc.status.message();
  EXPECT_EQ(qc.shape, (Shape{1, 4, 4, 4}));
  EXPECT_EQ(qc.dtype, kI8);  // y_zero_point's dtype

  Inferred qm =
      infer(OpKind::kQLinearMatMul,
            {{{6, 5}, kI8}, {{}, kF32}, {{}, kI8}, {{5, 2}, kI8}, {{2}, kF32}, {{2}, kI8}, {{}, kF32}, {{}, kU8}});
  ASSERT_TRUE(qm.status.is_ok()) << qm.status.message();
  EXPECT_EQ(qm.shape, (Shape{6, 2}));
  EXPECT_EQ(qm.dtype, kU8);
}

TEST(IntegerOpShapes, ErrorsNameTheNodeAndTheOperand) {
  Inferred mismatched = infer(OpKind::kQLinearConv, qlinear_conv_operands(4, /*x_zero_point=*/kI8), ConvAttrs{});
  EXPECT_FALSE(mismatched.status.is_ok());
  EXPECT_NE(mismatched.status.message().find("probe"), std::string::npos) << mismatched.status.message();
  EXPECT_NE(mismatched.status.message().find("x_zero_point must be uint8, got int8"), std::string::npos)
      << mismatched.status.message();

  Inferred wrong_length = infer(OpKind::kQLinearConv, qlinear_conv_operands(5), ConvAttrs{});
  EXPECT_FALSE(wrong_length.status.is_ok());
  EXPECT_NE(wrong_length.status.message().find("probe"), std::string::npos) << wrong_length.status.message();
  EXPECT_NE(wrong_length.status.message().find("w_scale [5] should have one element or [4] (one per output channel)"),
            std::string::npos)
      << wrong_length.status.message();

  Inferred conv_zero_point = infer(OpKind::kConvInteger, {{{1, 3, 8, 8}, kU8}, {{4, 3, 3, 3}, kI8}, {{}, kI8}});
  EXPECT_NE(conv_zero_point.status.message().find("x_zero_point must be uint8, got int8"), std::string::npos)
      << conv_zero_point.status.message();

  Inferred float_data = infer(OpKind::kMatMulInteger, {{{2, 3}, kF32}, {{3, 2}, kI8}});
  EXPECT_NE(float_data.status.message().find("A must be int8 or uint8, got float32"), std::string::npos)
      << float_data.status.message();

  Inferred bad_bias = infer(
      OpKind::kQLinearConv,
      [] {
        auto operands = qlinear_conv_operands(4);
        operands.push_back({{4}, kF32});
        return operands;
      }(),
      ConvAttrs{});
  EXPECT_NE(bad_bias.status.message().find("bias B must be int32, got float32"), std::string::npos)
      << bad_bias.status.message();

  Inferred per_axis = infer(OpKind::kQuantizeLinear, {{{2, 3}, kF32}, {{2}, kF32}}, QuantizeAttrs{1});
  EXPECT_NE(per_axis.status.message().find("y_scale [2] should have one element or [3]"), std::string::npos)
      << per_axis.status.message();
}

// --- a real int8 model ---------------------------------------------------------------------------------------

const char kModel[] = "int8/mnist_int8.onnx";

std::shared_ptr<const Graph> load_int8_model() {
  auto model = load_model(test_data(kModel));
  EXPECT_TRUE(model.is_ok()) << model.status().message();
  return model.is_ok() ? *model : nullptr;
}

void expect_model_outputs(int64_t batch) {
  auto model = load_int8_model();
  ASSERT_TRUE(model);
  SessionOptions options;
  options.backend = "reference";
  options.batch = batch;
  auto session = Session::create(model, options);
  ASSERT_TRUE(session.is_ok()) << session.status().message();
  const Tensor input = read_npy_or_fail(test_data("int8/mnist_int8_input.npy"));
  auto outputs = (*session)->run({input});
  ASSERT_TRUE(outputs.is_ok()) << outputs.status().message();
  ASSERT_EQ(outputs->size(), 2u);
  // Bit-exact: the script's NumPy performs the same float32 operations in the same order.
  EXPECT_TRUE(testing::tensors_near(read_npy_or_fail(test_data("int8/mnist_int8_logits.npy")), (*outputs)[0], 0, 0));
  EXPECT_TRUE(testing::tensors_near(read_npy_or_fail(test_data("int8/mnist_int8_logits_q.npy")), (*outputs)[1], 0, 0));
}

TEST(Int8Model, MatchesTheNumPySpecBitExactlyInOneBatch) {
  expect_model_outputs(32);
}

TEST(Int8Model, MatchesTheNumPySpecBitExactlyInSeveralBatches) {
  expect_model_outputs(5);
}  // 6 x 5 + 2

TEST(Int8Model, OnednnRefusesWithAHintNamingTheNode) {
  auto model = load_int8_model();
  ASSERT_TRUE(model);
  SessionOptions options;
  options.backend = "onednn";
  auto session = Session::create(model, options);
  ASSERT_FALSE(session.is_ok());
  EXPECT_NE(session.status().message().find(
                "node '/quant/QuantizeLinear' (QuantizeLinear): int8 ops run on the reference backend (--backend "
                "reference)"),
            std::string::npos)
      << session.status().message();
}

TEST(Int8Model, LayersListsTheInt8Weights) {
  const testing::CommandResult result = testing::run_faultline("layers " + test_data(kModel) + " --kind weight --csv");
  ASSERT_EQ(result.exit_code, 0) << result.err;
  for (const char* weight : {"conv1.weight", "conv2.weight", "fc.weight"}) {
    const size_t row = result.out.find(std::string(",") + weight + ",");
    ASSERT_NE(row, std::string::npos) << weight << " missing from:\n" << result.out;
    const std::string line = result.out.substr(row, result.out.find('\n', row) - row);
    EXPECT_NE(line.find(",int8,"), std::string::npos) << line;
  }
  EXPECT_NE(result.out.find(",conv1.bias,"), std::string::npos);  // the int32 bias
}

// Bit flips and stuck-at bits in the int8 weights (conv1, conv2, fc), replayed with incremental passes (which
// compare the int8/uint8 activations' bytes with the golden ones to decide what to rerun) and with full passes:
// the same bytes. (Activation faults on int8/uint8 activations are refused by faults/fault_injector.cpp today.)
TEST(Int8Model, IncrementalWeightFaultPassesMatchFullPasses) {
  auto model = load_int8_model();
  ASSERT_TRUE(model);
  auto targets = list_fault_targets(*model);
  ASSERT_TRUE(targets.is_ok()) << targets.status().message();
  const Tensor input = read_npy_or_fail(test_data("int8/mnist_int8_input.npy"));
  {
    GeneratorOptions generator;
    generator.target = SiteTarget::kWeight;
    generator.models = {FaultModel::kBitFlip, FaultModel::kStuckAt1};
    generator.seed = 3;
    auto list = generate_random_faults(*targets, generator, 40);
    ASSERT_TRUE(list.is_ok()) << list.status().message();
    auto resolved = resolve_fault_list(*list, *targets);
    ASSERT_TRUE(resolved.is_ok()) << resolved.status().message();
    SessionOptions options;
    options.backend = "reference";
    options.batch = 8;
    ReplayOptions full;
    full.incremental = false;
    auto plain = FaultReplayer::create(model, options, *list, *resolved, *targets, input, {}, full);
    auto fast = FaultReplayer::create(model, options, *list, *resolved, *targets, input, {}, ReplayOptions{});
    ASSERT_TRUE(plain.is_ok()) << plain.status().message();
    ASSERT_TRUE(fast.is_ok()) << fast.status().message();
    int changed = 0;
    for (size_t f = 0; f < resolved->size(); ++f) {
      auto a = (*plain)->run(f);
      auto b = (*fast)->run(f);
      ASSERT_TRUE(a.is_ok() && b.is_ok()) << (a.is_ok() ? b.status().message() : a.status().message());
      ASSERT_EQ(a->nbytes(), b->nbytes());
      EXPECT_EQ(std::memcmp(a->raw(), b->raw(), a->nbytes()), 0) << "fault " << f << " differs";
      auto golden = (*plain)->golden();
      ASSERT_TRUE(golden.is_ok());
      changed += std::memcmp(a->raw(), golden->raw(), a->nbytes()) != 0;
    }
    EXPECT_GT(changed, 0) << "no fault changed the output: the faults did not reach the int8 model";
  }
}

}  // namespace
}  // namespace faultline
