// run_campaign (faults/campaign.h): summary.csv rows equal replay_faults + evaluate_fault computed here; a
// campaign stopped after K faults (or with a torn last line) and resumed writes the same bytes as one that ran
// through; existing results are not overwritten without resume; layers.csv and bits.csv add up to the
// summary. Shards (faults/campaign_shard.h) merged by merge_shards (faults/campaign_merge.h) give every file
// of an unsharded run byte for byte, and missing, foreign, incomplete or doubled shards are refused. Saved
// outputs (faults/campaign_outputs.h) equal a direct Session run and replay_faults, and survive a stop, a torn
// log and resume with exactly summary.csv's rows.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>

#include "engine/file_io.h"
#include "faults/campaign.h"
#include "faults/campaign_merge.h"
#include "faults/campaign_outputs.h"
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

  CampaignSpec spec_in(const std::string& folder, bool resume = false, CampaignShard shard = {},
                       bool save_outputs = false) const {
    CampaignSpec spec = spec_;
    spec.output = folder;
    spec.resume = resume;
    spec.shard = shard;
    spec.save_outputs = save_outputs;
    return spec;
  }

  // A stop after `done` rows of the run's faults.
  static std::function<CampaignControl(const CampaignProgress&)> stop_after(int64_t done) {
    return [done](const CampaignProgress& progress) {
      return progress.faults_done == done ? CampaignControl::kStop : CampaignControl::kContinue;
    };
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

// A fault that reaches one image (persistence inference) or one executed batch (persistence batch) counts those
// images only: its row has n_injections 1 or the batch's size, and the same critical, non-critical and DUE
// images as the whole output (every other image is golden, hence masked), with the out-of-scope images taken
// out of the masked count; a permanent fault still counts every image.
TEST_F(CampaignTest, ScopedFaultsCountOnlyTheImagesTheyReach) {
  for (size_t i = 0; i < spec_.list.entries.size(); ++i) {
    Fault& fault = spec_.list.entries[i].fault;
    if (i % 3 == 2) continue;  // permanent
    fault.persistence = i % 3 == 0 ? Persistence::kInference : Persistence::kBatch;
    fault.site.batch = static_cast<int64_t>(i) % kImages;
  }
  spec_.options.batch = kBatch;
  const std::string folder = testing::temp_dir();
  auto result = run_campaign(spec_in(folder));
  ASSERT_TRUE(result.is_ok()) << result.status().message();
  auto stacked = replay_faults(spec_.model, spec_.options, spec_.list, spec_.faults, spec_.targets,
                               spec_.dataset.images);
  ASSERT_TRUE(stacked.is_ok()) << stacked.status().message();
  auto replayer = FaultReplayer::create(spec_.model, spec_.options, spec_.list, spec_.faults, spec_.targets,
                                        spec_.dataset.images);
  ASSERT_TRUE(replayer.is_ok());
  auto golden = (*replayer)->golden();
  ASSERT_TRUE(golden.is_ok());
  int64_t scoped_critical = 0;
  for (int64_t f = 0; f < kFaults; ++f) {
    const Fault& fault = spec_.list.entries[static_cast<size_t>(f)].fault;
    const int64_t expected = fault.persistence == Persistence::kInference ? 1
                             : fault.persistence == Persistence::kBatch
                                 ? std::min(kBatch, kImages - *fault.site.batch / kBatch * kBatch)
                                 : kImages;
    Tensor faulty = Tensor::view(DType::kFloat32, {kImages, kClasses}, stacked->data<float>() + f * kImages * kClasses);
    auto whole = evaluate_fault(*golden, faulty, spec_.dataset.labels);
    ASSERT_TRUE(whole.is_ok());
    const FaultOutcome& row = result->outcomes[static_cast<size_t>(f)];
    EXPECT_EQ(row.n_injections, expected) << "fault " << f;
    EXPECT_EQ(row.critical, whole->critical) << "fault " << f;
    EXPECT_EQ(row.non_critical, whole->non_critical) << "fault " << f;
    EXPECT_EQ(row.due, whole->due) << "fault " << f;
    EXPECT_EQ(row.masked, whole->masked - (kImages - expected)) << "fault " << f;
    if (fault.persistence != Persistence::kPermanent) scoped_critical += row.critical + row.non_critical;
  }
  EXPECT_GT(scoped_critical, 0) << "some scoped fault changed its image's output";
}

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
  int64_t calls = 0, in_flight_calls = 0;
  double last_in_flight = 0.0;
  stopping.progress = [&](const CampaignProgress& progress) {
    EXPECT_EQ(progress.faults_total, kFaults);
    if (progress.faults_in_flight > 0) {  // during a batch-major group: its share so far, no row yet
      ++in_flight_calls;
      EXPECT_EQ(progress.faults_done, 0);
      EXPECT_GT(progress.faults_in_flight, last_in_flight);
      EXPECT_LE(progress.faults_in_flight, static_cast<double>(kFaults));
      last_in_flight = progress.faults_in_flight;
      return CampaignControl::kStop;  // ignored until a row is written
    }
    ++calls;
    return progress.faults_done == kStopAfter ? CampaignControl::kStop : CampaignControl::kContinue;
  };
  auto stopped = run_campaign(stopping);
  ASSERT_TRUE(stopped.is_ok()) << stopped.status().message();
  EXPECT_FALSE(stopped->complete);
  EXPECT_EQ(calls, kStopAfter);
  EXPECT_TRUE(stopped->replay.batch_major);
  EXPECT_GT(in_flight_calls, 1) << "a call after each batch of the group";
  EXPECT_FALSE(std::filesystem::exists(folder + "/layers.csv"));
  const std::string partial = read(folder + "/summary.csv");
  EXPECT_EQ(reference.compare(0, partial.size(), partial), 0) << "the rows so far are the reference's first rows";

  CampaignSpec resuming = spec_in(folder, true);
  int64_t first_done = -1;
  resuming.progress = [&first_done](const CampaignProgress& progress) {
    if (first_done < 0 && progress.faults_in_flight == 0) first_done = progress.faults_done;
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

constexpr int64_t kShards = 3;

std::string shard_dir(const std::string& output, int64_t index) {
  return output + "/shards/" + std::to_string(index) + "-of-" + std::to_string(kShards);
}

TEST_F(CampaignTest, ShardedRunsMergeToTheUnshardedFiles) {
  const std::string whole = testing::temp_dir();
  auto reference = run_campaign(spec_in(whole, false, {}, true));
  ASSERT_TRUE(reference.is_ok()) << reference.status().message();

  const std::string output = testing::temp_dir();
  for (int64_t i = 0; i < kShards; ++i) {
    CampaignSpec spec = spec_in(output, false, {i, kShards}, true);
    if (i == 1) spec.progress = stop_after(2);  // shard 1 stops, then resumes
    auto shard = run_campaign(spec);
    ASSERT_TRUE(shard.is_ok()) << shard.status().message();
    EXPECT_EQ(shard->folder, shard_dir(output, i));
    EXPECT_EQ(shard->complete, i != 1);
    if (i == 1) {
      auto resumed = run_campaign(spec_in(output, true, {i, kShards}, true));
      ASSERT_TRUE(resumed.is_ok()) << resumed.status().message();
      EXPECT_EQ(resumed->resumed, 2);
      EXPECT_TRUE(resumed->complete);
    }
    // Round-robin: shard i holds list positions i, i + 3, ... in order.
    auto records = parse_csv(read(shard_dir(output, i) + "/summary.csv"), "shard");
    ASSERT_TRUE(records.is_ok());
    std::vector<std::string> injections;
    for (size_t r = 2; r < records->size(); ++r) injections.push_back((*records)[r].fields[0]);
    std::vector<std::string> expected;
    for (int64_t k = i; k < kFaults; k += kShards)
      expected.push_back(std::to_string(spec_.list.entries[static_cast<size_t>(k)].injection));
    EXPECT_EQ(injections, expected) << "shard " << i;
  }
  EXPECT_FALSE(std::filesystem::exists(output + "/summary.csv"));

  std::vector<std::string> shards;
  for (int64_t i = kShards - 1; i >= 0; --i) shards.push_back(shard_dir(output, i));  // any order
  auto merged = merge_shards(shards);
  ASSERT_TRUE(merged.is_ok()) << merged.status().message();
  EXPECT_TRUE(std::filesystem::equivalent(merged->output, output)) << merged->output;
  EXPECT_TRUE(merged->outputs);
  for (const char* file : {"summary.csv", "golden.csv", "layers.csv", "bits.csv", "faults.csv", "outputs.h5"}) {
    ASSERT_TRUE(std::filesystem::exists(output + "/" + file)) << file;
    EXPECT_EQ(read(output + "/" + file), read(whole + "/" + file)) << file;
  }
  // Merging again changes nothing.
  ASSERT_TRUE(merge_shards(shards).is_ok());
  EXPECT_EQ(read(output + "/summary.csv"), read(whole + "/summary.csv"));
}

TEST_F(CampaignTest, MergeRefusesMissingForeignIncompleteAndDoubledShards) {
  const std::string output = testing::temp_dir();
  for (int64_t i = 0; i < kShards; ++i) ASSERT_TRUE(run_campaign(spec_in(output, false, {i, kShards})).is_ok());
  const std::string target = testing::temp_dir() + "/merged";
  auto expect_refused = [&](const std::vector<std::string>& dirs, const std::vector<std::string>& phrases) {
    auto merged = merge_shards(dirs, target);
    ASSERT_FALSE(merged.is_ok());
    for (const std::string& phrase : phrases)
      EXPECT_NE(merged.status().message().find(phrase), std::string::npos) << merged.status().message();
    EXPECT_FALSE(std::filesystem::exists(target)) << "nothing is written";
  };
  expect_refused({shard_dir(output, 0), shard_dir(output, 1)}, {"shard 2-of-3 is missing"});
  expect_refused({shard_dir(output, 0), shard_dir(output, 1), shard_dir(output, 1)}, {"given twice", "1-of-3"});

  // A shard of another campaign (another fault list) in place of shard 2.
  const std::string foreign = testing::temp_dir();
  CampaignSpec other = spec_in(foreign, false, {2, kShards});
  GeneratorOptions options;
  options.seed = 99;
  other.list = generate_random_faults(other.targets, options, kFaults).value();
  other.faults = resolve_fault_list(other.list, other.targets).value();
  ASSERT_TRUE(run_campaign(other).is_ok());
  expect_refused({shard_dir(output, 0), shard_dir(output, 1), shard_dir(foreign, 2)},
                 {shard_dir(foreign, 2), "faults.csv", "different campaigns"});

  // An incomplete shard names itself and the next fault.
  const std::string partial = testing::temp_dir();
  for (int64_t i = 0; i < kShards; ++i) {
    CampaignSpec spec = spec_in(partial, false, {i, kShards});
    if (i == 2) spec.progress = stop_after(3);
    ASSERT_TRUE(run_campaign(spec).is_ok());
  }
  const std::string next = std::to_string(spec_.list.entries[static_cast<size_t>(3 * kShards + 2)].injection);
  expect_refused({shard_dir(partial, 0), shard_dir(partial, 1), shard_dir(partial, 2)},
                 {shard_dir(partial, 2), "incomplete", "3 of its 6", "Injection " + next});

  // A row of another fault (the first two rows of shard 0 swapped).
  const std::string swapped = testing::temp_dir();
  std::filesystem::copy(output, swapped, std::filesystem::copy_options::recursive);
  std::string text = read(shard_dir(swapped, 0) + "/summary.csv");
  size_t a = 0;
  for (int line = 0; line < 2; ++line) a = text.find('\n', a) + 1;
  const size_t b = text.find('\n', a) + 1, c = text.find('\n', b) + 1;
  text = text.substr(0, a) + text.substr(b, c - b) + text.substr(a, b - a) + text.substr(c);
  ASSERT_TRUE(write_file_atomically(shard_dir(swapped, 0) + "/summary.csv", text).is_ok());
  const std::string second = std::to_string(spec_.list.entries[static_cast<size_t>(kShards)].injection);
  expect_refused({shard_dir(swapped, 0), shard_dir(swapped, 1), shard_dir(swapped, 2)},
                 {shard_dir(swapped, 0), "row 1 is fault Injection " + second});

  // --shard N above the number of faults.
  auto too_many = run_campaign(spec_in(testing::temp_dir(), false, {0, kFaults + 1}));
  EXPECT_FALSE(too_many.is_ok());
}

TEST_F(CampaignTest, SavedOutputsEqualSessionAndReplay) {
  const std::string folder = testing::temp_dir();
  auto result = run_campaign(spec_in(folder, false, {}, true));
  ASSERT_TRUE(result.is_ok()) << result.status().message();
  EXPECT_EQ(result->outputs_path, folder + "/outputs.h5");
  EXPECT_FALSE(std::filesystem::exists(folder + "/outputs.h5.part")) << "the log is removed when complete";
  auto saved = read_outputs_h5(folder + "/outputs.h5");
  ASSERT_TRUE(saved.is_ok()) << saved.status().message();

  // Golden: a plain Session run of the dataset (no observable values, fusion allowed: equal within float noise).
  auto session = Session::create(spec_.model, spec_.options);
  ASSERT_TRUE(session.is_ok()) << session.status().message();
  auto clean = (*session)->run({spec_.dataset.images});
  ASSERT_TRUE(clean.is_ok()) << clean.status().message();
  EXPECT_TRUE(testing::tensors_near(clean->front(), saved->golden, 1e-6, 1e-6));
  // Faulty: replay_faults, bit for bit.
  auto stacked = replay_faults(spec_.model, spec_.options, spec_.list, spec_.faults, spec_.targets,
                               spec_.dataset.images);
  ASSERT_TRUE(stacked.is_ok()) << stacked.status().message();
  ASSERT_EQ(saved->faulty.shape(), stacked->shape());
  EXPECT_EQ(std::memcmp(saved->faulty.raw(), stacked->raw(), stacked->nbytes()), 0);
  std::vector<int64_t> injections;
  for (const FaultListEntry& entry : spec_.list.entries) injections.push_back(entry.injection);
  EXPECT_EQ(saved->injections, injections);
}

TEST_F(CampaignTest, SavedOutputsSurviveStopTornLogAndResume) {
  const std::string reference = testing::temp_dir();
  ASSERT_TRUE(run_campaign(spec_in(reference, false, {}, true)).is_ok());

  const std::string folder = testing::temp_dir();
  CampaignSpec stopping = spec_in(folder, false, {}, true);
  stopping.progress = stop_after(kStopAfter);
  ASSERT_TRUE(run_campaign(stopping).is_ok());
  EXPECT_FALSE(std::filesystem::exists(folder + "/outputs.h5"));
  // A kill after the next fault's log record but before its summary row, then in the middle of another record.
  const uintmax_t record = sizeof(int64_t) + sizeof(float) * kImages * kClasses;
  ASSERT_EQ(std::filesystem::file_size(folder + "/outputs.h5.part"), kStopAfter * record);
  {
    std::ofstream log(folder + "/outputs.h5.part", std::ios::binary | std::ios::app);
    log << std::string(record + record / 2, '\x7f');
  }
  auto refused = run_campaign(spec_in(folder, true, {}, false));
  ASSERT_FALSE(refused.is_ok());
  EXPECT_NE(refused.status().message().find("--save-outputs"), std::string::npos) << refused.status().message();

  auto resumed = run_campaign(spec_in(folder, true, {}, true));
  ASSERT_TRUE(resumed.is_ok()) << resumed.status().message();
  EXPECT_EQ(resumed->resumed, kStopAfter);
  EXPECT_TRUE(resumed->complete);
  EXPECT_EQ(read(folder + "/summary.csv"), read(reference + "/summary.csv"));
  EXPECT_EQ(read(folder + "/outputs.h5"), read(reference + "/outputs.h5"));
  auto saved = read_outputs_h5(folder + "/outputs.h5");
  ASSERT_TRUE(saved.is_ok());
  EXPECT_EQ(saved->injections.size(), static_cast<size_t>(kFaults)) << "every row once";

  // A campaign that ran without saving outputs cannot be resumed with them.
  const std::string plain = testing::temp_dir();
  CampaignSpec plain_stop = spec_in(plain);
  plain_stop.progress = stop_after(3);
  ASSERT_TRUE(run_campaign(plain_stop).is_ok());
  auto lacking = run_campaign(spec_in(plain, true, {}, true));
  ASSERT_FALSE(lacking.is_ok());
  EXPECT_NE(lacking.status().message().find("outputs.h5.part"), std::string::npos) << lacking.status().message();
}

}  // namespace
}  // namespace faultline
