// Kernel-level faults in the int32 arithmetic of an int8 model (faults/kernel_sites.h "Integer ops",
// kernels/reference/fault_aware_mac.h):
//   - without a fault, the integer MacKernel gives the reference kernels' output bits (ConvInteger, QLinearConv,
//     MatMulInteger, QLinearMatMul; padding, stride, dilation, group, per-channel zero points and scales, int8
//     and uint8 operands and outputs, a 3-D A);
//   - a hand-sized QLinearConv / ConvInteger whose every product, sum and requantization is written out below
//     from the ONNX formulas: product faults at MAC t, accumulator faults after MAC t / the last MAC / the bias,
//     a product fault on a padded tap (its product is exactly 0);
//   - an accumulator fault after the last MAC of a ConvInteger equals an int32 activation fault on that output
//     element (bit flips and stuck-at, bits 0 to 31, through the injector);
//   - the exact footprints of PE (output- and weight-stationary, accumulator and product units) and pattern
//     faults on an integer conv, with the value each changed element takes, written from the mapping's
//     definition; pattern faults on an int8 output act on its 8-bit word;
//   - bits outside the word refused with a message naming the layer, its op and the word; int8 activation
//     faults flip the stored byte;
//   - `faultline run` of a generated PE campaign on tests/data/int8/mnist_int8.onnx: pes.csv rows and counts.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "engine/file_io.h"
#include "engine/session.h"
#include "faults/fault_injector.h"
#include "faults/fault_list.h"
#include "faults/fault_replay.h"
#include "faults/fault_targets.h"
#include "faults/kernel_sites.h"
#include "frontends/load_model.h"
#include "kernels/reference/fault_aware_mac.h"
#include "kernels/reference/reference_ops.h"
#include "tests/support/graph_builder.h"
#include "tests/support/run_command.h"
#include "tests/support/test_support.h"

