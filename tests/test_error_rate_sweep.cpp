// run_error_rate_sweep (faults/error_rate_sweep.h) on a one-layer model y = x W^T + b:
//   - p = 1 flips every bit of W: flipped_bits = 32 x elements, and the outcome equals the one of outputs
//     computed here by hand (plain loops) with every bit of W inverted;
//   - p = 1e-10 flips nothing: every image masked, accuracy = golden;
//   - the flipped-bit count over 40 repetitions at p = 0.1 has the binomial mean and variance;
//   - error_rate.csv's means and (population) standard deviations equal those computed here from the detail
//     rows; a sweep stopped and resumed (or with a torn last line) writes the same bytes as one that ran
//     through, and the same seed in another folder gives the same bytes.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <random>

#include "engine/file_io.h"
#include "faults/csv.h"
#include "faults/error_rate_sweep.h"
#include "faults/fault_injector.h"
#include "tests/support/graph_builder.h"
#include "tests/support/test_support.h"

namespace faultline {
namespace {

using testing::GraphBuilder;
using testing::random_tensor;

constexpr int64_t kImages = 12;
constexpr int64_t kFeatures = 16;
constexpr int64_t kClasses = 10;
constexpr int64_t kWeightBits = kClasses * kFeatures * 32;

class ErrorRateSweepTest : public ::testing::Test {
 protected:
  void SetUp() override {
    weight_ = random_tensor({kClasses, kFeatures}, 5, -0.5f, 0.5f);
    bias_ = random_tensor({kClasses}, 6, -0.1f, 0.1f);
    GraphBuilder b;
    const ValueId x = b.input("x", {kDynamicDim, kFeatures});
    const ValueId w = b.constant("fc.weight", weight_);
    const ValueId bias = b.constant("fc.bias", bias_);
    b.output(b.node(OpKind::kGemm, {x, w, bias}, GemmAttrs{1.0f, 1.0f, false, true}, "fc", "y"));
    spec_.model = std::make_shared<const Graph>(b.build());
    spec_.options.backend = "reference";
    spec_.options.batch = 4;  // batches {0..3}, {4..7}, {8..11}
    spec_.dataset.images = random_tensor({kImages, kFeatures}, 7);
    spec_.dataset.labels = Tensor::allocate(DType::kInt64, {kImages}).value();
    std::mt19937 rng(3);
    for (int64_t n = 0; n < kImages; ++n)
      spec_.dataset.labels.data<int64_t>()[n] = static_cast<int64_t>(rng() % kClasses);
    spec_.targets = list_fault_targets(*spec_.model).value();
    spec_.sweep.layers = {"fc"};
    spec_.seed = 17;
  }

  ErrorRateSpec spec_with(int min_exp, int max_exp, int repetitions, const std::string& folder) const {
    ErrorRateSpec spec = spec_;
    spec.sweep.min_exp = min_exp;
    spec.sweep.max_exp = max_exp;
    spec.sweep.repetitions = repetitions;
    spec.output = folder;
    return spec;
  }

  static std::string read(const std::string& path) {
    auto text = read_file(path);
    EXPECT_TRUE(text.is_ok()) << text.status().message();
    return text.is_ok() ? *text : std::string();
  }

  // y = x W^T + b with plain loops, in float as the reference kernels compute.
  Tensor by_hand(const Tensor& weight) const {
    Tensor y = Tensor::allocate(DType::kFloat32, {kImages, kClasses}).value();
    const float* x = spec_.dataset.images.data<float>();
    for (int64_t n = 0; n < kImages; ++n)
      for (int64_t c = 0; c < kClasses; ++c) {
        float sum = 0.0f;
        for (int64_t k = 0; k < kFeatures; ++k) sum += x[n * kFeatures + k] * weight.data<float>()[c * kFeatures + k];
        y.data<float>()[n * kClasses + c] = sum + bias_.data<float>()[c];
      }
    return y;
  }

