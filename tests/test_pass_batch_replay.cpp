// Passes on fewer images (FaultReplayer::plan_pass_batches): when one batch's kept golden values exceed
// ReplayOptions::golden_budget_bytes but those of a divisor k of the batch fit, every value is kept for k
// images at a time, provided the clean outputs are the same bytes at both batch sizes. Checked against the
// plain full recomputation at the campaign's batch size: weights, activations and inputs, every persistence
// (a batch fault still hits its whole executed batch), groups and waves, on both backends; and the refusal
// when a backend's kernels at k images round otherwise.
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "faults/fault_replay.h"
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
using testing::replay_session_options;

// A budget that holds `share` of one batch's values.
ReplayOptions budget_for(const Campaign& c, const std::string& backend, int64_t batch, double share) {
  ReplayOptions options;
  options.golden_budget_bytes = static_cast<size_t>(static_cast<double>(one_batch_golden_bytes(c, backend, batch)) * share);
  return options;
}

// Whether full passes at batches of `a` and `b` images give the same clean outputs (independently of the
// replayer's own check).
bool same_golden(const Campaign& c, const std::string& backend, int64_t a, int64_t b) {
  ReplayOptions full;
  full.incremental = false;
  auto at_a = FaultReplayer::create(c.model, replay_session_options(backend, a), c.list, c.resolved, c.targets, c.input, {}, full);
  auto at_b = FaultReplayer::create(c.model, replay_session_options(backend, b), c.list, c.resolved, c.targets, c.input, {}, full);
  EXPECT_TRUE(at_a.is_ok() && at_b.is_ok());
  if (!at_a.is_ok() || !at_b.is_ok()) return false;
  auto golden_a = (*at_a)->golden();
  auto golden_b = (*at_b)->golden();
  EXPECT_TRUE(golden_a.is_ok() && golden_b.is_ok());
  return golden_a.is_ok() && golden_b.is_ok() && golden_a->nbytes() == golden_b->nbytes() &&
         std::memcmp(golden_a->raw(), golden_b->raw(), golden_a->nbytes()) == 0;
}

void expect_pass_batch(const ReplayStats& stats, int64_t pass_batch) {
  EXPECT_TRUE(stats.incremental);
  EXPECT_EQ(stats.pass_batch, pass_batch) << stats.pass_batch_refused;
  EXPECT_EQ(stats.checkpoints, 0);
  EXPECT_TRUE(stats.full_passes_reason.empty()) << stats.full_passes_reason;
  EXPECT_LT(stats.steps_run, stats.steps_total);
}

// The reference backend computes every image alike at any batch size: a batch of 4 runs as passes of 2 (the
// small DenseNet: Concat branches, and quick on this slow backend).
TEST(PassBatchReplay, ReferenceWeightAndActivationFaultsMatchFullPasses) {
  for (SiteTarget target : {SiteTarget::kWeight, SiteTarget::kActivation}) {
    const Campaign c = make_campaign("models/densenet_small.onnx", "models/densenet_small_input.npy", target, 8,
                                     target == SiteTarget::kWeight ? 51 : 52);
    expect_pass_batch(expect_identical(c, "reference", 4, budget_for(c, "reference", 4, 0.6)), 2);
  }
}

// Within the budget, a batch whose values exceed ReplayOptions::pass_batch_bytes runs in smaller passes too.
TEST(PassBatchReplay, LargeBatchesRunInSmallerPassesWithinTheBudget) {
  const Campaign c = make_campaign("models/densenet_small.onnx", "models/densenet_small_input.npy",
                                   SiteTarget::kActivation, 8, 57);
  ReplayOptions capped;
  capped.pass_batch_bytes = budget_for(c, "reference", 4, 0.6).golden_budget_bytes;
  expect_pass_batch(expect_identical(c, "reference", 4, capped), 2);
  ReplayOptions roomy;
  roomy.pass_batch_bytes = budget_for(c, "reference", 4, 1.0).golden_budget_bytes;
  EXPECT_EQ(expect_identical(c, "reference", 4, roomy).pass_batch, 0) << "a batch within the cap keeps its size";
}

// FAULTLINE_PASS_BATCH_MB replaces the cap (for A/B runs); anything but a positive number of MB is refused.
TEST(PassBatchReplay, TheCapCanBeSetFromTheEnvironment) {
  const Campaign c = make_campaign("models/resnet20_bn.onnx", "models/resnet20_input.npy", SiteTarget::kWeight, 2, 58,
                                   Persistence::kPermanent, 4);
  auto create = [&]() {
    return FaultReplayer::create(c.model, replay_session_options("reference", 2), c.list, c.resolved, c.targets,
                                 c.input);
  };
  ASSERT_EQ(setenv("FAULTLINE_PASS_BATCH_MB", "3", 1), 0);
  auto three = create();
  ASSERT_TRUE(three.is_ok()) << three.status().message();
  EXPECT_EQ((*three)->stats().pass_batch_cap, size_t{3} << 20);
  for (const char* bad : {"0", "12x", "-5"}) {
    ASSERT_EQ(setenv("FAULTLINE_PASS_BATCH_MB", bad, 1), 0);
    auto refused = create();
    ASSERT_FALSE(refused.is_ok()) << bad;
    EXPECT_NE(refused.status().message().find("FAULTLINE_PASS_BATCH_MB"), std::string::npos)
        << refused.status().message();
  }
  ASSERT_EQ(unsetenv("FAULTLINE_PASS_BATCH_MB"), 0);
  auto unset = create();
  ASSERT_TRUE(unset.is_ok());
  EXPECT_EQ((*unset)->stats().pass_batch_cap, ReplayOptions{}.pass_batch_bytes);
}

