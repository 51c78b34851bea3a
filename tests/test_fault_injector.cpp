// FaultInjector and replay_faults: weight faults equal a hand-patched model, activation faults reach every
// consumer, each fault model gives the hand-computed word, Batch counts images across Session's batches,
// weights come back bit-identical (also after 1,000 ResNet20 faults), and hook errors come back as Status.
#include <gtest/gtest.h>

#include <bit>
#include <cstring>
#include <random>

#include "engine/npy.h"
#include "engine/session.h"
#include "faults/fault_generator.h"
#include "faults/fault_injector.h"
#include "faults/fault_replay.h"
#include "frontends/load_model.h"
#include "tests/support/graph_builder.h"
#include "tests/support/test_support.h"

namespace faultline {
namespace {

using testing::GraphBuilder;
using testing::random_tensor;

constexpr int64_t kChannels = 3;  // conv1's output channels; the Concat output has 2 * kChannels
constexpr int64_t kSide = 4;

// Positive, so that the Relu output is positive too.
Tensor conv1_weight() {
  return random_tensor({kChannels, 2, 3, 3}, 1, 0.02f, 0.3f);
}
Tensor conv2_weight() {
  return random_tensor({kChannels, kChannels, 1, 1}, 2, -0.5f, 0.5f);
}
Tensor images(int64_t n) {
  return random_tensor({n, 2, kSide, kSide}, 3, 0.1f, 1.0f);
}

// x -> conv1 -> relu (r) -> { conv2 (1x1), identity } -> add (sum) -> concat(sum, r) along channels.
std::shared_ptr<const Graph> branching_model(const Tensor& w1, const Tensor& w2) {
  GraphBuilder b;
  const ValueId x = b.input("x", {kDynamicDim, 2, kSide, kSide});
  const ValueId c1 = b.node(OpKind::kConv, {x, b.constant("conv1.weight", w1)}, ConvAttrs{{3, 3}, {}, {}, {1, 1, 1, 1}},
                            "conv1", "c1");
  const ValueId r = b.node(OpKind::kRelu, {c1}, {}, "relu", "r");
  const ValueId c2 = b.node(OpKind::kConv, {r, b.constant("conv2.weight", w2)}, ConvAttrs{{1, 1}}, "conv2", "c2");
  const ValueId skip = b.node(OpKind::kIdentity, {r}, {}, "skip", "s");
  const ValueId sum = b.node(OpKind::kAdd, {c2, skip}, {}, "add", "sum");
  b.output(b.node(OpKind::kConcat, {sum, r}, ConcatAttrs{1}, "cat", "out"));
  return std::make_shared<const Graph>(b.build());
}

// Runs `csv` (a fault list for `model`) over `x` and returns [F, N, 2C, H, W].
Tensor replay_csv(const std::shared_ptr<const Graph>& model, const std::string& backend, const std::string& csv,
                  const Tensor& x, int64_t batch) {
  auto targets = list_fault_targets(*model);
  EXPECT_TRUE(targets.is_ok()) << targets.status().message();
  auto list = parse_fault_list(csv, "test.csv");
  EXPECT_TRUE(list.is_ok()) << list.status().message();
  auto resolved = resolve_fault_list(*list, *targets);
  EXPECT_TRUE(resolved.is_ok()) << resolved.status().message();
  SessionOptions options;
  options.backend = backend;
  options.batch = batch;
  auto out = replay_faults(model, options, *list, *resolved, *targets, x);
  EXPECT_TRUE(out.is_ok()) << out.status().message();
  return out.is_ok() ? std::move(out).value() : Tensor();
}

// A clean run with the given values observable (the plan a replay with faults on them uses).
Tensor run_clean(const std::shared_ptr<const Graph>& model, const std::string& backend, const Tensor& x, int64_t batch,
                 std::vector<std::string> observable) {
  SessionOptions options;
  options.backend = backend;
  options.batch = batch;
  options.observable = std::move(observable);
  auto session = Session::create(model, options);
  EXPECT_TRUE(session.is_ok()) << session.status().message();
  auto out = (*session)->run({x});
  EXPECT_TRUE(out.is_ok()) << out.status().message();
  return out.is_ok() ? out->front() : Tensor();
}

// Fault `f` of a replay: [N, ...], a view into `stacked`.
Tensor fault_slice(const Tensor& stacked, int64_t f) {
  Shape shape(stacked.shape().begin() + 1, stacked.shape().end());
  const size_t bytes = static_cast<size_t>(numel(shape)) * sizeof(float);
  return Tensor::view(DType::kFloat32, shape, const_cast<std::byte*>(stacked.data<std::byte>()) + f * bytes);
}

bool bit_identical(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && std::memcmp(a.raw(), b.raw(), a.nbytes()) == 0;
}

uint32_t bits_of(float v) {
  return std::bit_cast<uint32_t>(v);
}
float from_bits(uint32_t bits) {
  return std::bit_cast<float>(bits);
}

// out[n, c, h, w] of a [N, 2C, H, W] tensor.
float at(const Tensor& t, int64_t n, int64_t c, int64_t h, int64_t w) {
  return t.data<float>()[((n * 2 * kChannels + c) * kSide + h) * kSide + w];
}

// One fault model, its CSV columns and the word it makes of `original` (computed here, independently of
// faults/bit_ops).
struct ModelCase {
  std::string columns;  // Bit,Model,Mask,Value
  uint32_t (*expected)(uint32_t original);
};
const std::vector<ModelCase> kModelCases = {
    {"22,bitflip,,", [](uint32_t o) { return o ^ (1u << 22); }},
    {"29,stuck-at-0,,", [](uint32_t o) { return o & ~(1u << 29); }},
    {"30,stuck-at-1,,", [](uint32_t o) { return o | (1u << 30); }},
    {",zero,,", [](uint32_t) { return 0u; }},
    {",value,,7.5", [](uint32_t) { return bits_of(7.5f); }},
    {",multibit,0x00c00001,", [](uint32_t o) { return o ^ 0x00c00001u; }},
};

class InjectorOnBackend : public ::testing::TestWithParam<std::string> {};

TEST_P(InjectorOnBackend, WeightFaultEqualsTheHandPatchedModelInEveryModel) {
  const Tensor x = images(5);
  const auto model = branching_model(conv1_weight(), conv2_weight());
  const int64_t element = ((1 * 2 + 0) * 3 + 2) * 3 + 1;  // (1, 0, 2, 1)
  for (const ModelCase& c : kModelCases) {
    SCOPED_TRACE(c.columns);
    // Batches of 2, 2 and 1: the last runs on a second compiled model, which must see the fault too.
    const Tensor got = replay_csv(
        model, GetParam(),
        "Injection,Layer,TensorIndex,Bit,Model,Mask,Value\n0,conv1,\"(1, 0, 2, 1)\"," + c.columns + "\n", x, 2);
    Tensor patched = conv1_weight();
    patched.data<float>()[element] = from_bits(c.expected(bits_of(patched.data<float>()[element])));
    const Tensor expected = run_clean(branching_model(patched, conv2_weight()), GetParam(), x, 2, {"conv1.weight"});
    EXPECT_TRUE(bit_identical(expected, fault_slice(got, 0)));
    EXPECT_FALSE(bit_identical(expected, run_clean(model, GetParam(), x, 2, {"conv1.weight"})));
  }
}

TEST_P(InjectorOnBackend, ActivationFaultReachesBothConsumers) {
  const Tensor x = images(2);
  const auto model = branching_model(conv1_weight(), conv2_weight());
  const Tensor clean = run_clean(model, GetParam(), x, 2, {"r"});
  const Tensor stacked = replay_csv(model, GetParam(),
                                    "Injection,Layer,TensorIndex,Bit,Target,Model,Value\n"
                                    "0,relu,\"(1, 2, 3)\",,activation,value,100\n",
                                    x, 2);
  const Tensor got = fault_slice(stacked, 0);
  const Tensor w2 = conv2_weight();
  for (int64_t n = 0; n < 2; ++n) {                            // every image of the batch
    const float original = at(clean, n, kChannels + 1, 2, 3);  // Concat's copy of r
    ASSERT_GT(original, 0.0f);
    const float delta = 100.0f - original;
    for (int64_t c = 0; c < kChannels; ++c)
      for (int64_t h = 0; h < kSide; ++h)
        for (int64_t w = 0; w < kSide; ++w) {
          const bool site = h == 2 && w == 3;
          // Concat's second operand is r itself.
          EXPECT_EQ(at(got, n, kChannels + c, h, w), site && c == 1 ? 100.0f : at(clean, n, kChannels + c, h, w));
          // Add = conv2(r) + identity(r): conv2 (1x1) sees the fault through its weight column 1, the identity
          // branch directly.
          const float expected = at(clean, n, c, h, w) + (site ? w2.data<float>()[c * kChannels + 1] * delta : 0.0f) +
                                 (site && c == 1 ? delta : 0.0f);
          EXPECT_NEAR(at(got, n, c, h, w), expected, 1e-4f * std::max(1.0f, std::abs(expected)))
              << n << " " << c << " " << h << " " << w;
        }
  }
}

TEST_P(InjectorOnBackend, ActivationFaultModelsGiveTheHandComputedWord) {
  const Tensor x = images(2);
  const auto model = branching_model(conv1_weight(), conv2_weight());
  const Tensor clean = run_clean(model, GetParam(), x, 2, {"r"});
  std::string csv = "Injection,Layer,TensorIndex,Bit,Model,Mask,Value,Target\n";
  for (size_t i = 0; i < kModelCases.size(); ++i)
    csv += std::to_string(i) + ",r,\"(2, 1, 0)\"," + kModelCases[i].columns + ",activation\n";  // by value name
  const Tensor got = replay_csv(model, GetParam(), csv, x, 2);
  for (size_t i = 0; i < kModelCases.size(); ++i)
    for (int64_t n = 0; n < 2; ++n) {
      const uint32_t expected = kModelCases[i].expected(bits_of(at(clean, n, kChannels + 2, 1, 0)));
      EXPECT_EQ(bits_of(at(fault_slice(got, static_cast<int64_t>(i)), n, kChannels + 2, 1, 0)), expected)
          << kModelCases[i].columns << " image " << n;
    }
}

TEST_P(InjectorOnBackend, BatchCountsImagesAcrossSessionBatches) {
  const Tensor x = images(5);
  const auto model = branching_model(conv1_weight(), conv2_weight());
  const Tensor clean = run_clean(model, GetParam(), x, 2, {"r"});
  // Batches of 2, 2 and 1: image 4 is alone in the last batch, image 1 second in the first.
  const Tensor got = replay_csv(model, GetParam(),
                                "Injection,Layer,TensorIndex,Bit,Target,Model,Batch\n"
                                "0,relu,\"(0, 0, 0)\",,activation,zero,4\n"
                                "1,relu,\"(0, 0, 0)\",,activation,zero,1\n",
                                x, 2);
  for (int64_t f = 0; f < 2; ++f) {
    const int64_t hit = f == 0 ? 4 : 1;
    for (int64_t n = 0; n < 5; ++n)
      EXPECT_EQ(at(fault_slice(got, f), n, kChannels, 0, 0), n == hit ? 0.0f : at(clean, n, kChannels, 0, 0))
          << "fault " << f << " image " << n;
  }
}

TEST_P(InjectorOnBackend, WeightsComeBackBitIdentical) {
  const auto model = branching_model(conv1_weight(), conv2_weight());
  const Tensor w1 = conv1_weight(), w2 = conv2_weight();
  auto targets = list_fault_targets(*model);
  ASSERT_TRUE(targets.is_ok());
  auto list = parse_fault_list(
      "Injection,Layer,TensorIndex,Bit,Model,Value\n0,conv1,\"(0, 1, 1, 1)\",31,,\n"
      "1,conv2,,,ber,0.2\n",
      "two.csv");
  ASSERT_TRUE(list.is_ok()) << list.status().message();
  auto resolved = resolve_fault_list(*list, *targets);
  ASSERT_TRUE(resolved.is_ok()) << resolved.status().message();
  const std::vector<ArmedFault> armed = {armed_fault(*list, (*resolved)[0], *targets),
                                         armed_fault(*list, (*resolved)[1], *targets)};
  auto injector = FaultInjector::create(armed);  // both armed at once
  ASSERT_TRUE(injector.is_ok()) << injector.status().message();

  SessionOptions options;
  options.backend = GetParam();
  options.batch = 2;
  options.observable = faulted_value_names(*resolved, *targets);
  auto session = Session::create(model, options);
  ASSERT_TRUE(session.is_ok()) << session.status().message();
  const Tensor clean = (*session)->run({images(3)}).value().front();
  auto faulted = (*session)->run({images(3)}, &*injector);
  ASSERT_TRUE(faulted.is_ok()) << faulted.status().message();
  EXPECT_FALSE(bit_identical(clean, faulted->front()));
  ASSERT_TRUE(injector->check_restored().is_ok());

  CompiledModel& compiled = (*session)->compiled();
  for (const auto& [name, original] : {std::pair{"conv1.weight", w1}, std::pair{"conv2.weight", w2}}) {
    Tensor now;
    ASSERT_TRUE(compiled.read_value(*compiled.graph().find_value(name), now).is_ok());
    EXPECT_TRUE(bit_identical(original, now)) << name;
    EXPECT_TRUE(bit_identical(original, model->value(*model->find_value(name)).constant)) << name;
  }
  EXPECT_TRUE(bit_identical(clean, (*session)->run({images(3)}).value().front()));
}

TEST_P(InjectorOnBackend, HookErrorsComeBackAsStatus) {
  const auto model = branching_model(conv1_weight(), conv2_weight());
  auto targets = list_fault_targets(*model);
  ASSERT_TRUE(targets.is_ok());
  auto list = parse_fault_list("Injection,Layer,TensorIndex,Bit,Target\n0,c1,\"(0, 0, 0)\",3,activation\n", "c1.csv");
  ASSERT_TRUE(list.is_ok());
  auto resolved = resolve_fault_list(*list, *targets);
  ASSERT_TRUE(resolved.is_ok()) << resolved.status().message();
  const ArmedFault armed = armed_fault(*list, (*resolved)[0], *targets);
  auto injector = FaultInjector::create({&armed, 1});
  ASSERT_TRUE(injector.is_ok());
  SessionOptions options;  // c1 not observable: oneDNN fuses conv1 + relu, so c1 does not exist
  options.backend = GetParam();
  auto session = Session::create(model, options);
  ASSERT_TRUE(session.is_ok());
  auto out = (*session)->run({images(1)}, &*injector);
  if (GetParam() == "onednn") {
    ASSERT_FALSE(out.is_ok());
    EXPECT_NE(out.status().message().find("'c1'"), std::string::npos) << out.status().message();
  } else {
    EXPECT_TRUE(out.is_ok()) << out.status().message();  // the reference backend fuses nothing
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, InjectorOnBackend, ::testing::Values("reference", "onednn"));

TEST(FaultInjector, RefusesWhatItCannotInjectYet) {
  Fault ber;
  ber.model = FaultModel::kBitErrorRate;
  ber.value = 1e-3;
  ber.site.target = SiteTarget::kInput;
  // An input site must name its consumer and slot (list_fault_targets does; see tests/test_fault_sites.cpp).
  FaultTarget input{TargetKind::kInput, "add:1", "r", "Add", {3, 4, 4}, DType::kFloat32, 48};
  ArmedFault armed{&ber, &input, -1, 0};
  auto refused = FaultInjector::create({&armed, 1});
  ASSERT_FALSE(refused.is_ok());
  EXPECT_NE(refused.status().message().find("names no consumer"), std::string::npos) << refused.status().message();

  Fault flip;
  flip.site.bit = 3;
  // An int8 weight (stored weights, engine/weight_storage.h) is faulted as its 8-bit word: bit 7 is its sign,
  // bit 8 does not exist.
  FaultTarget int8_weight{TargetKind::kWeight, "q", "q.weight", "Conv", {4}, DType::kInt8, 4};
  armed = {&flip, &int8_weight, 1, 0};
  EXPECT_TRUE(FaultInjector::create({&armed, 1}).is_ok());
  Fault flip8 = flip;
  flip8.site.bit = 8;
  armed = {&flip8, &int8_weight, 1, 0};
  refused = FaultInjector::create({&armed, 1});
  ASSERT_FALSE(refused.is_ok());
  EXPECT_NE(refused.status().message().find("int8 (0-7)"), std::string::npos) << refused.status().message();
  // An int8 model's activations are faulted as their stored words too (int8/uint8: bits 0-7, int32: 0-31); an
  // int64 activation is refused.
  FaultTarget int8_activation{TargetKind::kActivation, "a", "a", "Relu", {4}, DType::kInt8, 4};
  armed = {&flip, &int8_activation, 1, 0};
  EXPECT_TRUE(FaultInjector::create({&armed, 1}).is_ok());
  armed = {&flip8, &int8_activation, 1, 0};
  refused = FaultInjector::create({&armed, 1});
  ASSERT_FALSE(refused.is_ok());
  EXPECT_NE(refused.status().message().find("int8 (0-7)"), std::string::npos) << refused.status().message();
  Fault flip31 = flip;
  flip31.site.bit = 31;
  FaultTarget int32_input{TargetKind::kInput, "c:1", "s", "Add", {4}, DType::kInt32, 4, "c:1", "c", 1};
  armed = {&flip31, &int32_input, 3, 0};
  EXPECT_TRUE(FaultInjector::create({&armed, 1}).is_ok());
  FaultTarget int64_activation{TargetKind::kActivation, "a", "a", "Shape", {4}, DType::kInt64, 4};
  armed = {&flip, &int64_activation, 1, 0};
  refused = FaultInjector::create({&armed, 1});
  ASSERT_FALSE(refused.is_ok());
  EXPECT_NE(refused.status().message().find("int64"), std::string::npos) << refused.status().message();

  FaultTarget weight{TargetKind::kWeight, "w", "w", "Conv", {4}, DType::kFloat32, 4};
  armed = {&flip, &weight, 4, 0};
  EXPECT_FALSE(FaultInjector::create({&armed, 1}).is_ok());  // element out of range
  EXPECT_NE(fault_seed(1, 0), fault_seed(1, 1));
}

// FNV-1a over a tensor's bytes.
uint64_t fnv1a(const Tensor& t, uint64_t hash = 1469598103934665603ull) {
  const auto* bytes = t.data<unsigned char>();
  for (size_t i = 0; i < t.nbytes(); ++i) hash = (hash ^ bytes[i]) * 1099511628211ull;
  return hash;
}

// Every constant of the compiled model, read back through the backend, and every constant of `graph`.
uint64_t parameter_hash(CompiledModel& compiled, const Graph& graph) {
  uint64_t hash = 1469598103934665603ull;
  for (size_t v = 0; v < compiled.graph().values().size(); ++v) {
    if (!compiled.graph().values()[v].is_constant()) continue;
    Tensor now;
    const Status read = compiled.read_value(static_cast<ValueId>(v), now);
    EXPECT_TRUE(read.is_ok()) << read.message();
    hash = fnv1a(now, hash);
  }
  for (const Value& value : graph.values())
    if (value.is_constant()) hash = fnv1a(value.constant, hash);
  return hash;
}

TEST(FaultInjectorResnet20, ThousandWeightFaultsLeaveEveryParameterBitIdentical) {
  auto model = load_model(testing::test_data("models/resnet20_bn.onnx"));
  ASSERT_TRUE(model.is_ok()) << model.status().message();
  auto all = read_npy(testing::test_data("models/resnet20_input.npy"));
  ASSERT_TRUE(all.is_ok());
  Shape shape = all->shape();
  shape[0] = 2;
  const Tensor input = Tensor::view(DType::kFloat32, shape, all->data<float>()).clone();

  auto targets = list_fault_targets(**model);
  ASSERT_TRUE(targets.is_ok());
  GeneratorOptions generator;
  generator.parameters = ParameterSet::kAllParameters;  // BatchNorm parameters too: their fold is re-derived
  generator.seed = 2024;
  auto list = generate_random_faults(*targets, generator, 1000);
  ASSERT_TRUE(list.is_ok()) << list.status().message();
  auto resolved = resolve_fault_list(*list, *targets);
  ASSERT_TRUE(resolved.is_ok()) << resolved.status().message();

  SessionOptions options;
  options.backend = "onednn";
  options.batch = 2;
  options.observable = faulted_value_names(*resolved, *targets);
  auto session = Session::create(*model, options);
  ASSERT_TRUE(session.is_ok()) << session.status().message();
  CompiledModel& compiled = (*session)->compiled();
  const uint64_t before = parameter_hash(compiled, **model);
  const Tensor clean = (*session)->run({input}).value().front();

  int changed = 0;
  for (const ResolvedFault& r : *resolved) {
    const ArmedFault armed = armed_fault(*list, r, *targets);
    auto injector = FaultInjector::create({&armed, 1});
    ASSERT_TRUE(injector.is_ok()) << injector.status().message();
    auto out = (*session)->run({input}, &*injector);
    ASSERT_TRUE(out.is_ok()) << out.status().message();
    changed += bit_identical(clean, out->front()) ? 0 : 1;
  }
  EXPECT_EQ(parameter_hash(compiled, **model), before);
  EXPECT_TRUE(bit_identical(clean, (*session)->run({input}).value().front()));
  EXPECT_GT(changed, 100);  // the faults did reach the outputs

  // Determinism: fault 0 replayed twice (each time on a fresh session) is bit-identical.
  SessionOptions replay_options;
  replay_options.backend = "onednn";
  replay_options.batch = 2;
  const std::span<const ResolvedFault> first(resolved->data(), 1);
  auto once = replay_faults(*model, replay_options, *list, first, *targets, input);
  auto twice = replay_faults(*model, replay_options, *list, first, *targets, input);
  ASSERT_TRUE(once.is_ok() && twice.is_ok()) << once.status().message();
  EXPECT_EQ(once->shape(), (Shape{1, 2, 10}));
  EXPECT_TRUE(bit_identical(*once, *twice));
}

}  // namespace
}  // namespace faultline