  Tensor weight_, bias_;
  ErrorRateSpec spec_;
};

TEST_F(ErrorRateSweepTest, RateOneFlipsEveryBitOfTheLayer) {
  auto result = run_error_rate_sweep(spec_with(0, 0, 2, testing::temp_dir()));
  ASSERT_TRUE(result.is_ok()) << result.status().message();
  ASSERT_EQ(result->runs.size(), 2u);

  Tensor inverted = weight_.clone();
  for (int64_t i = 0; i < inverted.numel(); ++i) {
    uint32_t bits;
    std::memcpy(&bits, inverted.data<float>() + i, sizeof(bits));
    bits = ~bits;
    std::memcpy(inverted.data<float>() + i, &bits, sizeof(bits));
  }
  const Tensor golden = by_hand(weight_);
  const Tensor faulty = by_hand(inverted);
  auto expected = evaluate_fault(golden, faulty, spec_.dataset.labels);
  ASSERT_TRUE(expected.is_ok()) << expected.status().message();
  auto golden_outcome = evaluate_golden(golden, spec_.dataset.labels);
  ASSERT_TRUE(golden_outcome.is_ok());
  EXPECT_EQ(result->golden.top_1_correct, golden_outcome->top_1_correct);
  for (const ErrorRateRun& run : result->runs) {
    EXPECT_EQ(run.error_rate, 1.0);
    EXPECT_EQ(run.flipped_bits, kWeightBits);
    EXPECT_EQ(run.outcome.n_injections, kImages);
    EXPECT_EQ(run.outcome.masked, 0);
    EXPECT_EQ(run.outcome.critical, expected->critical);
    EXPECT_EQ(run.outcome.non_critical, expected->non_critical);
    EXPECT_EQ(run.outcome.due, expected->due);
    EXPECT_EQ(run.outcome.top_1_correct, expected->top_1_correct);
    EXPECT_EQ(run.outcome.top_5_correct, expected->top_5_correct);
  }
  EXPECT_GT(expected->critical, 0) << "inverting every weight bit should change some top-1 classes";
}

TEST_F(ErrorRateSweepTest, TinyRateIsMasked) {
  auto result = run_error_rate_sweep(spec_with(-10, -10, 3, testing::temp_dir()));
  ASSERT_TRUE(result.is_ok()) << result.status().message();
  for (const ErrorRateRun& run : result->runs) {
    EXPECT_EQ(run.error_rate, 1e-10);
    EXPECT_EQ(run.flipped_bits, 0);
    EXPECT_EQ(run.outcome.masked, kImages);
    EXPECT_EQ(run.outcome.top_1_correct, result->golden.top_1_correct);
    EXPECT_EQ(run.outcome.top_5_correct, result->golden.top_5_correct);
  }
}

TEST_F(ErrorRateSweepTest, FlippedBitsFollowTheBinomial) {
  constexpr int kRepetitions = 40;
  auto result = run_error_rate_sweep(spec_with(-1, -1, kRepetitions, testing::temp_dir()));
  ASSERT_TRUE(result.is_ok()) << result.status().message();
  ASSERT_EQ(result->runs.size(), static_cast<size_t>(kRepetitions));
  double sum = 0.0, squares = 0.0;
  for (const ErrorRateRun& run : result->runs) sum += static_cast<double>(run.flipped_bits);
  const double mean = sum / kRepetitions;
  for (const ErrorRateRun& run : result->runs) squares += std::pow(run.flipped_bits - mean, 2);
  const double variance = squares / (kRepetitions - 1);
  const double p = 0.1, expected_mean = p * kWeightBits, expected_variance = kWeightBits * p * (1 - p);
  // The mean of 40 draws is within 4 standard errors; the sample variance within the chi-square(39) 99.9 %
  // interval [0.49, 1.74] of the binomial variance.
  EXPECT_NEAR(mean, expected_mean, 4 * std::sqrt(expected_variance / kRepetitions));
  EXPECT_GT(variance / expected_variance, 0.49);
  EXPECT_LT(variance / expected_variance, 1.74);
  // Each repetition has its own seed, hence its own draw.
  for (size_t r = 1; r < result->runs.size(); ++r) EXPECT_NE(result->runs[r].seed, result->runs[0].seed);
}

TEST_F(ErrorRateSweepTest, SummaryEqualsTheDetailAndResumeIsByteIdentical) {
  const std::string reference = testing::temp_dir();
  auto full = run_error_rate_sweep(spec_with(-3, -1, 3, reference));
  ASSERT_TRUE(full.is_ok()) << full.status().message();
  ASSERT_TRUE(full->complete);
  const std::string detail = read(reference + "/error_rate_detail.csv");
  const std::string summary = read(reference + "/error_rate.csv");

  // error_rate.csv from the detail rows, computed here.
  auto rows = parse_csv(detail, "detail").value();
  auto means = parse_csv(summary, "summary").value();
  ASSERT_EQ(rows.size(), 1u + 9u);
  ASSERT_EQ(means.size(), 1u + 3u);
  EXPECT_EQ(rows[0].fields[0], "exponent");
  for (size_t e = 0; e < 3; ++e) {
    std::vector<double> top1, top5, flipped;
    for (size_t r = 1 + 3 * e; r < 4 + 3 * e; ++r) {
      const std::vector<std::string>& f = rows[r].fields;
      EXPECT_EQ(f[0], std::to_string(-3 + static_cast<int>(e)));
      EXPECT_EQ(f[3], std::to_string(fault_seed(17, static_cast<int64_t>(r - 1))));
      top1.push_back(parse_double(f[8]).value());
      top5.push_back(parse_double(f[9]).value());
      flipped.push_back(parse_double(f[4]).value());
      EXPECT_DOUBLE_EQ(top1.back(), parse_double(f[6]).value() / kImages);
    }
    auto mean = [](const std::vector<double>& v) { return (v[0] + v[1] + v[2]) / 3.0; };
    auto stddev = [&](const std::vector<double>& v) {
      const double m = mean(v);
      return std::sqrt(((v[0] - m) * (v[0] - m) + (v[1] - m) * (v[1] - m) + (v[2] - m) * (v[2] - m)) / 3.0);
    };
    const std::vector<std::string>& m = means[1 + e].fields;
    EXPECT_EQ(m[0], std::to_string(-3 + static_cast<int>(e)));
    EXPECT_EQ(parse_double(m[1]).value(), std::pow(10.0, -3 + static_cast<int>(e)));
    EXPECT_EQ(m[2], "3");
    EXPECT_NEAR(parse_double(m[3]).value(), mean(flipped), 1e-9);
    EXPECT_NEAR(parse_double(m[4]).value(), mean(top1), 1e-12);
    EXPECT_NEAR(parse_double(m[5]).value(), stddev(top1), 1e-12);
    EXPECT_NEAR(parse_double(m[6]).value(), mean(top5), 1e-12);
    EXPECT_NEAR(parse_double(m[7]).value(), stddev(top5), 1e-12);
  }

  // Same seed, another folder: the same bytes.
  const std::string again = testing::temp_dir();
  ASSERT_TRUE(run_error_rate_sweep(spec_with(-3, -1, 3, again)).is_ok());
  for (const char* file : {"error_rate_detail.csv", "error_rate.csv", "golden.csv"})
    EXPECT_EQ(read(again + "/" + file), read(reference + "/" + file)) << file;

  // Stopped after 4 runs, then resumed.
  const std::string folder = testing::temp_dir();
  ErrorRateSpec stopping = spec_with(-3, -1, 3, folder);
  stopping.progress = [](const CampaignProgress& p) {
    return p.faults_done == 4 ? CampaignControl::kStop : CampaignControl::kContinue;
  };
  auto stopped = run_error_rate_sweep(stopping);
  ASSERT_TRUE(stopped.is_ok()) << stopped.status().message();
  EXPECT_FALSE(stopped->complete);
  EXPECT_FALSE(std::filesystem::exists(folder + "/error_rate.csv"));
  auto refused = run_error_rate_sweep(spec_with(-3, -1, 3, folder));
  ASSERT_FALSE(refused.is_ok());
  EXPECT_NE(refused.status().message().find("--resume"), std::string::npos);
  // A torn last line: a kill in the middle of the fifth row.
  std::string partial = read(folder + "/error_rate_detail.csv");
  const size_t fifth = detail.find('\n', partial.size()) + 1;
  partial += detail.substr(partial.size(), (fifth - partial.size()) / 2);
  ASSERT_TRUE(write_file_atomically(folder + "/error_rate_detail.csv", partial).is_ok());
  ErrorRateSpec resuming = spec_with(-3, -1, 3, folder);
  resuming.resume = true;
  auto resumed = run_error_rate_sweep(resuming);
  ASSERT_TRUE(resumed.is_ok()) << resumed.status().message();
  EXPECT_EQ(resumed->resumed, 4);
  EXPECT_TRUE(resumed->complete);
  for (const char* file : {"error_rate_detail.csv", "error_rate.csv", "golden.csv"})
    EXPECT_EQ(read(folder + "/" + file), read(reference + "/" + file)) << file;

  // Another sweep (another seed) in the same folder is refused on resume.
  ErrorRateSpec other = resuming;
  other.seed = 18;
  auto mismatched = run_error_rate_sweep(other);
  ASSERT_FALSE(mismatched.is_ok());
  EXPECT_NE(mismatched.status().message().find("row 1"), std::string::npos) << mismatched.status().message();
}

}  // namespace
}  // namespace faultline