// A batch fault still hits every image of its executed batch (4 images), not only those of its pass (2).
TEST(PassBatchReplay, PersistenceKeepsTheCampaignsBatches) {
  const Campaign weights = make_campaign("models/densenet_small.onnx", "models/densenet_small_input.npy",
                                         SiteTarget::kWeight, 6, 53, Persistence::kBatch);
  expect_pass_batch(expect_identical(weights, "reference", 4, budget_for(weights, "reference", 4, 0.6)), 2);
  const Campaign activations = make_campaign("models/densenet_small.onnx", "models/densenet_small_input.npy",
                                             SiteTarget::kActivation, 6, 54, Persistence::kBatch);
  expect_pass_batch(expect_identical(activations, "reference", 4, budget_for(activations, "reference", 4, 0.6)), 2);
}

// Groups: permanent faults batch-major (one pass batch's values at a time), inference faults in waves.
TEST(PassBatchReplay, GroupsAndWavesMatchFullPasses) {
  const Campaign permanent = make_campaign("models/densenet_small.onnx", "models/densenet_small_input.npy",
                                           SiteTarget::kInput, 8, 55);
  ReplayOptions grouped = budget_for(permanent, "reference", 4, 0.6);
  grouped.prefer_batch_major = true;
  const ReplayStats major = expect_group_identical(permanent, "reference", 4, grouped);
  expect_pass_batch(major, 2);
  EXPECT_TRUE(major.batch_major);
  const Campaign inference = make_campaign("models/densenet_small.onnx", "models/densenet_small_input.npy",
                                           SiteTarget::kActivation, 8, 56, Persistence::kInference);
  const ReplayStats waves = expect_group_identical(inference, "reference", 4, budget_for(inference, "reference", 4, 0.6));
  expect_pass_batch(waves, 2);
  EXPECT_EQ(waves.wave_faults, 8);
}

// oneDNN: passes of k images when its kernels give the batch's bytes at k, else checkpoints, as an independent
// comparison of full passes at both sizes says; identical outputs either way. (On the AVX-512 machine this was
// written on, the fault plans of the test models give the same bytes at every batch size tried: ResNet20 at
// 1-16 images, the DenseNet, Inception, ResNet8, LeNet-5 and dense Keras nets at 1-4 or 1-8, with one or two
// threads; plain inference plans do not: ResNet20 at 2 images differs from 8. So the refusal runs only where
// the kernels differ.)
TEST(PassBatchReplay, OnednnUsesFewerImagesOnlyWhenTheBytesAreTheSame) {
  struct Case {
    int64_t batch;
    double share;
    int64_t pass_batch;
  };
  for (const Case& k : {Case{8, 0.6, 4}, Case{4, 0.6, 2}}) {
    for (SiteTarget target : {SiteTarget::kWeight, SiteTarget::kActivation}) {
      const Campaign c = make_campaign("models/resnet20_bn.onnx", "models/resnet20_input.npy", target, 30,
                                       target == SiteTarget::kWeight ? 57 : 58, Persistence::kPermanent, 16);
      const bool same = same_golden(c, "onednn", k.pass_batch, k.batch);
      const ReplayStats stats = expect_identical(c, "onednn", k.batch, budget_for(c, "onednn", k.batch, k.share));
      if (same) {
        expect_pass_batch(stats, k.pass_batch);
        EXPECT_GT(stats.window_steps + stats.channel_steps, 0) << "partial runs work on the smaller plan too";
      } else {
        EXPECT_EQ(stats.pass_batch, 0);
        EXPECT_NE(stats.pass_batch_refused.find("batches of " + std::to_string(k.pass_batch) +
                                                " images compute other bytes than batches of " +
                                                std::to_string(k.batch)),
                  std::string::npos)
            << stats.pass_batch_refused;
        EXPECT_GT(stats.checkpoints, 0);
      }
    }
  }
}

// `faultline run` says which way it kept the values, and writes the same summary.csv as with every value kept.
TEST(PassBatchReplay, CampaignWithABudgetForHalfABatchWritesTheSameSummary) {
  const std::string dir = testing::temp_dir();
  std::string summaries[2];
  const char* budgets[] = {"", "golden_budget_mb: 8\n"};  // one batch of 8: about 13 MB
  for (int k = 0; k < 2; ++k) {
    const std::string yaml = dir + "/budget" + std::to_string(k) + ".yaml";
    testing::write_resnet20_campaign_yaml(yaml, 8, budgets[k], "target: weight, count: 16, seed: 59",
                                          dir + "/out" + std::to_string(k));
    auto run = testing::run_faultline("run " + yaml);
    ASSERT_EQ(run.exit_code, 0) << run.err;
    const bool fewer = run.out.find("smaller passes: one batch's golden values take") != std::string::npos;
    const bool refused = run.out.find("(not smaller passes: batches of 4 images") != std::string::npos;
    EXPECT_EQ(fewer || refused, k == 1) << run.out;
    EXPECT_EQ(run.out.find("full passes:"), std::string::npos) << run.out;
    summaries[k] = testing::read_text(dir + "/out" + std::to_string(k) + "/summary.csv");
  }
  EXPECT_EQ(summaries[0], summaries[1]);
}

}  // namespace
}  // namespace faultline