namespace faultline {
namespace {

using testing::GraphBuilder;

Tensor f32(Shape shape, const std::vector<float>& v) { return testing::tensor_of(DType::kFloat32, std::move(shape), v); }
Tensor i8(Shape shape, const std::vector<int8_t>& v) { return testing::tensor_of(DType::kInt8, std::move(shape), v); }
Tensor u8(Shape shape, const std::vector<uint8_t>& v) { return testing::tensor_of(DType::kUInt8, std::move(shape), v); }
Tensor i32(Shape shape, const std::vector<int32_t>& v) { return testing::tensor_of(DType::kInt32, std::move(shape), v); }

// An int8 / uint8 tensor of uniform integers in [lo, hi] from std::mt19937(seed).
Tensor random_q(DType dtype, Shape shape, uint32_t seed, int lo, int hi) {
  Tensor t = std::move(Tensor::allocate(dtype, std::move(shape))).value();
  std::mt19937 rng(seed);
  for (int64_t i = 0; i < t.numel(); ++i) {
    const int v = lo + static_cast<int>(rng() % static_cast<uint32_t>(hi - lo + 1));
    if (dtype == DType::kInt8)
      t.data<int8_t>()[i] = static_cast<int8_t>(v);
    else
      t.data<uint8_t>()[i] = static_cast<uint8_t>(v);
  }
  return t;
}

// The bits of word i of an int8 / uint8 / int32 tensor.
uint32_t word_at(const Tensor& t, int64_t i) {
  switch (t.dtype()) {
    case DType::kInt8:
    case DType::kUInt8:
      return t.data<uint8_t>()[i];
    default:
      return static_cast<uint32_t>(t.data<int32_t>()[i]);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The integer MacKernel against the reference kernels, no fault

struct IntegerCase {
  std::string what;
  OpKind op;
  OpAttrs attrs;
  std::vector<Tensor> inputs;  // an empty Tensor: omitted
  DType output;
  Shape output_shape;
};

Node node_of(const IntegerCase& c) {
  Node node;
  node.op = c.op;
  node.name = node.layer = c.what;
  node.attrs = c.attrs;
  for (size_t i = 0; i < c.inputs.size(); ++i) node.inputs.push_back(c.inputs[i].numel() ? ValueId(i) : kNoValue);
  return node;
}

std::vector<const Tensor*> pointers(const IntegerCase& c) {
  std::vector<const Tensor*> inputs;
  for (const Tensor& t : c.inputs) inputs.push_back(t.numel() ? &t : nullptr);
  return inputs;
}

ConvAttrs conv_attrs(std::vector<int64_t> strides, std::vector<int64_t> dilations, std::vector<int64_t> pads,
                     int64_t group) {
  ConvAttrs attrs;
  attrs.strides = std::move(strides);
  attrs.dilations = std::move(dilations);
  attrs.pads = std::move(pads);
  attrs.group = group;
  return attrs;
}

std::vector<IntegerCase> integer_cases() {
  std::vector<IntegerCase> cases;
  // ConvInteger, uint8, stride 2, pad 1 (asymmetric), per-channel weight zero points, a non-zero x zero point.
  cases.push_back({"conv_integer_strided",
                   OpKind::kConvInteger,
                   conv_attrs({2, 2}, {}, {1, 1, 0, 2}, 1),
                   {random_q(DType::kUInt8, {2, 3, 7, 8}, 1, 0, 255), random_q(DType::kUInt8, {5, 3, 3, 3}, 2, 0, 255),
                    u8({}, {131}), random_q(DType::kUInt8, {5}, 3, 100, 160)},
                   DType::kInt32,
                   {2, 5, 3, 5}});
  // ConvInteger, int8, group 2, dilation 2, pad 2, no zero points.
  cases.push_back({"conv_integer_grouped",
                   OpKind::kConvInteger,
                   conv_attrs({}, {2, 2}, {2, 2, 2, 2}, 2),
                   {random_q(DType::kInt8, {1, 4, 6, 6}, 4, -128, 127), random_q(DType::kInt8, {6, 2, 3, 3}, 5, -128, 127)},
                   DType::kInt32,
                   {1, 6, 6, 6}});
  // QLinearConv, int8 x / w, uint8 out, per-channel scales and zero points, bias, stride 2, pad 1.
  cases.push_back({"qlinear_conv",
                   OpKind::kQLinearConv,
                   conv_attrs({2, 2}, {}, {1, 1, 1, 1}, 1),
                   {random_q(DType::kInt8, {2, 3, 9, 9}, 6, -128, 127), f32({}, {0.02f}), i8({}, {-5}),
                    random_q(DType::kInt8, {4, 3, 3, 3}, 7, -127, 127), f32({4}, {0.01f, 0.003f, 0.02f, 0.007f}),
                    i8({4}, {0, 3, -2, 1}), f32({}, {0.05f}), u8({}, {120}), i32({4}, {-300, 1200, 0, 77})},
                   DType::kUInt8,
                   {2, 4, 5, 5}});
  // QLinearConv, uint8 x, int8 w, int8 out, depthwise (group = channels), asymmetric pads, no bias.
  cases.push_back({"qlinear_depthwise",
                   OpKind::kQLinearConv,
                   conv_attrs({1, 2}, {}, {0, 1, 2, 0}, 3),
                   {random_q(DType::kUInt8, {1, 3, 5, 6}, 8, 0, 255), f32({}, {0.1f}), u8({}, {128}),
                    random_q(DType::kInt8, {3, 1, 3, 2}, 9, -100, 100), f32({}, {0.004f}), i8({}, {0}),
                    f32({}, {0.07f}), i8({}, {-7})},
                   DType::kInt8,
                   {1, 3, 5, 3}});
  // MatMulInteger, per-row A and per-column B zero points.
  cases.push_back({"matmul_integer",
                   OpKind::kMatMulInteger,
                   {},
                   {random_q(DType::kUInt8, {3, 5}, 10, 0, 255), random_q(DType::kInt8, {5, 4}, 11, -128, 127),
                    u8({3}, {7, 200, 128}), i8({4}, {0, -3, 5, 100})},
                   DType::kInt32,
                   {3, 4}});
  // QLinearMatMul, a 3-D A (rows = its middle axis), per-column scales, uint8 out.
  cases.push_back({"qlinear_matmul",
                   OpKind::kQLinearMatMul,
                   {},
                   {random_q(DType::kInt8, {2, 3, 6}, 12, -128, 127), f32({}, {0.03f}), i8({}, {4}),
                    random_q(DType::kInt8, {6, 4}, 13, -128, 127), f32({4}, {0.02f, 0.01f, 0.005f, 0.04f}),
                    i8({4}, {0, 1, -1, 2}), f32({}, {0.1f}), u8({}, {128})},
                   DType::kUInt8,
                   {2, 3, 4}});
  return cases;
}

TEST(IntegerMacKernel, WithoutAFaultGivesTheReferenceKernelsBits) {
  for (const IntegerCase& c : integer_cases()) {
    SCOPED_TRACE(c.what);
    const Node node = node_of(c);
    const std::vector<const Tensor*> inputs = pointers(c);
    Tensor expected = std::move(Tensor::allocate(c.output, c.output_shape)).value();
    Tensor* outputs[] = {&expected};
    const Status ran = run_reference_node(node, inputs, outputs);
    ASSERT_TRUE(ran.is_ok()) << ran.message();
    std::vector<Shape> shapes;
    for (const Tensor& t : c.inputs) shapes.push_back(t.numel() ? t.shape() : Shape{});
    auto kernel = MacKernel::create(node, shapes, c.output_shape);
    ASSERT_TRUE(kernel.is_ok()) << kernel.status().message();
    ASSERT_TRUE(kernel->integer());
    auto operands = kernel->prepare_integer(inputs);
    ASSERT_TRUE(operands.is_ok()) << operands.status().message();
    ASSERT_EQ(kernel->images() * kernel->image_elements(), expected.numel());
    int64_t checked = 0;
    for (int64_t image = 0; image < kernel->images(); ++image) {
      for (int64_t offset = 0; offset < kernel->image_elements(); ++offset) {
        int64_t row = 0, col = 0;
        kernel->row_col(offset, row, col);
        const uint32_t got = kernel->compute_integer(*operands, image, row, col, MacFaults{});
        ASSERT_EQ(got, word_at(expected, image * kernel->image_elements() + offset))
            << "image " << image << " row " << row << " col " << col;
        ++checked;
      }
    }
    EXPECT_EQ(checked, expected.numel());
  }
}

// ---------------------------------------------------------------------------------------------------------------
// A hand-sized QLinearConv, every number written out
//
// x (uint8, zero point 2)   w (int8, zero point 1)   bias 10, x_scale 0.5, w_scale 0.25, y_scale 0.5:
//   3 5 2                     2  0                   multiplier 0.5 * 0.25 / 0.5 = 0.25, y (int8) zero point -3
//   4 2 6                     3 -1
//   2 7 1
// Centred x: [1 3 0; 2 0 4; 0 5 -1], centred w: [1 -1; 2 -2]; MAC t = kh * 2 + kw.
// Output (0, 0): products 1*1 = 1, 3*-1 = -3, 2*2 = 4, 0*-2 = 0; sum 2; + bias 12; 12 * 0.25 = 3; 3 - 3 = 0.
// Output (0, 1): 3, 0, 0, -8: -5, 5, 1.25 -> 1, -2.   Output (1, 0): 2, 0, 0, -10: -8, 2, 0.5 -> 0 (half to
// even), -3.   Output (1, 1): 0, -4, 10, 2: 8, 18, 4.5 -> 4 (half to even), 1.

std::shared_ptr<const Graph> tiny_qlinear_conv(bool padded = false) {
  GraphBuilder b;
  const ValueId x = b.input("x", {kDynamicDim, 1, 3, 3}, DType::kUInt8);
  ConvAttrs attrs;
  if (padded) attrs.pads = {1, 1, 1, 1};
  const std::vector<ValueId> inputs = {x,
                                       b.constant("x_scale", f32({}, {0.5f})),
                                       b.constant("x_zero_point", u8({}, {2})),
                                       b.constant("qconv.weight", i8({1, 1, 2, 2}, {2, 0, 3, -1})),
                                       b.constant("w_scale", f32({}, {0.25f})),
                                       b.constant("w_zero_point", i8({}, {1})),
                                       b.constant("y_scale", f32({}, {0.5f})),
                                       b.constant("y_zero_point", i8({}, {-3})),
                                       b.constant("qconv.bias", i32({1}, {10}))};
  b.output(b.node(OpKind::kQLinearConv, inputs, attrs, "qconv", "y"));
  return std::make_shared<const Graph>(b.build());
}

// The same operands as ConvInteger (int32 output, no bias, no requantization).
std::shared_ptr<const Graph> tiny_conv_integer(bool padded = false) {
  GraphBuilder b;
  const ValueId x = b.input("x", {kDynamicDim, 1, 3, 3}, DType::kUInt8);
  ConvAttrs attrs;
  if (padded) attrs.pads = {1, 1, 1, 1};
  b.output(b.node(OpKind::kConvInteger,
                  {x, b.constant("iconv.weight", i8({1, 1, 2, 2}, {2, 0, 3, -1})), b.constant("x_zp", u8({}, {2})),
                   b.constant("w_zp", i8({}, {1}))},
                  attrs, "iconv", "y"));
  return std::make_shared<const Graph>(b.build());
}

const Tensor& tiny_input() {
  static const Tensor x = u8({1, 1, 3, 3}, {3, 5, 2, 4, 2, 6, 2, 7, 1});
  return x;
}

Tensor run_clean(std::shared_ptr<const Graph> model, const Tensor& input, int64_t batch = 2) {
  SessionOptions options;
  options.backend = "reference";
  options.batch = batch;
  options.threads = 1;
  auto session = Session::create(std::move(model), options);
  EXPECT_TRUE(session.is_ok()) << session.status().message();
  auto out = (*session)->run({input});
  EXPECT_TRUE(out.is_ok()) << out.status().message();
  return out.is_ok() ? (*out)[0].clone() : Tensor();
}

// The model's first output with each fault of `csv` armed alone (reference backend, batches of `batch`).
std::vector<Tensor> run_each_fault(std::shared_ptr<const Graph> model, const std::string& csv, const Tensor& input,
                                   int64_t batch = 2) {
  std::vector<Tensor> outputs;
  auto targets = list_fault_targets(*model);
  EXPECT_TRUE(targets.is_ok()) << targets.status().message();
  auto list = parse_fault_list(csv, "test.csv");
  EXPECT_TRUE(list.is_ok()) << list.status().message();
  if (!targets.is_ok() || !list.is_ok()) return outputs;
  auto resolved = resolve_fault_list(*list, *targets);
  EXPECT_TRUE(resolved.is_ok()) << resolved.status().message();
  if (!resolved.is_ok()) return outputs;
  SessionOptions options;
  options.backend = "reference";
  options.batch = batch;
  options.threads = 1;
  options.observable = faulted_value_names(*resolved, *targets);
  auto session = Session::create(model, options);
  EXPECT_TRUE(session.is_ok()) << session.status().message();
  if (!session.is_ok()) return outputs;
  for (const ResolvedFault& fault : *resolved) {
    const ArmedFault armed = armed_fault(*list, fault, *targets);
    auto injector = FaultInjector::create({&armed, 1});
    EXPECT_TRUE(injector.is_ok()) << injector.status().message();
    if (!injector.is_ok()) return outputs;
    auto out = (*session)->run({input}, &*injector);
    EXPECT_TRUE(out.is_ok()) << out.status().message();
    if (!out.is_ok()) return outputs;
    outputs.push_back((*out)[0].clone());
  }
  return outputs;
}

std::vector<int8_t> int8_values(const Tensor& t) { return std::vector<int8_t>(t.data<int8_t>(), t.data<int8_t>() + t.numel()); }
std::vector<int32_t> int32_values(const Tensor& t) {
  return std::vector<int32_t>(t.data<int32_t>(), t.data<int32_t>() + t.numel());
}

// saturate(round_half_even(float(sum) * multiplier) + zero_point) to int8, the ONNX formula, for the cases that
// are not written out as literals.
int8_t requantize_int8(int32_t sum, float multiplier, int zero_point) {
  const double real = std::nearbyint(static_cast<float>(sum) * multiplier) + zero_point;
  return static_cast<int8_t>(real < -128 ? -128 : real > 127 ? 127 : real);
}

TEST(Int8KernelFaults, HandSizedQLinearConvProductAndAccumulatorFaults) {
  EXPECT_EQ(int8_values(run_clean(tiny_qlinear_conv(), tiny_input())), (std::vector<int8_t>{0, -2, -3, 1}));
  const std::string csv =
      "Injection,Layer,TensorIndex,Bit,Target,Model,Mac\n"
      "0,qconv,\"(0, 0, 0)\",1,product,bitflip,1\n"       // -3 -> -1: sum 4, 14 * 0.25 = 3.5 -> 4, 1
      "1,qconv,\"(0, 0, 0)\",3,accumulator,bitflip,1\n"   // after MAC 1: -2 ^ 8 = -10; -6, 4, 1.0, -2
      "2,qconv,\"(0, 0, 0)\",2,accumulator,bitflip,last\n"  // 2 ^ 4 = 6; 16, 4.0, 1
      "3,qconv,\"(0, 0, 0)\",1,accumulator,bitflip,bias\n"  // 12 ^ 2 = 14: 3.5 -> 4, 1
      "4,qconv,\"(0, 0, 0)\",0,accumulator,bitflip,bias\n"  // 12 ^ 1 = 13: 3.25 -> 3, 0: masked
      "5,qconv,\"(0, 1, 1)\",31,accumulator,bitflip,last\n"  // 8 - 2^31: saturates to -128
      "6,qconv,\"(0, 1, 0)\",30,accumulator,stuck-at-1,2\n"  // after MAC 2: -8 | 2^30; then + 0 - 10... see below
      "7,qconv,\"(0, 0, 1)\",4,product,stuck-at-1,3\n";    // -8 | 16 = -8 (bit 4 already set): masked
  const std::vector<Tensor> out = run_each_fault(tiny_qlinear_conv(), csv, tiny_input());
  ASSERT_EQ(out.size(), 8u);
  EXPECT_EQ(int8_values(out[0]), (std::vector<int8_t>{1, -2, -3, 1}));
  EXPECT_EQ(int8_values(out[1]), (std::vector<int8_t>{-2, -2, -3, 1}));
  EXPECT_EQ(int8_values(out[2]), (std::vector<int8_t>{1, -2, -3, 1}));
  EXPECT_EQ(int8_values(out[3]), (std::vector<int8_t>{1, -2, -3, 1}));
  EXPECT_EQ(int8_values(out[4]), (std::vector<int8_t>{0, -2, -3, 1}));
  EXPECT_EQ(int8_values(out[5]), (std::vector<int8_t>{0, -2, -3, -128}));
  // Output (1, 0): partial sums 2, 2, 2 after MACs 0-2; stuck-at-1 bit 30 after MAC 2: 2 + 2^30; MAC 3 adds
  // -10: 2^30 - 8, whose bit 30 is 0 but the fault was at MAC 2 only; + bias 10: 2^30 + 2 = 1073741826, as
  // float32 1073741824, * 0.25 = 268435456, saturated to 127.
  EXPECT_EQ(int8_values(out[6]), (std::vector<int8_t>{0, -2, 127, 1}));
  EXPECT_EQ(requantize_int8((int32_t{1} << 30) + 2, 0.25f, -3), 127);
  EXPECT_EQ(int8_values(out[7]), (std::vector<int8_t>{0, -2, -3, 1}));
}

// ConvInteger: no requantization, the int32 output is the sum. A padded tap (pad 1: output (0, 0)'s MACs 0, 1
// and 2 read the padding) multiplies x - x_zp = 0: its product is exactly 0, and a product fault there still acts.
TEST(Int8KernelFaults, ConvIntegerFaultsIncludingAPaddedTap) {
  EXPECT_EQ(int32_values(run_clean(tiny_conv_integer(), tiny_input())), (std::vector<int32_t>{2, -5, -8, 8}));
  // Padded: output (0, 0) reads x(-1, -1), x(-1, 0), x(0, -1) (padding) and x(0, 0) = 1 with w(1, 1) = -2.
  const std::string csv =
      "Injection,Layer,TensorIndex,Bit,Target,Model,Mac\n"
      "0,iconv,\"(0, 0, 0)\",31,accumulator,bitflip,last\n"
      "1,iconv,\"(0, 1, 1)\",3,product,bitflip,3\n";  // 2 ^ 8 = 10: 8 - 2 + 10 = 16
  const std::vector<Tensor> out = run_each_fault(tiny_conv_integer(), csv, tiny_input());
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(int32_values(out[0]), (std::vector<int32_t>{static_cast<int32_t>(2 - (int64_t{1} << 31)), -5, -8, 8}));
  EXPECT_EQ(int32_values(out[1]), (std::vector<int32_t>{2, -5, -8, 16}));

  const Tensor clean = run_clean(tiny_conv_integer(true), tiny_input());
  ASSERT_EQ(clean.numel(), 16);
  EXPECT_EQ(clean.data<int32_t>()[0], -2);
  const std::string padded_csv =
      "Injection,Layer,TensorIndex,Bit,Target,Model,Mac\n"
      "0,iconv,\"(0, 0, 0)\",3,product,bitflip,0\n"      // padded tap: 0 ^ 8 = 8: -2 + 8 = 6
      "1,iconv,\"(0, 0, 0)\",0,product,stuck-at-1,2\n"   // padded tap: 0 | 1 = 1: -1
      "2,iconv,\"(0, 0, 0)\",5,accumulator,bitflip,1\n";  // after padded MAC 1: 0 ^ 32 = 32: 30
  const std::vector<Tensor> padded = run_each_fault(tiny_conv_integer(true), padded_csv, tiny_input());
  ASSERT_EQ(padded.size(), 3u);
  for (size_t f = 0; f < padded.size(); ++f) {
    for (int64_t i = 1; i < 16; ++i) EXPECT_EQ(padded[f].data<int32_t>()[i], clean.data<int32_t>()[i]) << f << " " << i;
  }
  EXPECT_EQ(padded[0].data<int32_t>()[0], 6);
  EXPECT_EQ(padded[1].data<int32_t>()[0], -1);
  EXPECT_EQ(padded[2].data<int32_t>()[0], 30);
}

// ---------------------------------------------------------------------------------------------------------------
// A larger ConvInteger: x [3, 3, 6, 6] uint8 in [1, 255], w [10, 3, 3, 3] int8 in [1, 50], pad 1, no zero
// points. Every product and partial sum is positive and below 27 * 255 * 50 < 2^20, so a stuck-at-1 bit 30 on the
// accumulator adds exactly 2^30 to the final sum, and on n products n * 2^30 (mod 2^32).

constexpr int64_t kImages = 3, kChannels = 10, kSize = 6, kMacs = 27;

std::shared_ptr<const Graph> positive_conv_integer() {
  GraphBuilder b;
  const ValueId x = b.input("x", {kDynamicDim, 3, kSize, kSize}, DType::kUInt8);
  const ValueId w = b.constant("conv.weight", random_q(DType::kInt8, {kChannels, 3, 3, 3}, 21, 1, 50));
  b.output(b.node(OpKind::kConvInteger, {x, w}, conv_attrs({}, {}, {1, 1, 1, 1}, 1), "conv", "y"));
  return std::make_shared<const Graph>(b.build());
}

const Tensor& positive_input() {
  static const Tensor x = random_q(DType::kUInt8, {kImages, 3, kSize, kSize}, 22, 1, 255);
  return x;
}

// Element (n, oc, p) of a [N, 10, 6, 6] output, p = oh * 6 + ow (the GEMM row).
struct Element {
  int64_t n, oc, p;
  auto operator<=>(const Element&) const = default;
};

// The elements where `faulty` differs from `clean`, checking that each took clean + delta (mod 2^32) or
// clean ^ flip.
std::set<Element> changed(const Tensor& clean, const Tensor& faulty, uint32_t add, uint32_t flip) {
  std::set<Element> elements;
  for (int64_t i = 0; i < clean.numel(); ++i) {
    const uint32_t a = word_at(clean, i), b = word_at(faulty, i);
    if (a == b) continue;
    EXPECT_EQ(b, (a + add) ^ flip) << "element " << i;
    elements.insert({i / (kChannels * kSize * kSize), i / (kSize * kSize) % kChannels, i % (kSize * kSize)});
  }
  return elements;
}

template <typename Hit>
std::set<Element> expected(const std::vector<int64_t>& images, Hit hit) {
  std::set<Element> elements;
  for (int64_t n : images)
    for (int64_t oc = 0; oc < kChannels; ++oc)
      for (int64_t p = 0; p < kSize * kSize; ++p)
        if (hit(oc, p)) elements.insert({n, oc, p});
  return elements;
}

TEST(Int8KernelFaults, PeAndPatternFootprintsOnAnIntegerConv) {
  const std::string csv =
      "Injection,Layer,TensorIndex,Bit,Target,Model,Mac,Array,Dataflow,Unit,Pattern,Batch\n"
      "0,conv,\"(3, 2)\",30,pe,stuck-at-1,,4x4,os,accumulator,,\n"
      "1,conv,\"(1, 0)\",30,pe,stuck-at-1,,4x4,os,product,,\n"
      "2,conv,\"(2, 3)\",30,pe,stuck-at-1,,4x4,ws,accumulator,,\n"
      "3,conv,\"(3, 1)\",30,pe,stuck-at-1,,4x4,ws,product,,\n"
      "4,conv,\"(30, 0)\",30,pe,stuck-at-1,,32x4,ws,product,,\n"  // MAC 30 >= K = 27: an unused PE
      "5,conv,\"(5,)\",31,pattern,bitflip,,,,,channel,\n"
      "6,conv,\"(8, 2, 12, 5)\",31,pattern,bitflip,,,,,tile,\n"
      "7,conv,\"(7,)\",31,pattern,bitflip,,,,,row,1\n"
      "8,conv,\"(4, 2, 5)\",0,pattern,bitflip,,,,,element,\n"
      "9,conv,\"(2, 3)\",30,pe,stuck-at-1,,4x4,os,accumulator,,2\n";
  const Tensor clean = run_clean(positive_conv_integer(), positive_input());
  const std::vector<Tensor> out = run_each_fault(positive_conv_integer(), csv, positive_input());
  ASSERT_EQ(out.size(), 10u);
  const std::vector<int64_t> all = {0, 1, 2};
  using P = int64_t;
  constexpr uint32_t kBit30 = 1u << 30, kBit31 = 1u << 31;
  // Output-stationary 4x4: PE (r, c) computes the rows p % 4 == r of the columns oc % 4 == c, every MAC.
  EXPECT_EQ(changed(clean, out[0], kBit30, 0), expected(all, [](P oc, P p) { return p % 4 == 3 && oc % 4 == 2; }));
  // Its product register: all 27 products + 2^30: 27 * 2^30 = 3 * 2^30 (mod 2^32).
  EXPECT_EQ(changed(clean, out[1], 3 * kBit30, 0), expected(all, [](P oc, P p) { return p % 4 == 1 && oc % 4 == 0; }));
  // Weight-stationary 4x4: PE (r, c) holds the MACs t % 4 == r of the columns oc % 4 == c, for every row.
  EXPECT_EQ(changed(clean, out[2], kBit30, 0), expected(all, [](P oc, P) { return oc % 4 == 3; }));
  // MACs 3, 7, ..., 23 of K = 27: six products + 2^30: 6 * 2^30 = 2^31 (mod 2^32).
  static_assert((kMacs - 3 + 3) / 4 == 6);
  EXPECT_EQ(changed(clean, out[3], kBit31, 0), expected(all, [](P oc, P) { return oc % 4 == 1; }));
  EXPECT_TRUE(changed(clean, out[4], 0, 0).empty()) << "a PE the layer does not use corrupts nothing";
  // Patterns flip the int32 output words.
  EXPECT_EQ(changed(clean, out[5], 0, kBit31), expected(all, [](P oc, P) { return oc == 5; }));
  EXPECT_EQ(changed(clean, out[6], 0, kBit31),
            expected(all, [](P oc, P p) { return p >= 8 && p < 20 && oc >= 2 && oc < 7; }));
  EXPECT_EQ(changed(clean, out[7], 0, kBit31), expected({1}, [](P, P p) { return p == 7; }));
  EXPECT_EQ(changed(clean, out[8], 0, 1), expected(all, [](P oc, P p) { return oc == 4 && p == 2 * kSize + 5; }));
  EXPECT_EQ(changed(clean, out[9], kBit30, 0), expected({2}, [](P oc, P p) { return p % 4 == 2 && oc % 4 == 3; }));
}

// An accumulator fault after the last MAC of a ConvInteger (no bias, no requantization) is a fault on its int32
// output word: the same bits as an int32 activation fault on that element, for flips and stuck-at, bits 0-31.
TEST(Int8KernelFaults, ConvIntegerLastAccumulatorEqualsAnInt32ActivationFault) {
  std::string kernel_csv = "Injection,Layer,TensorIndex,Bit,Target,Model,Mac\n";
  std::string activation_csv = "Injection,Layer,TensorIndex,Bit,Target,Model\n";
  int i = 0;
  for (int bit : {0, 5, 17, 19, 20, 30, 31}) {
    for (const char* model : {"bitflip", "stuck-at-1", "stuck-at-0"}) {
      const std::string row = std::to_string(i) + ",conv,\"(" + std::to_string(i % kChannels) + ", " +
                              std::to_string(i % kSize) + ", " + std::to_string((5 * i) % kSize) + ")\"," +
                              std::to_string(bit) + ",";
      kernel_csv += row + "accumulator," + model + ",last\n";
      kernel_csv += row + "accumulator," + model + ",bias\n";  // no bias: the same word
      activation_csv += row + "activation," + model + "\n";
      ++i;
    }
  }
  const Tensor clean = run_clean(positive_conv_integer(), positive_input());
  const std::vector<Tensor> kernel = run_each_fault(positive_conv_integer(), kernel_csv, positive_input());
  const std::vector<Tensor> activation = run_each_fault(positive_conv_integer(), activation_csv, positive_input());
  ASSERT_EQ(kernel.size(), 2 * activation.size());
  int flips_checked = 0;
  for (size_t f = 0; f < activation.size(); ++f) {
    EXPECT_EQ(std::memcmp(kernel[2 * f].raw(), activation[f].raw(), clean.nbytes()), 0) << "last, fault " << f;
    EXPECT_EQ(std::memcmp(kernel[2 * f + 1].raw(), activation[f].raw(), clean.nbytes()), 0) << "bias, fault " << f;
    if (f % 3 != 0) continue;  // bit flips: the element (every image) is clean ^ (1 << bit), nothing else moves
    const int bits[] = {0, 5, 17, 19, 20, 30, 31};
    const int64_t k = static_cast<int64_t>(f);
    const int64_t offset = ((k % kChannels) * kSize + k % kSize) * kSize + (5 * k) % kSize;
    for (int64_t n = 0; n < kImages; ++n) {
      for (int64_t e = 0; e < clean.numel() / kImages; ++e) {
        const int64_t at = n * (clean.numel() / kImages) + e;
        const uint32_t want = word_at(clean, at) ^ (e == offset ? 1u << bits[f / 3] : 0u);
        ASSERT_EQ(word_at(kernel[2 * f], at), want) << "fault " << f << " element " << at;
      }
    }
    ++flips_checked;
  }
  EXPECT_EQ(flips_checked, 7);
}

// ---------------------------------------------------------------------------------------------------------------
// Word widths and the int8 model

std::shared_ptr<const Graph> load_int8_model() {
  auto model = load_model(testing::test_data("int8/mnist_int8.onnx"));
  EXPECT_TRUE(model.is_ok()) << model.status().message();
  return model.is_ok() ? *model : nullptr;
}

// The message of resolving a one-row list on the int8 model ("" when it resolves).
std::string resolve_error(const std::string& row) {
  auto model = load_int8_model();
  auto targets = list_fault_targets(*model);
  EXPECT_TRUE(targets.is_ok());
  auto list = parse_fault_list("Injection,Layer,TensorIndex,Bit,Target,Model,Mac,Array,Pattern\n" + row + "\n", "l.csv");
  EXPECT_TRUE(list.is_ok()) << list.status().message();
  auto resolved = resolve_fault_list(*list, *targets);
  return resolved.is_ok() ? "" : resolved.status().message();
}

TEST(Int8KernelFaults, WordWidthsFollowTheSiteAndABitOutsideIsRefusedNamingTheLayer) {
  // The integer ops are kernel targets; their output is the target's dtype.
  auto model = load_int8_model();
  auto targets = list_fault_targets(*model);
  ASSERT_TRUE(targets.is_ok());
  int kernels = 0;
  for (const FaultTarget& t : *targets) {
    if (t.kind != TargetKind::kKernel) continue;
    ++kernels;
    EXPECT_EQ(kernel_word_dtype(t, SiteTarget::kAccumulator), DType::kInt32) << t.layer;
    EXPECT_EQ(kernel_word_dtype(t, SiteTarget::kPattern), t.layer == "conv1" ? DType::kUInt8 : DType::kInt8) << t.layer;
  }
  EXPECT_EQ(kernels, 3);
  EXPECT_EQ(resolve_error("0,conv1,\"(0, 0, 0)\",31,accumulator,bitflip,last,,"), "");
  EXPECT_EQ(resolve_error("0,fc,\"(3,)\",31,product,stuck-at-1,1567,,"), "");
  EXPECT_EQ(resolve_error("0,conv2,\"(1, 1)\",31,pe,bitflip,,8x8,"), "");
  EXPECT_EQ(resolve_error("0,conv2,\"(3,)\",7,pattern,bitflip,,,row"), "");
  for (const auto& [row, expected] : std::vector<std::pair<std::string, std::string>>{
           {"0,conv1,\"(0, 0, 0)\",32,accumulator,bitflip,last,,",
            "the arithmetic words of 'conv1' (QLinearConv) are int32: bit 32 is out of range for int32 (0-31)"},
           {"0,fc,\"(3,)\",32,product,bitflip,0,,", "'fc' (QLinearMatMul) are int32: bit 32"},
           {"0,conv2,\"(1, 1)\",40,pe,bitflip,,8x8,", "'conv2' (QLinearConv) are int32: bit 40"},
           {"0,conv1,\"(3,)\",8,pattern,bitflip,,,row", "the output words of 'conv1' (QLinearConv) are uint8: bit 8"},
           {"0,fc,\"(3,)\",8,pattern,bitflip,,,column", "the output words of 'fc' (QLinearMatMul) are int8: bit 8"}}) {
    const std::string message = resolve_error(row);
    EXPECT_NE(message.find(expected), std::string::npos) << row << ": " << message;
  }
}

// Pattern faults and activation faults on an int8 output act on the stored byte: flipping bit 7 of element e
// gives clean ^ 0x80 there and nothing else (and both sites agree).
TEST(Int8KernelFaults, Int8OutputPatternAndActivationFaultsFlipTheStoredByte) {
  const std::string csv =
      "Injection,Layer,TensorIndex,Bit,Target,Model,Pattern\n"
      "0,qconv,\"(0, 1, 0)\",7,pattern,bitflip,element\n"
      "1,qconv,\"(0, 1, 0)\",7,activation,bitflip,\n"
      "2,qconv,\"(0, 0, 1)\",0,activation,stuck-at-1,\n";  // -2 = 0xFE | 1 = -1
  const Tensor clean = run_clean(tiny_qlinear_conv(), tiny_input());
  const std::vector<Tensor> out = run_each_fault(tiny_qlinear_conv(), csv, tiny_input());
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(int8_values(out[0]), (std::vector<int8_t>{0, -2, 125, 1}));  // -3 = 0xFD ^ 0x80 = 0x7D
  EXPECT_EQ(int8_values(out[1]), int8_values(out[0]));
  EXPECT_EQ(int8_values(out[2]), (std::vector<int8_t>{0, -1, -3, 1}));
  EXPECT_EQ(int8_values(clean), (std::vector<int8_t>{0, -2, -3, 1}));
}

// faultline run: a generated PE campaign on the int8 MNIST model (reference backend). conv1 (GEMM 196 x 16) and
// fc (1 x 10) on a 4x4 output-stationary array, two bits: 16 PEs per layer, 2 faults each, 32 images each.
// fc has one GEMM row, so its PEs of rows 1-3 compute nothing: all their injections are masked.
TEST(Int8KernelFaults, RunWritesPesCsvForAGeneratedPeCampaign) {
  const std::string dir = testing::temp_dir();
  const std::string yaml = "model: " + testing::test_data("int8/mnist_int8.onnx") +
                           "\nbackend: reference\ndataset:\n  format: npy\n  inputs: " +
                           testing::test_data("int8/mnist_int8_input.npy") +
                           "\nbatch_size: 8\nfaults:\n  generate:\n    target: pe\n    layers: [conv1, fc]\n"
                           "    array: {rows: 4, cols: 4, dataflow: output-stationary, unit: accumulator}\n"
                           "    bits: \"20,30\"\n    model: stuck-at-1\n    exhaustive: true\n"
                           "output: " + dir + "/out\nseed: 1\n";
  ASSERT_TRUE(write_file_atomically(dir + "/pe.yaml", yaml).is_ok());
  const testing::CommandResult r = testing::run_faultline("run " + dir + "/pe.yaml");
  ASSERT_EQ(r.exit_code, 0) << r.err << r.out;
  EXPECT_NE(r.out.find("64 faults x 32 images"), std::string::npos) << r.out;
  const std::string pes = testing::read_text(dir + "/out/pes.csv");
  ASSERT_FALSE(pes.empty());
  std::vector<std::string> lines;
  for (size_t start = 0; start < pes.size();) {
    const size_t end = pes.find('\n', start);
    lines.push_back(pes.substr(start, end - start));
    start = end == std::string::npos ? pes.size() : end + 1;
  }
  ASSERT_EQ(lines.size(), 33u) << pes;
  EXPECT_EQ(lines[0].rfind("layer,array,dataflow,unit,pe_row,pe_col,faults,n_injections,masked,", 0), 0u);
  int conv1 = 0, fc = 0, conv1_unmasked = 0;
  for (size_t l = 1; l < lines.size(); ++l) {
    std::vector<std::string> cells;
    for (size_t start = 0;;) {
      const size_t end = lines[l].find(',', start);
      cells.push_back(lines[l].substr(start, end == std::string::npos ? std::string::npos : end - start));
      if (end == std::string::npos) break;
      start = end + 1;
    }
    ASSERT_GE(cells.size(), 9u) << lines[l];
    EXPECT_EQ(cells[1], "4x4");
    EXPECT_EQ(cells[2], "output-stationary");
    EXPECT_EQ(cells[3], "accumulator");
    EXPECT_EQ(cells[6], "2") << lines[l];   // faults per PE: the two bits
    EXPECT_EQ(cells[7], "64") << lines[l];  // x 32 images
    const int pe_row = std::stoi(cells[4]);
    if (cells[0] == "conv1") {
      ++conv1;
      conv1_unmasked += cells[8] != "64";
    } else if (cells[0] == "fc") {
      ++fc;
      if (pe_row >= 1) EXPECT_EQ(cells[8], "64") << "an fc PE of row >= 1 computes nothing: " << lines[l];
      if (pe_row == 0 && std::stoi(cells[5]) < 2) EXPECT_NE(cells[8], "64") << lines[l];  // columns c, c+4, c+8
    }
  }
  EXPECT_EQ(conv1, 16);
  EXPECT_EQ(fc, 16);
  EXPECT_GT(conv1_unmasked, 0);
}

}  // namespace
}  // namespace faultline
