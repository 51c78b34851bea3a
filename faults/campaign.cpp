#include "faults/campaign.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <optional>

#include "engine/file_io.h"
#include "faults/campaign_files.h"
#include "faults/campaign_outputs.h"
#include "faults/csv.h"
#include "faults/fault_replay.h"
#include "faults/outcome_report.h"
#include "faults/spiking_analysis.h"
#include "faults/spiking_replay.h"

namespace faultline {

namespace {

bool same_file(const std::string& a, const std::string& b) {
  std::error_code ec;
  return std::filesystem::exists(a, ec) && std::filesystem::exists(b, ec) && std::filesystem::equivalent(a, b, ec);
}

}  // namespace

namespace {

// How many faults' outputs (`output_bytes` each) a group holds within 256 MB, between 1 and `most`.
size_t outputs_within_memory(size_t output_bytes, size_t most) {
  return std::clamp<size_t>((size_t{256} << 20) / std::max<size_t>(output_bytes, 1), 1, most);
}

}  // namespace

size_t batch_major_group_size(double fault_seconds, size_t output_bytes) {
  constexpr double kGroupSeconds = 60.0, kMostFaults = 1024.0;
  const double by_time = fault_seconds > 0 ? std::clamp(kGroupSeconds / fault_seconds, 1.0, kMostFaults) : kMostFaults;
  return outputs_within_memory(output_bytes, static_cast<size_t>(by_time));
}

Result<CampaignResult> run_campaign(const CampaignSpec& spec) {
  namespace fs = std::filesystem;
  if (!spec.model) return invalid_argument("campaign: no model");
  if (spec.dataset.images.dtype() != DType::kFloat32 || spec.dataset.images.rank() < 1)
    return invalid_argument("campaign: the dataset's images must be float32 [N, ...]");
  const CampaignShard& shard = spec.shard;
  if (shard.count < 1 || shard.index < 0 || shard.index >= shard.count)
    return invalid_argument("campaign: shard " + std::to_string(shard.index) + " of " + std::to_string(shard.count) +
                            " does not exist");
  if (shard.sharded() && shard.count > static_cast<int64_t>(spec.faults.size()))
    return invalid_argument("--shard " + std::to_string(shard.index) + "/" + std::to_string(shard.count) + ": " +
                            std::to_string(shard.count) + " shards for a list of " +
                            std::to_string(spec.faults.size()) + " faults; use at most one shard per fault");

  // This shard's faults, in list order.
  std::vector<ResolvedFault> faults;
  for (size_t k = 0; k < spec.faults.size(); ++k)
    if (shard.owns(k)) faults.push_back(spec.faults[k]);

  CampaignResult result;
  const fs::path folder =
      shard.sharded() ? fs::path(spec.output) / kShardsFolder / shard_folder_name(shard) : fs::path(spec.output);
  result.folder = folder.string();
  result.summary_path = (folder / kSummaryFile).string();
  result.golden_path = (folder / kGoldenFile).string();
  result.layers_path = (folder / kLayersFile).string();
  result.bits_path = (folder / kBitsFile).string();
  result.faults_path = (folder / kFaultsFile).string();
  const std::string log_path = (folder / kOutputsLogFile).string();
  if (spec.save_outputs) result.outputs_path = (folder / kOutputsFile).string();

  // Refuse to overwrite results before anything runs.
  std::error_code ec;
  std::string existing;
  if (fs::exists(result.summary_path, ec)) {
    FL_ASSIGN_OR_RETURN(existing, read_file(result.summary_path));
    if (!spec.resume && !existing.empty()) {
      return invalid_argument(result.summary_path +
                            ": results of a campaign are already there; pass --resume to continue it or choose "
                            "another output folder");
    }
  }
  if (!spec.save_outputs && fs::exists(log_path, ec))
    return invalid_argument(log_path + ": this campaign saves its outputs; resume it with --save-outputs");
  const std::string manifest = shard_manifest(shard, static_cast<int64_t>(spec.faults.size()));
  const std::string manifest_path = (folder / kShardManifestFile).string();
  if (shard.sharded() && fs::exists(manifest_path, ec)) {
    FL_ASSIGN_OR_RETURN(const std::string old_manifest, read_file(manifest_path));
    if (old_manifest != manifest)
      return invalid_argument(manifest_path + ": the shard there belongs to another campaign (another fault list)");
  }

  // The fault-list fields of every entry, as the list is written.
  const std::string list_text = format_fault_list(spec.list);
  FL_ASSIGN_OR_RETURN(std::vector<CsvRecord> list_records, parse_csv(list_text, spec.list.source));
  if (list_records.size() != spec.list.entries.size() + 1)
    return internal_error("campaign: the formatted fault list has " + std::to_string(list_records.size()) +
                          " records for " + std::to_string(spec.list.entries.size()) + " faults");
  const std::vector<std::string>& fault_header = list_records.front().fields;
  auto fault_fields = [&](size_t f) -> const std::vector<std::string>& {
    return list_records[faults[f].entry + 1].fields;
  };
  auto injection = [&](size_t f) { return spec.list.entries[faults[f].entry].injection; };

  // Golden pass. A shard plans with the whole list's fault sites observable, as an unsharded run does: the
  // same plan (the same fusions) gives the same golden and faulty bits in every shard.
  SessionOptions options = spec.options;
  for (std::string& name : faulted_value_names(spec.faults, spec.targets))
    if (std::find(options.observable.begin(), options.observable.end(), name) == options.observable.end())
      options.observable.push_back(std::move(name));
  std::unique_ptr<FaultReplayer> replayer;
  std::unique_ptr<SpikingReplayer> spiking;
  if (spec.spiking) {
    FL_ASSIGN_OR_RETURN(spiking, SpikingReplayer::create(spec.model, spec.spiking->options, spec.list, faults,
                                                         spec.targets, spec.spiking->input, spec.injector_options,
                                                         spec.replay));
  } else {
    FL_ASSIGN_OR_RETURN(replayer, FaultReplayer::create(spec.model, options, spec.list, faults, spec.targets,
                                                        spec.dataset.images, spec.injector_options, spec.replay));
  }
  const auto golden_start = std::chrono::steady_clock::now();
  FL_ASSIGN_OR_RETURN(Tensor golden, spiking ? spiking->golden() : replayer->golden());
  const double golden_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - golden_start).count();
  // Incremental replays run faults in groups (FaultReplayer::run_group) where that pays, each group of one kind:
  // runs of consecutive single-image faults (waves, one fault per image; up to 1,024, each wave about one
  // batch pass), and in batch-major mode runs of the other faults (the permanent ones share each batch's
  // clean pass; batch_major_group_size). The group's outputs wait here and rows are still appended one by
  // one, so a run killed mid-group loses at most that group's work; any other fault runs alone.
  const size_t wave_group_size = outputs_within_memory(golden.nbytes(), 1024);
  size_t major_group_size = batch_major_group_size(golden_seconds, golden.nbytes());
  double major_seconds = 0.0;  // the batch-major groups run so far: their time and faults
  size_t major_faults = 0;
  std::vector<Tensor> pending;
  size_t pending_first = 0;
  CampaignProgress progress;  // what the progress callback is told (set up below, before the first fault)
  auto run_fault = [&](size_t f) -> Result<Tensor> {
    if (spiking) return spiking->run(f);
    const GroupKind kind = replayer->group_kind(f);
    if (kind == GroupKind::kAlone) return replayer->run(f);
    if (f < pending_first || f >= pending_first + pending.size()) {
      const size_t group_size = kind == GroupKind::kWave ? wave_group_size : major_group_size;
      std::vector<size_t> group;
      for (size_t g = f; g < faults.size() && group.size() < group_size && replayer->group_kind(g) == kind; ++g)
        group.push_back(g);
      const auto group_start = std::chrono::steady_clock::now();
      std::function<void(double)> group_progress;
      if (spec.progress && kind == GroupKind::kBatchMajor)
        group_progress = [&](double share) {
          CampaignProgress in_flight = progress;
          in_flight.faults_in_flight = share * static_cast<double>(group.size());
          spec.progress(in_flight);  // (a stop takes effect at the next row)
        };
      FL_ASSIGN_OR_RETURN(pending, replayer->run_group(group, group_progress));
      pending_first = f;
      if (kind == GroupKind::kBatchMajor) {  // the next group from what faults cost here
        major_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - group_start).count();
        major_faults += group.size();
        major_group_size = batch_major_group_size(major_seconds / static_cast<double>(major_faults), golden.nbytes());
      }
    }
    return std::move(pending[f - pending_first]);
  };
  // The images a fault's outcome counts: those it can reach (FaultReplayer::reached_rows). Spiking campaigns
  // count every sample.
  auto counted_rows = [&](size_t f) -> std::pair<int64_t, int64_t> {
    return spiking ? std::pair<int64_t, int64_t>{0, golden.dim(0)} : replayer->reached_rows(f);
  };
  const bool spiking_report = spec.spiking.has_value() || spec.spiking_report;
  std::vector<SpikingJetCounts> spiking_counts;
  auto count_spiking = [&](size_t f, const Tensor& faulty) -> Status {
    if (!spiking_report) return Status::ok();
    auto counts = spikingjet_counts(golden, faulty, spec.dataset.labels);
    if (!counts.is_ok()) return counts.status().with_context(fault_list_location(spec.list, faults[f].entry));
    spiking_counts.push_back(*counts);
    return Status::ok();
  };
  FL_ASSIGN_OR_RETURN(result.golden, evaluate_golden(golden, spec.dataset.labels));

  FL_ASSIGN_OR_RETURN(const std::string prefix, summary_csv(fault_header, {}, {}, result.golden));
  auto row_text = [&](size_t f, const FaultOutcome& outcome) -> Result<std::string> {
    FL_ASSIGN_OR_RETURN(std::string text, summary_csv(fault_header, {fault_fields(f)}, {outcome}, result.golden));
    return text.substr(prefix.size());
  };

  // Resume: keep the complete records, check them, skip their faults.
  size_t kept = existing.rfind('\n') == std::string::npos ? 0 : existing.rfind('\n') + 1;
  existing.resize(kept);
  if (kept < prefix.size()) {
    if (prefix.compare(0, kept, existing) != 0)
      return invalid_argument(result.summary_path +
                                 ": its header differs from this campaign's; choose another output folder");
    kept = 0;  // a torn header: written again
  } else {
    if (existing.compare(0, prefix.size(), prefix) != 0)
      return invalid_argument(result.summary_path +
                                 ": its header or GOLDEN record differs from this campaign's (another model, "
                                 "dataset or fault list); choose another output folder");
    FL_ASSIGN_OR_RETURN(std::vector<CsvRecord> rows,
                        parse_csv(std::string_view(existing).substr(prefix.size()), result.summary_path));
    if (rows.size() > faults.size())
      return invalid_argument(result.summary_path + ": holds more rows than the fault list has faults" +
                              (shard.sharded() ? " for this shard" : ""));
    for (size_t f = 0; f < rows.size(); ++f) {
      const std::vector<std::string>& fields = rows[f].fields;
      const std::vector<std::string>& expected = fault_fields(f);
      const bool same_fault = fields.size() == expected.size() + kSummaryOutcomeColumns &&
                              std::equal(expected.begin(), expected.end(), fields.begin());
      if (!same_fault) {
        return invalid_argument(result.summary_path + ": row " + std::to_string(f + 1) +
                                   " is not fault Injection " + expected.front() +
                                   " of the list (the rows must be the list's first faults, in order)");
      }
      Result<FaultOutcome> outcome = parse_summary_outcome(fields);
      if (!outcome.is_ok()) return outcome.status().with_context(result.summary_path);
      result.outcomes.push_back(*outcome);
    }
    result.resumed = static_cast<int64_t>(rows.size());
  }
  const bool outputs_final = spec.save_outputs && !fs::exists(log_path, ec) && fs::exists(result.outputs_path, ec);
  if (outputs_final && result.resumed < static_cast<int64_t>(faults.size()))
    return invalid_argument(result.outputs_path + ": written for a complete campaign, but summary.csv has " +
                            std::to_string(result.resumed) + " of " + std::to_string(faults.size()) + " rows");

  // Everything checked: write.
  fs::create_directories(folder, ec);
  if (ec) return io_error(folder.string() + ": cannot create the folder: " + ec.message());
  std::optional<OutputsLog> log;
  if (spec.save_outputs && !outputs_final) {
    std::vector<int64_t> kept_injections;
    for (size_t f = 0; f < static_cast<size_t>(result.resumed); ++f) kept_injections.push_back(injection(f));
    FL_ASSIGN_OR_RETURN(OutputsLog opened,
                        OutputsLog::open(log_path, golden.numel(), kept_injections));
    log.emplace(std::move(opened));
  }
  if (!same_file(spec.list.source, result.faults_path))
    FL_RETURN_IF_ERROR(write_file_atomically(result.faults_path, list_text));
  if (shard.sharded()) FL_RETURN_IF_ERROR(write_file_atomically(manifest_path, manifest));
  FL_RETURN_IF_ERROR(write_file_atomically(result.golden_path, golden_csv(result.golden)));

  FL_ASSIGN_OR_RETURN(AppendFile file, AppendFile::open(result.summary_path, kept));
  if (kept == 0) FL_RETURN_IF_ERROR(file.append(prefix));

  // Rows reach the disk at most a second after they are appended (a kill loses none: the page cache outlives
  // the process; a machine crash loses at most that second, which resume re-runs): one fsync per row cost
  // more than a transient fault's pass. With saved outputs every row is synced, the outputs log first: the
  // kernel may write summary.csv's pages back on its own, and the log must never lag them after a crash.
  struct Durability {
    AppendFile& summary;
    std::optional<OutputsLog>& log;
    std::chrono::steady_clock::time_point last = std::chrono::steady_clock::now();
    Status sync() {
      if (log) FL_RETURN_IF_ERROR(log->sync());
      last = std::chrono::steady_clock::now();
      return summary.sync();
    }
    Status maybe_sync() {
      return log || std::chrono::steady_clock::now() - last >= std::chrono::seconds(1) ? sync() : Status::ok();
    }
  } durable{file, log};

  progress.faults_total = static_cast<int64_t>(faults.size());
  progress.faults_done = result.resumed;
  progress.faults_resumed = result.resumed;
  for (const FaultOutcome& outcome : result.outcomes) progress.critical += outcome.critical;

  for (size_t f = static_cast<size_t>(result.resumed); f < faults.size(); ++f) {
    FL_ASSIGN_OR_RETURN(Tensor faulty, run_fault(f));
    FL_RETURN_IF_ERROR(count_spiking(f, faulty));
    const auto [first, count] = counted_rows(f);
    const Tensor& labels = spec.dataset.labels;
    Result<FaultOutcome> outcome = evaluate_fault(golden.rows(first, count), faulty.rows(first, count),
                                                  labels.empty() ? labels : labels.rows(first, count));
    if (!outcome.is_ok()) return outcome.status().with_context(fault_list_location(spec.list, faults[f].entry));
    FL_ASSIGN_OR_RETURN(const std::string row, row_text(f, *outcome));
    if (log) FL_RETURN_IF_ERROR(log->append(injection(f), faulty));  // before the row: the log never lags
    FL_RETURN_IF_ERROR(file.append(row));
    FL_RETURN_IF_ERROR(durable.maybe_sync());
    result.outcomes.push_back(*outcome);
    ++progress.faults_done;
    progress.critical += outcome->critical;
    result.replay = replayer ? replayer->stats() : spiking->stats();
    if (spec.progress && spec.progress(progress) == CampaignControl::kStop && f + 1 < faults.size()) {
      FL_RETURN_IF_ERROR(durable.sync());
      return result;
    }
  }
  FL_RETURN_IF_ERROR(durable.sync());

  // Aggregates over every row.
  std::vector<std::vector<std::string>> rows;
  for (size_t f = 0; f < faults.size(); ++f) rows.push_back(fault_fields(f));
  FL_RETURN_IF_ERROR(
      write_layer_and_bit_reports(result.layers_path, result.bits_path, fault_header, rows, result.outcomes));
  FL_ASSIGN_OR_RETURN(result.kernel_report_paths,
                      write_kernel_reports(result.folder, fault_header, rows, result.outcomes));
  if (spiking_report) {
    std::vector<SpikingJetCounts> all;
    for (size_t f = 0; f < static_cast<size_t>(result.resumed); ++f) {  // resumed rows: their outputs again
      FL_ASSIGN_OR_RETURN(Tensor faulty, run_fault(f));
      auto counts = spikingjet_counts(golden, faulty, spec.dataset.labels);
      if (!counts.is_ok()) return counts.status().with_context(fault_list_location(spec.list, faults[f].entry));
      all.push_back(*counts);
    }
    all.insert(all.end(), spiking_counts.begin(), spiking_counts.end());
    std::vector<std::string> layers;
    for (const ResolvedFault& fault : faults) layers.push_back(spec.list.entries[fault.entry].fault.site.layer);
    result.spiking_path = (folder / kSpikingFile).string();
    FL_RETURN_IF_ERROR(write_file_atomically(result.spiking_path, spiking_csv(group_spikingjet(layers, all))));
  }
  if (log) {
    log.reset();
    FL_RETURN_IF_ERROR(write_outputs_h5_from_log(result.outputs_path, golden, log_path,
                                                 static_cast<int64_t>(faults.size())));
    fs::remove(log_path, ec);
  }
  result.complete = true;
  return result;
}

}  // namespace faultline
