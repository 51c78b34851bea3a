// Leveugle et al. (DATE 2009) sample sizes, checked against the numbers of the issue and every per-layer
// count of the published dnn-benchmarks ResNet20 fault list.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "faults/fault_list.h"
#include "faults/sample_size.h"
#include "tests/support/test_support.h"

namespace faultline {
namespace {

// The conv/linear weights of the pretrained CIFAR-10 ResNet20 (akamaster), in network order: 268,336 words.
std::vector<LayerPopulation> resnet20_layers() {
  std::vector<LayerPopulation> layers = {{"conv1", 16 * 3 * 9, 32}};
  const int64_t widths[] = {16, 32, 64};
  for (int stage = 0; stage < 3; ++stage) {
    for (int block = 0; block < 3; ++block) {
      for (int conv = 1; conv <= 2; ++conv) {
        const int64_t out = widths[stage];
        const int64_t in = (block == 0 && conv == 1 && stage > 0) ? widths[stage - 1] : out;
        layers.push_back(
            {"layer" + std::to_string(stage + 1) + "." + std::to_string(block) + ".conv" + std::to_string(conv),
             out * in * 9, 32});
      }
    }
  }
  layers.push_back({"linear", 10 * 64, 32});
  return layers;
}

// Rows per layer of tests/data/faultlists/dnn-benchmarks_ResNet20_FL.csv (counted with a script, and
// recounted from the file below).
const std::map<std::string, int64_t> kPublishedCounts = {
    {"conv1", 27},
    {"layer1.0.conv1", 143},
    {"layer1.0.conv2", 143},
    {"layer1.1.conv1", 143},
    {"layer1.1.conv2", 143},
    {"layer1.2.conv1", 143},
    {"layer1.2.conv2", 143},
    {"layer2.0.conv1", 285},
    {"layer2.0.conv2", 571},
    {"layer2.1.conv1", 571},
    {"layer2.1.conv2", 571},
    {"layer2.2.conv1", 571},
    {"layer2.2.conv2", 571},
    {"layer3.0.conv1", 1142},
    {"layer3.0.conv2", 2284},
    {"layer3.1.conv1", 2284},
    {"layer3.1.conv2", 2284},
    {"layer3.2.conv1", 2284},
    {"layer3.2.conv2", 2284},
    {"linear", 40},
};

SampleSizeOptions sfi_options() {
  SampleSizeOptions options;
  options.error_margin = 0.01;
  options.t = 2.58;
  options.p = 0.5;
  options.polarities = 2;
  return options;
}

TEST(SampleSize, TFromConfidence) {
  EXPECT_NEAR(t_from_confidence(0.90).value(), 1.644854, 1e-6);
  EXPECT_NEAR(t_from_confidence(0.95).value(), 1.959964, 1e-6);
  EXPECT_NEAR(t_from_confidence(0.99).value(), 2.575829, 1e-6);
  EXPECT_FALSE(t_from_confidence(1.0).is_ok());
  EXPECT_FALSE(t_from_confidence(0.0).is_ok());
}

TEST(SampleSize, ResNet20WholeNetwork) {
  int64_t words = 0;
  for (const auto& layer : resnet20_layers()) words += layer.words;
  ASSERT_EQ(words, 268336);
  SampleSizeOptions options = sfi_options();
  // N = 268,336 x 32 x 2 = 17,173,504: n = 16,624.89.
  EXPECT_NEAR(leveugle_sample_size(268336.0 * 64, options).value(), 16624.89, 0.01);
  EXPECT_EQ(network_sample_size(resnet20_layers(), options).value(), 16625);
  // N = 268,336 x 32: n = 16,608.81.
  options.polarities = 1;
  EXPECT_NEAR(leveugle_sample_size(268336.0 * 32, options).value(), 16608.81, 0.01);
  EXPECT_EQ(network_sample_size(resnet20_layers(), options).value(), 16609);
  // The exact 99 % quantile (2.5758...) instead of 2.58 asks for fewer faults.
  options.polarities = 2;
  options.t.reset();
  options.confidence = 0.99;
  EXPECT_NEAR(leveugle_sample_size(268336.0 * 64, options).value(), 16571.24, 0.01);
}

TEST(SampleSize, ReproducesEveryPerLayerCountOfThePublishedList) {
  auto samples = sample_sizes(resnet20_layers(), SampleScope::kNetwork, sfi_options());
  ASSERT_TRUE(samples.is_ok()) << samples.status().message();
  int64_t total = 0;
  for (const LayerSample& s : samples.value()) {
    ASSERT_TRUE(kPublishedCounts.count(s.layer)) << s.layer;
    EXPECT_EQ(s.faults, kPublishedCounts.at(s.layer)) << s.layer;
    total += s.faults;
  }
  EXPECT_EQ(total, 16627);

  // The same counts, recounted from the published file itself.
  auto list = read_fault_list(testing::test_data("faultlists/dnn-benchmarks_ResNet20_FL.csv"));
  ASSERT_TRUE(list.is_ok()) << list.status().message();
  std::map<std::string, int64_t> counted;
  for (const auto& entry : list->entries) ++counted[entry.fault.site.layer];
  EXPECT_EQ(counted, kPublishedCounts);
}

TEST(SampleSize, OtherRoundingsDoNotReproduceThePublishedList) {
  // Evidence for the rounding rule: the proportional shares n * W_l / W rounded up give 16,628 faults
  // (layer2.0.conv1: 285.49 -> 286), rounded down 16,608; only round-to-nearest gives 16,627.
  const double n = leveugle_sample_size(268336.0 * 64, sfi_options()).value();
  int64_t up = 0;
  int64_t down = 0;
  for (const auto& layer : resnet20_layers()) {
    up += static_cast<int64_t>(std::ceil(n * static_cast<double>(layer.words) / 268336.0));
    down += static_cast<int64_t>(std::floor(n * static_cast<double>(layer.words) / 268336.0));
  }
  EXPECT_EQ(up, 16628);
  EXPECT_EQ(down, 16608);
}

TEST(SampleSize, PerLayerAndPerLayerBit) {
  auto per_layer = sample_sizes(resnet20_layers(), SampleScope::kLayer, sfi_options());
  ASSERT_TRUE(per_layer.is_ok());
  ASSERT_EQ(per_layer->size(), 20u);
  // conv1: N = 432 x 32 x 2 = 27,648 -> n = 10,388.6 -> 10,389.
  EXPECT_EQ((*per_layer)[0].layer, "conv1");
  EXPECT_EQ((*per_layer)[0].population, 27648.0);
  EXPECT_EQ((*per_layer)[0].faults, 10389);
  EXPECT_EQ(per_layer->back().faults, 11834);  // linear: N = 40,960 -> 11,833.6
  EXPECT_EQ((*per_layer)[14].faults, 16525);   // layer3.0.conv2: N = 2,359,296 -> 16,524.5

  auto per_bit = sample_sizes(resnet20_layers(), SampleScope::kLayerBit, sfi_options());
  ASSERT_TRUE(per_bit.is_ok());
  ASSERT_EQ(per_bit->size(), 20u * 32);
  // conv1, any bit: N = 432 x 2 = 864 -> n = 821.4 -> 822, capped at the 432 words a bit has.
  EXPECT_EQ((*per_bit)[0].bit, 0);
  EXPECT_EQ((*per_bit)[31].bit, 31);
  EXPECT_EQ((*per_bit)[0].faults, 432);
  // layer3.0.conv2: N = 73,728 -> n = 13,576.8 -> 13,577.
  EXPECT_EQ((*per_bit)[14 * 32 + 5].layer, "layer3.0.conv2");
  EXPECT_EQ((*per_bit)[14 * 32 + 5].faults, 13577);
}

TEST(SampleSize, BadOptions) {
  SampleSizeOptions options = sfi_options();
  options.error_margin = 0;
  EXPECT_FALSE(sample_sizes(resnet20_layers(), SampleScope::kNetwork, options).is_ok());
  options = sfi_options();
  options.p = 1.0;
  EXPECT_FALSE(leveugle_sample_size(100, options).is_ok());
  options = sfi_options();
  options.polarities = 3;
  EXPECT_FALSE(leveugle_sample_size(100, options).is_ok());
  EXPECT_FALSE(leveugle_sample_size(0, sfi_options()).is_ok());
  EXPECT_FALSE(sample_sizes({{"empty", 0, 32}}, SampleScope::kLayer, sfi_options()).is_ok());
  // A population of 1 needs its one fault.
  EXPECT_NEAR(leveugle_sample_size(1, sfi_options()).value(), 1.0, 1e-12);
}

}  // namespace
}  // namespace faultline
