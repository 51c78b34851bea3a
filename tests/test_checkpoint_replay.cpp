// Checkpointed fault passes (engine/checkpoint_executor.h through FaultReplayer, when one batch's golden values
// exceed ReplayOptions::golden_budget_bytes) against the plain full recomputation: every fault of random
// campaigns on ResNet20 (residual branches) and an Inception net (Concat branches), weights, activations and
// inputs, on both backends, gives bit-identical outputs, in passes that start after the model's first step
// and stop at a checkpoint when everything there is golden again.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "engine/checkpoint_executor.h"
#include "engine/session.h"
#include "faults/fault_replay.h"
#include "frontends/load_model.h"
#include "tests/support/replay_campaign.h"
#include "tests/support/run_command.h"
#include "tests/support/test_support.h"

namespace faultline {
namespace {

using testing::Campaign;
using testing::expect_group_identical;
using testing::expect_identical;
using testing::make_campaign;
using testing::one_batch_golden_bytes;
using testing::test_data;

// A budget below one image's kept values (with more, passes would run on fewer images than the batch, every
// value kept: FaultReplayer::plan_pass_batches): checkpoints.
ReplayOptions checkpointed(const Campaign& c) {
  ReplayOptions options;
  options.golden_budget_bytes = one_batch_golden_bytes(c, "onednn", 1) * 7 / 10;
  return options;
}

void expect_checkpointed(const ReplayStats& stats) {
  EXPECT_TRUE(stats.incremental);
  EXPECT_TRUE(stats.full_passes_reason.empty()) << stats.full_passes_reason;
  EXPECT_GT(stats.checkpoints, 0);
  EXPECT_LT(stats.steps_run, stats.steps_total) << "passes start at a checkpoint after the first step";
}

TEST(CheckpointExecutor, KeepsTheGraphInputsAndWhatFitsTheBudget) {
  auto model = load_model(test_data("models/resnet20_bn.onnx"));
  ASSERT_TRUE(model.is_ok()) << model.status().message();
  SessionOptions options;
  options.batch = 2;
  options.threads = 1;
  auto session = Session::create(*model, options);
  ASSERT_TRUE(session.is_ok()) << session.status().message();
  CompiledModel& compiled = (*session)->compiled();
  const size_t input_bytes = 2 * 3 * 32 * 32 * sizeof(float);

  auto too_small = CheckpointExecutor::create(compiled, input_bytes - 1);
  ASSERT_FALSE(too_small.is_ok());
  EXPECT_NE(too_small.status().message().find("graph inputs"), std::string::npos) << too_small.status().message();

  auto inputs_only = CheckpointExecutor::create(compiled, input_bytes);
  ASSERT_TRUE(inputs_only.is_ok()) << inputs_only.status().message();
  EXPECT_EQ((*inputs_only)->boundaries(), std::vector<size_t>{0});
  EXPECT_EQ((*inputs_only)->slot_bytes(), input_bytes);

  // Unlimited: every boundary, each value stored once (ResNet20's: fewer bytes than one value per boundary).
  auto every = CheckpointExecutor::create(compiled, size_t{1} << 40);
  ASSERT_TRUE(every.is_ok());
  std::vector<size_t> all(compiled.num_steps());
  for (size_t b = 0; b < all.size(); ++b) all[b] = b;
  EXPECT_EQ((*every)->boundaries(), all);

  // In between: ascending boundaries from 0, within the budget, the cheap ones first (a block's output, 2x16x32x32
  // floats, is 128 KiB; the residual blocks' insides hold two such values).
  const size_t budget = 3 * 128 * 1024;
  auto some = CheckpointExecutor::create(compiled, budget);
  ASSERT_TRUE(some.is_ok());
  const std::vector<size_t>& kept = (*some)->boundaries();
  ASSERT_GT(kept.size(), 2u);
  EXPECT_LT(kept.size(), all.size());
  EXPECT_EQ(kept.front(), 0u);
  EXPECT_TRUE(std::is_sorted(kept.begin(), kept.end()));
  EXPECT_LE((*some)->slot_bytes(), budget);
}

TEST(CheckpointReplay, ResNet20WeightFaultsMatchFullPassesOnOnednn) {
  const Campaign c = make_campaign("models/resnet20_bn.onnx", "models/resnet20_input.npy", SiteTarget::kWeight, 120, 31,
                                   Persistence::kPermanent, 8);
  const ReplayStats stats = expect_identical(c, "onednn", 3, checkpointed(c));  // batches of 3, 3 and 2
  expect_checkpointed(stats);
  EXPECT_FALSE(stats.batch_major);
  EXPECT_GT(stats.stopped_early, 0) << "stuck-at faults that leave their word as it was stop at a checkpoint";
}

TEST(CheckpointReplay, ResNet20ActivationAndInputFaultsMatchFullPassesOnOnednn) {
  const Campaign activations = make_campaign("models/resnet20_bn.onnx", "models/resnet20_input.npy",
                                             SiteTarget::kActivation, 100, 32, Persistence::kPermanent, 8);
  expect_checkpointed(expect_identical(activations, "onednn", 4, checkpointed(activations)));
  const Campaign inputs = make_campaign("models/resnet20_bn.onnx", "models/resnet20_input.npy", SiteTarget::kInput, 60,
                                        33, Persistence::kPermanent, 4);
  expect_checkpointed(expect_identical(inputs, "onednn", 4, checkpointed(inputs)));
}

TEST(CheckpointReplay, InferenceAndBatchPersistenceMatchFullPasses) {
  const Campaign weights = make_campaign("models/resnet20_bn.onnx", "models/resnet20_input.npy", SiteTarget::kWeight,
                                         40, 34, Persistence::kInference, 8);
  expect_checkpointed(expect_identical(weights, "onednn", 3, checkpointed(weights)));
  const Campaign activations = make_campaign("models/resnet20_bn.onnx", "models/resnet20_input.npy",
                                             SiteTarget::kActivation, 40, 35, Persistence::kBatch, 8);
  expect_checkpointed(expect_identical(activations, "onednn", 3, checkpointed(activations)));
}

TEST(CheckpointReplay, InceptionAndDenseNetConcatFaultsMatchFullPassesOnOnednn) {
  for (const char* net : {"googlenet_small", "densenet_small"}) {
    for (SiteTarget target : {SiteTarget::kWeight, SiteTarget::kActivation}) {
      const Campaign c = make_campaign(std::string("models/") + net + ".onnx",
                                       std::string("models/") + net + "_input.npy", target, 60,
                                       target == SiteTarget::kWeight ? 36 : 37);
      expect_checkpointed(expect_identical(c, "onednn", 3, checkpointed(c)));
    }
  }
}

TEST(CheckpointReplay, ResNet20FaultsMatchFullPassesOnReference) {
  for (SiteTarget target : {SiteTarget::kWeight, SiteTarget::kActivation}) {
    const Campaign c = make_campaign("models/resnet20_bn.onnx", "models/resnet20_input.npy", target, 16,
                                     target == SiteTarget::kWeight ? 38 : 39, Persistence::kPermanent, 3);
    expect_checkpointed(expect_identical(c, "reference", 2, checkpointed(c)));
  }
}

// Callers that group faults (campaigns) keep one batch's checkpoints at a time with the whole budget; each
// batch runs clean into the slot before the group's passes.
TEST(CheckpointReplay, BatchMajorGroupsMatchFullPasses) {
  const Campaign c = make_campaign("models/resnet20_bn.onnx", "models/resnet20_input.npy", SiteTarget::kWeight, 40, 40,
                                   Persistence::kPermanent, 8);
  ReplayOptions grouped = checkpointed(c);
  grouped.prefer_batch_major = true;
  const ReplayStats stats = expect_group_identical(c, "onednn", 3, grouped);
  EXPECT_TRUE(stats.batch_major);
  expect_checkpointed(stats);
}

// `faultline run` with a golden_budget_mb below one batch's values says so and writes the same summary.csv.
TEST(CheckpointReplay, CampaignWithASmallGoldenBudgetWritesTheSameSummary) {
  const std::string dir = testing::temp_dir();
  std::string summaries[2];
  const char* budgets[] = {"", "golden_budget_mb: 1\n"};  // one batch of 8: 16 MB
  for (int k = 0; k < 2; ++k) {
    const std::string yaml = dir + "/budget" + std::to_string(k) + ".yaml";
    testing::write_resnet20_campaign_yaml(yaml, 8, budgets[k], "target: activation, count: 16, seed: 41",
                                          dir + "/out" + std::to_string(k));
    auto run = testing::run_faultline("run " + yaml);
    ASSERT_EQ(run.exit_code, 0) << run.err;
    EXPECT_EQ(run.out.find("more than golden_budget_mb; the values crossing") != std::string::npos, k == 1)
        << run.out;
    EXPECT_EQ(run.out.find("full passes:"), std::string::npos) << run.out;
    summaries[k] = testing::read_text(dir + "/out" + std::to_string(k) + "/summary.csv");
  }
  EXPECT_EQ(summaries[0], summaries[1]);
}

}  // namespace
}  // namespace faultline
