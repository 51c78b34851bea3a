#include "faults/campaign_merge.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <optional>

#include "engine/file_io.h"
#include "faults/campaign.h"
#include "faults/campaign_files.h"
#include "faults/campaign_outputs.h"
#include "faults/campaign_shard.h"
#include "faults/csv.h"

namespace faultline {

namespace {

namespace fs = std::filesystem;

struct ShardFiles {
  std::string folder;
  ShardManifest manifest;
  std::string faults_text, golden_text;
  std::vector<CsvRecord> summary;  // header, GOLDEN, rows
};

std::string path_in(const std::string& folder, const char* file) { return (fs::path(folder) / file).string(); }

std::string name_of(const CampaignShard& shard) { return "shard " + shard_folder_name(shard); }

Result<ShardFiles> read_shard(const std::string& folder) {
  ShardFiles files;
  files.folder = folder;
  std::error_code ec;
  if (!fs::is_directory(folder, ec)) return not_found(folder + ": no such folder");
  if (!fs::exists(path_in(folder, kShardManifestFile), ec))
    return invalid_argument(folder + ": not a shard folder (no " + kShardManifestFile +
                            "; shards are written by faultline run --shard I/N)");
  FL_ASSIGN_OR_RETURN(files.manifest, read_shard_manifest(path_in(folder, kShardManifestFile)));
  FL_ASSIGN_OR_RETURN(files.faults_text, read_file(path_in(folder, kFaultsFile)));
  FL_ASSIGN_OR_RETURN(files.golden_text, read_file(path_in(folder, kGoldenFile)));
  const std::string summary_path = path_in(folder, kSummaryFile);
  FL_ASSIGN_OR_RETURN(const std::string summary, read_file(summary_path));
  FL_ASSIGN_OR_RETURN(files.summary, parse_csv(summary, summary_path));
  if (files.summary.size() < 2 || files.summary[1].fields.empty() || files.summary[1].fields[0] != "GOLDEN")
    return invalid_argument(summary_path + ": no header and GOLDEN record (" + name_of(files.manifest.shard) +
                            " has not started; run it with faultline run --shard)");
  return files;
}

// The folder that holds `shard_folder`'s `shards/` folder, if it sits in one.
std::optional<std::string> experiment_folder(const std::string& shard_folder) {
  const fs::path path = fs::absolute(fs::path(shard_folder)).lexically_normal();
  const fs::path folder = path.has_filename() ? path : path.parent_path();
  if (folder.parent_path().filename() != kShardsFolder) return std::nullopt;
  return folder.parent_path().parent_path().string();
}

}  // namespace

Result<MergeResult> merge_shards(const std::vector<std::string>& shard_folders, const std::string& output_arg) {
  if (shard_folders.empty()) return invalid_argument("no shard folders given");
  std::vector<ShardFiles> given;
  for (const std::string& folder : shard_folders) {
    FL_ASSIGN_OR_RETURN(ShardFiles files, read_shard(folder));
    given.push_back(std::move(files));
  }

  // Same campaign, every shard once.
  const ShardFiles& first = given.front();
  const int64_t count = first.manifest.shard.count;
  const int64_t faults = first.manifest.faults;
  std::vector<const ShardFiles*> shards(static_cast<size_t>(count), nullptr);
  for (const ShardFiles& files : given) {
    const CampaignShard& shard = files.manifest.shard;
    if (shard.count != count || files.manifest.faults != faults)
      return invalid_argument(files.folder + ": " + name_of(shard) + " of a list of " +
                              std::to_string(files.manifest.faults) + " faults does not belong with " + first.folder +
                              " (" + name_of(first.manifest.shard) + " of " + std::to_string(faults) + " faults)");
    const ShardFiles*& slot = shards[static_cast<size_t>(shard.index)];
    if (slot) return invalid_argument(files.folder + ": " + name_of(shard) + " is given twice (also " + slot->folder + ")");
    slot = &files;
  }
  for (int64_t i = 0; i < count; ++i) {
    if (!shards[static_cast<size_t>(i)]) {
      return invalid_argument("shard " + shard_folder_name({i, count}) + " is missing (given: " +
                              std::to_string(given.size()) + " of " + std::to_string(count) + " shards)");
    }
  }
  const ShardFiles& shard0 = *shards.front();
  for (const ShardFiles* files : shards) {
    const std::string what = files->folder + ": " + name_of(files->manifest.shard) + ": its ";
    const std::string other = " differs from " + shard0.folder + "'s: the shards come from different campaigns";
    if (files->faults_text != shard0.faults_text) return invalid_argument(what + kFaultsFile + other);
    if (files->golden_text != shard0.golden_text) return invalid_argument(what + kGoldenFile + other);
    if (files->summary[0].fields != shard0.summary[0].fields)
      return invalid_argument(what + "summary.csv header" + other);
    if (files->summary[1].fields != shard0.summary[1].fields)
      return invalid_argument(what + "summary.csv GOLDEN record" + other);
  }

  // The list, and every fault exactly once.
  const std::string list_path = path_in(shard0.folder, kFaultsFile);
  FL_ASSIGN_OR_RETURN(std::vector<CsvRecord> list, parse_csv(shard0.faults_text, list_path));
  if (list.empty() || static_cast<int64_t>(list.size()) - 1 != faults)
    return invalid_argument(list_path + ": holds " + std::to_string(list.empty() ? 0 : list.size() - 1) +
                            " faults, the manifest says " + std::to_string(faults));
  const std::vector<std::string>& fault_header = list.front().fields;
  std::vector<std::vector<std::string>> fault_rows(static_cast<size_t>(faults));
  std::vector<FaultOutcome> outcomes(static_cast<size_t>(faults));
  std::string summary = csv_line(shard0.summary[0].fields) + csv_line(shard0.summary[1].fields);
  std::vector<const std::vector<std::string>*> rows(static_cast<size_t>(faults), nullptr);
  for (const ShardFiles* files : shards) {
    const CampaignShard& shard = files->manifest.shard;
    const std::string where = path_in(files->folder, kSummaryFile) + " (" + name_of(shard) + ")";
    const int64_t expected = shard.size_of(faults);
    const int64_t present = static_cast<int64_t>(files->summary.size()) - 2;
    if (present > expected)
      return invalid_argument(where + ": holds " + std::to_string(present) + " rows, but the shard has only " +
                              std::to_string(expected) + " faults");
    for (int64_t j = 0; j < present; ++j) {
      const size_t k = static_cast<size_t>(j * count + shard.index);
      const std::vector<std::string>& fields = files->summary[static_cast<size_t>(j) + 2].fields;
      const std::vector<std::string>& fault = list[k + 1].fields;
      const bool same = fields.size() == fault.size() + kSummaryOutcomeColumns &&
                        std::equal(fault.begin(), fault.end(), fields.begin());
      if (!same) {
        return invalid_argument(where + ": row " + std::to_string(j + 1) + " is fault Injection " +
                                (fields.empty() ? std::string("?") : fields.front()) + ", expected Injection " +
                                fault.front() + " (list position " + std::to_string(k) +
                                "; a shard's rows are the positions k with k mod " + std::to_string(count) +
                                " = " + std::to_string(shard.index) + ", each once, in order)");
      }
      Result<FaultOutcome> outcome = parse_summary_outcome(fields);
      if (!outcome.is_ok()) return outcome.status().with_context(where + ": row " + std::to_string(j + 1));
      outcomes[k] = *outcome;
      fault_rows[k] = fault;
      rows[k] = &fields;
    }
    if (present < expected) {
      const std::string next = list[static_cast<size_t>(present * count + shard.index) + 1].fields.front();
      return invalid_argument(files->folder + ": " + name_of(shard) + " is incomplete: " + std::to_string(present) +
                              " of its " + std::to_string(expected) + " faults have run, the next is Injection " +
                              next + " (finish it with faultline run EXPERIMENT --shard " +
                              std::to_string(shard.index) + "/" + std::to_string(count) + " --resume)");
    }
  }
  for (const std::vector<std::string>* row : rows) summary += csv_line(*row);

  // Saved outputs: in every shard or in none.
  std::vector<std::optional<OutputsReader>> readers(shards.size());
  bool any_outputs = false;
  std::error_code ec;
  for (const ShardFiles* files : shards) any_outputs |= fs::exists(path_in(files->folder, kOutputsFile), ec);
  if (any_outputs) {
    for (size_t i = 0; i < shards.size(); ++i) {
      const ShardFiles& files = *shards[i];
      const std::string path = path_in(files.folder, kOutputsFile);
      if (!fs::exists(path, ec))
        return invalid_argument(files.folder + ": " + name_of(files.manifest.shard) + " has no " + kOutputsFile +
                                " but other shards do (run every shard with --save-outputs, or none)");
      FL_ASSIGN_OR_RETURN(OutputsReader reader, OutputsReader::open(path));
      const CampaignShard& shard = files.manifest.shard;
      if (reader.faults() != shard.size_of(faults))
        return invalid_argument(path + ": holds " + std::to_string(reader.faults()) + " faults, " + name_of(shard) +
                                " has " + std::to_string(shard.size_of(faults)));
      for (int64_t j = 0; j < reader.faults(); ++j) {
        const std::string& expected = list[static_cast<size_t>(j * count + shard.index) + 1].fields.front();
        if (std::to_string(reader.injections()[static_cast<size_t>(j)]) != trim(expected))
          return invalid_argument(path + ": row " + std::to_string(j) + " is Injection " +
                                  std::to_string(reader.injections()[static_cast<size_t>(j)]) + ", expected " +
                                  expected);
      }
      if (i > 0) {
        const Tensor& golden0 = readers[0]->golden();
        if (reader.golden().shape() != golden0.shape() ||
            std::memcmp(reader.golden().raw(), golden0.raw(), golden0.nbytes()) != 0)
          return invalid_argument(path + ": its golden outputs differ from " + shards[0]->folder + "'s");
      }
      readers[i].emplace(std::move(reader));
    }
  }

  // Where to.
  std::string output = output_arg;
  if (output.empty()) {
    for (const ShardFiles* files : shards) {
      const std::optional<std::string> folder = experiment_folder(files->folder);
      if (!folder)
        return invalid_argument(files->folder + ": not inside a '" + std::string(kShardsFolder) +
                                "' folder; give the merged results' folder with --output");
      if (!output.empty() && *folder != output)
        return invalid_argument(files->folder + ": lies under " + *folder + ", other shards under " + output +
                                "; give the merged results' folder with --output");
      output = *folder;
    }
  }
  const std::string summary_path = path_in(output, kSummaryFile);
  if (fs::exists(summary_path, ec)) {
    FL_ASSIGN_OR_RETURN(const std::string there, read_file(summary_path));
    if (there != summary)
      return invalid_argument(summary_path + ": holds other results; choose another --output");
  }

  fs::create_directories(output, ec);
  if (ec) return io_error(output + ": cannot create the folder: " + ec.message());
  if (any_outputs) {
    FL_RETURN_IF_ERROR(write_outputs_h5(path_in(output, kOutputsFile), readers[0]->golden(), faults,
                                        [&](int64_t k, std::span<float> dst) -> Result<int64_t> {
                                          const OutputsReader& reader = *readers[static_cast<size_t>(k % count)];
                                          FL_RETURN_IF_ERROR(reader.read_row(k / count, dst));
                                          return reader.injections()[static_cast<size_t>(k / count)];
                                        }));
  }
  FL_RETURN_IF_ERROR(write_file_atomically(path_in(output, kFaultsFile), shard0.faults_text));
  FL_RETURN_IF_ERROR(write_file_atomically(path_in(output, kGoldenFile), shard0.golden_text));
  FL_RETURN_IF_ERROR(write_layer_and_bit_reports(path_in(output, kLayersFile), path_in(output, kBitsFile), fault_header,
                                                 fault_rows, outcomes));
  FL_RETURN_IF_ERROR(write_kernel_reports(output, fault_header, fault_rows, outcomes).status());
  FL_RETURN_IF_ERROR(write_file_atomically(summary_path, summary));
  return MergeResult{output, count, faults, any_outputs};
}

}  // namespace faultline
