// The fault-aware MAC kernel (kernels/reference/fault_aware_mac.h): with no fault, bit for bit the reference
// Conv/Gemm/MatMul kernels; with faults, hand-computed sums, the reference output transformed, and sums that
// leave the scheduled taps out; its GEMM view of each op; and the nodes it refuses.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "engine/shape_inference.h"
#include "kernels/reference/fault_aware_mac.h"
#include "kernels/reference/reference_internal.h"
#include "kernels/reference/reference_ops.h"
#include "tests/support/graph_builder.h"
#include "tests/support/test_support.h"

namespace faultline {
namespace {

using testing::GraphBuilder;
using testing::random_tensor;

uint32_t bits(float value) {
  return std::bit_cast<uint32_t>(value);
}
float from_bits(uint32_t value) {
  return std::bit_cast<float>(value);
}

constexpr uint32_t kSign = 1u << 31;
const WordTransform32 kFlipSign{.flip = kSign};
const WordTransform32 kZero{.keep = 0};

WordTransform32 stuck_at_one(int bit) {
  return WordTransform32{.set = 1u << bit};
}
WordTransform32 stuck_at_zero(int bit) {
  return WordTransform32{.keep = ~(1u << bit)};
}

// One node on constant inputs, its reference output, and the MAC kernel for it. `inputs`: nullopt is an
// omitted optional input (kNoValue slot, null tensor).
struct OpCase {
  std::vector<std::optional<Tensor>> tensors;
  std::vector<const Tensor*> inputs;  // into `tensors`
  std::vector<Shape> shapes;          // empty for an omitted input
  Node node;
  Shape output_shape;
  Tensor reference;  // run_reference_node's output
};

// Builds the node (named `name`), infers its output shape and runs the reference kernel; test failures on error.
OpCase make_case(OpKind op, std::vector<std::optional<Tensor>> tensors, OpAttrs attrs,
                 const std::string& name = "probe") {
  OpCase result;
  result.tensors = std::move(tensors);
  GraphBuilder builder;
  std::vector<ValueId> ids;
  for (size_t i = 0; i < result.tensors.size(); ++i) {
    const std::optional<Tensor>& tensor = result.tensors[i];
    ids.push_back(tensor ? builder.constant("in" + std::to_string(i), *tensor) : kNoValue);
    result.inputs.push_back(tensor ? &*tensor : nullptr);
    result.shapes.push_back(tensor ? tensor->shape() : Shape{});
  }
  const ValueId out = builder.node(op, ids, std::move(attrs), name);
  Graph& graph = builder.graph();
  const NodeId node = graph.value(out).producer;
  const Status inferred = infer_output_shapes(graph, node);
  EXPECT_TRUE(inferred.is_ok()) << inferred.message();
  result.node = graph.node(node);
  result.output_shape = graph.value(out).shape;
  Result<Tensor> output = Tensor::allocate(DType::kFloat32, result.output_shape);
  EXPECT_TRUE(output.is_ok());
  result.reference = std::move(output).value();
  Tensor* output_pointer = &result.reference;
  const Status ran = run_reference_node(result.node, result.inputs, std::span<Tensor* const>(&output_pointer, 1));
  EXPECT_TRUE(ran.is_ok()) << ran.message();
  return result;
}

MacKernel make_kernel(const OpCase& c) {
  Result<MacKernel> kernel = MacKernel::create(c.node, c.shapes, c.output_shape);
  EXPECT_TRUE(kernel.is_ok()) << kernel.status().message();
  return std::move(kernel).value();
}

// The reference output of element (image, row, col).
float reference_at(const OpCase& c, const MacKernel& kernel, int64_t image, int64_t row, int64_t col) {
  return c.reference.data<float>()[image * kernel.image_elements() + kernel.offset(row, col)];
}

// Calls check(image, row, col) for every output element.
template <typename Check>
void for_each_element(const MacKernel& kernel, Check&& check) {
  for (int64_t image = 0; image < kernel.images(); ++image)
    for (int64_t row = 0; row < kernel.rows(); ++row)
      for (int64_t col = 0; col < kernel.cols(); ++col) check(image, row, col);
}

ConvAttrs conv_attrs(std::vector<int64_t> strides, std::vector<int64_t> pads, std::vector<int64_t> dilations = {},
                     int64_t group = 1) {
  ConvAttrs attrs;
  attrs.strides = std::move(strides);
  attrs.pads = std::move(pads);
  attrs.dilations = std::move(dilations);
  attrs.group = group;
  return attrs;
}

GemmAttrs gemm_attrs(float alpha, float beta, bool trans_b) {
  GemmAttrs attrs;
  attrs.alpha = alpha;
  attrs.beta = beta;
  attrs.trans_b = trans_b;
  return attrs;
}

struct NamedCase {
  std::string name;
  OpKind op;
  std::vector<std::optional<Tensor>> inputs;
  OpAttrs attrs;
};

std::vector<NamedCase> conv_cases() {
  return {
      {"stride 2, pads 1, bias",
       OpKind::kConv,
       {random_tensor({2, 3, 7, 7}, 1), random_tensor({4, 3, 3, 3}, 2), random_tensor({4}, 3)},
       conv_attrs({2, 2}, {1, 1, 1, 1})},
      {"asymmetric pads, dilation 2",
       OpKind::kConv,
       {random_tensor({1, 2, 8, 9}, 4), random_tensor({3, 2, 3, 2}, 5)},
       conv_attrs({1, 1}, {0, 1, 2, 0}, {2, 2})},
      {"group 2, pads 1",
       OpKind::kConv,
       {random_tensor({2, 4, 5, 5}, 6), random_tensor({6, 2, 3, 3}, 7), random_tensor({6}, 8)},
       conv_attrs({1, 1}, {1, 1, 1, 1}, {}, 2)},
      {"depthwise, stride (1, 2)",
       OpKind::kConv,
       {random_tensor({1, 3, 6, 6}, 9), random_tensor({3, 1, 3, 3}, 10), random_tensor({3}, 11)},
       conv_attrs({1, 2}, {1, 1, 1, 1}, {}, 3)},
      {"1x1, no bias",
       OpKind::kConv,
       {random_tensor({2, 5, 4, 4}, 12), random_tensor({7, 5, 1, 1}, 13)},
       conv_attrs({}, {})},
      {"omitted bias slot",
       OpKind::kConv,
       {random_tensor({1, 2, 5, 5}, 14), random_tensor({2, 2, 2, 2}, 15), std::nullopt},
       conv_attrs({}, {1, 0, 0, 1})},
  };
}

std::vector<NamedCase> gemm_cases() {
  return {
      {"alpha 0.5, beta -2, C [N]",
       OpKind::kGemm,
       {random_tensor({3, 5}, 20), random_tensor({5, 4}, 21), random_tensor({4}, 22)},
       gemm_attrs(0.5f, -2.0f, false)},
      {"trans_b, C [M, N]",
       OpKind::kGemm,
       {random_tensor({3, 5}, 23), random_tensor({4, 5}, 24), random_tensor({3, 4}, 25)},
       gemm_attrs(1.0f, 1.0f, true)},
      {"trans_b, C [M, 1], alpha -1.5",
       OpKind::kGemm,
       {random_tensor({3, 6}, 26), random_tensor({2, 6}, 27), random_tensor({3, 1}, 28)},
       gemm_attrs(-1.5f, 0.75f, true)},
      {"no C, alpha 1.5",
       OpKind::kGemm,
       {random_tensor({2, 7}, 29), random_tensor({7, 3}, 30)},
       gemm_attrs(1.5f, 1.0f, false)},
      {"omitted C slot",
       OpKind::kGemm,
       {random_tensor({2, 4}, 31), random_tensor({3, 4}, 32), std::nullopt},
       gemm_attrs(1.0f, 1.0f, true)},
  };
}

std::vector<NamedCase> matmul_cases() {
  return {
      {"2-D A", OpKind::kMatMul, {random_tensor({3, 6}, 40), random_tensor({6, 4}, 41)}, {}},
      {"3-D A", OpKind::kMatMul, {random_tensor({2, 3, 5}, 42), random_tensor({5, 4}, 43)}, {}},
      {"4-D A", OpKind::kMatMul, {random_tensor({2, 2, 3, 5}, 44), random_tensor({5, 3}, 45)}, {}},
  };
}

std::vector<NamedCase> all_cases() {
  std::vector<NamedCase> cases = conv_cases();
  for (NamedCase& c : gemm_cases()) cases.push_back(std::move(c));
  for (NamedCase& c : matmul_cases()) cases.push_back(std::move(c));
  return cases;
}

// --- 1. no fault: the reference kernel's bits ---------------------------------------------------------------

TEST(FaultAwareMac, NoFaultMatchesReferenceKernelBitForBit) {
  for (const NamedCase& named : all_cases()) {
    SCOPED_TRACE(named.name);
    const OpCase c = make_case(named.op, named.inputs, named.attrs);
    const MacKernel kernel = make_kernel(c);
    ASSERT_EQ(kernel.images() * kernel.image_elements(), c.reference.numel());
    int64_t mismatches = 0;
    for_each_element(kernel, [&](int64_t image, int64_t row, int64_t col) {
      const float mac = kernel.compute(c.inputs, image, row, col, MacFaults{});
      const float expected = reference_at(c, kernel, image, row, col);
      if (bits(mac) != bits(expected)) {
        if (++mismatches <= 3)
          ADD_FAILURE() << "image " << image << " row " << row << " col " << col << ": " << mac << " vs " << expected;
      }
    });
    EXPECT_EQ(mismatches, 0);
  }
}

// Products are rounded before they are added: an FMA would keep the 2^-24 that the rounded product drops.
TEST(FaultAwareMac, ProductsAreRoundedBeforeTheSum) {
  const float a = 1.0f + 0x1p-12f;  // a * a = 1 + 2^-11 + 2^-24, which rounds (to even) to 1 + 2^-11
  const OpCase c =
      make_case(OpKind::kMatMul,
                {Tensor::from_floats({1, 2}, {1.0f, a}), Tensor::from_floats({2, 1}, {-(1.0f + 0x1p-11f), a})}, {});
  const MacKernel kernel = make_kernel(c);
  EXPECT_EQ(bits(kernel.compute(c.inputs, 0, 0, 0, MacFaults{})), bits(0.0f));
  EXPECT_EQ(bits(c.reference.data<float>()[0]), bits(0.0f));
}

// --- 2. hand-computed faults ------------------------------------------------------------------------------

// x = [[1 2 3] [4 5 6] [7 8 9]], one 2x2 kernel w = [0.5 -1.25 2 3], bias 0.25, pads 1: a 4x4 output.
class HandConv : public ::testing::Test {
 protected:
  HandConv()
      : c_(make_case(OpKind::kConv,
                     {Tensor::from_floats({1, 1, 3, 3}, {1, 2, 3, 4, 5, 6, 7, 8, 9}),
                      Tensor::from_floats({1, 1, 2, 2}, {0.5f, -1.25f, 2.0f, 3.0f}), Tensor::from_floats({1}, {0.25f})},
                     conv_attrs({}, {1, 1, 1, 1}))),
        kernel_(make_kernel(c_)) {}

