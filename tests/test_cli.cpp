// The faultline command end to end: real models and data in, .npy out, and one clear error line with a
// non-zero exit (and no output file) for every kind of bad input.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "engine/npy.h"
#include "tests/support/run_command.h"

namespace faultline {
namespace {

using testing::run_faultline;

const std::string kData = FAULTLINE_TEST_DATA_DIR;
const std::string kResnet = kData + "/models/resnet20.onnx";
const std::string kResnetBn = kData + "/models/resnet20_bn.onnx";
const std::string kResnetInput = kData + "/models/resnet20_input.npy";
const std::string kResnetLogits = kData + "/models/resnet20_logits.npy";

class Cli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("faultline_cli_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  // Exit code is non-zero, stderr is one line naming `expected`, and `output` was not created.
  void expect_clean_failure(const testing::CommandResult& r, const std::string& expected, const std::string& output) {
    EXPECT_NE(r.exit_code, 0);
    EXPECT_NE(r.err.find(expected), std::string::npos) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_FALSE(std::filesystem::exists(output)) << output;
  }
  std::filesystem::path dir_;
};

TEST_F(Cli, HelpForEveryCommand) {
  for (const char* command : {"layers", "infer", "bench", "compare"}) {
    auto r = run_faultline(std::string(command) + " --help");
    EXPECT_EQ(r.exit_code, 0) << command;
    EXPECT_NE(r.out.find("usage: faultline"), std::string::npos) << command;
  }
  EXPECT_EQ(run_faultline("--help").exit_code, 0);
  EXPECT_NE(run_faultline("").exit_code, 0);
  EXPECT_NE(run_faultline("frobnicate").err.find("unknown command"), std::string::npos);
}

TEST_F(Cli, InferMatchesPyTorchOnBothBackends) {
  auto expected = read_npy(kResnetLogits);
  ASSERT_TRUE(expected.is_ok()) << expected.status().message();
  for (const char* backend : {"reference", "onednn"}) {
    const std::string out = path(std::string("logits_") + backend + ".npy");
    auto r = run_faultline("infer " + kResnet + " --input " + kResnetInput + " --output " + out +
                           " --batch 5 --backend " + backend);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto got = read_npy(out);
    ASSERT_TRUE(got.is_ok()) << got.status().message();
    ASSERT_EQ(got->shape(), expected->shape());
    for (int64_t i = 0; i < got->numel(); ++i)
      EXPECT_NEAR(got->data<float>()[i], expected->data<float>()[i], 2e-4) << backend << " element " << i;
  }
}

TEST_F(Cli, LayersListsPyTorchNamesShapesAndCounts) {
  auto r = run_faultline("layers " + kResnetBn + " --csv");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("weight,layer1.0.conv1,layer1.0.conv1.weight,Conv,\"[16, 16, 3, 3]\",float32,2304"),
            std::string::npos) << r.out;
  EXPECT_NE(r.out.find("weight,layer3.2.bn2,layer3.2.bn2.running_var,BatchNormalization,\"[64]\",float32,64"),
            std::string::npos) << r.out;
  EXPECT_NE(r.out.find("activation,layer1.0.conv1,"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\"[16, 32, 32]\""), std::string::npos) << r.out;
  auto weights = run_faultline("layers " + kResnetBn + " --kind weight");
  ASSERT_EQ(weights.exit_code, 0);
  EXPECT_EQ(weights.out.find("activation "), std::string::npos);
}

TEST_F(Cli, MissingModelFile) {
  const std::string out = path("y.npy");
  expect_clean_failure(run_faultline("infer " + path("missing.onnx") + " --input " + kResnetInput + " --output " + out),
                       "missing.onnx", out);
}

TEST_F(Cli, TruncatedAndCorruptModels) {
  std::ifstream in(kResnet, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSERT_GT(bytes.size(), 1000u);
  std::ofstream(path("truncated.onnx"), std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  std::string garbage(4096, '\0');
  for (size_t i = 0; i < garbage.size(); ++i) garbage[i] = static_cast<char>((i * 2654435761u) >> 13);
  std::ofstream(path("garbage.onnx"), std::ios::binary) << garbage;
  const std::string out = path("y.npy");
  expect_clean_failure(
      run_faultline("infer " + path("truncated.onnx") + " --input " + kResnetInput + " --output " + out),
      "truncated.onnx", out);
  expect_clean_failure(run_faultline("infer " + path("garbage.onnx") + " --input " + kResnetInput + " --output " + out),
                       "garbage.onnx", out);
}

TEST_F(Cli, InputOfWrongShapeOrDtype) {
  const std::string out = path("y.npy");
  ASSERT_TRUE(write_npy(path("wrong_shape.npy"), Tensor::allocate(DType::kFloat32, {2, 3, 28, 28}).value()).is_ok());
  expect_clean_failure(run_faultline("infer " + kResnet + " --input " + path("wrong_shape.npy") + " --output " + out),
                       "[N, 3, 32, 32]", out);
  ASSERT_TRUE(write_npy(path("wrong_dtype.npy"), Tensor::allocate(DType::kFloat64, {2, 3, 32, 32}).value()).is_ok());
  expect_clean_failure(run_faultline("infer " + kResnet + " --input " + path("wrong_dtype.npy") + " --output " + out),
                       "float32", out);
}

TEST_F(Cli, AbsurdDimensionIsRefused) {
  // A header claiming 10^6 x 3 x 32 x 32 x 10^3 floats (12 TB) and no data.
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (1000000, 3, 32, 32000), }";
  header.append(128 - 10 - header.size() - 1, ' ');
  header += '\n';
  std::string bytes("\x93NUMPY\x01\x00", 8);
  bytes += static_cast<char>(header.size());
  bytes += '\0';
  std::ofstream(path("huge.npy"), std::ios::binary) << bytes << header;
  const std::string out = path("y.npy");
  expect_clean_failure(run_faultline("infer " + kResnet + " --input " + path("huge.npy") + " --output " + out), "GiB",
                       out);
}

TEST_F(Cli, BadOptions) {
  const std::string out = path("y.npy");
  expect_clean_failure(run_faultline("infer " + kResnet + " --input " + kResnetInput + " --output " + out + " --batch 0"),
                       "--batch", out);
  expect_clean_failure(run_faultline("infer " + kResnet + " --input " + kResnetInput + " --output " + out + " --bogus"),
                       "--bogus", out);
  expect_clean_failure(run_faultline("infer " + kResnet + " --input " + kResnetInput + " --output " + out +
                                     " --backend tpu"),
                       "tpu", out);
  expect_clean_failure(run_faultline("infer " + kResnet + " --output " + out), "--input", out);
}

TEST_F(Cli, BenchReportsThroughput) {
  auto r = run_faultline("bench " + kResnet + " --batch 10 --images 20 --repeat 1");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("images/s"), std::string::npos);
  EXPECT_NE(r.out.find("81.") , std::string::npos) << "ResNet20 is 40.8 M MACs = 81.x MFLOP per image\n" << r.out;
  EXPECT_NE(r.out.find("copied from host memory per batch"), std::string::npos) << r.out;
  auto resident = run_faultline("bench " + kResnet + " --batch 10 --images 20 --repeat 1 --resident");
  EXPECT_NE(resident.exit_code, 0);
  EXPECT_NE(resident.err.find("--resident needs --backend cuda"), std::string::npos) << resident.err;
}

}  // namespace
}  // namespace faultline
