// `faultline merge`: the shards of a campaign (faults/campaign_shard.h) combined into the files an unsharded
// run of the same campaign writes, byte for byte.
//
// merge_shards(dirs, output) checks, before writing anything, that the folders are the complete shards of
// one campaign:
//   - each holds shard.csv, faults.csv, golden.csv and summary.csv;
//   - the same shard count N and fault count F in every manifest, each index 0..N-1 exactly once (a missing
//     one is named, "shard 2-of-3 is missing");
//   - the same faults.csv, golden.csv, summary.csv header and GOLDEN record in every shard;
//   - shard I's rows are exactly the list positions k = I, I + N, I + 2N, ... (their fault-list fields equal
//     the list's row k), all of them: an incomplete shard, a row of another fault, or a fault twice is an
//     error naming the shard's folder and the row's Injection;
//   - outputs.h5 in every shard or in none; where present, its rows' Injection numbers are the shard's faults
//     and its golden outputs equal the other shards'.
// It then writes, each atomically, into `output`: outputs.h5 (when the shards have it: golden, and faulty /
// injection rows in list order), faults.csv, golden.csv, layers.csv, bits.csv and last summary.csv (rows in
// list order). `output` defaults to the folder that holds the shards' `shards/` folder (the experiment's
// output), and must then be the same for every shard. An `output` whose summary.csv holds other results
// is refused; merging again into the same folder rewrites the same bytes.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/status.h"

namespace faultline {

struct MergeResult {
  std::string output;
  int64_t shards = 0;
  int64_t faults = 0;
  bool outputs = false;  // outputs.h5 merged
};

Result<MergeResult> merge_shards(const std::vector<std::string>& shard_folders, const std::string& output = "");

}  // namespace faultline
