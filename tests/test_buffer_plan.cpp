// Buffer planning: buffers alive at the same time never overlap; dead buffers' memory is reused.
#include <gtest/gtest.h>

#include <random>

#include "engine/buffer_plan.h"

namespace faultline {
namespace {

TEST(BufferPlan, ChainReusesMemory) {
  // A chain a -> b -> c -> d: each buffer lives two steps; only two are alive at once.
  std::vector<BufferRequest> chain = {{1000, 0, 1}, {1000, 1, 2}, {1000, 2, 3}, {1000, 3, 4}};
  BufferPlan plan = plan_buffers(chain);
  EXPECT_EQ(plan.total_bytes, 2 * 1024u);
}

TEST(BufferPlan, RandomLifetimesNeverOverlapWhileAlive) {
  std::mt19937 rng(7);
  for (int trial = 0; trial < 50; ++trial) {
    std::vector<BufferRequest> requests;
    for (int i = 0; i < 40; ++i) {
      int first = static_cast<int>(rng() % 30);
      requests.push_back({1 + rng() % 5000, first, first + static_cast<int>(rng() % 8)});
    }
    BufferPlan plan = plan_buffers(requests, 64);
    size_t naive = 0;
    for (size_t i = 0; i < requests.size(); ++i) {
      naive += (requests[i].bytes + 63) / 64 * 64;
      EXPECT_EQ(plan.offsets[i] % 64, 0u);
      EXPECT_LE(plan.offsets[i] + requests[i].bytes, plan.total_bytes);
      for (size_t j = 0; j < i; ++j) {
        bool alive_together = requests[i].first_step <= requests[j].last_step &&
                              requests[j].first_step <= requests[i].last_step;
        bool overlap = plan.offsets[i] < plan.offsets[j] + requests[j].bytes &&
                       plan.offsets[j] < plan.offsets[i] + requests[i].bytes;
        ASSERT_FALSE(alive_together && overlap) << "trial " << trial << " buffers " << i << "," << j;
      }
    }
    EXPECT_LE(plan.total_bytes, naive);
  }
}

}  // namespace
}  // namespace faultline
