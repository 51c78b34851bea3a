// Every experiment in examples/ keeps working: each YAML file loads as it is (load_experiment checks every key
// and file), and a shrunk copy runs end to end with `faultline run` (8 images, output in a temp folder,
// relative paths made absolute, generated lists cut to 5 faults, given lists to every 20th fault, sweeps to
// one repetition), writing the files
// its kind of experiment writes.
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "faults/experiment_config.h"
#include "tests/support/run_command.h"
#include "tests/support/test_support.h"

namespace faultline {
namespace {

namespace fs = std::filesystem;

constexpr int kImages = 8;
constexpr int kGeneratedFaults = 5;
constexpr int64_t kListStride = 20;  // fault lists: every 20th fault

fs::path examples_dir() { return fs::path(testing::test_data("../../examples")).lexically_normal(); }

std::vector<fs::path> example_files() {
  std::vector<fs::path> files;
  for (const fs::directory_entry& entry : fs::directory_iterator(examples_dir()))
    if (entry.path().extension() == ".yaml") files.push_back(entry.path());
  std::sort(files.begin(), files.end());
  return files;
}

// node[key] made absolute against the examples folder, when it is a relative path.
void make_absolute(YAML::Node node, const char* key) {
  if (!node || !node.IsMap() || !node[key]) return;
  const fs::path path(node[key].as<std::string>());
  if (path.is_relative()) node[key] = (examples_dir() / path).lexically_normal().string();
}

// A copy of the fault list `path` with its header and every kListStride-th fault.
std::string shrunk_list(const std::string& path) {
  std::ifstream in(path);
  const std::string copy = testing::temp_dir() + "/" + fs::path(path).filename().string();
  std::ofstream out(copy);
  std::string line;
  for (int64_t row = -1; std::getline(in, line); ++row)
    if (row < 0 || row % kListStride == 0) out << line << "\n";
  return copy;
}

TEST(Examples, ThereAreExamplesOfEveryWorkflow) {
  std::vector<std::string> names;
  for (const fs::path& file : example_files()) names.push_back(file.filename().string());
  for (const char* expected :
       {"resnet20_weight_campaign.yaml", "resnet20_fault_list_replay.yaml", "resnet20_error_rate_sweep.yaml"})
    EXPECT_NE(std::find(names.begin(), names.end(), expected), names.end()) << expected;
}

TEST(Examples, EveryExampleLoadsAndRuns) {
  for (const fs::path& file : example_files()) {
    SCOPED_TRACE(file.string());
    auto config = load_experiment(file.string());
    ASSERT_TRUE(config.is_ok()) << config.status().message();

    YAML::Node root = YAML::LoadFile(file.string());
    make_absolute(root, "model");
    make_absolute(root["dataset"], "inputs");
    make_absolute(root["dataset"], "labels");
    make_absolute(root["faults"], "list");
    if (YAML::Node list = root["faults"]["list"]) list = shrunk_list(list.as<std::string>());
    root["dataset"]["limit"] = kImages;
    const std::string output = testing::temp_dir() + "/out";
    root["output"] = output;
    if (YAML::Node generate = root["faults"]["generate"]) {
      generate.remove("statistical");
      generate.remove("exhaustive");
      generate["count"] = kGeneratedFaults;
    }
    if (YAML::Node sweep = root["faults"]["error_rate"]) sweep["repetitions"] = 1;
    const std::string shrunk = testing::temp_dir() + "/" + file.filename().string();
    YAML::Emitter emitter;
    emitter << root;
    std::ofstream(shrunk) << emitter.c_str() << "\n";

    auto r = testing::run_faultline("run " + shrunk + " --quiet");
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_TRUE(fs::exists(output + "/golden.csv"));
    if (config->faults.error_rate) {
      EXPECT_TRUE(fs::exists(output + "/error_rate_detail.csv"));
      EXPECT_TRUE(fs::exists(output + "/error_rate.csv"));
    } else {
      for (const char* result : {"summary.csv", "layers.csv", "bits.csv", "faults.csv"})
        EXPECT_TRUE(fs::exists(output + "/" + result)) << result;
    }
  }
}

}  // namespace
}  // namespace faultline
