#include "faults/campaign_shard.h"

#include "engine/file_io.h"
#include "faults/csv.h"

namespace faultline {

Result<CampaignShard> parse_shard(std::string_view text) {
  const auto bad = [&](const std::string& why) {
    return invalid_argument("--shard '" + std::string(text) + "': " + why +
                            " (expected I/N: shard I of N, 0 <= I < N, e.g. 0/4 for the first of four)");
  };
  const size_t slash = text.find('/');
  if (slash == std::string_view::npos) return bad("no '/'");
  Result<int64_t> index = parse_int64(text.substr(0, slash));
  Result<int64_t> count = parse_int64(text.substr(slash + 1));
  if (!index.is_ok() || !count.is_ok()) return bad("I and N must be integers");
  if (*count < 1) return bad("N must be at least 1");
  if (*index < 0 || *index >= *count) return bad("I must be between 0 and N - 1");
  return CampaignShard{*index, *count};
}

std::string shard_folder_name(const CampaignShard& shard) {
  return std::to_string(shard.index) + "-of-" + std::to_string(shard.count);
}

std::string shard_manifest(const CampaignShard& shard, int64_t faults) {
  return csv_line({"shard", "shards", "faults"}) +
         csv_line({std::to_string(shard.index), std::to_string(shard.count), std::to_string(faults)});
}

Result<ShardManifest> read_shard_manifest(const std::string& path) {
  FL_ASSIGN_OR_RETURN(const std::string text, read_file(path));
  FL_ASSIGN_OR_RETURN(std::vector<CsvRecord> records, parse_csv(text, path));
  if (records.size() != 2 || records[0].fields != std::vector<std::string>{"shard", "shards", "faults"} ||
      records[1].fields.size() != 3)
    return invalid_argument(path + ": not a shard manifest (expected the header shard,shards,faults and one row)");
  const std::vector<std::string>& row = records[1].fields;
  Result<int64_t> index = parse_int64(row[0]), count = parse_int64(row[1]), faults = parse_int64(row[2]);
  if (!index.is_ok() || !count.is_ok() || !faults.is_ok() || *count < 1 || *index < 0 || *index >= *count ||
      *faults < 0)
    return invalid_argument(path + ":2: expected shard I, shards N and faults F with 0 <= I < N and F >= 0");
  return ShardManifest{CampaignShard{*index, *count}, *faults};
}

}  // namespace faultline
