// Real models end to end on the CUDA backend (GPU): the PyTorch exports of tests/test_real_models.cpp against
// PyTorch's logits (ResNet20 with BN folded and kept, the Concat-heavy DenseNet and GoogLeNet minis), the ONNX zoo's
// mnist-8 against the zoo's outputs, `faultline infer --backend cuda` against onednn, and `faultline inject
// --backend cuda` against PyTorch's faulty logits (tests/test_fault_equivalence.cpp's list) and against onednn's
// outcome classes on the published ResNet20 fault list. Tolerances are those of the CPU tests. Skips without a GPU.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <ostream>
#include <sstream>

#include "engine/npy.h"
#include "engine/session.h"
#include "faults/fault_list.h"
#include "frontends/onnx/onnx_import.h"
#include "tests/cuda/cuda_test_support.h"
#include "tests/support/fault_comparison.h"
#include "tests/support/run_command.h"
#include "tests/support/test_support.h"

namespace faultline {
namespace {

using testing::compare_fault_logits;
using testing::compare_logits;
using testing::read_npy_or_fail;
using testing::run_faultline;
using testing::temp_dir;
using testing::test_data;

// tests/test_real_models.cpp and tests/test_fault_equivalence.cpp: |y - ref| <= 1e-4 * max |ref| + 1e-5, same top-1.
constexpr double kRelTol = 1e-4;
constexpr double kAbsTol = 1e-5;

Tensor run_session(const std::string& model, int64_t batch, const std::vector<Tensor>& inputs, const std::string& backend) {
  auto graph = import_onnx_file(test_data(model));
  EXPECT_TRUE(graph.is_ok()) << graph.status().message();
  if (!graph.is_ok()) return Tensor();
  SessionOptions options;
  options.backend = backend;
  options.batch = batch;
  auto session = Session::create(std::make_shared<const Graph>(std::move(graph).value()), options);
  EXPECT_TRUE(session.is_ok()) << session.status().message();
  if (!session.is_ok()) return Tensor();
  auto outputs = session.value()->run(inputs);
  EXPECT_TRUE(outputs.is_ok()) << outputs.status().message();
  return outputs.is_ok() && outputs->size() == 1 ? outputs->front() : Tensor();
}

struct ModelCase {
  const char* name;
  const char* model;
  const char* input;
  const char* output;
  int64_t batch;  // not a divisor of the image count: a smaller last batch is planned too
};

void PrintTo(const ModelCase& c, std::ostream* os) { *os << c.model; }

class CudaRealModel : public ::testing::TestWithParam<ModelCase> {};

TEST_P(CudaRealModel, MatchesPyTorch) {
  FAULTLINE_SKIP_WITHOUT_GPU();
  const ModelCase& c = GetParam();
  const Tensor input = read_npy_or_fail(test_data(c.input));
  const Tensor expected = read_npy_or_fail(test_data(c.output));
  ASSERT_FALSE(input.empty() || expected.empty());
  const Tensor actual = run_session(c.model, c.batch, {input}, "cuda");
  ASSERT_FALSE(actual.empty());
  ASSERT_EQ(actual.shape(), expected.shape());
  EXPECT_EQ(compare_logits(expected, actual, std::string(c.name) + " on cuda", kRelTol, kAbsTol), 0);
}

INSTANTIATE_TEST_SUITE_P(
    PyTorchExports, CudaRealModel,
    ::testing::Values(
        ModelCase{"resnet20", "models/resnet20.onnx", "models/resnet20_input.npy", "models/resnet20_logits.npy", 5},
        ModelCase{"resnet20_bn", "models/resnet20_bn.onnx", "models/resnet20_input.npy", "models/resnet20_logits.npy", 5},
        ModelCase{"densenet_small", "models/densenet_small.onnx", "models/densenet_small_input.npy",
                  "models/densenet_small_output.npy", 3},
        ModelCase{"googlenet_small", "models/googlenet_small.onnx", "models/googlenet_small_input.npy",
                  "models/googlenet_small_output.npy", 3}),
    [](const ::testing::TestParamInfo<ModelCase>& info) { return std::string(info.param.name); });

TEST(CudaRealModels, Mnist8MatchesZooReferenceOutputs) {
  FAULTLINE_SKIP_WITHOUT_GPU();
  const std::vector<int64_t> expected_top1 = {2, 0, 9};
  for (int set = 0; set < 3; ++set) {
    SCOPED_TRACE("test_data_set_" + std::to_string(set));
    const std::string dir = "onnx/mnist_onnx2c/test_data_set_" + std::to_string(set) + "/";
    auto input = read_onnx_tensor_file(test_data(dir + "input_0.pb"));
    ASSERT_TRUE(input.is_ok()) << input.status().message();
    auto expected = read_onnx_tensor_file(test_data(dir + "output_0.pb"));
    ASSERT_TRUE(expected.is_ok()) << expected.status().message();
    const Tensor actual = run_session("onnx/mnist_onnx2c/model.onnx", 1, {input.value()}, "cuda");
    ASSERT_FALSE(actual.empty());
    EXPECT_EQ(compare_logits(expected.value(), actual, "mnist-8 on cuda", kRelTol, kAbsTol), 0);
    const std::vector<double> v = actual.to_doubles();
    EXPECT_EQ(std::max_element(v.begin(), v.end()) - v.begin(), expected_top1[static_cast<size_t>(set)]);
  }
}

TEST(CudaCli, InferMatchesOnednn) {
  FAULTLINE_SKIP_WITHOUT_GPU();
  const std::string dir = temp_dir();
  for (const char* backend : {"onednn", "cuda"}) {
    auto r = run_faultline("infer " + test_data("models/resnet20.onnx") + " --input " +
                           test_data("models/resnet20_input.npy") + " --output " + dir + "/y_" + backend +
                           ".npy --batch 5 --backend " + backend);
    ASSERT_EQ(r.exit_code, 0) << backend << ": " << r.err;
  }
  const Tensor onednn = read_npy_or_fail(dir + "/y_onednn.npy");
  const Tensor cuda = read_npy_or_fail(dir + "/y_cuda.npy");
  ASSERT_FALSE(onednn.empty() || cuda.empty());
  EXPECT_EQ(compare_logits(onednn, cuda, "infer cuda vs onednn", kRelTol, kAbsTol), 0);
}

TEST(CudaCli, BenchResidentRunsOnTheDevice) {
  FAULTLINE_SKIP_WITHOUT_GPU();
  auto r = run_faultline("bench " + test_data("models/resnet20.onnx") + " --backend cuda --batch 10 --images 40 "
                         "--repeat 2 --resident");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("resident on the device"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("images/s"), std::string::npos) << r.out;
}

// tests/test_fault_equivalence.cpp's weight and activation faults, against PyTorch's faulty logits.
TEST(CudaCli, InjectMatchesPyTorch) {
  FAULTLINE_SKIP_WITHOUT_GPU();
  const std::string faults = test_data("faults/resnet20_faults.csv");
  auto list = read_fault_list(faults);
  ASSERT_TRUE(list.is_ok()) << list.status().message();
  const Tensor expected = read_npy_or_fail(test_data("faults/resnet20_faulty_logits.npy"));
  ASSERT_FALSE(expected.empty());
  const std::string dir = temp_dir();
  const std::string input = testing::write_resnet20_input(dir, 4);
  ASSERT_FALSE(input.empty());
  auto r = run_faultline("inject " + test_data("models/resnet20_bn.onnx") + " --faults " + faults + " --input " + input +
                         " --output " + dir + "/y.npy --backend cuda");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const Tensor actual = read_npy_or_fail(dir + "/y.npy");
  ASSERT_FALSE(actual.empty());
  EXPECT_EQ(compare_fault_logits(expected, actual, list.value(), "cuda", kRelTol, kAbsTol), 0);
}

// The published ResNet20 fault list (its first kRows rows): the same outcome per fault and image as onednn
// (the same non-finite logits, the same top-1 class, finite logits within the tolerance).
TEST(CudaCli, InjectGivesTheCpuOutcomesOnThePublishedList) {
  FAULTLINE_SKIP_WITHOUT_GPU();
  constexpr int kRows = 200;
  const std::string dir = temp_dir();
  std::ifstream published(test_data("faultlists/dnn-benchmarks_ResNet20_FL.csv"));
  ASSERT_TRUE(published.good());
  std::ostringstream subset;
  std::string line;
  for (int i = 0; i <= kRows && std::getline(published, line); ++i) subset << line << "\n";
  const std::string faults = dir + "/published_subset.csv";
  std::ofstream(faults) << subset.str();
  auto list = read_fault_list(faults);
  ASSERT_TRUE(list.is_ok()) << list.status().message();
  ASSERT_EQ(list->entries.size(), static_cast<size_t>(kRows));
  const std::string input = testing::write_resnet20_input(dir, 4);
  ASSERT_FALSE(input.empty());
  for (const char* backend : {"onednn", "cuda"}) {
    auto r = run_faultline("inject " + test_data("models/resnet20_bn.onnx") + " --faults " + faults + " --input " +
                           input + " --output " + dir + "/y_" + backend + ".npy --backend " + backend);
    ASSERT_EQ(r.exit_code, 0) << backend << ": " << r.err;
  }
  const Tensor onednn = read_npy_or_fail(dir + "/y_onednn.npy");
  const Tensor cuda = read_npy_or_fail(dir + "/y_cuda.npy");
  ASSERT_FALSE(onednn.empty() || cuda.empty());
  EXPECT_EQ(compare_fault_logits(onednn, cuda, list.value(), "cuda vs onednn", kRelTol, kAbsTol), 0);
}

}  // namespace
}  // namespace faultline
