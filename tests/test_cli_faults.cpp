// faultline inject and faultline faults generate end to end: one error line naming the CSV line and no
// output for every bad list, [faults, images, classes] outputs, reproducible lists, statistical counts.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <set>

#include "engine/file_io.h"
#include "engine/npy.h"
#include "faults/fault_generator.h"
#include "faults/fault_list.h"
#include "frontends/load_model.h"
#include "tests/support/run_command.h"
#include "tests/support/test_support.h"

namespace faultline {
namespace {

using testing::run_faultline;

const std::string kResnetBn = testing::test_data("models/resnet20_bn.onnx");
const std::string kInput = testing::test_data("models/resnet20_input.npy");  // 16 images

class CliFaults : public ::testing::Test {
 protected:
  std::string path(const std::string& name) const { return dir_ + "/" + name; }
  std::string write_list(const std::string& name, const std::string& text) {
    EXPECT_TRUE(write_file_atomically(path(name), text).is_ok());
    return path(name);
  }
  // Non-zero exit, stderr is one line containing `expected`, and `output` was not created.
  void expect_clean_failure(const testing::CommandResult& r, const std::string& expected, const std::string& output) {
    EXPECT_NE(r.exit_code, 0);
    EXPECT_NE(r.err.find(expected), std::string::npos) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_FALSE(std::filesystem::exists(output)) << output;
  }
  std::string inject(const std::string& list, const std::string& output) {
    return "inject " + kResnetBn + " --faults " + list + " --input " + kInput + " --output " + output;
  }
  std::string dir_ = testing::temp_dir();
};

TEST_F(CliFaults, Help) {
  for (const char* command : {"inject --help", "faults generate --help", "faults --help"}) {
    auto r = run_faultline(command);
    EXPECT_EQ(r.exit_code, 0) << command;
    EXPECT_NE(r.out.find("usage: faultline"), std::string::npos) << command;
  }
  EXPECT_NE(run_faultline("--help").out.find("inject"), std::string::npos);
}

TEST_F(CliFaults, InjectWritesFaultsByImagesByClasses) {
  const std::string list = path("list.csv");
  auto generated = run_faultline("faults generate " + kResnetBn + " --count 5 --seed 7 -o " + list);
  ASSERT_EQ(generated.exit_code, 0) << generated.err;
  const std::string output = path("y.npy");
  auto r = run_faultline(inject(list, output) + " --batch 6");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("5 faults x 16 images"), std::string::npos) << r.out;
  auto y = read_npy(output);
  ASSERT_TRUE(y.is_ok()) << y.status().message();
  EXPECT_EQ(y->shape(), (Shape{5, 16, 10}));
  EXPECT_EQ(y->dtype(), DType::kFloat32);
}

// --images draws each inference fault's image, and such a list runs; it needs a scoped persistence.
TEST_F(CliFaults, GenerateDrawsTheImagesOfInferenceFaults) {
  const std::string list = path("transient.csv");
  auto generated = run_faultline("faults generate " + kResnetBn +
                                 " --target activation --count 40 --persistence inference --images 16 --seed 3 -o " +
                                 list);
  ASSERT_EQ(generated.exit_code, 0) << generated.err;
  auto parsed = read_fault_list(list);
  ASSERT_TRUE(parsed.is_ok()) << parsed.status().message();
  ASSERT_EQ(parsed->entries.size(), 40u);
  for (const auto& entry : parsed->entries) {
    ASSERT_TRUE(entry.fault.site.batch.has_value());
    EXPECT_LT(*entry.fault.site.batch, 16);
    EXPECT_EQ(entry.fault.persistence, Persistence::kInference);
  }
  auto r = run_faultline(inject(list, path("t.npy")) + " --batch 6");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  auto refused = run_faultline("faults generate " + kResnetBn + " --target activation --count 4 --images 16 -o " +
                               path("p.csv"));
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_NE(refused.err.find("option --images"), std::string::npos) << refused.err;
  EXPECT_NE(refused.err.find("--persistence inference or batch"), std::string::npos) << refused.err;
}

TEST_F(CliFaults, InjectRefusesBadListsNamingTheLine) {
  const std::string header = "Injection,Layer,TensorIndex,Bit\n0,conv1,\"(0, 0, 0, 0)\",3\n";
  const struct {
    const char* name;
    std::string row;
    std::string expected;
  } cases[] = {
      {"malformed", "1,conv1,(0, 0, 0, 0),3\n", "malformed.csv:3:"},
      {"unknown_layer", "1,conv99,\"(0, 0, 0, 0)\",3\n", "unknown_layer.csv:3:"},
      {"index_range", "1,conv1,\"(16, 0, 0, 0)\",3\n", "index_range.csv:3:"},
      {"bit32", "1,conv1,\"(0, 0, 0, 0)\",32\n", "bit32.csv:3:"},
      {"batch_range", "1,layer1.0.conv1,\"(0, 0, 0)\",3,activation,16\n", "batch_range.csv:3:"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    std::string text = header + c.row;
    if (std::string(c.name) == "batch_range")
      text = "Injection,Layer,TensorIndex,Bit,Target,Batch\n0,conv1,\"(0, 0, 0, 0)\",3,weight,\n" + c.row;
    const std::string output = path(std::string(c.name) + ".npy");
    auto r = run_faultline(inject(write_list(std::string(c.name) + ".csv", text), output));
    expect_clean_failure(r, c.expected, output);
    if (std::string(c.name) == "bit32") EXPECT_NE(r.err.find("float32"), std::string::npos) << r.err;
  }
  const std::string output = path("none.npy");
  expect_clean_failure(run_faultline(inject(path("missing.csv"), output)), "missing.csv", output);
}

TEST_F(CliFaults, GenerateIsReproducible) {
  const std::string base = "faults generate " + kResnetBn + " --layers 'layer1.*,conv1' --layers linear --bits 20-31 " +
                           "--model bitflip,stuck-at-1 --count 300 ";
  ASSERT_EQ(run_faultline(base + "--seed 11 -o " + path("a.csv")).exit_code, 0);
  ASSERT_EQ(run_faultline(base + "--seed 11 --output " + path("b.csv")).exit_code, 0);
  ASSERT_EQ(run_faultline(base + "--seed 12 -o " + path("c.csv")).exit_code, 0);
  const std::string a = read_file(path("a.csv")).value();
  EXPECT_EQ(a, read_file(path("b.csv")).value());
  EXPECT_NE(a, read_file(path("c.csv")).value());
  EXPECT_EQ(std::count(a.begin(), a.end(), '\n'), 301);
  EXPECT_EQ(a.find("layer2."), std::string::npos);
  EXPECT_NE(a.find(",linear,"), std::string::npos);
  EXPECT_NE(a.find("stuck-at-1"), std::string::npos);
}

TEST_F(CliFaults, GenerateStatisticalCounts) {
  // SFIadvancedmodels' t = 2.58: the published dnn-benchmarks ResNet20 list's 16,627 rows.
  auto r = run_faultline("faults generate " + kResnetBn + " --statistical --error 0.01 --t 2.58 -o " + path("s.csv"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("16627 faults"), std::string::npos) << r.out;
  const std::string text = read_file(path("s.csv")).value();
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 16628);

  // --confidence 0.99 (the exact t): whatever faults/sample_size.h gives for the same layers.
  r = run_faultline("faults generate " + kResnetBn + " --statistical --confidence 0.99 -o " + path("c.csv"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto model = load_model(kResnetBn);
  ASSERT_TRUE(model.is_ok());
  auto targets = list_fault_targets(**model);
  ASSERT_TRUE(targets.is_ok());
  auto layers = select_fault_space(*targets, GeneratorOptions{});
  ASSERT_TRUE(layers.is_ok());
  std::vector<LayerPopulation> populations;
  for (const FaultSpaceLayer& layer : *layers)
    populations.push_back({layer.layer, layer.elements, static_cast<int>(layer.bits.size())});
  auto samples = sample_sizes(populations, SampleScope::kNetwork, SampleSizeOptions{});
  ASSERT_TRUE(samples.is_ok());
  int64_t expected = 0;
  for (const LayerSample& s : *samples) expected += s.faults;
  EXPECT_NE(r.out.find(std::to_string(expected) + " faults"), std::string::npos) << r.out << " expected " << expected;
}

TEST_F(CliFaults, GenerateRefusesBadOptions) {
  const std::string output = path("bad.csv");
  const std::string base = "faults generate " + kResnetBn + " ";
  expect_clean_failure(run_faultline(base + "-o " + output), "exactly one of", output);
  expect_clean_failure(run_faultline(base + "--count 3 --exhaustive -o " + output), "exactly one of", output);
  expect_clean_failure(run_faultline(base + "--count 3 --model flipflop -o " + output), "flipflop", output);
  expect_clean_failure(run_faultline(base + "--count 3 --layers 'nothing*' -o " + output), "nothing*", output);
  expect_clean_failure(run_faultline(base + "--count 3 --bits 40 -o " + output), "40", output);
  expect_clean_failure(run_faultline(base + "--count 3"), "-o", output);
  expect_clean_failure(run_faultline("faults frobnicate"), "frobnicate", output);
}

// Kernel-level targets (faults/kernel_sites.h) on the int8 MNIST model: the same targets and keys as the YAML's
// faults.generate; the generated lists replay with `faultline inject`.
const std::string kInt8Model = testing::test_data("int8/mnist_int8.onnx");
const std::string kInt8Input = testing::test_data("int8/mnist_int8_input.npy");  // 32 images

FaultList read_list(const std::string& file) {
  auto list = parse_fault_list(testing::read_text(file), file);
  EXPECT_TRUE(list.is_ok()) << list.status().message();
  return list.is_ok() ? *list : FaultList{};
}

TEST_F(CliFaults, GenerateKernelTargetsAndReplayThem) {
  EXPECT_NE(run_faultline("faults generate --help").out.find("--array RxC"), std::string::npos);
  const std::string base = "faults generate " + kInt8Model + " ";
  // Every PE of a 4x4 weight-stationary array, product register, sign bit: 16 faults on conv1.
  const std::string pe = path("pe.csv");
  auto r = run_faultline(base + "--target pe --array 4x4 --dataflow ws --unit product --layers conv1 --bits 31 "
                                "--exhaustive -o " + pe);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("16 faults"), std::string::npos) << r.out;
  const FaultList pe_list = read_list(pe);
  ASSERT_EQ(pe_list.entries.size(), 16u);
  std::set<std::vector<int64_t>> pes;
  for (const FaultListEntry& entry : pe_list.entries) {
    const FaultSite& site = entry.fault.site;
    EXPECT_EQ(site.layer, "conv1");
    EXPECT_EQ(site.target, SiteTarget::kPe);
    EXPECT_EQ(site.kernel.array.rows, 4);
    EXPECT_EQ(site.kernel.array.cols, 4);
    EXPECT_EQ(site.kernel.array.dataflow, Dataflow::kWeightStationary);
    EXPECT_EQ(site.kernel.array.unit, PeUnit::kProduct);
    EXPECT_EQ(site.bit, 31);
    pes.insert(site.index);
  }
  EXPECT_EQ(pes.size(), 16u);
  // Tiles of 4x4 over conv2's 49 x 32 GEMM: 13 x 8 tiles, the last tile row clipped to 1 row; int8 output bit 7.
  const std::string tiles = path("tiles.csv");
  r = run_faultline(base + "--target pattern --pattern tile --tile 4x4 --layers conv2 --bits 7 --exhaustive -o " +
                    tiles);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const FaultList tile_list = read_list(tiles);
  ASSERT_EQ(tile_list.entries.size(), 104u);
  EXPECT_EQ(tile_list.entries.back().fault.site.index, (std::vector<int64_t>{48, 28, 1, 4}));
  EXPECT_EQ(tile_list.entries.back().fault.site.kernel.pattern, OutputPattern::kTile);
  // Random accumulator faults on fc's int32 accumulators (1568 MACs).
  const std::string accumulators = path("acc.csv");
  r = run_faultline(base + "--target accumulator --layers fc --count 5 --seed 3 -o " + accumulators);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const FaultList accumulator_list = read_list(accumulators);
  ASSERT_EQ(accumulator_list.entries.size(), 5u);
  for (const FaultListEntry& entry : accumulator_list.entries) {
    EXPECT_EQ(entry.fault.site.target, SiteTarget::kAccumulator);
    EXPECT_GE(entry.fault.site.kernel.mac, 0);
    EXPECT_LT(entry.fault.site.kernel.mac, 1568);
    EXPECT_GE(entry.fault.site.bit, 0);
    EXPECT_LE(entry.fault.site.bit, 31);
  }
  for (const auto& [list, faults] : {std::pair{pe, 16}, std::pair{tiles, 104}, std::pair{accumulators, 5}}) {
    const std::string output = path("y.npy");
    r = run_faultline("inject " + kInt8Model + " --faults " + list + " --input " + kInt8Input + " --output " + output +
                      " --backend reference --batch 16");
    ASSERT_EQ(r.exit_code, 0) << list << ": " << r.err;
    auto y = read_npy(output);
    ASSERT_TRUE(y.is_ok()) << y.status().message();
    EXPECT_EQ(y->shape(), (Shape{faults, 32, 10})) << list;
  }
}

TEST_F(CliFaults, GenerateRefusesBadKernelOptionsNamingThem) {
  const std::string output = path("bad.csv");
  const std::string base = "faults generate " + kInt8Model + " --count 3 -o " + output + " ";
  const std::pair<std::string, std::string> cases[] = {
      {"--target weight --array 4x4", "option --array: is not read by target weight"},
      {"--target accumulator --dataflow os", "option --dataflow: is not read by target accumulator"},
      {"--target pe --array 4x4 --pattern row", "option --pattern: is not read by target pe"},
      {"--target pe", "option --array: target pe needs an array"},
      {"--target pe --array 4by4", "option --array: '4by4' is not a size"},
      {"--target pe --array 4x4 --dataflow diagonal", "option --dataflow: 'diagonal'"},
      {"--target pe --array 4x4 --unit adder", "option --unit: 'adder'"},
      {"--target pattern", "option --pattern: target pattern needs a pattern"},
      {"--target pattern --pattern diag", "option --pattern: 'diag'"},
      {"--target pattern --pattern tile", "option --tile: pattern tile needs a tile"},
      {"--target pattern --pattern row --tile 4x4", "option --tile: is read by pattern tile only"},
      {"--target state", "option --target: 'state'"},
      {"--target pe --array 4x4 --bits 32", "bit 32 is out of range for 'conv1' (int32, 0-31)"},
      {"--target pattern --pattern row --layers conv1 --bits 8", "bit 8 is out of range for 'conv1' (uint8, 0-7)"},
  };
  for (const auto& [options, expected] : cases) {
    SCOPED_TRACE(options);
    expect_clean_failure(run_faultline(base + options), expected, output);
  }
}

}  // namespace
}  // namespace faultline
