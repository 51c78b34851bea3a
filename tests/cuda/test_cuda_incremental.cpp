// Incremental fault passes on the GPU (engine/incremental_executor.h over the cuda backend's kept device memory,
// CompiledModel::kept_device) against full passes on the GPU: for every fault of random campaigns on ResNet20
// (residual branches) and an Inception net (Concat branches), the faulty outputs are bit-identical, NaN/Inf
// patterns included, and the incremental path is the one taken (fewer steps, passes that stop early).
#include <gtest/gtest.h>

#include "faults/fault_replay.h"
#include "tests/cuda/cuda_test_support.h"
#include "tests/support/replay_campaign.h"

namespace faultline {
namespace {

using testing::Campaign;
using testing::expect_group_identical;
using testing::expect_identical;
using testing::make_campaign;

TEST(CudaIncremental, ResNet20WeightFaultsMatchFullPasses) {
  FAULTLINE_SKIP_WITHOUT_GPU();
  const Campaign c = make_campaign("models/resnet20_bn.onnx", "models/resnet20_input.npy", SiteTarget::kWeight, 300, 71,
                                   Persistence::kPermanent, 16);
  const ReplayStats stats = expect_identical(c, "cuda", 6);  // batches of 6, 6 and 4 images: two plans
  EXPECT_TRUE(stats.incremental);
  EXPECT_TRUE(stats.golden_on_device);
  EXPECT_LT(stats.steps_run, stats.steps_total / 2) << "weight faults sit mostly in layer3: most steps are skipped";
  EXPECT_GT(stats.stopped_early, 0);
}

TEST(CudaIncremental, ResNet20ActivationAndInferenceFaultsMatchFullPasses) {
  FAULTLINE_SKIP_WITHOUT_GPU();
  const Campaign permanent = make_campaign("models/resnet20_bn.onnx", "models/resnet20_input.npy",
                                           SiteTarget::kActivation, 200, 72, Persistence::kPermanent, 16);
  const ReplayStats permanent_stats = expect_identical(permanent, "cuda", 8);
  EXPECT_LT(permanent_stats.steps_run, permanent_stats.steps_total);
  const Campaign inference = make_campaign("models/resnet20_bn.onnx", "models/resnet20_input.npy",
                                           SiteTarget::kActivation, 120, 73, Persistence::kInference, 16);
  ReplayOptions grouped;
  grouped.prefer_batch_major = true;
  const ReplayStats stats = expect_group_identical(inference, "cuda", 8, grouped);
  EXPECT_GT(stats.waves, 0) << "single-image faults share passes, one per image";
}

TEST(CudaIncremental, InceptionConcatFaultsMatchFullPasses) {
  FAULTLINE_SKIP_WITHOUT_GPU();
  for (SiteTarget target : {SiteTarget::kWeight, SiteTarget::kActivation, SiteTarget::kInput}) {
    const Campaign c = make_campaign("models/googlenet_small.onnx", "models/googlenet_small_input.npy", target, 120,
                                     74 + static_cast<int>(target));
    const ReplayStats stats = expect_identical(c, "cuda", 3);
    EXPECT_LT(stats.steps_run, stats.steps_total);
  }
}

TEST(CudaIncremental, GoldenSlotsOfEveryBatchAndBatchMajorGroupsMatchFullPasses) {
  FAULTLINE_SKIP_WITHOUT_GPU();
  const Campaign c = make_campaign("models/resnet20_bn.onnx", "models/resnet20_input.npy", SiteTarget::kWeight, 80, 78,
                                   Persistence::kPermanent, 16);
  ReplayOptions batch_major;
  batch_major.prefer_batch_major = true;
  EXPECT_TRUE(expect_group_identical(c, "cuda", 4, batch_major).batch_major);
  ReplayOptions small;  // a budget of two batches' values: batch-major
  small.golden_budget_bytes = 2 * testing::one_batch_golden_bytes(c, "cuda", 4);
  EXPECT_TRUE(expect_group_identical(c, "cuda", 4, small).batch_major);
}

}  // namespace
}  // namespace faultline
