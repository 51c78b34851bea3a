// `faultline run` end to end: a YAML experiment, a campaign killed with SIGKILL at several moments and
// resumed, giving files byte-identical to an uninterrupted run's; and bad experiments refused with one line.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "tests/support/run_command.h"
#include "tests/support/test_support.h"

namespace faultline {
namespace {

using testing::run_faultline;
using testing::run_shell;
using testing::test_data;

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream content;
  content << in.rdbuf();
  return content.str();
}

// An experiment `dir`/`name` over the bundled ResNet20 and its 16 images, writing to `output`.
std::string write_experiment(const std::string& dir, const std::string& name, const std::string& output, int count) {
  const std::string path = dir + "/" + name;
  std::ofstream(path) << "model: " << test_data("models/resnet20_bn.onnx") << "\n"
                      << "backend: onednn\n"
                      << "dataset: {format: npy, inputs: " << test_data("models/resnet20_input.npy") << "}\n"
                      << "batch_size: 8\n"
                      << "faults:\n  generate: {target: weight, bits: \"0-31\", count: " << count << ", seed: 7}\n"
                      << "output: " << output << "\n"
                      << "seed: 3\n";
  return path;
}

TEST(CliRun, KilledCampaignsResumeToIdenticalResults) {
  const std::string dir = testing::temp_dir();
  const std::string reference = write_experiment(dir, "reference.yaml", dir + "/reference", 150);
  auto r = run_faultline("run " + reference + " --quiet");
  ASSERT_EQ(r.exit_code, 0) << r.err;

  const std::string killed = write_experiment(dir, "killed.yaml", dir + "/killed", 150);
  int kills = 0;
  for (const char* delay : {"0.25", "0.5", "0.3", "0.8"}) {
    auto k = run_shell("timeout -s KILL " + std::string(delay) + " " + FAULTLINE_BINARY + " run " + killed +
                       " --quiet" + (std::filesystem::exists(dir + "/killed/summary.csv") ? " --resume" : ""));
    kills += k.exit_code == 128 + 9 || k.exit_code == 137;
  }
  EXPECT_GE(kills, 1) << "no run was killed before it finished: the test did not test resume";
  auto resumed = run_faultline("run " + killed + " --resume --quiet");
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  for (const char* file : {"summary.csv", "layers.csv", "bits.csv", "golden.csv", "faults.csv"})
    EXPECT_EQ(slurp(dir + "/killed/" + file), slurp(dir + "/reference/" + file)) << file;
}

TEST(CliRun, ExistingResultsNeedResume) {
  const std::string dir = testing::temp_dir();
  const std::string exp = write_experiment(dir, "exp.yaml", dir + "/out", 5);
  ASSERT_EQ(run_faultline("run " + exp + " --quiet").exit_code, 0);
  const std::string before = slurp(dir + "/out/summary.csv");
  auto again = run_faultline("run " + exp + " --quiet");
  EXPECT_NE(again.exit_code, 0);
  EXPECT_NE(again.err.find("--resume"), std::string::npos) << again.err;
  EXPECT_EQ(slurp(dir + "/out/summary.csv"), before);
}

TEST(CliRun, BadExperimentsNameTheKeyAndWriteNothing) {
  const std::string dir = testing::temp_dir();
  const std::string path = dir + "/bad.yaml";
  std::ofstream(path) << "model: " << test_data("models/resnet20_bn.onnx") << "\n"
                      << "dataset: {format: npy, inputs: " << test_data("models/resnet20_input.npy")
                      << ", preprocess: {std: [1, 2]}}\n"
                      << "faults: {generate: {count: 3}}\noutput: " << dir << "/out\n";
  auto r = run_faultline("run " + path);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("dataset.preprocess"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_FALSE(std::filesystem::exists(dir + "/out"));
}

}  // namespace
}  // namespace faultline
