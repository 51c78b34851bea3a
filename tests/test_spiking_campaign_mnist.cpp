// The spiking MNIST example (examples/spiking_mnist_campaign.yaml, scripts/make_spiking_mnist.py): faultline
// runs the committed NIR network to the accuracy the training script measured, and the example campaign runs
// small (its first faults over 100 digits) with summary.csv and spiking.csv.
//
// The script's numbers (examples/data/PROVENANCE.md), on the first 500 held-out digits, 25 steps:
//   direct encoding (no randomness): kScriptDirectCorrect. faultline simulates the same float32 LIF steps; only
//     the summation order of the matrix products differs (PyTorch's vs oneDNN's), which may move a membrane by
//     an ulp across the threshold on a rare image: kDirectSlack images.
//   rate encoding: kScriptRateCorrect with torch's Bernoulli draws; faultline draws its own (seeded
//     mt19937_64), so the count differs by sampling noise: kRateSlack images (the standard deviation of a
//     binomial count of 500 at p = 0.9 is 6.7; the slack is about 3.5 of them).
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "engine/file_io.h"
#include "engine/npy.h"
#include "engine/spiking/spike_encoding.h"
#include "faults/csv.h"
#include "frontends/datasets/dataset.h"
#include "tests/support/run_command.h"
#include "tests/support/test_support.h"

