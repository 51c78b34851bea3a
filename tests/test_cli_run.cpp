// `faultline run` end to end: a YAML experiment, a campaign killed with SIGKILL at several moments and
// resumed, giving files byte-identical to an uninterrupted run's; and bad experiments refused with one line.
// `run --shard I/N` + `faultline merge` give an unsharded run's files byte for byte (outputs.h5 included);
// bad --shard values and a missing shard are one-line errors; the error-rate sweep runs from YAML.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "tests/support/run_command.h"
#include "tests/support/test_support.h"

namespace faultline {
namespace {

using testing::read_text;
using testing::run_faultline;
using testing::run_shell;
using testing::test_data;

// An experiment `dir`/`name` over the bundled ResNet20 and its 16 images, writing to `output`.
std::string write_experiment(const std::string& dir, const std::string& name, const std::string& output, int count,
                             const std::string& faults = "") {
  const std::string path = dir + "/" + name;
  std::ofstream(path) << "model: " << test_data("models/resnet20_bn.onnx") << "\n"
                      << "backend: onednn\n"
                      << "dataset: {format: npy, inputs: " << test_data("models/resnet20_input.npy") << "}\n"
                      << "batch_size: 8\n"
                      << "faults:\n  "
                      << (faults.empty() ? "generate: {target: weight, bits: \"0-31\", count: " +
                                               std::to_string(count) + ", seed: 7}"
                                         : faults)
                      << "\noutput: " << output << "\n"
                      << "seed: 3\n";
  return path;
}

int64_t lines(const std::string& text) {
  return std::count(text.begin(), text.end(), '\n');
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
    EXPECT_EQ(read_text(dir + "/killed/" + file), read_text(dir + "/reference/" + file)) << file;
}

TEST(CliRun, ExistingResultsNeedResume) {
  const std::string dir = testing::temp_dir();
  const std::string exp = write_experiment(dir, "exp.yaml", dir + "/out", 5);
  ASSERT_EQ(run_faultline("run " + exp + " --quiet").exit_code, 0);
  const std::string before = read_text(dir + "/out/summary.csv");
  auto again = run_faultline("run " + exp + " --quiet");
  EXPECT_NE(again.exit_code, 0);
  EXPECT_NE(again.err.find("--resume"), std::string::npos) << again.err;
  EXPECT_EQ(read_text(dir + "/out/summary.csv"), before);
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

TEST(CliRun, ShardsMergeToTheUnshardedFiles) {
  const std::string dir = testing::temp_dir();
  const std::string reference = write_experiment(dir, "reference.yaml", dir + "/reference", 14);
  ASSERT_EQ(run_faultline("run " + reference + " --quiet --save-outputs").exit_code, 0);

  const std::string sharded = write_experiment(dir, "sharded.yaml", dir + "/sharded", 14);
  std::string shards;
  for (int i = 0; i < 3; ++i) {
    auto r = run_faultline("run " + sharded + " --shard " + std::to_string(i) + "/3 --save-outputs");
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("shard " + std::to_string(i) + "-of-3: " + (i < 2 ? "5" : "4") + " of 14 faults"),
              std::string::npos)
        << r.out;
    shards += " " + dir + "/sharded/shards/" + std::to_string(i) + "-of-3";
  }
  auto merged = run_faultline("merge" + shards);
  ASSERT_EQ(merged.exit_code, 0) << merged.err;
  EXPECT_NE(merged.out.find("merged 3 shards, 14 faults (with outputs.h5)"), std::string::npos) << merged.out;
  for (const char* file : {"summary.csv", "golden.csv", "layers.csv", "bits.csv", "faults.csv", "outputs.h5"})
    EXPECT_EQ(read_text(dir + "/sharded/" + file), read_text(dir + "/reference/" + file)) << file;

  // A missing shard: one line naming it, nothing written.
  auto missing = run_faultline("merge " + dir + "/sharded/shards/0-of-3 " + dir + "/sharded/shards/1-of-3 --output " +
                               dir + "/partial");
  EXPECT_NE(missing.exit_code, 0);
  EXPECT_NE(missing.err.find("shard 2-of-3 is missing"), std::string::npos) << missing.err;
  EXPECT_EQ(lines(missing.err), 1) << missing.err;
  EXPECT_FALSE(std::filesystem::exists(dir + "/partial"));
}

TEST(CliRun, BadShardValuesAreOneLineErrors) {
  const std::string dir = testing::temp_dir();
  const std::string exp = write_experiment(dir, "exp.yaml", dir + "/out", 4);
  for (const char* shard : {"3/3", "x", "1/0", "2", "-1/3", "0/5"}) {
    auto r = run_faultline("run " + exp + " --quiet --shard " + shard);
    EXPECT_NE(r.exit_code, 0) << shard;
    EXPECT_NE(r.err.find("--shard"), std::string::npos) << r.err;
    EXPECT_EQ(lines(r.err), 1) << r.err;
    EXPECT_FALSE(std::filesystem::exists(dir + "/out/summary.csv")) << shard;
    EXPECT_FALSE(std::filesystem::exists(dir + "/out/shards")) << shard;
  }
}

TEST(CliRun, ErrorRateSweepFromYaml) {
  const std::string dir = testing::temp_dir();
  const std::string exp = write_experiment(dir, "sweep.yaml", dir + "/out", 0,
                                           "error_rate: {min_exp: -6, max_exp: -5, repetitions: 2, layers: [linear]}");
  auto r = run_faultline("run " + exp + " --quiet");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("error rate 1e-6"), std::string::npos) << r.out;
  EXPECT_EQ(lines(read_text(dir + "/out/error_rate_detail.csv")), 1 + 4);
  EXPECT_EQ(lines(read_text(dir + "/out/error_rate.csv")), 1 + 2);
  EXPECT_EQ(read_text(dir + "/out/error_rate_detail.csv").substr(0, 46),
            "exponent,error_rate,repetition,seed,flipped_bi");
  auto sharded = run_faultline("run " + exp + " --quiet --resume --shard 0/2");
  EXPECT_NE(sharded.exit_code, 0);
  EXPECT_NE(sharded.err.find("--shard"), std::string::npos) << sharded.err;
}

}  // namespace
}  // namespace faultline
