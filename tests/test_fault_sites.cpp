// Fault sites on a branching graph: an activation fault reaches every consumer of a value, an input fault only
// its one consumer (a residual Add's operand, a Concat's operand, a Conv's input), on every backend; every run
// leaves the model bit-identical to the golden run. Bit-error-rate faults on activations and inputs: p = 0
// changes nothing, p = 1 inverts every word, a seed gives the same bits, and the count of flipped bits stays
// within a binomial bound. `faultline inject` replays input rows and names the CSV line of a missing site.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <random>

#include "engine/file_io.h"
#include "engine/npy.h"
#include "engine/session.h"
#include "faults/fault_generator.h"
#include "faults/fault_injector.h"
#include "faults/fault_list.h"
#include "faults/fault_replay.h"
#include "frontends/load_model.h"
#include "tests/support/graph_builder.h"
#include "tests/support/run_command.h"
#include "tests/support/test_support.h"

namespace faultline {
namespace {

using testing::GraphBuilder;
using testing::random_tensor;

constexpr int64_t kChannels = 3;  // v's channels; the output has 2 * kChannels
constexpr int64_t kSide = 4;
constexpr int64_t kImages = 3;  // run in batches of 2 and 1 (the last on a second compiled model)
constexpr int64_t kBatch = 2;

Tensor images() {
  return random_tensor({kImages, 2, kSide, kSide}, 3, 0.1f, 1.0f);
}
Tensor conv2_weight() {
  return random_tensor({kChannels, kChannels, 1, 1}, 2, -0.5f, 0.5f);
}

// x -> conv1 -> relu = v; v has three consumers: conv2 (slot 0), the residual add (slot 1), the concat (slot 1).
//   out = concat(add(conv2(v), v), v) along channels: [N, 2C, H, W].
std::shared_ptr<const Graph> branching_model() {
  GraphBuilder b;
  const ValueId x = b.input("x", {kDynamicDim, 2, kSide, kSide});
  const ValueId c1 = b.node(OpKind::kConv, {x, b.constant("conv1.weight", random_tensor({kChannels, 2, 3, 3}, 1, 0.02f, 0.3f))},
                            ConvAttrs{{3, 3}, {}, {}, {1, 1, 1, 1}}, "conv1", "c1");
  const ValueId v = b.node(OpKind::kRelu, {c1}, {}, "relu", "v");
  const ValueId c2 = b.node(OpKind::kConv, {v, b.constant("conv2.weight", conv2_weight())}, ConvAttrs{{1, 1}}, "conv2", "c2");
  const ValueId sum = b.node(OpKind::kAdd, {c2, v}, {}, "add", "sum");
  b.output(b.node(OpKind::kConcat, {sum, v}, ConcatAttrs{1}, "cat", "out"));
  return std::make_shared<const Graph>(b.build());
}

bool bit_identical(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && std::memcmp(a.raw(), b.raw(), a.nbytes()) == 0;
}
uint32_t bits_of(float v) {
  return std::bit_cast<uint32_t>(v);
}
float at(const Tensor& t, int64_t n, int64_t c, int64_t h, int64_t w) {
  return t.data<float>()[((n * 2 * kChannels + c) * kSide + h) * kSide + w];
}

// The golden run, the faulted run and a fault-free run after it, on one Session planned as replay_faults
// plans it (the list's faulted values observable, NaN propagated).
struct Runs {
  Tensor golden, faulted, after;
};

Runs run_list(const std::shared_ptr<const Graph>& model, const std::string& backend, const std::string& csv,
              InjectorOptions injector_options = {}) {
  Runs runs;
  auto targets = list_fault_targets(*model);
  EXPECT_TRUE(targets.is_ok()) << targets.status().message();
  auto list = parse_fault_list(csv, "sites.csv");
  EXPECT_TRUE(list.is_ok()) << list.status().message();
  auto resolved = resolve_fault_list(*list, *targets);
  EXPECT_TRUE(resolved.is_ok()) << resolved.status().message();
  if (!resolved.is_ok()) return runs;
  std::vector<ArmedFault> armed;
  for (const ResolvedFault& r : *resolved) armed.push_back(armed_fault(*list, r, *targets));
  auto injector = FaultInjector::create(armed, injector_options);
  EXPECT_TRUE(injector.is_ok()) << injector.status().message();
  SessionOptions options;
  options.backend = backend;
  options.batch = kBatch;
  options.propagate_nan = true;
  options.observable = faulted_value_names(*resolved, *targets);
  auto session = Session::create(model, options);
  EXPECT_TRUE(session.is_ok()) << session.status().message();
  if (!session.is_ok() || !injector.is_ok()) return runs;
  runs.golden = (*session)->run({images()}).value().front();
  auto faulted = (*session)->run({images()}, &*injector);
  EXPECT_TRUE(faulted.is_ok()) << faulted.status().message();
  if (faulted.is_ok()) runs.faulted = faulted->front();
  EXPECT_TRUE(injector->check_restored().is_ok());
  runs.after = (*session)->run({images()}).value().front();
  EXPECT_TRUE(bit_identical(runs.golden, runs.after)) << "a fault-free run after the fault differs from the golden";
  return runs;
}

class SitesOnBackend : public ::testing::TestWithParam<std::string> {};

TEST(FaultSites, InputSitesAreListedPerConsumerAndSlot) {
  auto targets = list_fault_targets(*branching_model());
  ASSERT_TRUE(targets.is_ok());
  std::vector<std::string> inputs;
  for (const FaultTarget& t : *targets)
    if (t.kind == TargetKind::kInput) inputs.push_back(t.layer + "=" + t.name);
  EXPECT_EQ(inputs, (std::vector<std::string>{"conv1=x", "relu=c1", "conv2=v", "add=c2", "add:1=v", "cat=sum",
                                              "cat:1=v"}));
  for (const char* name : {"add:1", "conv2", "conv2:0"}) {
    auto found = find_fault_target(*targets, SiteTarget::kInput, name);
    ASSERT_TRUE(found.is_ok()) << name;
    EXPECT_EQ((*targets)[*found].name, "v") << name;
  }
  auto ambiguous = find_fault_target(*targets, SiteTarget::kInput, "v");  // three readers
  ASSERT_FALSE(ambiguous.is_ok());
  EXPECT_NE(ambiguous.status().message().find("'add:1'"), std::string::npos) << ambiguous.status().message();
  auto by_value = find_fault_target(*targets, SiteTarget::kInput, "sum");  // one reader
  ASSERT_TRUE(by_value.is_ok());
  EXPECT_EQ((*targets)[*by_value].layer, "cat");
}

TEST_P(SitesOnBackend, ActivationFaultReachesEveryConsumer) {
  const Runs runs = run_list(branching_model(), GetParam(),
                             "Injection,Layer,TensorIndex,Bit,Target,Model,Value\n0,relu,\"(1, 2, 3)\",,activation,value,100\n");
  ASSERT_FALSE(runs.faulted.empty());
  const Tensor w2 = conv2_weight();
  for (int64_t n = 0; n < kImages; ++n) {
    const float delta = 100.0f - at(runs.golden, n, kChannels + 1, 2, 3);
    for (int64_t c = 0; c < kChannels; ++c)
      for (int64_t h = 0; h < kSide; ++h)
        for (int64_t w = 0; w < kSide; ++w) {
          const bool site = h == 2 && w == 3;
          // the Concat's copy
          EXPECT_EQ(at(runs.faulted, n, kChannels + c, h, w), site && c == 1 ? 100.0f : at(runs.golden, n, kChannels + c, h, w));
          // the Add: conv2 sees it through its weight column 1, the residual directly
          const float expected = at(runs.golden, n, c, h, w) +
                                 (site ? w2.data<float>()[c * kChannels + 1] * delta : 0.0f) + (site && c == 1 ? delta : 0.0f);
          EXPECT_NEAR(at(runs.faulted, n, c, h, w), expected, 1e-4f * std::max(1.0f, std::abs(expected)));
          if (site) EXPECT_NE(at(runs.faulted, n, c, h, w), at(runs.golden, n, c, h, w)) << "conv2 path, channel " << c;
        }
  }
}

TEST_P(SitesOnBackend, InputFaultOnTheConcatReachesOnlyTheConcat) {
  const Runs runs = run_list(branching_model(), GetParam(),
                             "Injection,Layer,TensorIndex,Bit,Target,Model,Value\n0,cat:1,\"(1, 2, 3)\",,input,value,100\n");
  ASSERT_FALSE(runs.faulted.empty());
  for (int64_t n = 0; n < kImages; ++n)
    for (int64_t c = 0; c < 2 * kChannels; ++c)
      for (int64_t h = 0; h < kSide; ++h)
        for (int64_t w = 0; w < kSide; ++w) {
          const bool site = c == kChannels + 1 && h == 2 && w == 3;
          EXPECT_EQ(bits_of(at(runs.faulted, n, c, h, w)), bits_of(site ? 100.0f : at(runs.golden, n, c, h, w)))
              << n << " " << c << " " << h << " " << w;
        }
}

TEST_P(SitesOnBackend, InputFaultOnTheResidualOperandReachesOnlyTheAdd) {
  const Runs runs = run_list(branching_model(), GetParam(),
                             "Injection,Layer,TensorIndex,Bit,Target,Model,Value\n0,add:1,\"(1, 2, 3)\",,input,value,100\n");
  ASSERT_FALSE(runs.faulted.empty());
  for (int64_t n = 0; n < kImages; ++n) {
    const float v = at(runs.golden, n, kChannels + 1, 2, 3);
    for (int64_t c = 0; c < 2 * kChannels; ++c)
      for (int64_t h = 0; h < kSide; ++h)
        for (int64_t w = 0; w < kSide; ++w) {
          if (c == 1 && h == 2 && w == 3) {  // sum = conv2(v) + 100 instead of conv2(v) + v
            const float expected = at(runs.golden, n, c, h, w) + (100.0f - v);
            EXPECT_NEAR(at(runs.faulted, n, c, h, w), expected, 1e-4f * std::max(1.0f, std::abs(expected)));
            continue;
          }
          // conv2 (which mixes channels) and the Concat's copy of v saw nothing.
          EXPECT_EQ(bits_of(at(runs.faulted, n, c, h, w)), bits_of(at(runs.golden, n, c, h, w)))
              << n << " " << c << " " << h << " " << w;
        }
  }
}

TEST_P(SitesOnBackend, InputFaultOnTheConvReachesOnlyTheConv) {
  const Runs runs = run_list(branching_model(), GetParam(),
                             "Injection,Layer,TensorIndex,Bit,Target,Model,Value\n0,conv2,\"(1, 2, 3)\",,input,value,100\n");
  ASSERT_FALSE(runs.faulted.empty());
  const Tensor w2 = conv2_weight();
  for (int64_t n = 0; n < kImages; ++n) {
    const float delta = 100.0f - at(runs.golden, n, kChannels + 1, 2, 3);
    for (int64_t c = 0; c < 2 * kChannels; ++c)
      for (int64_t h = 0; h < kSide; ++h)
        for (int64_t w = 0; w < kSide; ++w) {
          if (c < kChannels && h == 2 && w == 3) {  // conv2's output moves; the residual does not
            const float expected = at(runs.golden, n, c, h, w) + w2.data<float>()[c * kChannels + 1] * delta;
            EXPECT_NEAR(at(runs.faulted, n, c, h, w), expected, 1e-4f * std::max(1.0f, std::abs(expected)));
            continue;
          }
          EXPECT_EQ(bits_of(at(runs.faulted, n, c, h, w)), bits_of(at(runs.golden, n, c, h, w)))
              << n << " " << c << " " << h << " " << w;
        }
  }
}

TEST_P(SitesOnBackend, InputFaultHitsOnlyTheBatchImage) {
  const Runs runs = run_list(branching_model(), GetParam(),
                             "Injection,Layer,TensorIndex,Bit,Target,Model,Batch\n0,cat:1,\"(0, 0, 0)\",,input,zero,2\n");
  ASSERT_FALSE(runs.faulted.empty());
  for (int64_t n = 0; n < kImages; ++n)
    EXPECT_EQ(at(runs.faulted, n, kChannels, 0, 0), n == 2 ? 0.0f : at(runs.golden, n, kChannels, 0, 0)) << n;
}

// The Concat's slice of the output is its copy of v: ber on cat:1 shows exactly the bits flipped there.
TEST_P(SitesOnBackend, BerOnAnInputFlipsNothingAtZeroAndEveryBitAtOne) {
  const auto model = branching_model();
  const std::string header = "Injection,Layer,TensorIndex,Bit,Target,Model,Value\n";
  const Runs none = run_list(model, GetParam(), header + "0,cat:1,,,input,ber,0\n");
  ASSERT_FALSE(none.faulted.empty());
  EXPECT_TRUE(bit_identical(none.golden, none.faulted));

  const Runs all = run_list(model, GetParam(), header + "0,cat:1,,,input,ber,1\n");
  ASSERT_FALSE(all.faulted.empty());
  for (int64_t n = 0; n < kImages; ++n)
    for (int64_t c = 0; c < 2 * kChannels; ++c)
      for (int64_t h = 0; h < kSide; ++h)
        for (int64_t w = 0; w < kSide; ++w) {
          const uint32_t golden = bits_of(at(all.golden, n, c, h, w));
          EXPECT_EQ(bits_of(at(all.faulted, n, c, h, w)), c >= kChannels ? ~golden : golden)
              << n << " " << c << " " << h << " " << w;
        }
}

TEST_P(SitesOnBackend, BerOnAnActivationIsReproducibleAndReachesEveryConsumer) {
  const auto model = branching_model();
  const std::string list = "Injection,Layer,TensorIndex,Bit,Target,Model,Value\n7,relu,,,activation,ber,0.05\n";
  const Runs first = run_list(model, GetParam(), list);
  const Runs again = run_list(model, GetParam(), list);
  ASSERT_FALSE(first.faulted.empty());
  EXPECT_TRUE(bit_identical(first.faulted, again.faulted));
  InjectorOptions other_seed;
  other_seed.seed = 1;
  EXPECT_FALSE(bit_identical(first.faulted, run_list(model, GetParam(), list, other_seed).faulted));
  // The Concat's copy holds v's flipped bits: about 5% of them, never in a clean word only by chance.
  int64_t flipped = 0;
  for (int64_t n = 0; n < kImages; ++n)
    for (int64_t i = 0; i < kChannels * kSide * kSide; ++i) {
      const int64_t offset = (n * 2 * kChannels + kChannels) * kSide * kSide + i;
      flipped += std::popcount(bits_of(first.faulted.data<float>()[offset]) ^ bits_of(first.golden.data<float>()[offset]));
    }
  EXPECT_GT(flipped, 0);
  EXPECT_FALSE(bit_identical(first.golden, first.faulted));
  // p = 1 on v: the Concat slice is ~v, every word.
  const Runs all = run_list(model, GetParam(), "Injection,Layer,TensorIndex,Bit,Target,Model,Value\n0,v,,,activation,ber,1\n");
  ASSERT_FALSE(all.faulted.empty());
  for (int64_t n = 0; n < kImages; ++n)
    for (int64_t i = 0; i < kChannels * kSide * kSide; ++i) {
      const int64_t offset = (n * 2 * kChannels + kChannels) * kSide * kSide + i;
      EXPECT_EQ(bits_of(all.faulted.data<float>()[offset]), ~bits_of(all.golden.data<float>()[offset]));
    }
}

// Without the consumer's outputs observable, oneDNN fuses conv2 + add (a conv with a sum post-op reading v
// twice): the injector refuses the site, naming the other reader, instead of faulting both.
TEST_P(SitesOnBackend, InputSiteSharingItsStepWithAnotherReaderIsRefused) {
  const auto model = branching_model();
  auto targets = list_fault_targets(*model);
  ASSERT_TRUE(targets.is_ok());
  auto list = parse_fault_list("Injection,Layer,TensorIndex,Bit,Target\n0,add:1,\"(1, 2, 3)\",3,input\n", "fused.csv");
  ASSERT_TRUE(list.is_ok());
  auto resolved = resolve_fault_list(*list, *targets);
  ASSERT_TRUE(resolved.is_ok());
  const ArmedFault armed = armed_fault(*list, (*resolved)[0], *targets);
  auto injector = FaultInjector::create({&armed, 1});
  ASSERT_TRUE(injector.is_ok());
  SessionOptions options;
  options.backend = GetParam();
  options.observable = {"v"};  // the value only
  auto session = Session::create(model, options);
  ASSERT_TRUE(session.is_ok());
  auto out = (*session)->run({images()}, &*injector);
  if (GetParam() == "onednn") {
    ASSERT_FALSE(out.is_ok());
    EXPECT_NE(out.status().message().find("same step"), std::string::npos) << out.status().message();
    EXPECT_NE(out.status().message().find("conv2"), std::string::npos) << out.status().message();
  } else {
    EXPECT_TRUE(out.is_ok()) << out.status().message();  // one node per step
  }
}

// oneDNN runs a Flatten of a value nobody else reads as an alias of that value's buffer: restoring the value
// after the step must not take the fault back out of the Flatten's output.
TEST_P(SitesOnBackend, InputFaultOnAnAliasingReshapeStaysInItsOutput) {
  GraphBuilder b;
  const ValueId x = b.input("x", {kDynamicDim, 2, 3});
  const ValueId r = b.node(OpKind::kRelu, {x}, {}, "relu", "r");
  b.output(b.node(OpKind::kFlatten, {r}, FlattenAttrs{1}, "flatten", "y"));
  const auto model = std::make_shared<const Graph>(b.build());
  auto targets = list_fault_targets(*model);
  ASSERT_TRUE(targets.is_ok());
  auto list = parse_fault_list("Injection,Layer,TensorIndex,Bit,Target,Model,Value\n0,flatten,\"(1, 2)\",,input,value,100\n",
                               "alias.csv");
  ASSERT_TRUE(list.is_ok());
  auto resolved = resolve_fault_list(*list, *targets);
  ASSERT_TRUE(resolved.is_ok()) << resolved.status().message();
  SessionOptions options;
  options.backend = GetParam();
  options.batch = 2;
  const Tensor input = random_tensor({3, 2, 3}, 5, 0.1f, 1.0f);
  auto out = replay_faults(model, options, *list, *resolved, *targets, input);
  ASSERT_TRUE(out.is_ok()) << out.status().message();
  for (int64_t i = 0; i < 3 * 6; ++i)
    EXPECT_EQ(out->data<float>()[i], i % 6 == 5 ? 100.0f : input.data<float>()[i]) << i;
}

INSTANTIATE_TEST_SUITE_P(Backends, SitesOnBackend, ::testing::Values("reference", "onednn"));

// A Flatten of a [N, 3125] input copies its bits, so the output shows the flipped bits of the input site:
// 10^5 bits per image at p = 1e-3 flip 100 +- 10 (one sigma) times; the count is deterministic for the seed.
TEST(BitErrorRate, FlippedBitsStayWithinSixSigmaOfTheBinomialMean) {
  constexpr int64_t kWords = 3125;  // 100000 bits
  GraphBuilder b;
  const ValueId x = b.input("x", {kDynamicDim, kWords});
  b.output(b.node(OpKind::kFlatten, {x}, FlattenAttrs{1}, "flatten", "y"));
  const auto model = std::make_shared<const Graph>(b.build());
  const Tensor input = random_tensor({2, kWords}, 9, -1.0f, 1.0f);
  auto targets = list_fault_targets(*model);
  ASSERT_TRUE(targets.is_ok());
  auto list = parse_fault_list("Injection,Layer,TensorIndex,Bit,Target,Model,Value\n0,flatten,,,input,ber,1e-3\n",
                               "ber.csv");
  ASSERT_TRUE(list.is_ok()) << list.status().message();
  auto resolved = resolve_fault_list(*list, *targets);
  ASSERT_TRUE(resolved.is_ok()) << resolved.status().message();
  for (const char* backend : {"reference", "onednn"}) {
    SessionOptions options;
    options.backend = backend;
    options.batch = 1;  // each image in its own batch: each gets its own draw
    auto out = replay_faults(model, options, *list, *resolved, *targets, input);
    ASSERT_TRUE(out.is_ok()) << out.status().message();
    const double n = 32.0 * kWords, p = 1e-3;
    const double mean = n * p, sigma = std::sqrt(n * p * (1 - p));
    int64_t per_image[2] = {0, 0};
    for (int64_t i = 0; i < 2 * kWords; ++i)
      per_image[i / kWords] += std::popcount(bits_of(input.data<float>()[i]) ^ bits_of(out->data<float>()[i]));
    for (int64_t flipped : per_image) {
      EXPECT_GT(flipped, 0) << backend;
      EXPECT_LE(std::abs(static_cast<double>(flipped) - mean), 6 * sigma) << backend << ": " << flipped;
    }
    EXPECT_NE(per_image[0], per_image[1]) << "both images drew the same bits";
    // The input itself (read by nobody else) is back as it was: a clean run gives the input.
    auto session = Session::create(model, options);
    ASSERT_TRUE(session.is_ok());
    EXPECT_TRUE(bit_identical((*session)->run({input}).value().front(), input));
  }
}

TEST(FaultSites, GenerateBerOnActivationsAndInputs) {
  auto targets = list_fault_targets(*branching_model());
  ASSERT_TRUE(targets.is_ok());
  GeneratorOptions options;
  options.target = SiteTarget::kActivation;
  auto activations = generate_ber_faults(*targets, options, 1e-4);
  ASSERT_TRUE(activations.is_ok()) << activations.status().message();
  ASSERT_EQ(activations->entries.size(), 5u);  // c1, v, c2, sum, out
  EXPECT_EQ(activations->entries[1].fault.site.layer, "relu");
  options.target = SiteTarget::kInput;
  options.layers = {"cat*", "add*"};
  auto inputs = generate_ber_faults(*targets, options, 1e-4);
  ASSERT_TRUE(inputs.is_ok()) << inputs.status().message();
  ASSERT_EQ(inputs->entries.size(), 4u);
  EXPECT_EQ(inputs->entries[1].fault.site.layer, "add:1");
  EXPECT_EQ(inputs->entries[1].fault.site.target, SiteTarget::kInput);
  // The list resolves back to the same sites.
  auto resolved = resolve_fault_list(*inputs, *targets);
  ASSERT_TRUE(resolved.is_ok()) << resolved.status().message();
}

TEST(FaultSites, InjectorRefusesAnInputReadTwiceInItsStep) {
  GraphBuilder b;
  const ValueId x = b.input("x", {kDynamicDim, 4});
  const ValueId r = b.node(OpKind::kRelu, {x}, {}, "relu", "r");
  b.output(b.node(OpKind::kAdd, {r, r}, {}, "twice", "y"));  // Add(r, r): both slots read r
  const auto model = std::make_shared<const Graph>(b.build());
  auto targets = list_fault_targets(*model);
  ASSERT_TRUE(targets.is_ok());
  auto list = parse_fault_list("Injection,Layer,TensorIndex,Bit,Target\n0,twice:1,\"(1,)\",3,input\n", "twice.csv");
  ASSERT_TRUE(list.is_ok());
  auto resolved = resolve_fault_list(*list, *targets);
  ASSERT_TRUE(resolved.is_ok()) << resolved.status().message();
  SessionOptions options;
  options.backend = "reference";
  auto out = replay_faults(model, options, *list, *resolved, *targets, random_tensor({2, 4}, 4, 0.1f, 1.0f));
  ASSERT_FALSE(out.is_ok());
  EXPECT_NE(out.status().message().find("twice.csv:2"), std::string::npos) << out.status().message();
  EXPECT_NE(out.status().message().find("same step"), std::string::npos) << out.status().message();
}

class CliSites : public ::testing::Test {
 protected:
  std::string path(const std::string& name) const { return dir_ + "/" + name; }
  std::string dir_ = testing::temp_dir();
};

TEST_F(CliSites, InjectReplaysInputRowsAndNamesTheLineOfAMissingSite) {
  const std::string model = testing::test_data("models/resnet20_bn.onnx");
  const std::string input = testing::test_data("models/resnet20_input.npy");
  auto layers = testing::run_faultline("layers " + model + " --kind input --csv");
  ASSERT_EQ(layers.exit_code, 0) << layers.err;
  EXPECT_NE(layers.out.find("\ninput,"), std::string::npos) << layers.out;
  EXPECT_EQ(layers.out.find("\nweight,"), std::string::npos);
  auto all = testing::run_faultline("layers " + model + " --csv");
  ASSERT_EQ(all.exit_code, 0) << all.err;
  EXPECT_EQ(all.out.find("\ninput,"), std::string::npos);  // inputs are listed only when asked for

  // The first input site of a node reading a value in slot 1 (a residual Add).
  std::string site;
  for (size_t pos = layers.out.find("\ninput,"); pos != std::string::npos; pos = layers.out.find("\ninput,", pos + 1)) {
    const size_t start = pos + 7, end = layers.out.find(',', start);
    const std::string layer = layers.out.substr(start, end - start);
    if (layer.size() > 2 && layer.substr(layer.size() - 2) == ":1") {
      site = layer;
      break;
    }
  }
  ASSERT_FALSE(site.empty()) << layers.out;
  const std::string list = path("inputs.csv");
  ASSERT_TRUE(write_file_atomically(list, "Injection,Layer,TensorIndex,Bit,Target,Model,Value\n"
                                          "0," + site + ",\"(0, 0, 0)\",30,input,,\n"
                                          "1," + site + ",,,input,ber,1e-3\n")
                  .is_ok());
  const std::string output = path("y.npy");
  auto r = testing::run_faultline("inject " + model + " --faults " + list + " --input " + input + " --output " + output +
                                  " --backend reference");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto y = read_npy(output);
  ASSERT_TRUE(y.is_ok()) << y.status().message();
  EXPECT_EQ(y->dim(0), 2);

  const std::string bad = path("bad.csv");
  ASSERT_TRUE(write_file_atomically(bad, "Injection,Layer,TensorIndex,Bit,Target\n0," + site +
                                             ",\"(0, 0, 0)\",3,input\n1,nowhere:1,\"(0, 0, 0)\",3,input\n")
                  .is_ok());
  const std::string bad_output = path("bad.npy");
  auto refused = testing::run_faultline("inject " + model + " --faults " + bad + " --input " + input + " --output " +
                                        bad_output);
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_NE(refused.err.find("bad.csv:3: no input 'nowhere:1'"), std::string::npos) << refused.err;
  EXPECT_FALSE(std::filesystem::exists(bad_output));
}

}  // namespace
}  // namespace faultline