  // Output (oh, ow) with a fault on MAC t's product or accumulator.
  float product_fault(int64_t oh, int64_t ow, int64_t t, WordTransform32 word) const {
    MacFaults faults;
    faults.product = {t, kernel_.macs()};
    faults.word = word;
    return kernel_.compute(c_.inputs, 0, oh * 4 + ow, 0, faults);
  }
  float accumulator_fault(int64_t oh, int64_t ow, int64_t t, WordTransform32 word) const {
    MacFaults faults;
    faults.accumulator = {t, kernel_.macs()};
    faults.word = word;
    return kernel_.compute(c_.inputs, 0, oh * 4 + ow, 0, faults);
  }

  OpCase c_;
  MacKernel kernel_;
};

TEST_F(HandConv, GemmViewAndNoFault) {
  EXPECT_EQ(kernel_.rows(), 16);
  EXPECT_EQ(kernel_.cols(), 1);
  EXPECT_EQ(kernel_.macs(), 4);
  // (1, 1) reads x[0][0..1], x[1][0..1] = 1 2 4 5: products 0.5 -2.5 8 15, accumulators 0.5 -2 6 21.
  EXPECT_EQ(kernel_.compute(c_.inputs, 0, 5, 0, MacFaults{}), 21.25f);
  // (0, 1): kernel row 0 falls on the top padding: products +0 (0 * 0.5), -0 (0 * -1.25), 2, 6 -> 8.
  EXPECT_EQ(kernel_.compute(c_.inputs, 0, 1, 0, MacFaults{}), 8.25f);
}

TEST_F(HandConv, ProductFaults) {
  // Sign flip of product 1: 0.5 +2.5 8 15 -> accumulators 0.5 3 11 26.
  EXPECT_EQ(product_fault(1, 1, 1, kFlipSign), 26.25f);
  // Product 2 zeroed: 0.5 -2.5 0 15 -> 0.5 -2 -2 13.
  EXPECT_EQ(product_fault(1, 1, 2, kZero), 13.25f);
  // Stuck-at-1 bit 23 on product 3: 15 = 0x41700000 has bit 23 clear; 0x41F00000 = 30 -> 0.5 -2 6 36.
  EXPECT_EQ(product_fault(1, 1, 3, stuck_at_one(23)), 36.25f);
}

TEST_F(HandConv, PaddedTapsAreMacsToo) {
  // A sign flip of the padded product +0 gives -0, and +0 + -0 = +0: no change.
  EXPECT_EQ(bits(product_fault(0, 1, 0, kFlipSign)), bits(8.25f));
  // Bit 30 set on +0 (0x00000000) gives 2.0f: 2 2 6 -> accumulators 2 2 4 10.
  EXPECT_EQ(product_fault(0, 1, 0, stuck_at_one(30)), 10.25f);
  // The second padded product is -0 (the weight is negative): bit 30 set gives -2.0f -> 0 -2 0 6.
  EXPECT_EQ(product_fault(0, 1, 1, stuck_at_one(30)), 6.25f);
}

TEST_F(HandConv, AccumulatorFaults) {
  // Stuck-at-1 bit 30 on accumulator 0: 0.5 = 0x3F000000 -> 0x7F000000 = 2^127, which absorbs -2.5, 8 and 15.
  EXPECT_EQ(accumulator_fault(1, 1, 0, stuck_at_one(30)), 0x1p127f);
  // Stuck-at-1 bit 22 on accumulator 1: -2 = 0xC0000000 -> 0xC0400000 = -3 -> -3 5 20.
  EXPECT_EQ(accumulator_fault(1, 1, 1, stuck_at_one(22)), 20.25f);
  // Stuck-at-0 bit 30 on accumulator 2: 6 = 0x40C00000 -> 0x00C00000 (1.76e-38), + 15 = 15.
  EXPECT_EQ(accumulator_fault(1, 1, 2, stuck_at_zero(30)), 15.25f);
  // Sign flip of the last accumulator, before the bias: -21 + 0.25.
  EXPECT_EQ(accumulator_fault(1, 1, 3, kFlipSign), -20.75f);
  // The same flip after the bias.
  MacFaults after_bias;
  after_bias.after_bias = true;
  after_bias.word = kFlipSign;
  EXPECT_EQ(kernel_.compute(c_.inputs, 0, 5, 0, after_bias), -21.25f);
}

TEST_F(HandConv, ProductAndAccumulatorFaultsTogether) {
  // Products 1 and 3 (schedule {1, 2}) and accumulator 2 (schedule {2, 4}) sign-flipped:
  // products 0.5 +2.5 8 -15, accumulators 0.5 3 11 -> -11, -26.
  MacFaults faults;
  faults.product = {1, 2};
  faults.accumulator = {2, 4};
  faults.word = kFlipSign;
  EXPECT_EQ(kernel_.compute(c_.inputs, 0, 5, 0, faults), -25.75f);
  // Every word forced to -0 (zero, then flip the sign): products 0.5 -0 8 -0, accumulators 0.5 0.5 8.5 -> -0,
  // -0 + -0 = -0; plus the bias: 0.25.
  faults.word = WordTransform32{.keep = 0, .flip = kSign};
  EXPECT_EQ(bits(kernel_.compute(c_.inputs, 0, 5, 0, faults)), bits(0.25f));
  // The same word on the output after the bias as well: -0.
  faults.after_bias = true;
  EXPECT_EQ(bits(kernel_.compute(c_.inputs, 0, 5, 0, faults)), bits(-0.0f));
}

// The "same bits as the reference" promise assumes finite weights: a padded tap is a MAC that multiplies +0, and
// +0 * inf is NaN, where the reference Conv skips the tap.
TEST(FaultAwareMac, PaddedTapTimesInfiniteWeightIsNaN) {
  const float inf = std::numeric_limits<float>::infinity();
  const OpCase c = make_case(
      OpKind::kConv, {Tensor::from_floats({1, 1, 1, 1}, {1.0f}), Tensor::from_floats({1, 1, 2, 2}, {inf, 1, 1, 2})},
      conv_attrs({}, {1, 1, 1, 1}));
  const MacKernel kernel = make_kernel(c);
  // Output (0, 0): taps 0, 1, 2 fall on the padding, tap 3 reads x = 1.
  EXPECT_EQ(c.reference.data<float>()[0], 2.0f);
  EXPECT_TRUE(std::isnan(kernel.compute(c.inputs, 0, 0, 0, MacFaults{})));
  // Output (1, 1): tap 0 reads x = 1, the others are padded: inf + 0 + 0 + 0 in both.
  EXPECT_EQ(kernel.compute(c.inputs, 0, 3, 0, MacFaults{}), inf);
  EXPECT_EQ(c.reference.data<float>()[3], inf);
}

// --- 3. and 4. the last accumulator and the output after the bias --------------------------------------------

const std::vector<WordTransform32> kTransforms = {kFlipSign, WordTransform32{.flip = 1u << 23}, stuck_at_one(30),
                                                  stuck_at_zero(29), WordTransform32{.flip = 0x00F0000Fu}};

// The same case without its third input, to read the no-fault pre-bias sum from the reference kernel (Gemm with
// alpha 1: 1 * acc + 0 = acc for a sum that is not -0, and a fault-free sum never is).
OpCase pre_bias_case(const NamedCase& named) {
  std::vector<std::optional<Tensor>> inputs(named.inputs.begin(), named.inputs.begin() + 2);
  OpAttrs attrs = named.attrs;
  if (GemmAttrs* gemm = std::get_if<GemmAttrs>(&attrs)) gemm->alpha = 1.0f;
  return make_case(named.op, inputs, attrs);
}

TEST(FaultAwareMac, LastAccumulatorFaultIsAFaultOnTheSumBeforeTheBias) {
  std::vector<NamedCase> cases = {conv_cases()[0], conv_cases()[2], gemm_cases()[0], gemm_cases()[1], gemm_cases()[2]};
  for (const NamedCase& named : cases) {
    SCOPED_TRACE(named.name);
    const OpCase c = make_case(named.op, named.inputs, named.attrs);
    const OpCase sums = pre_bias_case(named);
    const MacKernel kernel = make_kernel(c);
    ASSERT_TRUE(kernel.has_bias());
    const Tensor& bias = *named.inputs[2];
    const std::vector<int64_t> bias_strides = reference::broadcast_strides(bias.shape(), c.output_shape);
    for (const WordTransform32& word : kTransforms) {
      MacFaults faults;
      faults.accumulator = {kernel.macs() - 1, kernel.macs()};
      faults.word = word;
      int64_t mismatches = 0;
      for_each_element(kernel, [&](int64_t image, int64_t row, int64_t col) {
        const float sum = from_bits(word.apply(bits(reference_at(sums, kernel, image, row, col))));
        float expected;
        if (named.op == OpKind::kConv) {
          expected = sum + bias.data<float>()[col];
        } else {
          const GemmAttrs& attrs = std::get<GemmAttrs>(named.attrs);
          const float cv = bias.data<float>()[image * bias_strides[0] + col * bias_strides[1]];
          expected = attrs.alpha == 1.0f && attrs.beta == 1.0f ? sum + cv : attrs.alpha * sum + attrs.beta * cv;
        }
        const float actual = kernel.compute(c.inputs, image, row, col, faults);
        if (bits(actual) != bits(expected) && ++mismatches <= 3)
          ADD_FAILURE() << "image " << image << " row " << row << " col " << col << ": " << actual << " vs "
                        << expected;
      });
      EXPECT_EQ(mismatches, 0) << "word keep " << word.keep << " set " << word.set << " flip " << word.flip;
    }
  }
}

TEST(FaultAwareMac, AfterBiasFaultTransformsTheOutput) {
  for (const NamedCase& named : all_cases()) {
    SCOPED_TRACE(named.name);
    const OpCase c = make_case(named.op, named.inputs, named.attrs);
    const MacKernel kernel = make_kernel(c);
    for (const WordTransform32& word : kTransforms) {
      MacFaults faults;
      faults.after_bias = true;
      faults.word = word;
      int64_t mismatches = 0;
      for_each_element(kernel, [&](int64_t image, int64_t row, int64_t col) {
        const uint32_t expected = word.apply(bits(reference_at(c, kernel, image, row, col)));
        if (bits(kernel.compute(c.inputs, image, row, col, faults)) != expected) ++mismatches;
      });
      EXPECT_EQ(mismatches, 0);
    }
  }
}

// --- 5. schedules ---------------------------------------------------------------------------------------------

TEST(FaultAwareMac, ScheduleHitsEveryRthMacFromR) {
  // MatMul, K = 10: products 1, 4, 7 zeroed; the hand sum leaves them out (adding +0 keeps a sum as it is).
  const Tensor a = random_tensor({2, 10}, 50);
  const Tensor b = random_tensor({10, 3}, 51);
  const OpCase c = make_case(OpKind::kMatMul, {a, b}, {});
  const MacKernel kernel = make_kernel(c);
  MacFaults faults;
  faults.product = {1, 3};
  faults.word = kZero;
  for_each_element(kernel, [&](int64_t image, int64_t row, int64_t col) {
    float expected = 0.0f;
    for (int64_t t = 0; t < 10; ++t)
      if (t != 1 && t != 4 && t != 7) expected += a.data<float>()[image * 10 + t] * b.data<float>()[t * 3 + col];
    EXPECT_EQ(bits(kernel.compute(c.inputs, image, row, col, faults)), bits(expected));
  });
  // Accumulators 2 and 6 zeroed (schedule {2, 4}): the sum restarts after MAC 6.
  MacFaults restart;
  restart.accumulator = {2, 4};
  restart.word = kZero;
  for_each_element(kernel, [&](int64_t image, int64_t row, int64_t col) {
    float expected = 0.0f;
    for (int64_t t = 7; t < 10; ++t) expected += a.data<float>()[image * 10 + t] * b.data<float>()[t * 3 + col];
    EXPECT_EQ(bits(kernel.compute(c.inputs, image, row, col, restart)), bits(expected));
  });
}

TEST(FaultAwareMac, ConvScheduleCountsTapsChannelMajor) {
  // Conv without padding, C = 2, 3x3 kernel: K = 18, MAC t = (ic * 3 + kh) * 3 + kw. Schedule {2, 5} zeroes
  // products 2, 7, 12, 17.
  const Tensor x = random_tensor({1, 2, 5, 5}, 60);
  const Tensor w = random_tensor({3, 2, 3, 3}, 61);
  const OpCase c = make_case(OpKind::kConv, {x, w}, conv_attrs({}, {}));
  const MacKernel kernel = make_kernel(c);
  ASSERT_EQ(kernel.macs(), 18);
  MacFaults faults;
  faults.product = {2, 5};
  faults.word = kZero;
  for_each_element(kernel, [&](int64_t image, int64_t row, int64_t col) {
    const int64_t oh = row / 3;
    const int64_t ow = row % 3;
    float expected = 0.0f;
    for (int64_t ic = 0; ic < 2; ++ic)
      for (int64_t kh = 0; kh < 3; ++kh)
        for (int64_t kw = 0; kw < 3; ++kw) {
          const int64_t t = (ic * 3 + kh) * 3 + kw;
          if (t % 5 == 2) continue;
          expected +=
              x.data<float>()[(ic * 5 + oh + kh) * 5 + ow + kw] * w.data<float>()[(col * 2 + ic) * 9 + kh * 3 + kw];
        }
    EXPECT_EQ(bits(kernel.compute(c.inputs, image, row, col, faults)), bits(expected));
  });
}

// --- 6. the GEMM view ---------------------------------------------------------------------------------------

void expect_round_trip(const MacKernel& kernel) {
  std::vector<bool> seen(static_cast<size_t>(kernel.image_elements()), false);
  for (int64_t row = 0; row < kernel.rows(); ++row)
    for (int64_t col = 0; col < kernel.cols(); ++col) {
      const int64_t offset = kernel.offset(row, col);
      ASSERT_GE(offset, 0);
      ASSERT_LT(offset, kernel.image_elements());
      EXPECT_FALSE(seen[static_cast<size_t>(offset)]);
      seen[static_cast<size_t>(offset)] = true;
      int64_t back_row = -1, back_col = -1;
      kernel.row_col(offset, back_row, back_col);
      EXPECT_EQ(back_row, row);
      EXPECT_EQ(back_col, col);
    }
}

TEST(FaultAwareMac, GemmViewOfConv) {
  // OH = OW = (7 + 2 - 3) / 2 + 1 = 4.
  const OpCase c = make_case(OpKind::kConv, {random_tensor({2, 4, 7, 7}, 70), random_tensor({6, 2, 3, 3}, 71)},
                             conv_attrs({2, 2}, {1, 1, 1, 1}, {}, 2));
  const MacKernel kernel = make_kernel(c);
  EXPECT_EQ(kernel.images(), 2);
  EXPECT_EQ(kernel.rows(), 16);
  EXPECT_EQ(kernel.cols(), 6);
  EXPECT_EQ(kernel.macs(), 2 * 3 * 3);
  EXPECT_EQ(kernel.image_elements(), 96);
  EXPECT_FALSE(kernel.has_bias());
  EXPECT_EQ(kernel.offset(5, 3), 3 * 16 + 5);  // [OC, OH, OW]
  expect_round_trip(kernel);
}

TEST(FaultAwareMac, GemmViewOfGemmAndMatMul) {
  const OpCase gemm =
      make_case(OpKind::kGemm, {random_tensor({3, 5}, 72), random_tensor({4, 5}, 73), random_tensor({4}, 74)},
                gemm_attrs(1.0f, 1.0f, true));
  const MacKernel g = make_kernel(gemm);
  EXPECT_EQ(g.images(), 3);
  EXPECT_EQ(g.rows(), 1);
  EXPECT_EQ(g.cols(), 4);
  EXPECT_EQ(g.macs(), 5);
  EXPECT_TRUE(g.has_bias());
  EXPECT_EQ(g.offset(0, 2), 2);
  expect_round_trip(g);

  const OpCase matmul = make_case(OpKind::kMatMul, {random_tensor({2, 3, 5}, 75), random_tensor({5, 4}, 76)}, {});
  const MacKernel m = make_kernel(matmul);
  EXPECT_EQ(m.images(), 2);
  EXPECT_EQ(m.rows(), 3);
  EXPECT_EQ(m.cols(), 4);
  EXPECT_EQ(m.macs(), 5);
  EXPECT_FALSE(m.has_bias());
  EXPECT_EQ(m.offset(2, 1), 2 * 4 + 1);  // [rows, cols]
  expect_round_trip(m);
}

// --- 7. refusals ----------------------------------------------------------------------------------------------

void expect_refused(const std::string& name, OpKind op, std::vector<Shape> inputs, Shape output, OpAttrs attrs,
                    const std::string& why) {
  Node node;
  node.op = op;
  node.name = name;
  node.attrs = std::move(attrs);
  for (size_t i = 0; i < inputs.size(); ++i) node.inputs.push_back(static_cast<ValueId>(i));
  Result<MacKernel> kernel = MacKernel::create(node, inputs, output);
  ASSERT_FALSE(kernel.is_ok()) << name;
  EXPECT_NE(kernel.status().message().find("'" + name + "'"), std::string::npos) << kernel.status().message();
  EXPECT_NE(kernel.status().message().find(why), std::string::npos) << kernel.status().message();
}

TEST(FaultAwareMac, RefusesWhatItCannotCompute) {
  expect_refused("conv1d", OpKind::kConv, {{1, 1, 5}, {1, 1, 3}}, {1, 1, 3}, ConvAttrs{}, "2-D");
  expect_refused("conv3d", OpKind::kConv, {{1, 1, 4, 4, 4}, {1, 1, 2, 2, 2}}, {1, 1, 3, 3, 3}, ConvAttrs{}, "2-D");
  GemmAttrs trans_a;
  trans_a.trans_a = true;
  expect_refused("gemm_ta", OpKind::kGemm, {{5, 3}, {5, 4}}, {3, 4}, trans_a, "transA");
  expect_refused("matmul_3d_b", OpKind::kMatMul, {{2, 3, 5}, {2, 5, 4}}, {2, 3, 4}, {}, "2-D");
  expect_refused("add", OpKind::kAdd, {{2, 3}, {2, 3}}, {2, 3}, {}, "Conv, Gemm, MatMul, ConvInteger, QLinearConv");
  // The integer ops: the same restrictions on their GEMM view (B at input 3 for QLinearMatMul), their input counts.
  expect_refused("qmatmul_3d_b", OpKind::kQLinearMatMul, {{2, 3, 5}, {}, {}, {2, 5, 4}, {}, {}, {}, {}}, {2, 3, 4}, {},
                 "2-D");
  expect_refused("qconv_two_inputs", OpKind::kQLinearConv, {{1, 1, 4, 4}, {1, 1, 3, 3}}, {1, 1, 2, 2}, ConvAttrs{},
                 "expects 8 to 9 inputs");
  // Shapes that do not fit the op.
  expect_refused("conv_bad_out", OpKind::kConv, {{1, 1, 4, 4}, {1, 1, 3, 3}}, {1, 1, 3, 3}, ConvAttrs{}, "output");
  expect_refused("gemm_bad_k", OpKind::kGemm, {{3, 5}, {4, 4}}, {3, 4}, GemmAttrs{}, "multiply");
}

}  // namespace
}  // namespace faultline
