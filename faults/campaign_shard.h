// Campaign shards: a deterministic 1/N of a fault list, for a cluster's job array (`faultline run --shard I/N`).
//
// Shard I of N runs the faults at list positions k with k mod N == I (round-robin, so every shard gets a
// similar mix of layers), in list order, into `<output>/shards/I-of-N/`. Besides the usual files, a shard's
// folder holds faults.csv (the whole list, the same in every shard) and shard.csv, its manifest:
//   shard,shards,faults
//   1,3,150
// (its index, the shard count, and the whole list's fault count). `faultline merge` (faults/campaign_merge.h)
// reads these back.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "engine/status.h"

namespace faultline {

inline constexpr const char* kShardsFolder = "shards";
inline constexpr const char* kShardManifestFile = "shard.csv";

struct CampaignShard {
  int64_t index = 0;
  int64_t count = 1;  // 1: the whole list, in the output folder itself
  bool sharded() const { return count > 1; }
  bool owns(size_t position) const { return static_cast<int64_t>(position % static_cast<size_t>(count)) == index; }
  // How many of `faults` list positions this shard runs.
  int64_t size_of(int64_t faults) const { return faults > index ? (faults - index + count - 1) / count : 0; }
};

// "I/N" with integers 0 <= I < N (N >= 1). The error names the text and the expected form.
Result<CampaignShard> parse_shard(std::string_view text);

// "I-of-N", the shard's folder under <output>/shards/.
std::string shard_folder_name(const CampaignShard& shard);

// The manifest text, and reading it back ({shard, faults}); errors name the file and line.
std::string shard_manifest(const CampaignShard& shard, int64_t faults);
struct ShardManifest {
  CampaignShard shard;
  int64_t faults = 0;
};
Result<ShardManifest> read_shard_manifest(const std::string& path);

}  // namespace faultline
