// Every experiment in examples/ keeps working: each YAML file loads as it is (load_experiment checks every key
// and file), and a shrunk copy runs end to end with `faultline run` (8 images, output in a temp folder,
// relative paths made absolute, generated lists cut to 5 faults, given lists to every 20th fault, sweeps to
// one repetition), writing the files
// its kind of experiment writes (pes.csv / patterns.csv for PE / pattern lists).
// The int8 PE campaign (mnist_int8_pe_campaign.yaml) also runs with its whole exhaustive list on 16 digits: its
// pes.csv has one row per PE of the 8x8 array and layer, the counts its generation spec implies, and fc's PEs that
// compute nothing (fc's GEMM has a single row, so PE rows 1-7 are unused) come out masked.
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

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

// The example `file` with its model, dataset and fault-list paths made absolute.
YAML::Node load_with_absolute_paths(const fs::path& file) {
  YAML::Node root = YAML::LoadFile(file.string());
  make_absolute(root, "model");
  make_absolute(root["dataset"], "inputs");
  make_absolute(root["dataset"], "labels");
  make_absolute(root["faults"], "list");
  return root;
}

// Writes `root` to a temp copy named like `file` and runs it with `faultline run --quiet`.
testing::CommandResult run_copy(const YAML::Node& root, const fs::path& file) {
  const std::string copy = testing::temp_dir() + "/" + file.filename().string();
  YAML::Emitter emitter;
  emitter << root;
  std::ofstream(copy) << emitter.c_str() << "\n";
  return testing::run_faultline("run " + copy + " --quiet");
}

// A report CSV without quoted cells (pes.csv, layers.csv, bits.csv), as one column-name -> cell map per row.
std::vector<std::map<std::string, std::string>> read_report(const std::string& path) {
  std::ifstream in(path);
  auto split = [](const std::string& line) {
    std::vector<std::string> cells;
    std::stringstream stream(line);
    for (std::string cell; std::getline(stream, cell, ',');) cells.push_back(cell);
    return cells;
  };
  std::string line;
  std::getline(in, line);
  const std::vector<std::string> header = split(line);
  std::vector<std::map<std::string, std::string>> rows;
  while (std::getline(in, line)) {
    const std::vector<std::string> cells = split(line);
    EXPECT_EQ(cells.size(), header.size()) << path << ": " << line;
    std::map<std::string, std::string>& row = rows.emplace_back();
    for (size_t c = 0; c < header.size() && c < cells.size(); ++c) row[header[c]] = cells[c];
  }
  return rows;
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
       {"resnet20_weight_campaign.yaml", "resnet20_fault_list_replay.yaml", "resnet20_error_rate_sweep.yaml",
        "resnet20_pe_campaign.yaml", "mnist_int8_pe_campaign.yaml", "mnist_transient_campaign.yaml"})
    EXPECT_NE(std::find(names.begin(), names.end(), expected), names.end()) << expected;
}

TEST(Examples, EveryExampleLoadsAndRuns) {
  for (const fs::path& file : example_files()) {
    SCOPED_TRACE(file.string());
    auto config = load_experiment(file.string());
    ASSERT_TRUE(config.is_ok()) << config.status().message();

    YAML::Node root = load_with_absolute_paths(file);
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

    const testing::CommandResult r = run_copy(root, file);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_TRUE(fs::exists(output + "/golden.csv"));
    if (config->faults.error_rate) {
      EXPECT_TRUE(fs::exists(output + "/error_rate_detail.csv"));
      EXPECT_TRUE(fs::exists(output + "/error_rate.csv"));
    } else {
      for (const char* result : {"summary.csv", "layers.csv", "bits.csv", "faults.csv"})
        EXPECT_TRUE(fs::exists(output + "/" + result)) << result;
    }
    const YAML::Node target = root["faults"]["generate"]["target"];
    const std::string kind = target ? target.as<std::string>() : "";
    EXPECT_EQ(fs::exists(output + "/pes.csv"), kind == "pe");
    EXPECT_EQ(fs::exists(output + "/patterns.csv"), kind == "pattern");
  }
}

