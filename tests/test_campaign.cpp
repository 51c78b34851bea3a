// run_campaign (faults/campaign.h): summary.csv rows equal replay_faults + evaluate_fault computed here; a
// campaign stopped after K faults (or with a torn last line) and resumed writes the same bytes as one that ran
// through; existing results are not overwritten without resume; layers.csv and bits.csv add up to the
// summary.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <random>

#include "engine/file_io.h"
#include "faults/campaign.h"
#include "faults/csv.h"
#include "faults/fault_generator.h"
#include "faults/fault_replay.h"
#include "faults/outcome_report.h"
#include "tests/support/graph_builder.h"
#include "tests/support/test_support.h"

namespace faultline {
namespace {

using testing::GraphBuilder;
using testing::random_tensor;

constexpr int64_t kImages = 8;
constexpr int64_t kBatch = 3;  // executed batches {0..2}, {3..5}, {6, 7}
constexpr int64_t kClasses = 10;
constexpr int64_t kFaults = 20;
constexpr int64_t kStopAfter = 7;

// x [N, 2, 4, 4] -> conv1 (3x3, pad 1) -> relu -> flatten -> fc (Gemm) -> [N, 10].
std::shared_ptr<const Graph> small_model() {
  GraphBuilder b;
  const ValueId x = b.input("x", {kDynamicDim, 2, 4, 4});
  const ValueId w1 = b.constant("conv1.weight", random_tensor({4, 2, 3, 3}, 1, -0.5f, 0.5f));
  const ValueId c1 = b.node(OpKind::kConv, {x, w1}, ConvAttrs{{3, 3}, {}, {}, {1, 1, 1, 1}}, "conv1", "c1");
  const ValueId r = b.node(OpKind::kRelu, {c1}, {}, "relu", "r");
  const ValueId f = b.node(OpKind::kFlatten, {r}, FlattenAttrs{1}, "flatten", "f");
  const ValueId w2 = b.constant("fc.weight", random_tensor({kClasses, 64}, 2, -0.5f, 0.5f));
  const ValueId bias = b.constant("fc.bias", random_tensor({kClasses}, 3, -0.1f, 0.1f));
  b.output(b.node(OpKind::kGemm, {f, w2, bias}, GemmAttrs{1.0f, 1.0f, false, true}, "fc", "y"));
  return std::make_shared<const Graph>(b.build());
}

class CampaignTest : public ::testing::Test {
 protected:
  void SetUp() override {
    spec_.model = small_model();
    spec_.options.backend = "reference";
    spec_.options.batch = kBatch;
    spec_.dataset.images = random_tensor({kImages, 2, 4, 4}, 7);
    auto labels = Tensor::allocate(DType::kInt64, {kImages});
    ASSERT_TRUE(labels.is_ok());
    spec_.dataset.labels = std::move(labels).value();
    std::mt19937 rng(11);
    for (int64_t n = 0; n < kImages; ++n) spec_.dataset.labels.data<int64_t>()[n] = static_cast<int64_t>(rng() % kClasses);
    auto targets = list_fault_targets(*spec_.model);
    ASSERT_TRUE(targets.is_ok()) << targets.status().message();
    spec_.targets = std::move(targets).value();
    GeneratorOptions options;
    options.seed = 2024;
    auto list = generate_random_faults(spec_.targets, options, kFaults);
    ASSERT_TRUE(list.is_ok()) << list.status().message();
    spec_.list = std::move(list).value();
    auto faults = resolve_fault_list(spec_.list, spec_.targets);
    ASSERT_TRUE(faults.is_ok()) << faults.status().message();
    spec_.faults = std::move(faults).value();
  }

  CampaignSpec spec_in(const std::string& folder, bool resume = false) const {
    CampaignSpec spec = spec_;
    spec.output = folder;
    spec.resume = resume;
    return spec;
  }

  static std::string read(const std::string& path) {
    auto text = read_file(path);
    EXPECT_TRUE(text.is_ok()) << text.status().message();
    return text.is_ok() ? *text : std::string();
  }

  // The summary.csv of an uninterrupted campaign (run once per test).
  std::string full_run(const std::string& folder) {
    auto result = run_campaign(spec_in(folder));
    EXPECT_TRUE(result.is_ok()) << result.status().message();
    if (result.is_ok()) EXPECT_TRUE(result->complete);
    return read(folder + "/summary.csv");
  }

