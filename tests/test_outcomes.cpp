// Per-image outcomes (masked / non-critical / critical / DUE), top-k ranking, the per-fault counts, and the
// summary / layers / bits CSV files, on hand-computed cases.
#include <gtest/gtest.h>

#include <charconv>
#include <cmath>
#include <limits>

#include "engine/file_io.h"
#include "faults/outcome_report.h"
#include "faults/outcomes.h"
#include "support/test_support.h"

namespace faultline {
namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

Outcome classify_rows(const std::vector<float>& golden, const std::vector<float>& faulty) {
  return classify(std::span<const float>(golden), std::span<const float>(faulty));
}

TEST(Classify, MaskedOnlyWhenBitIdentical) {
  EXPECT_EQ(classify_rows({1, 5, 2}, {1, 5, 2}), Outcome::kMasked);
  // The last mantissa bit of a non-top class: the output differs, the top-1 does not.
  const float two_plus_ulp = std::nextafter(2.0f, 3.0f);
  EXPECT_EQ(classify_rows({1, 5, 2}, {1, 5, two_plus_ulp}), Outcome::kNonCritical);
  // -0.0 == +0.0 as numbers, but not as bits.
  EXPECT_EQ(classify_rows({0.0f, 5, 2}, {-0.0f, 5, 2}), Outcome::kNonCritical);
}

TEST(Classify, CriticalWhenTop1Changes) {
  EXPECT_EQ(classify_rows({1, 5, 2}, {6, 5, 2}), Outcome::kCritical);
  // A tie goes to the lower index: golden top-1 is 1, faulty {5, 5, 0} has top-1 0.
  EXPECT_EQ(classify_rows({1, 5, 0}, {5, 5, 0}), Outcome::kCritical);
  // ...and a tie behind the golden top-1 keeps it.
  EXPECT_EQ(classify_rows({1, 5, 0}, {1, 5, 5}), Outcome::kNonCritical);
}

TEST(Classify, NonFiniteIsDueNotCritical) {
  EXPECT_EQ(classify_rows({1, 5, 2}, {kNaN, 5, 2}), Outcome::kDue);  // would be critical (NaN ranks first)
  EXPECT_EQ(classify_rows({1, 5, 2}, {1, 5, kNaN}), Outcome::kDue);  // would be non-critical
  EXPECT_EQ(classify_rows({1, 5, 2}, {1, 5, -kInf}), Outcome::kDue);
  EXPECT_EQ(classify_rows({1, 5, 2}, {kInf, 5, 2}), Outcome::kDue);
  // A fault that changed no bit is masked even when the golden row itself is not finite.
  EXPECT_EQ(classify_rows({1, kInf, 2}, {1, kInf, 2}), Outcome::kMasked);
}

TEST(TopK, TiesGoToTheLowerIndexAndNaNRanksFirst) {
  const std::vector<float> row{1, 3, 3, 2, 3, 0, 4};
  EXPECT_EQ(top1(row), 6);
  EXPECT_EQ(top_k(row, 5), (std::vector<int64_t>{6, 1, 2, 4, 3}));
  EXPECT_TRUE(in_top_k(row, 3, 5));
  EXPECT_FALSE(in_top_k(row, 0, 5));
  EXPECT_FALSE(in_top_k(row, 4, 3));  // 6, 1, 2 come first
  EXPECT_TRUE(in_top_k(row, 2, 3));
  const std::vector<float> equal{7, 7, 7};
  EXPECT_EQ(top1(equal), 0);  // numpy.argmax: the first maximum
  EXPECT_EQ(top_k(equal, 5), (std::vector<int64_t>{0, 1, 2}));  // fewer classes than k
  EXPECT_TRUE(in_top_k(equal, 2, 5));
  const std::vector<float> with_nan{1, kNaN, kInf, kNaN, -kInf};
  EXPECT_EQ(top1(with_nan), 1);
  EXPECT_EQ(top_k(with_nan, 5), (std::vector<int64_t>{1, 3, 2, 0, 4}));
}

// Four images, six classes. Golden top-1: 0, 1, 2, 3; labels 0, 1, 5, 4 (golden top-1 correct for 2 of 4).
Tensor golden_outputs() {
  return Tensor::from_floats({4, 6}, {
      9, 8, 7, 6, 5, 1,   // top-5 {0,1,2,3,4}
      1, 9, 8, 7, 6, 5,   // top-5 {1,2,3,4,5}
      0, 1, 9, 2, 3, 8,   // top-5 {2,5,4,3,1}
      0, 0, 0, 9, 0, 0,   // top-5 {3,0,1,2,4}: ties by index
  });
}
Tensor labels4() { return Tensor::from_int64s({4}, {0, 1, 5, 4}); }

TEST(EvaluateFault, CountsEveryColumn) {
  Tensor golden = golden_outputs();
  Tensor faulty = Tensor::from_floats({4, 6}, {
      9, 8, 7, 6, 5, 1,        // masked; top-1 0 = label, golden
      1, 9, 8, 7, 6, 5.5f,     // non-critical; top-1 1 = label, golden
      0, 1, 2, 3, 4, 9,        // critical; top-1 5 = label (correct), not golden 2; top-5 {5,4,3,2,1} has 2
      0, 0, kNaN, 9, 0, 0,     // due; NaN first: top-1 2 (wrong), top-5 {2,3,0,1,4}: label 4 in, golden 3 in
  });
  Result<FaultOutcome> o = evaluate_fault(golden, faulty, labels4());
  ASSERT_TRUE(o.is_ok()) << o.status().message();
  EXPECT_EQ(o->n_injections, 4);
  EXPECT_EQ(o->masked, 1);
  EXPECT_EQ(o->non_critical, 1);
  EXPECT_EQ(o->critical, 1);
  EXPECT_EQ(o->due, 1);
  EXPECT_EQ(o->top_1_correct, 3);  // images 0, 1, 2
  EXPECT_EQ(o->top_5_correct, 4);  // 0: 0 in; 1: 1 in; 2: 5 in; 3: 4 in
  EXPECT_EQ(o->top_1_robust, 2);   // images 0, 1
  EXPECT_EQ(o->top_5_robust, 4);   // 2: golden 2 in {5,4,3,2,1}; 3: golden 3 in
  EXPECT_TRUE(o->labelled);

  Result<FaultOutcome> unlabelled = evaluate_fault(golden, faulty, Tensor());
  ASSERT_TRUE(unlabelled.is_ok());
  EXPECT_FALSE(unlabelled->labelled);
  EXPECT_EQ(unlabelled->top_1_correct, 0);
  EXPECT_EQ(unlabelled->critical, 1);
}

TEST(EvaluateFault, Top5DropsTheGoldenClass) {
  Tensor golden = Tensor::from_floats({1, 6}, {9, 1, 2, 3, 4, 5});
  Tensor faulty = Tensor::from_floats({1, 6}, {0.5f, 1, 2, 3, 4, 5});  // class 0 falls to 6th
  Result<FaultOutcome> o = evaluate_fault(golden, faulty, Tensor::from_int64s({1}, {0}));
  ASSERT_TRUE(o.is_ok()) << o.status().message();
  EXPECT_EQ(o->critical, 1);
  EXPECT_EQ(o->top_5_robust, 0);
  EXPECT_EQ(o->top_5_correct, 0);
}

TEST(EvaluateGolden, Top1AndTop5Accuracy) {
  Result<GoldenOutcome> g = evaluate_golden(golden_outputs(), labels4());
  ASSERT_TRUE(g.is_ok()) << g.status().message();
  EXPECT_EQ(g->n_images, 4);
  EXPECT_EQ(g->top_1_correct, 2);  // images 0, 1
  EXPECT_EQ(g->top_5_correct, 4);  // 5 in image 2's top-5; 4 in image 3's (ties by index)
  EXPECT_DOUBLE_EQ(g->top_1_accuracy(), 0.5);
  EXPECT_DOUBLE_EQ(g->top_5_accuracy(), 1.0);
}

TEST(Evaluate, BadInputsAreErrors) {
  Tensor golden = golden_outputs();
  Result<GoldenOutcome> g = evaluate_golden(golden, Tensor::from_int64s({4}, {0, 1, 6, 0}));
  ASSERT_FALSE(g.is_ok());
  EXPECT_EQ(g.status().message(), "label 6 of image 2 is outside the model's 6 classes");
  EXPECT_FALSE(evaluate_golden(golden, Tensor::from_int64s({3}, {0, 1, 2})).is_ok());
  EXPECT_FALSE(evaluate_fault(golden, Tensor::from_floats({4, 5}, std::vector<float>(20)), Tensor()).is_ok());
  EXPECT_FALSE(evaluate_golden(Tensor::from_int64s({1, 2}, {0, 1}), Tensor()).is_ok());
}

TEST(EvaluateFault, Float16OutputsCompareTheirOwnBits) {
  Tensor golden = Tensor::from_floats({1, 3}, {1, 5, 2}).cast(DType::kFloat16);
  Tensor faulty = golden.clone();
  Result<FaultOutcome> o = evaluate_fault(golden, faulty, Tensor());
  ASSERT_TRUE(o.is_ok()) << o.status().message();
  EXPECT_EQ(o->masked, 1);
  faulty.data<uint16_t>()[2] ^= 1;  // last mantissa bit of a non-top class
  o = evaluate_fault(golden, faulty, Tensor());
  ASSERT_TRUE(o.is_ok());
  EXPECT_EQ(o->non_critical, 1);
}

// --- rates, margins, groups, CSV ------------------------------------------------------------------------------

TEST(Margin, NormalApproximationAt99Percent) {
  EXPECT_NEAR(margin_99(0.1, 100), 2.576 * 0.03, 1e-12);
  EXPECT_NEAR(margin_99(0.1, 100), 0.07728, 1e-12);
  EXPECT_EQ(margin_99(0.0, 100), 0.0);
  EXPECT_EQ(margin_99(1.0, 100), 0.0);
  EXPECT_EQ(margin_99(0.5, 0), 0.0);
  EXPECT_DOUBLE_EQ(outcome_rate(10, 100), 0.1);
  EXPECT_EQ(outcome_rate(3, 0), 0.0);
}

FaultOutcome outcome(int64_t n, int64_t masked, int64_t non_critical, int64_t critical, int64_t due) {
  FaultOutcome o;
  o.n_injections = n;
  o.masked = masked;
  o.non_critical = non_critical;
  o.critical = critical;
  o.due = due;
  o.top_1_correct = masked + non_critical;
  o.top_5_correct = n - due;
  o.top_1_robust = masked + non_critical;
  o.top_5_robust = n;
  o.labelled = true;
  return o;
}

TEST(Groups, BitsSortNumericallyLayersKeepFirstAppearance) {
  const std::vector<FaultOutcome> rows{outcome(10, 10, 0, 0, 0), outcome(10, 0, 5, 5, 0),
                                       outcome(10, 9, 1, 0, 0), outcome(10, 0, 0, 0, 10)};
  std::vector<OutcomeGroup> bits = group_outcomes({"30", "3", "30", "10"}, rows);
  ASSERT_EQ(bits.size(), 3u);
  EXPECT_EQ(bits[0].key, "3");
  EXPECT_EQ(bits[1].key, "10");
  EXPECT_EQ(bits[2].key, "30");
  EXPECT_EQ(bits[2].faults, 2);
  EXPECT_EQ(bits[2].total.n_injections, 20);
  EXPECT_EQ(bits[2].total.masked, 19);
  EXPECT_EQ(bits[2].total.non_critical, 1);

  std::vector<OutcomeGroup> layers = group_outcomes({"conv2", "conv1", "conv2", "fc"}, rows);
  ASSERT_EQ(layers.size(), 3u);
  EXPECT_EQ(layers[0].key, "conv2");
  EXPECT_EQ(layers[1].key, "conv1");
  EXPECT_EQ(layers[2].key, "fc");
}

std::string shortest(double value) {
  char text[32];
  auto [end, ec] = std::to_chars(text, text + sizeof(text), value);
  return std::string(text, end);
}

TEST(Groups, CsvHasRatesAndMargins) {
  // 100 samples, 10 critical: rate 0.1, margin 0.07728.
  std::vector<OutcomeGroup> groups = group_outcomes({"7", "7"}, {outcome(50, 40, 5, 5, 0), outcome(50, 40, 5, 5, 0)});
  const std::string text = groups_csv("bit", groups);
  const std::string header =
      "bit,faults,n_injections,masked,masked_rate,masked_margin99,non_critical,non_critical_rate,"
      "non_critical_margin99,critical,critical_rate,critical_margin99,due,due_rate,due_margin99,"
      "top_1_correct,top_1_correct_rate,top_1_correct_margin99,top_5_correct,top_5_correct_rate,"
      "top_5_correct_margin99,top_1_robust,top_1_robust_rate,top_1_robust_margin99,top_5_robust,"
      "top_5_robust_rate,top_5_robust_margin99\n";
  ASSERT_EQ(text.substr(0, header.size()), header);
  const std::string row = text.substr(header.size());
  // masked 80/100: margin 2.576 * 0.04 = 0.10304; non-critical and critical 10/100: 0.07728.
  EXPECT_EQ(row, "7,2,100,80,0.8," + shortest(margin_99(0.8, 100)) + ",10,0.1," + shortest(margin_99(0.1, 100)) +
                 ",10,0.1," + shortest(margin_99(0.1, 100)) + ",0,0,0,90,0.9," + shortest(margin_99(0.9, 100)) +
                 ",100,1,0,90,0.9," + shortest(margin_99(0.9, 100)) + ",100,1,0\n");
  EXPECT_NEAR(margin_99(0.8, 100), 0.10304, 1e-12);
}

TEST(Summary, GoldenRecordFirstThenOneRowPerFault) {
  GoldenOutcome golden;
  golden.n_images = 4;
  golden.top_1_correct = 3;
  golden.top_5_correct = 4;
  golden.labelled = true;
  FaultOutcome unlabelled = outcome(4, 1, 1, 1, 1);
  unlabelled.labelled = false;
  Result<std::string> text = summary_csv({"inj_id", "layer", "bit_pos"},
                                         {{"0", "conv1", "30"}, {"1", "fc, last", "3"}},
                                         {outcome(4, 2, 1, 1, 0), unlabelled}, golden);
  ASSERT_TRUE(text.is_ok()) << text.status().message();
  EXPECT_EQ(*text,
            "inj_id,layer,bit_pos,n_injections,masked,non_critical,critical,due,top_1_correct,top_5_correct,"
            "top_1_robust,top_5_robust\n"
            "GOLDEN,,,4,,,,,3,4,,\n"
            "0,conv1,30,4,2,1,1,0,3,4,3,4\n"
            "1,\"fc, last\",3,4,1,1,1,1,,,2,4\n");
  EXPECT_FALSE(summary_csv({"inj_id"}, {{"0", "extra"}}, {outcome(1, 1, 0, 0, 0)}, golden).is_ok());
  EXPECT_FALSE(summary_csv({"inj_id"}, {}, {outcome(1, 1, 0, 0, 0)}, golden).is_ok());
}

TEST(Summary, FilesAreWrittenAtomically) {
  const std::string dir = testing::temp_dir();
  GoldenOutcome golden;
  golden.n_images = 1;
  ASSERT_TRUE(write_summary_csv(dir + "/summary.csv", {"inj_id"}, {{"0"}}, {outcome(1, 1, 0, 0, 0)}, golden).is_ok());
  std::vector<OutcomeGroup> groups = group_outcomes({"conv1"}, {outcome(1, 1, 0, 0, 0)});
  ASSERT_TRUE(write_layers_csv(dir + "/layers.csv", groups).is_ok());
  ASSERT_TRUE(write_bits_csv(dir + "/bits.csv", groups).is_ok());
  Result<std::string> summary = read_file(dir + "/summary.csv");
  ASSERT_TRUE(summary.is_ok());
  EXPECT_NE(summary->find("GOLDEN,1,,,,,,,,\n"), std::string::npos) << *summary;
  Result<std::string> layers = read_file(dir + "/layers.csv");
  ASSERT_TRUE(layers.is_ok());
  EXPECT_EQ(layers->rfind("layer,faults,", 0), 0u);
  Result<std::string> bits = read_file(dir + "/bits.csv");
  ASSERT_TRUE(bits.is_ok());
  EXPECT_EQ(bits->rfind("bit,faults,", 0), 0u);
  Status bad = write_bits_csv(dir + "/no/such/folder/bits.csv", groups);
  EXPECT_FALSE(bad.is_ok());
  EXPECT_NE(bad.message().find("no/such/folder"), std::string::npos) << bad.message();
}

}  // namespace
}  // namespace faultline
