// Random fault campaigns on the test models, replayed both ways (tests/test_incremental_replay.cpp,
// tests/test_checkpoint_replay.cpp): the plain full recomputation against a faster path.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/graph.h"
#include "engine/tensor.h"
#include "faults/campaign.h"
#include "faults/fault.h"
#include "faults/fault_generator.h"
#include "faults/fault_list.h"
#include "faults/fault_replay.h"
#include "faults/fault_targets.h"

namespace faultline::testing {

struct Campaign {
  std::shared_ptr<const Graph> model;
  std::vector<FaultTarget> targets;
  FaultList list;
  std::vector<ResolvedFault> resolved;
  Tensor input;
};

// `count` random faults on `target` sites (every bit, bit flips plus a share of stuck-at and multibit), with
// `persistence`; inference / batch faults get a Batch image drawn from the input's images. `images` > 0 keeps
// the input's first `images` images.
Campaign make_campaign(const std::string& model_file, const std::string& input_file, SiteTarget target, int64_t count,
                       uint64_t seed, Persistence persistence = Persistence::kPermanent, int64_t images = 0);

// The session options of the replays below: `backend`, batches of `batch`, one thread (ctest runs two tests at
// once on two cores: no oversubscribed OpenMP barriers).
SessionOptions replay_session_options(const std::string& backend, int64_t batch);

// What one batch's kept golden values take for `c` (the incremental replay's own sizing, every value kept, the
// default budget): every batch's over the number of batches.
size_t one_batch_golden_bytes(const Campaign& c, const std::string& backend, int64_t batch);

// Replays every fault of `c` with full passes and with `fast_options` (batches of `batch`, one thread) and
// requires bit-identical outputs (one failure per differing fault, up to five); returns the fast replay's stats.
ReplayStats expect_identical(const Campaign& c, const std::string& backend, int64_t batch,
                             const ReplayOptions& fast_options = {});

// Replays every fault of `c` through one run_group() call with `fast_options` (batches of `batch`, one thread)
// and each fault alone with full passes, and requires bit-identical outputs (one failure per differing fault,
// up to five); returns the fast replay's stats.
ReplayStats expect_group_identical(const Campaign& c, const std::string& backend, int64_t batch,
                                   const ReplayOptions& fast_options);

// A campaign over `c` with batches of `batch` images, one thread, writing into `output`.
CampaignSpec campaign_spec(const Campaign& c, int64_t batch, const std::string& output);

// Writes a `faultline run` YAML at `path`: ResNet20 (BatchNorm kept) on the 16 test images, batches of `batch`,
// one thread, the lines `extra_keys`, `faults: {generate: {generate}}` and `output: output`.
void write_resnet20_campaign_yaml(const std::string& path, int64_t batch, const std::string& extra_keys,
                                  const std::string& generate, const std::string& output);

}  // namespace faultline::testing