namespace faultline {
namespace {

namespace fs = std::filesystem;

constexpr int64_t kScriptDirectCorrect = 437;
constexpr int64_t kScriptRateCorrect = 447;
constexpr int64_t kDirectSlack = 3;
constexpr int64_t kRateSlack = 24;

fs::path examples_dir() {
  return fs::path(testing::test_data("../../examples")).lexically_normal();
}

// The example YAML with absolute paths, `encoding`, `limit` digits, the first `faults` faults, into a temp folder.
std::string shrunk_example(const std::string& encoding, int limit, int faults, std::string* output) {
  YAML::Node root = YAML::LoadFile((examples_dir() / "spiking_mnist_campaign.yaml").string());
  root["model"] = (examples_dir() / root["model"].as<std::string>()).lexically_normal().string();
  root["dataset"]["inputs"] =
      (examples_dir() / root["dataset"]["inputs"].as<std::string>()).lexically_normal().string();
  root["dataset"]["limit"] = limit;
  root["spiking"]["encoding"] = encoding;
  const std::string dir = testing::temp_dir();
  std::ifstream in((examples_dir() / root["faults"]["list"].as<std::string>()).string());
  std::ofstream list(dir + "/faults.csv");
  std::string line;
  for (int row = -1; row < faults && std::getline(in, line); ++row) list << line << "\n";
  root["faults"]["list"] = dir + "/faults.csv";
  *output = dir + "/out";
  root["output"] = *output;
  std::ofstream(dir + "/exp.yaml") << root;
  return dir + "/exp.yaml";
}

int64_t golden_top1_correct(const std::string& output) {
  auto text = read_file(output + "/golden.csv");
  EXPECT_TRUE(text.is_ok()) << text.status().message();
  auto records = parse_csv(text.is_ok() ? *text : "", "golden.csv");
  EXPECT_TRUE(records.is_ok() && records->size() == 2);
  if (!records.is_ok() || records->size() != 2) return -1;
  const auto& header = records->front().fields;
  for (size_t i = 0; i < header.size(); ++i)
    if (header[i] == "top_1_correct") return std::atoll((*records)[1].fields[i].c_str());
  ADD_FAILURE() << "golden.csv has no top_1_correct";
  return -1;
}

TEST(SpikingMnist, FaultlineReachesTheScriptsAccuracy) {
  for (auto [encoding, expected, slack] :
       {std::tuple{"direct", kScriptDirectCorrect, kDirectSlack}, std::tuple{"rate", kScriptRateCorrect, kRateSlack}}) {
    SCOPED_TRACE(encoding);
    std::string output;
    const std::string yaml = shrunk_example(encoding, 500, 1, &output);
    const auto result = testing::run_faultline("run " + yaml + " --quiet");
    ASSERT_EQ(result.exit_code, 0) << result.err;
    const int64_t correct = golden_top1_correct(output);
    EXPECT_NEAR(correct, expected, slack) << "faultline: " << correct << " / 500";
  }
}

TEST(SpikingMnist, TheExampleCampaignRunsSmall) {
  std::string output;
  const std::string yaml = shrunk_example("rate", 20, 80, &output);
  const auto result = testing::run_faultline("run " + yaml + " --quiet");
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_NE(result.out.find("spiking analysis:"), std::string::npos) << result.out;
  auto spiking = read_file(output + "/spiking.csv");
  ASSERT_TRUE(spiking.is_ok()) << spiking.status().message();
  auto table = parse_csv(*spiking, "spiking.csv");
  ASSERT_TRUE(table.is_ok()) << table.status().message();
  ASSERT_EQ(table->size(), 11u);
  EXPECT_EQ(table->front().fields, (std::vector<std::string>{"", "lif1.threshold", "lif2.threshold", "lif1.potential",
                                                             "lif2.potential", "lif2.dead"}));
  EXPECT_EQ((*table)[1].fields, (std::vector<std::string>{"# of faults", "20", "20", "10", "20", "10"}));
  EXPECT_EQ((*table)[2].fields, (std::vector<std::string>{"# of injections", "400", "400", "200", "400", "200"}));
  EXPECT_TRUE(fs::exists(output + "/layers.csv"));
}

// lif2 is the last layer: a dead output neuron k zeroes column k of the spike counts and nothing else. So the
// SpikingJET row of lif2.dead follows from the clean counts alone, taken here from `faultline simulate` (the
// same rate encoding, seed and backend) and binned by hand.
TEST(SpikingMnist, DeadOutputNeuronsMatchTheCleanCountsWithAColumnZeroed) {
  constexpr int kDigits = 100;
  std::string output;
  const std::string yaml = shrunk_example("rate", kDigits, 80, &output);
  {  // only the lif2.dead rows, on the reference backend
    const std::string list = fs::path(yaml).parent_path() / "faults.csv";
    std::ifstream in(list);
    std::string text, line;
    for (int row = 0; std::getline(in, line); ++row)
      if (row == 0 || line.find("lif2.dead") != std::string::npos) text += line + "\n";
    in.close();
    std::ofstream(list) << text;
    YAML::Node root = YAML::LoadFile(yaml);
    root["backend"] = "reference";
    std::ofstream(yaml) << root;
  }
  const auto run = testing::run_faultline("run " + yaml + " --quiet");
  ASSERT_EQ(run.exit_code, 0) << run.err;

  // The clean counts: the same digits as float32 k / 255, [N, 784], through `simulate`.
  DatasetSpec spec;
  spec.format = "hdf5";
  spec.inputs = (examples_dir() / "data/mnist_digits.h5").string();
  spec.limit = kDigits;
  spec.layout = "nhwc";
  spec.std = {255.0f};
  auto dataset = load_dataset(spec);
  ASSERT_TRUE(dataset.is_ok()) << dataset.status().message();
  auto flat = dataset->images.reshaped({kDigits, 784});
  ASSERT_TRUE(flat.is_ok());
  const std::string dir = fs::path(yaml).parent_path().string();
  ASSERT_TRUE(write_npy(dir + "/digits.npy", *flat).is_ok());
  const auto sim = testing::run_faultline("simulate " + (examples_dir() / "data/spiking_mnist.nir").string() +
                                          " --input " + dir + "/digits.npy --output " + dir +
                                          "/counts.npy --encoding rate --steps 25 --seed 1 --backend reference");
  ASSERT_EQ(sim.exit_code, 0) << sim.err;
  auto counts = read_npy(dir + "/counts.npy");
  ASSERT_TRUE(counts.is_ok()) << counts.status().message();
  ASSERT_EQ(counts->shape(), (Shape{kDigits, 10}));
  const float* c = counts->data<float>();
  auto argmax = [](const float* row) {  // ties to the lowest index
    int best = 0;
    for (int k = 1; k < 10; ++k)
      if (row[k] > row[best]) best = k;
    return best;
  };
  int64_t masked = 0, sdc1 = 0, sdc_20 = 0;
  for (int dead = 0; dead < 10; ++dead) {
    for (int i = 0; i < kDigits; ++i) {
      const float* row = c + i * 10;
      float faulty[10];
      std::copy(row, row + 10, faulty);
      faulty[dead] = 0.0f;
      const int g = argmax(row), f = argmax(faulty);
      if (g != f) {
        ++sdc1;
      } else if (row[g] == faulty[f]) {
        ++masked;
      } else {
        // same class, the top count changed: only when the dead neuron was the top one with a count > 0 and
        // class 0 wins the all-zero tie: d = 100 %
        ++sdc_20;
      }
    }
  }
  auto text = read_file(output + "/spiking.csv");
  ASSERT_TRUE(text.is_ok()) << text.status().message();
  auto table = parse_csv(*text, "spiking.csv");
  ASSERT_TRUE(table.is_ok());
  ASSERT_EQ(table->front().fields, (std::vector<std::string>{"", "lif2.dead"}));
  const double n = 10.0 * kDigits;
  EXPECT_DOUBLE_EQ(std::atof((*table)[3].fields[1].c_str()), masked / n);  // fully_masked
  EXPECT_DOUBLE_EQ(std::atof((*table)[4].fields[1].c_str()), sdc1 / n);    // SDC_1
  EXPECT_DOUBLE_EQ(std::atof((*table)[8].fields[1].c_str()), sdc_20 / n);  // SDC_20
  EXPECT_GT(sdc1, 0);
}

// encoding: events reads [N, T, ...] spikes: the rate encoding's own spikes, swapped to [N, T, 784] and saved,
// give the same summary.csv as the rate-coded run.
TEST(SpikingMnist, EventInputsEqualTheRateEncodingTheyCameFrom) {
  constexpr int kDigits = 40;
  std::string rate_output;
  const std::string rate_yaml = shrunk_example("rate", kDigits, 10, &rate_output);
  const auto rate = testing::run_faultline("run " + rate_yaml + " --quiet");
  ASSERT_EQ(rate.exit_code, 0) << rate.err;

  DatasetSpec spec;
  spec.format = "hdf5";
  spec.inputs = (examples_dir() / "data/mnist_digits.h5").string();
  spec.limit = kDigits;
  spec.layout = "nhwc";
  spec.std = {255.0f};
  auto dataset = load_dataset(spec);
  ASSERT_TRUE(dataset.is_ok()) << dataset.status().message();
  auto spikes = rate_encode(dataset->images.reshaped({kDigits, 784}).value(), 25, 1);  // [T, N, 784]
  ASSERT_TRUE(spikes.is_ok()) << spikes.status().message();
  auto events = Tensor::allocate(DType::kFloat32, {kDigits, 25, 784});
  ASSERT_TRUE(events.is_ok());
  for (int64_t t = 0; t < 25; ++t)
    for (int64_t n = 0; n < kDigits; ++n)
      std::copy_n(spikes->data<float>() + (t * kDigits + n) * 784, 784, events->data<float>() + (n * 25 + t) * 784);
  const std::string dir = testing::temp_dir();
  ASSERT_TRUE(write_npy(dir + "/events.npy", *events).is_ok());
  ASSERT_TRUE(write_npy(dir + "/labels.npy", dataset->labels).is_ok());

  YAML::Node root = YAML::LoadFile(rate_yaml);
  root["dataset"] = YAML::Node();
  root["dataset"]["format"] = "npy";
  root["dataset"]["inputs"] = dir + "/events.npy";
  root["dataset"]["labels"] = dir + "/labels.npy";
  root["spiking"]["encoding"] = "events";
  root["output"] = dir + "/out";
  std::ofstream(dir + "/events.yaml") << root;
  const auto replay = testing::run_faultline("run " + dir + "/events.yaml --quiet");
  ASSERT_EQ(replay.exit_code, 0) << replay.err;
  auto expected = read_file(rate_output + "/summary.csv");
  auto actual = read_file(dir + "/out/summary.csv");
  ASSERT_TRUE(expected.is_ok() && actual.is_ok());
  EXPECT_EQ(*actual, *expected);

  // spiking.steps that disagree with the events' T: one line naming the key.
  root["spiking"]["steps"] = 20;
  root["output"] = dir + "/out2";
  std::ofstream(dir + "/events.yaml") << root;
  const auto wrong = testing::run_faultline("run " + dir + "/events.yaml --quiet");
  EXPECT_NE(wrong.exit_code, 0);
  EXPECT_NE(wrong.err.find("spiking.steps: 20 differs from the dataset's 25 time steps"), std::string::npos)
      << wrong.err;
  EXPECT_FALSE(fs::exists(dir + "/out2"));
}

TEST(SpikingMnist, ExperimentErrorsNameTheKey) {
  std::string output;
  const std::string yaml = shrunk_example("rate", 10, 1, &output);
  const std::pair<const char*, const char*> cases[] = {
      {"encoding", "spiking.encoding: "}, {"steps", "spiking.steps"}, {"spiking", "needs a spiking section"}};
  for (auto [what, message] : cases) {
    YAML::Node root = YAML::LoadFile(yaml);
    if (std::string(what) == "encoding") root["spiking"]["encoding"] = "poisson";
    if (std::string(what) == "steps") root["spiking"].remove("steps");
    if (std::string(what) == "spiking") root.remove("spiking");
    const std::string bad = fs::path(yaml).parent_path() / (std::string(what) + ".yaml");
    std::ofstream(bad) << root;
    const auto result = testing::run_faultline("run " + bad + " --quiet");
    EXPECT_NE(result.exit_code, 0) << what;
    EXPECT_NE(result.err.find(message), std::string::npos) << result.err;
    EXPECT_EQ(std::count(result.err.begin(), result.err.end(), '\n'), 1) << result.err;
    EXPECT_FALSE(fs::exists(output)) << what;
  }
}

}  // namespace
}  // namespace faultline
