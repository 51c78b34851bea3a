// Kernel-level faults executed (faults/kernel_sites.h, faults/kernel_fault_hook.h):
//   - the exact footprint of every pattern and PE fault (which output elements change), against the mapping's
//     definition written here from (oc, oh, ow) and the MAC order, on both backends, every image or one image;
//   - an accumulator fault after the last MAC equals an activation fault on that element of the same Conv
//     computed without its bias and followed by an Add of the bias; a fault after the bias equals an
//     activation fault on the Conv's output (reference backend, bit for bit);
//   - on a real model (the MNIST demo CNN, residual and Concat branches) random accumulator / product / pe /
//     pattern campaigns give bit-identical outputs with incremental and full passes, and the same top-1 class
//     on the reference backend (arithmetic everywhere in MAC order) and on oneDNN (only the footprint recomputed).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <memory>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "faults/fault_generator.h"
#include "faults/fault_list.h"
#include "faults/fault_replay.h"
#include "faults/fault_targets.h"
#include "frontends/load_model.h"
#include "tests/support/graph_builder.h"
#include "tests/support/test_support.h"

namespace faultline {
namespace {

using testing::GraphBuilder;
using testing::random_tensor;

constexpr int64_t kImages = 3;
constexpr int64_t kOutChannels = 20;  // more than the arrays' 16 columns: the mapping wraps
constexpr int64_t kInChannels = 3;
constexpr int64_t kSize = 9;  // 9x9 input, 3x3 kernel, pad 1: 9x9 output, 81 GEMM rows, K = 27 MACs
constexpr int64_t kMacs = kInChannels * 9;

// x [N, 3, 9, 9] -> conv (20 channels, 3x3, pad 1, with bias) -> y. With `split_bias`, the conv has no bias and
// an Add of the bias [1, 20, 1, 1] follows it (the same arithmetic: sum, then + bias).
std::shared_ptr<const Graph> conv_model(bool split_bias = false) {
  GraphBuilder b;
  const ValueId x = b.input("x", {kDynamicDim, kInChannels, kSize, kSize});
  const ValueId w = b.constant("conv.weight", random_tensor({kOutChannels, kInChannels, 3, 3}, 1, -0.5f, 0.5f));
  Tensor bias = random_tensor({kOutChannels}, 2, -0.2f, 0.2f);
  const ConvAttrs attrs{{3, 3}, {}, {}, {1, 1, 1, 1}};
  if (!split_bias) {
    const ValueId bv = b.constant("conv.bias", std::move(bias));
    b.output(b.node(OpKind::kConv, {x, w, bv}, attrs, "conv", "y"));
  } else {
    Tensor shaped = std::move(Tensor::allocate(DType::kFloat32, {1, kOutChannels, 1, 1})).value();
    std::memcpy(shaped.raw(), bias.raw(), bias.nbytes());
    const ValueId sum = b.node(OpKind::kConv, {x, w}, attrs, "conv", "s");
    const ValueId bv = b.constant("conv.bias", std::move(shaped));
    b.output(b.node(OpKind::kAdd, {sum, bv}, {}, "add", "y"));
  }
  return std::make_shared<const Graph>(b.build());
}

struct Replay {
  std::shared_ptr<const Graph> model;
  std::vector<FaultTarget> targets;
  FaultList list;
  std::vector<ResolvedFault> resolved;
};

Replay make_replay(std::shared_ptr<const Graph> model, const std::string& csv) {
  Replay r;
  r.model = std::move(model);
  auto targets = list_fault_targets(*r.model);
  EXPECT_TRUE(targets.is_ok()) << targets.status().message();
  r.targets = *targets;
  auto list = parse_fault_list(csv, "test.csv");
  EXPECT_TRUE(list.is_ok()) << list.status().message();
  r.list = *list;
  auto resolved = resolve_fault_list(r.list, r.targets);
  EXPECT_TRUE(resolved.is_ok()) << resolved.status().message();
  if (resolved.is_ok()) r.resolved = *resolved;
  return r;
}

// [F, N, ...] outputs of every fault of `r` on `backend`.
Tensor replay(const Replay& r, const Tensor& input, const std::string& backend, bool incremental = true) {
  SessionOptions options;
  options.backend = backend;
  options.batch = 2;  // two executed batches: {0, 1}, {2}
  options.threads = 1;
  ReplayOptions replay_options;
  replay_options.incremental = incremental;
  auto out = replay_faults(r.model, options, r.list, r.resolved, r.targets, input, {}, replay_options);
  EXPECT_TRUE(out.is_ok()) << out.status().message();
  return out.is_ok() ? std::move(out).value() : Tensor();
}

Tensor clean_outputs(const Replay& r, const Tensor& input, const std::string& backend) {
  Replay none = r;
  none.list.entries.clear();
  none.resolved.clear();
  SessionOptions options;
  options.backend = backend;
  options.batch = 2;
  options.threads = 1;
  auto replayer = FaultReplayer::create(none.model, options, none.list, none.resolved, none.targets, input);
  EXPECT_TRUE(replayer.is_ok()) << replayer.status().message();
  auto golden = (*replayer)->golden();
  EXPECT_TRUE(golden.is_ok());
  return golden->clone();
}

using Element = std::tuple<int64_t, int64_t, int64_t, int64_t>;  // (image, oc, oh, ow)

// The output elements of fault `f` that differ from the clean run (bitwise).
std::set<Element> changed_elements(const Tensor& faulty, size_t f, const Tensor& clean) {
  std::set<Element> changed;
  const int64_t per_fault = clean.numel();
  const uint32_t* a = reinterpret_cast<const uint32_t*>(faulty.data<float>() + f * per_fault);
  const uint32_t* b = reinterpret_cast<const uint32_t*>(clean.data<float>());
  for (int64_t i = 0; i < per_fault; ++i) {
    if (a[i] == b[i]) continue;
    const int64_t ow = i % kSize, oh = i / kSize % kSize, oc = i / (kSize * kSize) % kOutChannels,
                  n = i / (kSize * kSize * kOutChannels);
    changed.insert({n, oc, oh, ow});
  }
  return changed;
}

// Every element (image, oc, oh, ow) of the images `images` for which `hit(oc, pixel)` holds; pixel = oh*9+ow.
template <typename Hit>
std::set<Element> expected_elements(const std::vector<int64_t>& images, Hit hit) {
  std::set<Element> expected;
  for (int64_t n : images)
    for (int64_t oc = 0; oc < kOutChannels; ++oc)
      for (int64_t oh = 0; oh < kSize; ++oh)
        for (int64_t ow = 0; ow < kSize; ++ow)
          if (hit(oc, oh * kSize + ow)) expected.insert({n, oc, oh, ow});
  return expected;
}

class KernelFootprint : public ::testing::TestWithParam<std::string> {};

// A flip of bit 30 changes every word it reaches, so the changed elements are exactly the footprint.
TEST_P(KernelFootprint, PatternsAndPesChangeExactlyTheirMappedOutputs) {
  const std::string backend = GetParam();
  const std::string header = "Injection,Layer,TensorIndex,Bit,Target,Model,Mac,Array,Dataflow,Unit,Pattern,Batch\n";
  const std::string csv = header +
                          "0,conv,\"(4, 2, 7)\",30,pattern,bitflip,,,,,element,\n"
                          "1,conv,\"(40,)\",30,pattern,bitflip,,,,,row,\n"
                          "2,conv,\"(17,)\",30,pattern,bitflip,,,,,column,\n"
                          "3,conv,\"(5,)\",30,pattern,bitflip,,,,,channel,1\n"
                          "4,conv,\"(10, 3, 20, 5)\",30,pattern,bitflip,,,,,tile,\n"
                          "5,conv,\"(3, 2)\",30,pe,bitflip,,4x16,os,accumulator,,\n"
                          "6,conv,\"(1, 0)\",30,pe,bitflip,,4x16,os,product,,\n"
                          "7,conv,\"(3, 4)\",30,pe,bitflip,,4x16,ws,product,,\n"
                          "8,conv,\"(2, 3)\",30,pe,bitflip,,4x16,ws,accumulator,,2\n"
                          "9,conv,\"(30, 0)\",30,pe,bitflip,,32x16,ws,product,,\n"  // MAC 30 >= K: unused PE
                          "10,conv,\"(0, 15)\",30,pe,bitflip,,4x16,os,accumulator,,\n"  // column 15 < 20
                          "11,conv,\"(2, 3, 4)\",30,accumulator,bitflip,5,,,,,\n"
                          "12,conv,\"(2, 3, 4)\",30,product,bitflip,26,,,,,\n";
  const Replay r = make_replay(conv_model(), csv);
  const Tensor input = random_tensor({kImages, kInChannels, kSize, kSize}, 3);
  const Tensor clean = clean_outputs(r, input, backend);
  const Tensor faulty = replay(r, input, backend);
  ASSERT_EQ(faulty.dim(0), 13);
  const std::vector<int64_t> all = {0, 1, 2};
  using P = int64_t;
  EXPECT_EQ(changed_elements(faulty, 0, clean),
            expected_elements(all, [](P oc, P p) { return oc == 4 && p == 2 * kSize + 7; }));
  EXPECT_EQ(changed_elements(faulty, 1, clean), expected_elements(all, [](P, P p) { return p == 40; }));
  EXPECT_EQ(changed_elements(faulty, 2, clean), expected_elements(all, [](P oc, P) { return oc == 17; }));
  EXPECT_EQ(changed_elements(faulty, 3, clean), expected_elements({1}, [](P oc, P) { return oc == 5; }));
  EXPECT_EQ(changed_elements(faulty, 4, clean),
            expected_elements(all, [](P oc, P p) { return p >= 10 && p < 30 && oc >= 3 && oc < 8; }));
  // Output-stationary 4x16: PE (r, c) computes rows p % 4 == r of the columns oc % 16 == c.
  EXPECT_EQ(changed_elements(faulty, 5, clean),
            expected_elements(all, [](P oc, P p) { return p % 4 == 3 && oc % 16 == 2; }));
  EXPECT_EQ(changed_elements(faulty, 6, clean),
            expected_elements(all, [](P oc, P p) { return p % 4 == 1 && oc % 16 == 0; }));
  // Weight-stationary: PE (r, c) holds MACs t % 4 == r of the columns oc % 16 == c, for every row.
  EXPECT_EQ(changed_elements(faulty, 7, clean), expected_elements(all, [](P oc, P) { return oc % 16 == 4; }));
  EXPECT_EQ(changed_elements(faulty, 8, clean), expected_elements({2}, [](P oc, P) { return oc % 16 == 3; }));
  EXPECT_TRUE(changed_elements(faulty, 9, clean).empty()) << "a PE the layer does not use corrupts nothing";
  EXPECT_EQ(changed_elements(faulty, 10, clean),
            expected_elements(all, [](P oc, P p) { return p % 4 == 0 && oc == 15; }));
  EXPECT_EQ(changed_elements(faulty, 11, clean),
            expected_elements(all, [](P oc, P p) { return oc == 2 && p == 3 * kSize + 4; }));
  EXPECT_EQ(changed_elements(faulty, 12, clean),
            expected_elements(all, [](P oc, P p) { return oc == 2 && p == 3 * kSize + 4; }));
}

INSTANTIATE_TEST_SUITE_P(Backends, KernelFootprint, ::testing::Values("reference", "onednn"));

// Weight-stationary PE (r, c) faults exactly the MACs t % R == r: zeroing those products of output (oc, p) must
// give the sum of the other products in MAC order, plus the bias. Checked against a hand-written sum.
TEST(KernelFaults, WeightStationaryPeZeroesExactlyItsMacs) {
  const std::string csv =
      "Injection,Layer,TensorIndex,Bit,Target,Model,Array,Dataflow,Unit\n"
      "0,conv,\"(2, 6)\",,pe,zero,5x16,ws,product\n";
  std::shared_ptr<const Graph> model = conv_model();
  const Replay r = make_replay(model, csv);
  const Tensor input = random_tensor({kImages, kInChannels, kSize, kSize}, 4);
  const Tensor faulty = replay(r, input, "reference");
  const Graph& g = *model;
  const float* w = g.value(*g.find_value("conv.weight")).constant.data<float>();
  const float* bias = g.value(*g.find_value("conv.bias")).constant.data<float>();
  const float* x = input.data<float>();
  for (int64_t n = 0; n < kImages; ++n) {
    for (int64_t oh = 0; oh < kSize; ++oh) {
      for (int64_t ow = 0; ow < kSize; ++ow) {
        const int64_t oc = 6;
        float sum = 0.0f;
        for (int64_t t = 0; t < kMacs; ++t) {
          const int64_t ic = t / 9, kh = t / 3 % 3, kw = t % 3;
          const int64_t ih = oh + kh - 1, iw = ow + kw - 1;
          const bool inside = ih >= 0 && ih < kSize && iw >= 0 && iw < kSize;
          const float value = inside ? x[((n * kInChannels + ic) * kSize + ih) * kSize + iw] : 0.0f;
          float product = value * w[(oc * kInChannels + ic) * 9 + kh * 3 + kw];
          if (t % 5 == 2) product = 0.0f;
          sum = sum + product;
        }
        const float expected = sum + bias[oc];
        const float got = faulty.data<float>()[((n * kOutChannels + oc) * kSize + oh) * kSize + ow];
        ASSERT_EQ(std::memcmp(&got, &expected, 4), 0) << "image " << n << " (" << oh << ", " << ow << "): " << got
                                                        << " vs " << expected;
      }
    }
  }
}

// Accumulator after the last MAC == activation fault before the bias; after the bias == activation fault on
// the output. Several bits (sign, exponent, mantissa), bit flips and stuck-at.
TEST(KernelFaults, AccumulatorFaultsEqualActivationFaultsAroundTheBias) {
  const Tensor input = random_tensor({kImages, kInChannels, kSize, kSize}, 5);
  std::string kernel_csv = "Injection,Layer,TensorIndex,Bit,Target,Model,Mac\n";
  std::string before_csv = "Injection,Layer,TensorIndex,Bit,Target,Model\n";
  std::string after_csv = before_csv;
  int i = 0;
  for (int bit : {0, 13, 22, 23, 27, 30, 31}) {
    for (const char* model : {"bitflip", "stuck-at-1", "stuck-at-0"}) {
      const std::string index = "\"(" + std::to_string(i % kOutChannels) + ", " + std::to_string(i % kSize) + ", " +
                                std::to_string((3 * i) % kSize) + ")\"";
      const std::string row = std::to_string(i) + ",conv," + index + "," + std::to_string(bit) + ",";
      kernel_csv += row + "accumulator," + model + ",last\n";
      kernel_csv += row + "accumulator," + model + ",bias\n";
      before_csv += row + "activation," + model + "\n";
      after_csv += row + "activation," + model + "\n";
      ++i;
    }
  }
  const Replay kernel = make_replay(conv_model(), kernel_csv);
  const Replay before = make_replay(conv_model(/*split_bias=*/true), before_csv);
  const Replay after = make_replay(conv_model(), after_csv);
  const Tensor k = replay(kernel, input, "reference");
  const Tensor b = replay(before, input, "reference");
  const Tensor a = replay(after, input, "reference");
  const int64_t per_fault = b.numel() / b.dim(0);
  for (int64_t f = 0; f < b.dim(0); ++f) {
    EXPECT_EQ(std::memcmp(k.data<float>() + 2 * f * per_fault, b.data<float>() + f * per_fault, per_fault * 4), 0)
        << "accumulator 'last' vs activation before the bias, fault " << f;
    EXPECT_EQ(std::memcmp(k.data<float>() + (2 * f + 1) * per_fault, a.data<float>() + f * per_fault, per_fault * 4),
              0)
        << "accumulator 'bias' vs activation after the bias, fault " << f;
  }
}

// Random kernel-level campaigns on a real branching model: incremental passes equal full passes bit for bit,
// and oneDNN (footprint recomputed in MAC order, everything else oneDNN) gives the reference backend's classes.
TEST(KernelFaults, RandomCampaignsOnTheMnistCnnAgreeAcrossPathsAndBackends) {
  auto model = load_model(testing::test_data("../../examples/data/mnist_cnn.onnx"));
  ASSERT_TRUE(model.is_ok()) << model.status().message();
  auto targets = list_fault_targets(**model);
  ASSERT_TRUE(targets.is_ok());
  const Tensor input = random_tensor({kImages, 1, 28, 28}, 6, 0.0f, 1.0f);
  struct Space {
    SiteTarget target;
    KernelSite kernel;
  };
  KernelSite os, ws, row;
  os.array = {8, 8, Dataflow::kOutputStationary, PeUnit::kAccumulator};
  ws.array = {16, 4, Dataflow::kWeightStationary, PeUnit::kProduct};
  row.pattern = OutputPattern::kRow;
  int checked = 0;
  for (const Space& space : {Space{SiteTarget::kAccumulator, {}}, Space{SiteTarget::kProduct, {}},
                             Space{SiteTarget::kPe, os}, Space{SiteTarget::kPe, ws}, Space{SiteTarget::kPattern, row}}) {
    GeneratorOptions options;
    options.target = space.target;
    options.kernel = space.kernel;
    options.models = {FaultModel::kBitFlip, FaultModel::kStuckAt1, FaultModel::kStuckAt0};
    options.seed = 7 + checked;
    auto list = generate_random_faults(*targets, options, 12);
    ASSERT_TRUE(list.is_ok()) << list.status().message();
    (void)write_fault_list("/tmp/dbg_" + std::string(site_target_name(space.target)) + ".csv", *list);  // DEBUG
    auto resolved = resolve_fault_list(*list, *targets);
    ASSERT_TRUE(resolved.is_ok()) << resolved.status().message();
    const Replay r{*model, *targets, *list, *resolved};
    const Tensor full = replay(r, input, "onednn", /*incremental=*/false);
    const Tensor fast = replay(r, input, "onednn");
    const Tensor reference = replay(r, input, "reference");
    ASSERT_EQ(full.nbytes(), fast.nbytes());
    const int64_t classes = full.dim(2);
    const size_t fault_bytes = full.nbytes() / static_cast<size_t>(full.dim(0));
    for (int64_t f = 0; f < full.dim(0); ++f) {
      EXPECT_EQ(std::memcmp(full.data<std::byte>() + f * fault_bytes, fast.data<std::byte>() + f * fault_bytes,
                            fault_bytes),
                0)
          << "incremental vs full passes: " << describe(list->entries[static_cast<size_t>(f)].fault);
    }
    for (int64_t row_index = 0; row_index < full.dim(0) * full.dim(1); ++row_index) {
      const float* a = fast.data<float>() + row_index * classes;
      const float* b = reference.data<float>() + row_index * classes;
      bool a_nan = false, b_nan = false;
      int64_t a_top = 0, b_top = 0;
      for (int64_t c = 0; c < classes; ++c) {
        a_nan = a_nan || std::isnan(a[c]);
        b_nan = b_nan || std::isnan(b[c]);
        if (a[c] > a[a_top]) a_top = c;
        if (b[c] > b[b_top]) b_top = c;
      }
      EXPECT_EQ(a_nan, b_nan) << site_target_name(space.target) << " row " << row_index;
      if (!a_nan)
        EXPECT_EQ(a_top, b_top) << "onednn vs reference: "
                                << describe(list->entries[static_cast<size_t>(row_index / kImages)].fault);
      ++checked;
    }
  }
  EXPECT_EQ(checked, 5 * 12 * kImages);
}

}  // namespace
}  // namespace faultline