  CampaignSpec spec_;
};

TEST_F(CampaignTest, SummaryRowsEqualReplayAndClassify) {
  const std::string folder = testing::temp_dir();
  auto result = run_campaign(spec_in(folder));
  ASSERT_TRUE(result.is_ok()) << result.status().message();
  EXPECT_TRUE(result->complete);
  EXPECT_EQ(result->resumed, 0);
  ASSERT_EQ(result->outcomes.size(), static_cast<size_t>(kFaults));

  // Independently: the golden run on the replay's plan, every fault replayed, each classified.
  SessionOptions options = spec_.options;
  options.observable = faulted_value_names(spec_.faults, spec_.targets);
  options.propagate_nan = true;
  auto session = Session::create(spec_.model, options);
  ASSERT_TRUE(session.is_ok()) << session.status().message();
  auto clean = (*session)->run({spec_.dataset.images});
  ASSERT_TRUE(clean.is_ok()) << clean.status().message();
  const Tensor& golden = clean->front();
  auto stacked = replay_faults(spec_.model, spec_.options, spec_.list, spec_.faults, spec_.targets,
                               spec_.dataset.images);
  ASSERT_TRUE(stacked.is_ok()) << stacked.status().message();
  auto golden_outcome = evaluate_golden(golden, spec_.dataset.labels);
  ASSERT_TRUE(golden_outcome.is_ok());
  EXPECT_EQ(golden_outcome->top_1_correct, result->golden.top_1_correct);

  auto list_records = parse_csv(format_fault_list(spec_.list), "list");
  ASSERT_TRUE(list_records.is_ok());
  std::vector<std::vector<std::string>> rows;
  std::vector<FaultOutcome> outcomes;
  int64_t non_masked = 0;
  for (int64_t f = 0; f < kFaults; ++f) {
    Tensor faulty = Tensor::view(DType::kFloat32, {kImages, kClasses},
                                 stacked->data<float>() + f * kImages * kClasses);
    auto outcome = evaluate_fault(golden, faulty, spec_.dataset.labels);
    ASSERT_TRUE(outcome.is_ok()) << outcome.status().message();
    outcomes.push_back(*outcome);
    non_masked += outcome->n_injections - outcome->masked;
    rows.push_back((*list_records)[static_cast<size_t>(f) + 1].fields);
    EXPECT_EQ(rows.back().front(), std::to_string(spec_.list.entries[static_cast<size_t>(f)].injection));
  }
  EXPECT_GT(non_masked, 0) << "the fault list should change some outputs";
  auto expected = summary_csv((*list_records)[0].fields, rows, outcomes, *golden_outcome);
  ASSERT_TRUE(expected.is_ok());
  EXPECT_EQ(read(folder + "/summary.csv"), *expected);
  EXPECT_TRUE(std::filesystem::exists(folder + "/golden.csv"));
  const std::string golden_text = read(folder + "/golden.csv");
  EXPECT_EQ(golden_text.substr(0, golden_text.find('\n')),
            "images,top_1_correct,top_5_correct,top_1_accuracy,top_5_accuracy");
}

TEST_F(CampaignTest, StoppedAndResumedIsByteIdentical) {
  const std::string reference = full_run(testing::temp_dir());

  const std::string folder = testing::temp_dir();
  CampaignSpec stopping = spec_in(folder);
  int64_t calls = 0;
  stopping.progress = [&calls](const CampaignProgress& progress) {
    ++calls;
    EXPECT_EQ(progress.faults_total, kFaults);
    return progress.faults_done == kStopAfter ? CampaignControl::kStop : CampaignControl::kContinue;
  };
  auto stopped = run_campaign(stopping);
  ASSERT_TRUE(stopped.is_ok()) << stopped.status().message();
  EXPECT_FALSE(stopped->complete);
  EXPECT_EQ(calls, kStopAfter);
  EXPECT_FALSE(std::filesystem::exists(folder + "/layers.csv"));
  const std::string partial = read(folder + "/summary.csv");
  EXPECT_EQ(reference.compare(0, partial.size(), partial), 0) << "the rows so far are the reference's first rows";

  CampaignSpec resuming = spec_in(folder, true);
  int64_t first_done = -1;
  resuming.progress = [&first_done](const CampaignProgress& progress) {
    if (first_done < 0) first_done = progress.faults_done;
    return CampaignControl::kContinue;
  };
  auto resumed = run_campaign(resuming);
  ASSERT_TRUE(resumed.is_ok()) << resumed.status().message();
  EXPECT_TRUE(resumed->complete);
  EXPECT_EQ(resumed->resumed, kStopAfter);
  EXPECT_EQ(first_done, kStopAfter + 1);
  EXPECT_EQ(resumed->outcomes.size(), static_cast<size_t>(kFaults));
  EXPECT_EQ(read(folder + "/summary.csv"), reference);
}

TEST_F(CampaignTest, TornLastLineIsDroppedOnResume) {
  const std::string reference_folder = testing::temp_dir();
  const std::string reference = full_run(reference_folder);

  // The header, GOLDEN and kStopAfter rows, then half of the next row: a kill in the middle of a write.
  size_t end = 0;
  for (int64_t line = 0; line < 2 + kStopAfter; ++line) end = reference.find('\n', end) + 1;
  const size_t next_end = reference.find('\n', end) + 1;
  const std::string torn = reference.substr(0, end + (next_end - end) / 2);
  const std::string folder = testing::temp_dir();
  ASSERT_TRUE(write_file_atomically(folder + "/summary.csv", torn).is_ok());

  auto resumed = run_campaign(spec_in(folder, true));
  ASSERT_TRUE(resumed.is_ok()) << resumed.status().message();
  EXPECT_EQ(resumed->resumed, kStopAfter);
  EXPECT_EQ(read(folder + "/summary.csv"), reference);
  EXPECT_EQ(read(folder + "/layers.csv"), read(reference_folder + "/layers.csv"));
  EXPECT_EQ(read(folder + "/bits.csv"), read(reference_folder + "/bits.csv"));

  // A torn header is written again.
  const std::string header_folder = testing::temp_dir();
  ASSERT_TRUE(write_file_atomically(header_folder + "/summary.csv", reference.substr(0, 10)).is_ok());
  auto rewritten = run_campaign(spec_in(header_folder, true));
  ASSERT_TRUE(rewritten.is_ok()) << rewritten.status().message();
  EXPECT_EQ(read(header_folder + "/summary.csv"), reference);
}

TEST_F(CampaignTest, ExistingResultsNeedResume) {
  const std::string folder = testing::temp_dir();
  const std::string before = full_run(folder);
  const std::string golden_before = read(folder + "/golden.csv");
  const std::string layers_before = read(folder + "/layers.csv");

  auto refused = run_campaign(spec_in(folder, false));
  ASSERT_FALSE(refused.is_ok());
  EXPECT_NE(refused.status().message().find("--resume"), std::string::npos) << refused.status().message();
  EXPECT_NE(refused.status().message().find("summary.csv"), std::string::npos) << refused.status().message();
  EXPECT_EQ(read(folder + "/summary.csv"), before);
  EXPECT_EQ(read(folder + "/golden.csv"), golden_before);
  EXPECT_EQ(read(folder + "/layers.csv"), layers_before);

  // Resuming a finished campaign runs nothing and changes nothing.
  auto again = run_campaign(spec_in(folder, true));
  ASSERT_TRUE(again.is_ok()) << again.status().message();
  EXPECT_EQ(again->resumed, kFaults);
  EXPECT_EQ(read(folder + "/summary.csv"), before);

  // Another fault list in the same folder is refused on resume.
  CampaignSpec other = spec_in(folder, true);
  GeneratorOptions options;
  options.seed = 99;
  auto list = generate_random_faults(other.targets, options, kFaults);
  ASSERT_TRUE(list.is_ok());
  other.list = std::move(list).value();
  auto faults = resolve_fault_list(other.list, other.targets);
  ASSERT_TRUE(faults.is_ok());
  other.faults = std::move(faults).value();
  auto mismatched = run_campaign(other);
  EXPECT_FALSE(mismatched.is_ok());
  EXPECT_EQ(read(folder + "/summary.csv"), before);
}

TEST_F(CampaignTest, LayersAndBitsAddUpToSummary) {
  const std::string folder = testing::temp_dir();
  auto result = run_campaign(spec_in(folder));
  ASSERT_TRUE(result.is_ok()) << result.status().message();
  FaultOutcome total;
  for (const FaultOutcome& outcome : result->outcomes) total += outcome;
  EXPECT_EQ(total.n_injections, kFaults * kImages);

  for (const char* file : {"layers.csv", "bits.csv"}) {
    SCOPED_TRACE(file);
    auto records = parse_csv(read(folder + "/" + file), file);
    ASSERT_TRUE(records.is_ok());
    ASSERT_GT(records->size(), 1u);
    const std::vector<std::string>& header = records->front().fields;
    auto sum = [&](const std::string& column) {
      const size_t index = static_cast<size_t>(std::find(header.begin(), header.end(), column) - header.begin());
      EXPECT_LT(index, header.size()) << column;
      int64_t value = 0;
      for (size_t r = 1; r < records->size() && index < header.size(); ++r)
        value += parse_int64((*records)[r].fields[index]).value();
      return value;
    };
    EXPECT_EQ(sum("faults"), kFaults);
    EXPECT_EQ(sum("n_injections"), total.n_injections);
    EXPECT_EQ(sum("masked"), total.masked);
    EXPECT_EQ(sum("non_critical"), total.non_critical);
    EXPECT_EQ(sum("critical"), total.critical);
    EXPECT_EQ(sum("due"), total.due);
    EXPECT_EQ(sum("top_1_correct"), total.top_1_correct);
    EXPECT_EQ(sum("top_5_robust"), total.top_5_robust);
  }
}

}  // namespace
}  // namespace faultline
