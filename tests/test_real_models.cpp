// Real PyTorch-exported models end to end: import the ONNX file unchanged, run it through a Session on every
// CPU backend, and compare with the outputs PyTorch computed (scripts/make_test_models.py) or, for the ONNX
// model zoo's mnist-8, with the zoo's own reference outputs.
//
// Tolerance: max |faultline - reference| <= kRelTol * max |reference| + kAbsTol over the whole output, and the
// same top-1 class for every image (the generator keeps only images whose top-2 margin is >= 2 % of
// max |logit|, so a correct engine cannot flip an argmax by rounding).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "engine/graph.h"
#include "engine/npy.h"
#include "engine/session.h"
#include "engine/tensor.h"
#include "frontends/onnx/onnx_import.h"
#include "tests/support/test_support.h"

namespace faultline {
namespace {

using faultline::testing::tensors_near;
using faultline::testing::test_data;

constexpr double kRelTol = 1e-4;
constexpr double kAbsTol = 1e-5;
const char* const kBackends[] = {"reference", "onednn"};

struct ModelCase {
  const char* name;    // test name suffix
  const char* model;   // under tests/data
  const char* input;   // .npy under tests/data
  const char* output;  // .npy under tests/data
  int64_t batch;       // session batch; not a divisor of the image count, so a smaller last batch runs too
};

const ModelCase kModelCases[] = {
    {"resnet20", "models/resnet20.onnx", "models/resnet20_input.npy", "models/resnet20_logits.npy", 5},
    {"resnet20_bn", "models/resnet20_bn.onnx", "models/resnet20_input.npy", "models/resnet20_logits.npy", 5},
    {"densenet_small", "models/densenet_small.onnx", "models/densenet_small_input.npy",
     "models/densenet_small_output.npy", 3},
    {"googlenet_small", "models/googlenet_small.onnx", "models/googlenet_small_input.npy",
     "models/googlenet_small_output.npy", 3},
};

// gtest prints test parameters; without this it would dump the struct's bytes.
void PrintTo(const ModelCase& model_case, std::ostream* os) {
  *os << model_case.model;
}

std::shared_ptr<const Graph> import_or_fail(const std::string& path) {
  auto graph = import_onnx_file(path);
  EXPECT_TRUE(graph.is_ok()) << graph.status().message();
  if (!graph.is_ok()) return nullptr;
  return std::make_shared<const Graph>(std::move(graph).value());
}

// Runs `inputs` through a Session on `backend`; fails the test (and returns an empty tensor) on any error.
Tensor run_model(std::shared_ptr<const Graph> graph, const std::string& backend, int64_t batch,
                 const std::vector<Tensor>& inputs) {
  SessionOptions options;
  options.backend = backend;
  options.batch = batch;
  options.threads = 1;
  auto session = Session::create(std::move(graph), options);
  EXPECT_TRUE(session.is_ok()) << backend << ": " << session.status().message();
  if (!session.is_ok()) return Tensor();
  auto outputs = session.value()->run(inputs);
  EXPECT_TRUE(outputs.is_ok()) << backend << ": " << outputs.status().message();
  if (!outputs.is_ok()) return Tensor();
  EXPECT_EQ(outputs.value().size(), 1u);
  return outputs.value().empty() ? Tensor() : outputs.value().front();
}

std::vector<int64_t> argmax_rows(const Tensor& t) {
  const std::vector<double> v = t.to_doubles();
  const int64_t rows = t.dim(0), cols = t.numel() / t.dim(0);
  std::vector<int64_t> top(static_cast<size_t>(rows));
  for (int64_t r = 0; r < rows; ++r) {
    auto first = v.begin() + r * cols;
    top[static_cast<size_t>(r)] = std::max_element(first, first + cols) - first;
  }
  return top;
}

// Checks `actual` against `expected` with the tolerance above (elements through the shared tensors_near, with an
// absolute tolerance scaled by the largest reference value) and the top-1 class of every image.
::testing::AssertionResult outputs_match(const Tensor& expected, const Tensor& actual) {
  if (actual.empty()) return ::testing::AssertionFailure() << "no output";
  double max_ref = 0;
  for (double v : expected.to_doubles()) max_ref = std::max(max_ref, std::abs(v));
  const double tolerance = kRelTol * max_ref + kAbsTol;
  ::testing::AssertionResult near = tensors_near(expected, actual, 0.0, tolerance);
  if (!near)
    return near << " (tolerance " << tolerance << " = " << kRelTol << " x max |ref| " << max_ref << " + " << kAbsTol
                << ")";
  const std::vector<int64_t> top_e = argmax_rows(expected), top_a = argmax_rows(actual);
  if (top_e == top_a) return ::testing::AssertionSuccess();
  ::testing::AssertionResult failure = ::testing::AssertionFailure();
  for (size_t r = 0; r < top_e.size(); ++r)
    if (top_e[r] != top_a[r]) failure << "image " << r << ": top-1 " << top_a[r] << ", expected " << top_e[r] << "; ";
  return failure;
}

// ----------------------------------------------------------------------------- PyTorch-exported models
class RealModel : public ::testing::TestWithParam<std::tuple<ModelCase, const char*>> {};

TEST_P(RealModel, MatchesPyTorch) {
  const auto& [model_case, backend] = GetParam();
  auto input = read_npy(test_data(model_case.input));
  ASSERT_TRUE(input.is_ok()) << input.status().message();
  auto expected = read_npy(test_data(model_case.output));
  ASSERT_TRUE(expected.is_ok()) << expected.status().message();
  auto graph = import_or_fail(test_data(model_case.model));
  ASSERT_NE(graph, nullptr);

  const Tensor actual = run_model(graph, backend, model_case.batch, {input.value()});
  EXPECT_TRUE(outputs_match(expected.value(), actual)) << model_case.model << " on " << backend;
}

INSTANTIATE_TEST_SUITE_P(PyTorchExports, RealModel,
                         ::testing::Combine(::testing::ValuesIn(kModelCases), ::testing::ValuesIn(kBackends)),
                         [](const auto& info) {
                           return std::string(std::get<0>(info.param).name) + "_" + std::get<1>(info.param);
                         });

// ----------------------------------------------------------------------------- BN folded vs BN kept
class ResNet20Variants : public ::testing::TestWithParam<const char*> {};

TEST_P(ResNet20Variants, FoldedAndKeptBatchNormAgree) {
  const char* backend = GetParam();
  auto input = read_npy(test_data("models/resnet20_input.npy"));
  ASSERT_TRUE(input.is_ok()) << input.status().message();
  auto folded = import_or_fail(test_data("models/resnet20.onnx"));
  auto kept = import_or_fail(test_data("models/resnet20_bn.onnx"));
  ASSERT_NE(folded, nullptr);
  ASSERT_NE(kept, nullptr);

  const int64_t all_images = input->dim(0);  // one batch
  const Tensor from_folded = run_model(folded, backend, all_images, {input.value()});
  const Tensor from_kept = run_model(kept, backend, all_images, {input.value()});
  ASSERT_FALSE(from_folded.empty());
  ASSERT_FALSE(from_kept.empty());
  EXPECT_EQ(argmax_rows(from_folded), argmax_rows(from_kept));
  EXPECT_TRUE(outputs_match(from_kept, from_folded)) << "BN-folded vs BN-kept on " << backend;
}

INSTANTIATE_TEST_SUITE_P(Backends, ResNet20Variants, ::testing::ValuesIn(kBackends),
                         [](const auto& info) { return std::string(info.param); });

// The BN-kept file keeps PyTorch's parameter names, which is what lets a fault list written against the torch
// model (such as tests/data/faultlists/dnn-benchmarks_ResNet20_FL.csv) address its weights.
TEST(ResNet20Import, KeepsPyTorchParameterNames) {
  auto graph = import_or_fail(test_data("models/resnet20_bn.onnx"));
  ASSERT_NE(graph, nullptr);
  for (const char* name : {"conv1.weight", "bn1.running_var", "layer1.0.conv1.weight", "layer2.0.conv2.weight",
                           "layer3.2.bn2.weight", "linear.weight", "linear.bias"}) {
    auto id = graph->find_value(name);
    ASSERT_TRUE(id.has_value()) << name;
    EXPECT_TRUE(graph->value(*id).is_parameter) << name;
    EXPECT_TRUE(graph->value(*id).is_constant()) << name;
  }
  const Value& conv = graph->value(*graph->find_value("layer2.0.conv1.weight"));
  EXPECT_EQ(conv.shape, (Shape{32, 16, 3, 3}));
}

// ----------------------------------------------------------------------------- ONNX model zoo mnist-8
class Mnist8 : public ::testing::TestWithParam<const char*> {};

TEST_P(Mnist8, MatchesZooReferenceOutputs) {
  const char* backend = GetParam();
  auto graph = import_or_fail(test_data("onnx/mnist_onnx2c/model.onnx"));
  ASSERT_NE(graph, nullptr);
  const std::vector<int64_t> expected_top1 = {2, 0, 9};  // the zoo's reference outputs' argmax
  for (int set = 0; set < 3; ++set) {
    SCOPED_TRACE("test_data_set_" + std::to_string(set));
    const std::string dir = "onnx/mnist_onnx2c/test_data_set_" + std::to_string(set) + "/";
    auto input = read_onnx_tensor_file(test_data(dir + "input_0.pb"));
    ASSERT_TRUE(input.is_ok()) << input.status().message();
    auto expected = read_onnx_tensor_file(test_data(dir + "output_0.pb"));
    ASSERT_TRUE(expected.is_ok()) << expected.status().message();

    const Tensor actual = run_model(graph, backend, 1, {input.value()});
    EXPECT_TRUE(outputs_match(expected.value(), actual)) << "mnist-8 on " << backend;
    if (!actual.empty()) EXPECT_EQ(argmax_rows(actual).front(), expected_top1[static_cast<size_t>(set)]);
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, Mnist8, ::testing::ValuesIn(kBackends),
                         [](const auto& info) { return std::string(info.param); });

}  // namespace
}  // namespace faultline
