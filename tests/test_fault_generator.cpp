// Fault-list generation: globs, bit specs, unbiased bounded draws, determinism, uniformity, exhaustive and
// statistical counts.
#include <gtest/gtest.h>

#include <bit>
#include <map>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "faults/fault_generator.h"

namespace faultline {
namespace {

FaultTarget target(TargetKind kind, std::string layer, std::string name, std::string op, Shape shape,
                   DType dtype = DType::kFloat32) {
  int64_t elements = numel(shape);
  return {kind, std::move(layer), std::move(name), std::move(op), std::move(shape), dtype, elements};
}

// ResNet20 (CIFAR-10) with BatchNorm kept, as list_fault_targets lists it: convs, BN parameters, the linear
// layer's weight and bias, then a few activations.
std::vector<FaultTarget> resnet20_targets() {
  std::vector<FaultTarget> targets;
  auto conv_bn = [&](const std::string& conv, const std::string& bn, int64_t out, int64_t in) {
    targets.push_back(target(TargetKind::kWeight, conv, conv + ".weight", "Conv", {out, in, 3, 3}));
    for (const char* p : {".weight", ".bias", ".running_mean", ".running_var"}) {
      targets.push_back(target(TargetKind::kWeight, bn, bn + p, "BatchNormalization", {out}));
    }
  };
  conv_bn("conv1", "bn1", 16, 3);
  const int64_t widths[] = {16, 32, 64};
  for (int stage = 0; stage < 3; ++stage) {
    for (int block = 0; block < 3; ++block) {
      const std::string prefix = "layer" + std::to_string(stage + 1) + "." + std::to_string(block);
      const int64_t out = widths[stage];
      const int64_t in = (block == 0 && stage > 0) ? widths[stage - 1] : out;
      conv_bn(prefix + ".conv1", prefix + ".bn1", out, in);
      conv_bn(prefix + ".conv2", prefix + ".bn2", out, out);
    }
  }
  targets.push_back(target(TargetKind::kWeight, "linear", "linear.weight", "Gemm", {10, 64}));
  targets.push_back(target(TargetKind::kWeight, "linear", "linear.bias", "Gemm", {10}));
  targets.push_back(target(TargetKind::kActivation, "conv1", "/conv1/Conv_output_0", "Conv", {16, 32, 32}));
  targets.push_back(target(TargetKind::kActivation, "relu", "/relu/Relu_output_0", "Relu", {16, 32, 32}));
  targets.push_back(target(TargetKind::kActivation, "linear", "logits", "Gemm", {10}));
  return targets;
}

// Four float32 layers of 100, 200, 300 and 400 words, plus an int8 one.
std::vector<FaultTarget> small_targets() {
  return {
      target(TargetKind::kWeight, "a.conv", "a.conv.weight", "Conv", {10, 10}),
      target(TargetKind::kWeight, "b.conv", "b.conv.weight", "Conv", {20, 10}),
      target(TargetKind::kWeight, "c.conv", "c.conv.weight", "Conv", {30, 10}),
      target(TargetKind::kWeight, "d.fc", "d.fc.weight", "Gemm", {40, 10}),
      target(TargetKind::kWeight, "e.q", "e.q.weight", "Conv", {2, 3}, DType::kInt8),
  };
}

TEST(FaultGenerator, Glob) {
  EXPECT_TRUE(glob_match("*", ""));
  EXPECT_TRUE(glob_match("*", "layer1.0.conv1"));
  EXPECT_TRUE(glob_match("layer3.*", "layer3.0.conv1"));
  EXPECT_FALSE(glob_match("layer3.*", "layer2.0.conv1"));
  EXPECT_FALSE(glob_match("layer3.*", "layer3"));
  EXPECT_TRUE(glob_match("*conv*", "layer1.0.conv2"));
  EXPECT_TRUE(glob_match("*conv*", "conv1"));
  EXPECT_FALSE(glob_match("*conv*", "linear"));
  EXPECT_TRUE(glob_match("layer?.0.conv1", "layer2.0.conv1"));
  EXPECT_FALSE(glob_match("layer?.0.conv1", "layer12.0.conv1"));
  EXPECT_TRUE(glob_match("*.running_var", "layer1.0.bn1.running_var"));
  EXPECT_TRUE(glob_match("a*b*c", "aXbYbZc"));
  EXPECT_FALSE(glob_match("a*b*c", "aXbYbZ"));
  EXPECT_TRUE(glob_match("conv1", "conv1"));
  EXPECT_FALSE(glob_match("conv1", "conv10"));
}

TEST(FaultGenerator, BitSpec) {
  EXPECT_EQ(parse_bit_spec("0-31").value().size(), 32u);
  EXPECT_EQ(parse_bit_spec("23-30,31").value(), (std::vector<int>{23, 24, 25, 26, 27, 28, 29, 30, 31}));
  EXPECT_EQ(parse_bit_spec(" 31 , 0,31 ").value(), (std::vector<int>{0, 31}));
  EXPECT_FALSE(parse_bit_spec("").is_ok());
  EXPECT_FALSE(parse_bit_spec("5-3").is_ok());
  EXPECT_FALSE(parse_bit_spec("0-64").is_ok());
  EXPECT_FALSE(parse_bit_spec("1,,2").is_ok());
  EXPECT_FALSE(parse_bit_spec("x").is_ok());
}

TEST(FaultGenerator, UniformBelowIsUnbiasedAndExact) {
  std::mt19937_64 rng(1);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(uniform_below(rng, 1), 0u);
  // Bound 3 over 30,000 draws: chi-square with 2 degrees of freedom (0.9999 quantile 18.4).
  double counts[3] = {};
  for (int i = 0; i < 30000; ++i) counts[uniform_below(rng, 3)] += 1;
  double chi2 = 0;
  for (double c : counts) chi2 += (c - 10000) * (c - 10000) / 10000;
  EXPECT_LT(chi2, 18.4);
  // A bound just above 2^63 rejects almost half the words and still stays below the bound.
  const uint64_t big = (uint64_t{1} << 63) + 12345;
  for (int i = 0; i < 1000; ++i) EXPECT_LT(uniform_below(rng, big), big);
  // Platform independence: std::mt19937_64's default-seeded first output is fixed by the standard
  // (14514284786278117030), so the first draw below 10 is that number mod 10.
  std::mt19937_64 standard;
  EXPECT_EQ(uniform_below(standard, 10), 14514284786278117030ull % 10);
}

TEST(FaultGenerator, SelectsConvAndLinearWeightsByDefault) {
  GeneratorOptions options;
  auto space = select_fault_space(resnet20_targets(), options);
  ASSERT_TRUE(space.is_ok()) << space.status().message();
  ASSERT_EQ(space->size(), 20u);
  int64_t words = 0;
  for (const auto& layer : space.value()) words += layer.elements;
  EXPECT_EQ(words, 268336);
  EXPECT_EQ(space->front().layer, "conv1");  // written without ".weight", as dnn-benchmarks does
  EXPECT_EQ(space->back().layer, "linear");
  EXPECT_EQ(space->front().bits.size(), 32u);

  options.parameters = ParameterSet::kAllParameters;
  options.layers = {"layer3.*"};
  auto all = select_fault_space(resnet20_targets(), options);
  ASSERT_TRUE(all.is_ok());
  EXPECT_EQ(all->size(), 6u * 5);  // 6 convs, each with 4 BN parameters
  options.layers = {"*.running_var"};
  auto vars = select_fault_space(resnet20_targets(), options);
  ASSERT_TRUE(vars.is_ok());
  EXPECT_EQ(vars->size(), 19u);
  EXPECT_EQ(vars->front().layer, "bn1.running_var");

  options = GeneratorOptions();
  options.layers = {"*conv*", "nothing*"};
  auto bad = select_fault_space(resnet20_targets(), options);
  ASSERT_FALSE(bad.is_ok());
  EXPECT_EQ(bad.status().message(), "layer pattern 'nothing*' matches no weight of the model");
  options.layers = {"*"};
  options.bits = "0-7";
  EXPECT_TRUE(select_fault_space(small_targets(), options).is_ok());
  options.bits = "8";
  auto wide = select_fault_space(small_targets(), options);
  ASSERT_FALSE(wide.is_ok());
  EXPECT_EQ(wide.status().message(), "bit 8 is out of range for 'e.q' (int8, 0-7)");

  options = GeneratorOptions();
  options.target = SiteTarget::kActivation;
  options.layers = {"relu", "logits"};
  auto acts = select_fault_space(resnet20_targets(), options);
  ASSERT_TRUE(acts.is_ok());
  ASSERT_EQ(acts->size(), 2u);
  EXPECT_EQ(acts->back().layer, "linear");
}

TEST(FaultGenerator, RandomListIsDeterministicAndResolves) {
  GeneratorOptions options;
  options.seed = 7;
  options.layers = {"layer1.*", "linear"};
  options.models = {FaultModel::kBitFlip, FaultModel::kStuckAt0, FaultModel::kStuckAt1, FaultModel::kMultiBitFlip};
  options.multibit_bits = 3;
  auto a = generate_random_faults(resnet20_targets(), options, 500);
  auto b = generate_random_faults(resnet20_targets(), options, 500);
  ASSERT_TRUE(a.is_ok()) << a.status().message();
  ASSERT_TRUE(b.is_ok());
  EXPECT_EQ(format_fault_list(a.value()), format_fault_list(b.value()));
  options.seed = 8;
  auto c = generate_random_faults(resnet20_targets(), options, 500);
  ASSERT_TRUE(c.is_ok());
  EXPECT_NE(format_fault_list(a.value()), format_fault_list(c.value()));

  std::set<std::tuple<std::string, std::vector<int64_t>, int, uint64_t>> seen;
  std::map<FaultModel, int> models;
  for (const auto& entry : a->entries) {
    const Fault& f = entry.fault;
    ++models[f.model];
    if (f.model == FaultModel::kMultiBitFlip) {
      EXPECT_EQ(std::popcount(f.mask), 3);
      EXPECT_EQ(f.mask >> 32, 0u);
      EXPECT_EQ(f.site.bit, kNoBit);
    } else {
      EXPECT_GE(f.site.bit, 0);
      EXPECT_LT(f.site.bit, 32);
    }
    EXPECT_TRUE(f.site.layer == "linear" || f.site.layer.rfind("layer1.", 0) == 0) << f.site.layer;
  }
  EXPECT_EQ(models.size(), 4u);
  // The list resolves against the model it was generated for, and survives the CSV.
  auto resolved = resolve_fault_list(a.value(), resnet20_targets());
  ASSERT_TRUE(resolved.is_ok()) << resolved.status().message();
  auto reparsed = parse_fault_list(format_fault_list(a.value()), "generated.csv");
  ASSERT_TRUE(reparsed.is_ok()) << reparsed.status().message();
  for (size_t i = 0; i < a->entries.size(); ++i) EXPECT_EQ(reparsed->entries[i].fault, a->entries[i].fault);

  // Golden prefix: this exact text on every platform (mt19937_64 + uniform_below, no std distributions).
  options = GeneratorOptions();
  options.seed = 1;
  options.layers = {"a.conv"};
  auto golden = generate_random_faults(small_targets(), options, 3);
  ASSERT_TRUE(golden.is_ok());
  EXPECT_EQ(format_fault_list(golden.value()),
            "Injection,Layer,TensorIndex,Bit\n"
            "0,a.conv,\"(2, 0)\",6\n"
            "1,a.conv,\"(6, 1)\",30\n"
            "2,a.conv,\"(7, 2)\",26\n");
}

TEST(FaultGenerator, RandomListIsUniform) {
  // 20,000 distinct faults out of 1,000 words x 32 bits. The layer counts follow the layer sizes and the bits
  // are hit alike: chi-square statistics, for this fixed seed a fixed number far below the 0.9999 quantiles
  // (3 dof: 21.1; 31 dof: 66.6) a fair sampler stays under.
  GeneratorOptions options;
  options.seed = 12345;
  options.layers = {"a.*", "b.*", "c.*", "d.*"};
  auto list = generate_random_faults(small_targets(), options, 20000);
  ASSERT_TRUE(list.is_ok()) << list.status().message();
  std::map<std::string, double> layers;
  double bits[32] = {};
  for (const auto& entry : list->entries) {
    layers[entry.fault.site.layer] += 1;
    bits[entry.fault.site.bit] += 1;
  }
  const std::map<std::string, double> share = {{"a.conv", 0.1}, {"b.conv", 0.2}, {"c.conv", 0.3}, {"d.fc", 0.4}};
  double chi2_layers = 0;
  for (const auto& [name, p] : share) {
    const double expected = 20000 * p;
    chi2_layers += (layers[name] - expected) * (layers[name] - expected) / expected;
  }
  EXPECT_LT(chi2_layers, 21.1);
  double chi2_bits = 0;
  for (double c : bits) chi2_bits += (c - 625) * (c - 625) / 625;
  EXPECT_LT(chi2_bits, 66.6);
  // Without repetition: all 20,000 differ.
  std::set<std::tuple<std::string, std::vector<int64_t>, int>> distinct;
  for (const auto& entry : list->entries) {
    distinct.insert({entry.fault.site.layer, entry.fault.site.index, entry.fault.site.bit});
  }
  EXPECT_EQ(distinct.size(), 20000u);
  // The whole space can be drawn; one more cannot.
  EXPECT_TRUE(generate_random_faults(small_targets(), options, 32000).is_ok());
  EXPECT_FALSE(generate_random_faults(small_targets(), options, 32001).is_ok());
}

TEST(FaultGenerator, InferenceFaultsDrawTheirImageUniformly) {
  // 7,000 inference faults over 7 images: every Batch in range, the images hit alike (chi-square for this fixed
  // seed below the 0.9999 quantile for 6 dof, 27.9), the same list for the same seed; the layers and bits are
  // those of a list without images (the image comes from the same stream, so only their order may differ).
  GeneratorOptions options;
  options.seed = 99;
  options.layers = {"a.*", "b.*", "c.*", "d.*"};
  options.persistence = Persistence::kInference;
  options.images = 7;
  auto list = generate_random_faults(small_targets(), options, 7000);
  ASSERT_TRUE(list.is_ok()) << list.status().message();
  double counts[7] = {};
  for (const auto& entry : list->entries) {
    ASSERT_TRUE(entry.fault.site.batch.has_value());
    ASSERT_GE(*entry.fault.site.batch, 0);
    ASSERT_LT(*entry.fault.site.batch, 7);
    counts[*entry.fault.site.batch] += 1;
  }
  double chi2 = 0;
  for (double c : counts) chi2 += (c - 1000) * (c - 1000) / 1000;
  EXPECT_LT(chi2, 27.9);
  auto again = generate_random_faults(small_targets(), options, 7000);
  ASSERT_TRUE(again.is_ok());
  for (size_t i = 0; i < list->entries.size(); ++i)
    ASSERT_EQ(list->entries[i].fault.site.batch, again->entries[i].fault.site.batch) << i;
  // Batch persistence draws too; permanent faults, and lists without images, name no image.
  options.persistence = Persistence::kBatch;
  auto batch = generate_exhaustive_faults(small_targets(), options);
  ASSERT_TRUE(batch.is_ok());
  for (const auto& entry : batch->entries) ASSERT_TRUE(entry.fault.site.batch.has_value());
  auto ber = generate_ber_faults(small_targets(), options, 1e-3);
  ASSERT_TRUE(ber.is_ok());
  for (const auto& entry : ber->entries) ASSERT_TRUE(entry.fault.site.batch.has_value());
  options.persistence = Persistence::kPermanent;
  auto permanent = generate_random_faults(small_targets(), options, 100);
  ASSERT_TRUE(permanent.is_ok());
  for (const auto& entry : permanent->entries) EXPECT_FALSE(entry.fault.site.batch.has_value());
  options.persistence = Persistence::kInference;
  options.images = 0;
  auto unnamed = generate_random_faults(small_targets(), options, 100);
  ASSERT_TRUE(unnamed.is_ok());
  for (const auto& entry : unnamed->entries) EXPECT_FALSE(entry.fault.site.batch.has_value());
}

TEST(FaultGenerator, ExhaustiveCounts) {
  GeneratorOptions options;
  options.layers = {"a.conv", "e.q"};
  auto all = generate_exhaustive_faults(small_targets(), options);
  ASSERT_TRUE(all.is_ok()) << all.status().message();
  EXPECT_EQ(all->entries.size(), 100u * 32 + 6u * 8);
  EXPECT_EQ(all->entries[0].fault.site.index, (std::vector<int64_t>{0, 0}));
  EXPECT_EQ(all->entries[0].fault.site.bit, 0);
  EXPECT_EQ(all->entries[31].fault.site.bit, 31);
  EXPECT_EQ(all->entries[32].fault.site.index, (std::vector<int64_t>{0, 1}));
  EXPECT_EQ(all->entries.back().fault.site.layer, "e.q");
  EXPECT_EQ(all->entries.back().fault.site.index, (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(all->entries.back().fault.site.bit, 7);
  // Per bit: every word of the chosen layers, once per model.
  options.layers = {"*"};
  options.bits = "7";
  options.models = {FaultModel::kStuckAt0, FaultModel::kStuckAt1};
  auto per_bit = generate_exhaustive_faults(small_targets(), options);
  ASSERT_TRUE(per_bit.is_ok());
  EXPECT_EQ(per_bit->entries.size(), 2u * (1000 + 6));
  // The cap.
  options = GeneratorOptions();
  EXPECT_FALSE(generate_exhaustive_faults(resnet20_targets(), options, 1000).is_ok());
}

TEST(FaultGenerator, StatisticalListMatchesThePublishedCounts) {
  SampleSizeOptions sample;
  sample.t = 2.58;
  GeneratorOptions options;
  auto list = generate_statistical_faults(resnet20_targets(), options, SampleScope::kNetwork, sample);
  ASSERT_TRUE(list.is_ok()) << list.status().message();
  EXPECT_EQ(list->entries.size(), 16627u);
  std::map<std::string, int> counts;
  for (const auto& entry : list->entries) ++counts[entry.fault.site.layer];
  EXPECT_EQ(counts["conv1"], 27);
  EXPECT_EQ(counts["layer2.0.conv1"], 285);
  EXPECT_EQ(counts["layer3.2.conv2"], 2284);
  EXPECT_EQ(counts["linear"], 40);
  ASSERT_TRUE(resolve_fault_list(list.value(), resnet20_targets()).is_ok());

  // Per layer and bit, on the small layers: min(ceil(n(words x 2)), words) per bit.
  options.layers = {"a.conv"};
  options.bits = "30,31";
  auto per_bit = generate_statistical_faults(small_targets(), options, SampleScope::kLayerBit, sample);
  ASSERT_TRUE(per_bit.is_ok()) << per_bit.status().message();
  EXPECT_EQ(per_bit->entries.size(), 200u);  // n(200) = 199.0 ... capped at the 100 words, for each bit
}

TEST(FaultGenerator, BitErrorRateRows) {
  GeneratorOptions options;
  options.layers = {"layer3.*"};
  auto list = generate_ber_faults(resnet20_targets(), options, 1e-7);
  ASSERT_TRUE(list.is_ok());
  ASSERT_EQ(list->entries.size(), 6u);
  EXPECT_EQ(list->entries[0].fault.model, FaultModel::kBitErrorRate);
  EXPECT_EQ(list->entries[0].fault.value, 1e-7);
  const std::string text = format_fault_list(list.value());
  EXPECT_EQ(text.substr(0, text.find('\n', text.find('\n') + 1)),
            "Injection,Layer,TensorIndex,Bit,Model,Value\n0,layer3.0.conv1,,,ber,1e-07");
  auto resolved = resolve_fault_list(list.value(), resnet20_targets());
  ASSERT_TRUE(resolved.is_ok()) << resolved.status().message();
  EXPECT_FALSE(generate_ber_faults(resnet20_targets(), options, 2.0).is_ok());
}

}  // namespace
}  // namespace faultline
