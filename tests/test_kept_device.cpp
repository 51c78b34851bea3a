// Incremental fault passes over kept values in device memory (CompiledModel::kept_device, the cuda backend's
// path), checked without a GPU: a backend "host_as_device" wraps oneDNN's plans and tells the engine that their
// kept values live on a device, which it simulates with host memory whose every allocation, copy and
// comparison is counted. The replays must be bit-identical to full passes while every golden slot, copy and
// comparison goes through the device, no window, image subset or channel run is asked for (the host cannot read
// device bytes), and no value bytes are touched in place (value_storage is empty, as on a GPU).
#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <set>
#include <string>

#include "engine/backend.h"
#include "faults/fault_replay.h"
#include "tests/support/replay_campaign.h"

namespace faultline {
namespace {

using testing::Campaign;
using testing::expect_identical;
using testing::make_campaign;

struct DeviceCounts {
  int64_t allocations = 0, releases = 0, copies = 0, comparisons = 0, partial_runs = 0;
  std::set<const std::byte*> live;  // allocated and not yet released
};
DeviceCounts counts;

class CountingDevice final : public KeptDevice {
 public:
  std::byte* allocate(size_t bytes) override {
    ++counts.allocations;
    std::byte* memory = new std::byte[bytes];
    counts.live.insert(memory);
    return memory;
  }
  void release(std::byte* memory) override {
    ++counts.releases;
    EXPECT_EQ(counts.live.erase(memory), 1u) << "released memory the device did not allocate";
    delete[] memory;
  }
  void copy(std::byte* to, const std::byte* from, size_t bytes) override {
    ++counts.copies;
    std::memcpy(to, from, bytes);
  }
  bool differ(const std::byte* a, const std::byte* b, size_t bytes) override {
    ++counts.comparisons;
    return std::memcmp(a, b, bytes) != 0;
  }
};

// A oneDNN plan whose kept values "live on the device": no host view of values, partial runs counted.
class DeviceLikeModel final : public CompiledModel {
 public:
  explicit DeviceLikeModel(std::unique_ptr<CompiledModel> inner, bool keep) : inner_(std::move(inner)), keep_(keep) {}
  const Graph& graph() const override { return inner_->graph(); }
  size_t num_steps() const override { return inner_->num_steps(); }
  const StepInfo& step(size_t index) const override { return inner_->step(index); }
  void run_step(size_t index) override { inner_->run_step(index); }
  Status write_value(ValueId id, const Tensor& src) override { return inner_->write_value(id, src); }
  Status read_value(ValueId id, Tensor& dst) override { return inner_->read_value(id, dst); }
  std::span<std::byte> kept_storage(ValueId id) override { return inner_->kept_storage(id); }
  KeptDevice* kept_device() override { return keep_ ? &device_ : nullptr; }
  std::optional<KeptLayout> kept_layout(ValueId id) override { return inner_->kept_layout(id); }
  bool run_step_window(size_t index, const SpatialWindow& window, std::span<const int64_t> images) override {
    ++counts.partial_runs;
    return inner_->run_step_window(index, window, images);
  }
  bool run_step_channels(size_t index, int64_t first, int64_t end) override {
    ++counts.partial_runs;
    return inner_->run_step_channels(index, first, end);
  }

 private:
  std::unique_ptr<CompiledModel> inner_;
  bool keep_;
  CountingDevice device_;
};

class DeviceLikeBackend final : public Backend {
 public:
  std::string_view name() const override { return "host_as_device"; }
  Status check_support(const Graph& graph, NodeId id) const override { return onednn_->check_support(graph, id); }
  Result<std::unique_ptr<CompiledModel>> compile(const Graph& graph, const PlanOptions& options) const override {
    FL_ASSIGN_OR_RETURN(std::unique_ptr<CompiledModel> inner, onednn_->compile(graph, options));
    return std::unique_ptr<CompiledModel>(std::make_unique<DeviceLikeModel>(std::move(inner), options.keep_values));
  }

 private:
  std::unique_ptr<Backend> onednn_ = std::move(create_backend("onednn")).value();
};

const bool kRegistered = (register_backend("host_as_device",
                                           []() -> Result<std::unique_ptr<Backend>> {
                                             return std::unique_ptr<Backend>(std::make_unique<DeviceLikeBackend>());
                                           }),
                          true);

void expect_everything_on_the_device(const ReplayStats& stats) {
  EXPECT_TRUE(stats.incremental);
  EXPECT_TRUE(stats.golden_on_device);
  EXPECT_LT(stats.steps_run, stats.steps_total) << "the passes recompute only what the faults reach";
  EXPECT_GT(counts.allocations, 0) << "golden slots are the device's";
  EXPECT_GT(counts.copies, 0);
  EXPECT_GT(counts.comparisons, 0);
  EXPECT_EQ(counts.partial_runs, 0) << "no windows, image subsets or channel runs on device bytes";
  EXPECT_EQ(stats.window_steps + stats.image_steps + stats.channel_steps, 0);
  EXPECT_TRUE(counts.live.empty()) << counts.live.size() << " golden slots were never released";
  EXPECT_EQ(counts.allocations, counts.releases);
}

TEST(KeptDevice, WeightFaultReplaysMatchFullPasses) {
  ASSERT_TRUE(kRegistered);
  counts = {};
  const Campaign c = make_campaign("models/resnet20_bn.onnx", "models/resnet20_input.npy", SiteTarget::kWeight, 60, 41,
                                   Persistence::kPermanent, 6);
  const ReplayStats stats = expect_identical(c, "host_as_device", 3);
  expect_everything_on_the_device(stats);
  EXPECT_GT(stats.stopped_early, 0) << "masked faults stop early on device comparisons too";
}

TEST(KeptDevice, ActivationAndInferenceFaultReplaysMatchFullPasses) {
  ASSERT_TRUE(kRegistered);
  counts = {};
  const Campaign permanent = make_campaign("models/resnet20_bn.onnx", "models/resnet20_input.npy",
                                           SiteTarget::kActivation, 40, 42, Persistence::kPermanent, 6);
  expect_everything_on_the_device(expect_identical(permanent, "host_as_device", 3));
  counts = {};
  const Campaign inference = make_campaign("models/resnet20_bn.onnx", "models/resnet20_input.npy",
                                           SiteTarget::kActivation, 30, 43, Persistence::kInference, 6);
  expect_everything_on_the_device(expect_identical(inference, "host_as_device", 3));
}

}  // namespace
}  // namespace faultline
