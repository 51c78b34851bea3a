// The bundled MNIST example (examples/mnist_weight_campaign.yaml, examples/data/): the committed digits decode,
// through the example's own dataset keys, to exactly the float32 inputs the model was trained on (k / 255 in
// double, rounded once); `faultline infer` on both backends reproduces PyTorch's logits for all 2,000 held-out
// digits and the held-out accuracy the training script measured; the example experiment parses and runs (20
// digits, a few faults per layer). References: examples/data/mnist_cnn_logits.npy and the counts printed by
// scripts/make_mnist_demo.py (examples/data/PROVENANCE.md).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>

#include "engine/npy.h"
#include "faults/csv.h"
#include "faults/experiment_config.h"
#include "frontends/datasets/dataset.h"
#include "frontends/datasets/dataset_readers.h"
#include "tests/support/fault_comparison.h"
#include "tests/support/run_command.h"
#include "tests/support/test_support.h"

namespace faultline {
namespace {

using testing::read_text;
using testing::run_faultline;
using testing::test_data;

// What scripts/make_mnist_demo.py printed (examples/data/PROVENANCE.md).
constexpr int64_t kHeldOut = 2000;
constexpr int64_t kHeldOutCorrect = 1955;
const std::vector<int64_t> kHeldOutPerClass = {196, 236, 196, 198, 198, 177, 214, 198, 176, 211};
const std::vector<std::string> kWeightLayers = {"conv1",           "res.conv_a",      "res.conv_b",
                                                "mixed.branch1x1", "mixed.branch3x3", "fc"};
// float32 logits of a 3x3-conv network through different kernels: within 1e-4 of the largest logit.
constexpr double kRelTol = 1e-4;
constexpr double kAbsTol = 1e-5;

std::string example(const std::string& relative) {
  return test_data("../../examples/" + relative);
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

// A CSV number, or -1 when the field is not one.
double number(const std::string& field) {
  auto value = parse_double(field);
  return value.is_ok() ? value.value() : -1;
}

// How many of the first `rows` rows of `logits` have their top-1 class equal to the label.
int64_t correct_top1(const Tensor& logits, const Tensor& labels, int64_t rows) {
  const std::vector<int64_t> top = argmax_rows(logits);
  int64_t correct = 0;
  for (int64_t i = 0; i < rows; ++i) correct += top[static_cast<size_t>(i)] == labels.data<int64_t>()[i];
  return correct;
}

// The held-out digits as the example experiment reads them (its dataset keys), `count` of them.
Dataset held_out_digits(int64_t count) {
  auto config =
      parse_experiment(read_text(example("mnist_weight_campaign.yaml")), example("mnist_weight_campaign.yaml"));
  EXPECT_TRUE(config.is_ok()) << config.status().message();
  if (!config.is_ok()) return {};
  DatasetSpec spec = config->dataset;
  spec.limit = count;
  auto dataset = load_dataset(spec);
  EXPECT_TRUE(dataset.is_ok()) << dataset.status().message();
  return dataset.is_ok() ? std::move(dataset).value() : Dataset{};
}

// `faultline infer` of the first `count` held-out digits on `backend`; an empty tensor after a failure.
Tensor infer(const Dataset& digits, int64_t count, const std::string& backend) {
  const std::string dir = testing::temp_dir();
  const Status written = write_npy(dir + "/x.npy", datasets::first_samples(digits.images, count));
  EXPECT_TRUE(written.is_ok()) << written.message();
  auto r = run_faultline("infer " + example("data/mnist_cnn.onnx") + " --input " + dir + "/x.npy --output " + dir +
                         "/y.npy --backend " + backend + " --threads 1");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return testing::read_npy_or_fail(dir + "/y.npy");
}

TEST(MnistDemo, DigitsDecodeToExactlyKOver255) {
  const Dataset digits = held_out_digits(kHeldOut);
  ASSERT_EQ(digits.images.shape(), (Shape{kHeldOut, 1, 28, 28}));
  ASSERT_EQ(digits.labels.shape(), (Shape{kHeldOut}));
  // The file stores the MNIST byte k; the example's preprocess (std 255) must give float32(k / 255) exactly,
  // the value torchvision's ToTensor (and the training script) computes.
  const float* x = digits.images.data<float>();
  int64_t inexact = 0, nonzero = 0;
  for (int64_t i = 0; i < digits.images.numel(); ++i) {
    const double k = std::nearbyint(static_cast<double>(x[i]) * 255.0);
    inexact += !(k >= 0 && k <= 255 && x[i] == static_cast<float>(k / 255.0));
    nonzero += x[i] != 0.0f;
  }
  EXPECT_EQ(inexact, 0);
  EXPECT_GT(nonzero, digits.images.numel() / 10);  // real digits, not an empty image
  std::vector<int64_t> per_class(10, 0);
  for (int64_t i = 0; i < kHeldOut; ++i) {
    const int64_t label = digits.labels.data<int64_t>()[i];
    ASSERT_TRUE(label >= 0 && label < 10) << "image " << i << ": label " << label;
    ++per_class[static_cast<size_t>(label)];
  }
  EXPECT_EQ(per_class, kHeldOutPerClass);
}

TEST(MnistDemo, BothBackendsReproducePyTorchLogitsAndAccuracy) {
  const Tensor torch_logits = testing::read_npy_or_fail(example("data/mnist_cnn_logits.npy"));
  ASSERT_EQ(torch_logits.shape(), (Shape{kHeldOut, 10}));
  const Dataset digits = held_out_digits(kHeldOut);
  ASSERT_EQ(digits.labels.numel(), kHeldOut);
  ASSERT_EQ(correct_top1(torch_logits, digits.labels, kHeldOut), kHeldOutCorrect) << "the committed reference";

  for (const std::string backend : {"onednn", "reference"}) {
    const Tensor logits = infer(digits, kHeldOut, backend);
    EXPECT_EQ(testing::compare_logits(torch_logits, logits, backend + " vs PyTorch", kRelTol, kAbsTol), 0);
    EXPECT_EQ(correct_top1(logits, digits.labels, kHeldOut), kHeldOutCorrect) << backend;
  }
}

TEST(MnistDemo, ExampleExperimentParsesAndRuns) {
  const std::string yaml_path = example("mnist_weight_campaign.yaml");
  const std::string text = read_text(yaml_path);
  auto config = parse_experiment(text, yaml_path);
  ASSERT_TRUE(config.is_ok()) << config.status().message();
  EXPECT_EQ(config->dataset.format, "hdf5");
  EXPECT_EQ(config->dataset.layout, "nhwc");
  ASSERT_TRUE(config->faults.generate.has_value());
  ASSERT_TRUE(config->faults.generate->statistical.has_value());
  EXPECT_EQ(config->faults.generate->statistical->scope, SampleScope::kLayer);

  // The same experiment with 20 digits, a 30 % sampling error (a few faults per layer) and a temp output.
  const std::string dir = testing::temp_dir();
  std::string small = text;
  auto replace = [&small](const std::string& from, const std::string& to) {
    const size_t at = small.find(from);
    ASSERT_NE(at, std::string::npos) << "the example no longer has '" << from << "'";
    small.replace(at, from.size(), to);
  };
  replace("limit: 500", "limit: 20");
  replace("error: 0.05", "error: 0.3");
  replace("output: ../results/mnist_weight_campaign", "output: " + dir + "/out");
  replace("model: data/", "model: " + example("data/"));
  replace("inputs: data/", "inputs: " + example("data/"));
  std::ofstream(dir + "/small.yaml") << small;
  auto r = run_faultline("run " + dir + "/small.yaml --quiet");
  ASSERT_EQ(r.exit_code, 0) << r.err;

  // golden.csv: the top-1 correct count of PyTorch's logits on the same 20 digits.
  const Tensor torch_logits = testing::read_npy_or_fail(example("data/mnist_cnn_logits.npy"));
  const Dataset digits = held_out_digits(20);
  auto golden = parse_csv(read_text(dir + "/out/golden.csv"), "golden.csv");
  ASSERT_TRUE(golden.is_ok()) << golden.status().message();
  ASSERT_EQ(golden->size(), 2u);
  EXPECT_EQ((*golden)[1].fields[0], "20");
  EXPECT_EQ((*golden)[1].fields[1], std::to_string(correct_top1(torch_logits, digits.labels, 20)));

  // layers.csv: one row per trained conv / linear layer of the PyTorch model, in model order, each with
  // faults x 20 injections.
  auto layers = parse_csv(read_text(dir + "/out/layers.csv"), "layers.csv");
  ASSERT_TRUE(layers.is_ok()) << layers.status().message();
  ASSERT_EQ(layers->size(), kWeightLayers.size() + 1);
  const std::vector<std::string>& header = (*layers)[0].fields;
  const auto column = [&header](const std::string& name) {
    return static_cast<size_t>(std::find(header.begin(), header.end(), name) - header.begin());
  };
  ASSERT_LT(column("critical_rate"), header.size());
  for (size_t i = 0; i < kWeightLayers.size(); ++i) {
    const std::vector<std::string>& row = (*layers)[i + 1].fields;
    EXPECT_EQ(row[0], kWeightLayers[i]);
    const int64_t faults = static_cast<int64_t>(number(row[column("faults")]));
    EXPECT_GT(faults, 5) << row[0];
    EXPECT_EQ(number(row[column("n_injections")]), static_cast<double>(faults * 20)) << row[0];
    const double rate = number(row[column("critical_rate")]);
    EXPECT_TRUE(rate >= 0 && rate <= 1) << row[0] << ": critical_rate " << rate;
  }
}

}  // namespace
}  // namespace faultline