// The int8 PE campaign with its whole list: 3 layers x 8 x 8 PEs x 3 bits (10, 20, 30) = 576 stuck-at-1 faults, on
// 16 digits (48 injections per PE).
TEST(Examples, Int8PeCampaignReportsEveryPeOfTheArray) {
  const fs::path file = examples_dir() / "mnist_int8_pe_campaign.yaml";
  YAML::Node root = load_with_absolute_paths(file);
  constexpr int kDigits = 16;
  root["dataset"]["limit"] = kDigits;
  const std::string output = testing::temp_dir() + "/int8_pe";
  root["output"] = output;
  const testing::CommandResult r = run_copy(root, file);
  ASSERT_EQ(r.exit_code, 0) << r.err;

  const std::vector<std::string> layers = {"conv1", "conv2", "fc"};
  constexpr int kArray = 8, kBits = 3;
  const std::string injections = std::to_string(kBits * kDigits);
  const auto pes = read_report(output + "/pes.csv");
  ASSERT_EQ(pes.size(), layers.size() * kArray * kArray);
  std::set<std::string> seen;
  std::map<std::string, int64_t> masked_per_layer;
  for (const auto& row : pes) {
    const std::string where = row.at("layer") + " (" + row.at("pe_row") + ", " + row.at("pe_col") + ")";
    SCOPED_TRACE(where);
    EXPECT_TRUE(seen.insert(where).second) << "twice";
    EXPECT_NE(std::find(layers.begin(), layers.end(), row.at("layer")), layers.end());
    EXPECT_LT(std::stoi(row.at("pe_row")), kArray);
    EXPECT_LT(std::stoi(row.at("pe_col")), kArray);
    EXPECT_EQ(row.at("array"), "8x8");
    EXPECT_EQ(row.at("dataflow"), "output-stationary");
    EXPECT_EQ(row.at("unit"), "accumulator");
    EXPECT_EQ(row.at("faults"), std::to_string(kBits));
    ASSERT_EQ(row.at("n_injections"), injections);
    int64_t outcomes = 0;
    for (const char* outcome : {"masked", "non_critical", "critical", "due"}) outcomes += std::stoll(row.at(outcome));
    EXPECT_EQ(outcomes, kBits * kDigits);
    masked_per_layer[row.at("layer")] += std::stoll(row.at("masked"));
    if (row.at("layer") == "fc" && row.at("pe_row") != "0")
      EXPECT_EQ(row.at("masked"), injections) << "fc's GEMM has one row: this PE computes nothing";
  }
  const auto layer_rows = read_report(output + "/layers.csv");
  ASSERT_EQ(layer_rows.size(), layers.size());
  for (const auto& row : layer_rows) {
    SCOPED_TRACE(row.at("layer"));
    EXPECT_EQ(row.at("faults"), std::to_string(kArray * kArray * kBits));
    EXPECT_EQ(row.at("n_injections"), std::to_string(kArray * kArray * kBits * kDigits));
    EXPECT_EQ(std::stoll(row.at("masked")), masked_per_layer[row.at("layer")]);  // pes.csv adds up to layers.csv
    EXPECT_LT(std::stoll(row.at("masked")), kArray * kArray * kBits * kDigits) << "every layer has unmasked faults";
  }
  const auto bit_rows = read_report(output + "/bits.csv");
  ASSERT_EQ(bit_rows.size(), 3u);
  for (size_t b = 0; b < bit_rows.size(); ++b) {
    EXPECT_EQ(bit_rows[b].at("bit"), std::to_string(10 * (b + 1)));
    EXPECT_EQ(bit_rows[b].at("faults"), std::to_string(layers.size() * kArray * kArray));
  }
}

}  // namespace
}  // namespace faultline
