#include "faults/error_rate_sweep.h"

#include <charconv>
#include <cmath>
#include <cstddef>
#include <filesystem>

#include "engine/file_io.h"
#include "faults/bit_ops.h"
#include "faults/campaign_files.h"
#include "faults/csv.h"
#include "faults/fault_generator.h"
#include "faults/fault_injector.h"
#include "faults/fault_replay.h"

namespace faultline {

namespace {

const std::vector<std::string>& detail_columns() {
  static const std::vector<std::string> columns = {
      "exponent",       "error_rate",     "repetition", "seed",         "flipped_bits", "images",   "top_1_correct",
      "top_5_correct",  "top_1_accuracy", "top_5_accuracy", "masked",   "non_critical", "critical", "due"};
  return columns;
}

const std::vector<std::string>& summary_columns() {
  static const std::vector<std::string> columns = {
      "exponent",           "error_rate",          "repetitions",         "flipped_bits_mean",
      "top_1_accuracy_mean", "top_1_accuracy_std", "top_5_accuracy_mean", "top_5_accuracy_std",
      "masked_mean",        "non_critical_mean",   "critical_mean",       "due_mean"};
  return columns;
}

double accuracy(int64_t correct, int64_t images) { return images ? static_cast<double>(correct) / images : 0.0; }

std::string detail_row(const ErrorRateRun& run) {
  const FaultOutcome& o = run.outcome;
  const bool labelled = o.labelled;
  return csv_line({std::to_string(run.exponent), shortest_number(run.error_rate), std::to_string(run.repetition),
                   std::to_string(run.seed), std::to_string(run.flipped_bits), std::to_string(o.n_injections),
                   labelled ? std::to_string(o.top_1_correct) : "", labelled ? std::to_string(o.top_5_correct) : "",
                   labelled ? shortest_number(accuracy(o.top_1_correct, o.n_injections)) : "",
                   labelled ? shortest_number(accuracy(o.top_5_correct, o.n_injections)) : "",
                   std::to_string(o.masked), std::to_string(o.non_critical), std::to_string(o.critical),
                   std::to_string(o.due)});
}

// A detail row read back (the inverse of detail_row for the fields it needs).
Result<ErrorRateRun> parse_detail_row(const std::vector<std::string>& fields) {
  if (fields.size() != detail_columns().size())
    return invalid_argument("expected " + std::to_string(detail_columns().size()) + " fields, found " +
                            std::to_string(fields.size()));
  ErrorRateRun run;
  FL_ASSIGN_OR_RETURN(const int64_t exponent, parse_int64(fields[0]));
  FL_ASSIGN_OR_RETURN(run.error_rate, parse_double(fields[1]));
  FL_ASSIGN_OR_RETURN(const int64_t repetition, parse_int64(fields[2]));
  run.exponent = static_cast<int>(exponent);
  run.repetition = static_cast<int>(repetition);
  uint64_t seed = 0;
  const std::string_view seed_text = trim(fields[3]);
  const auto [end, ec] = std::from_chars(seed_text.data(), seed_text.data() + seed_text.size(), seed);
  if (ec != std::errc() || end != seed_text.data() + seed_text.size())
    return invalid_argument("'" + fields[3] + "' is not a seed");
  run.seed = seed;
  FL_ASSIGN_OR_RETURN(run.flipped_bits, parse_int64(fields[4]));
  FaultOutcome& o = run.outcome;
  FL_ASSIGN_OR_RETURN(o.n_injections, parse_int64(fields[5]));
  o.labelled = !trim(fields[6]).empty();
  if (o.labelled) {
    FL_ASSIGN_OR_RETURN(o.top_1_correct, parse_int64(fields[6]));
    FL_ASSIGN_OR_RETURN(o.top_5_correct, parse_int64(fields[7]));
  }
  FL_ASSIGN_OR_RETURN(o.masked, parse_int64(fields[10]));
  FL_ASSIGN_OR_RETURN(o.non_critical, parse_int64(fields[11]));
  FL_ASSIGN_OR_RETURN(o.critical, parse_int64(fields[12]));
  FL_ASSIGN_OR_RETURN(o.due, parse_int64(fields[13]));
  return run;
}

double mean(const std::vector<double>& values) {
  double sum = 0.0;
  for (double v : values) sum += v;
  return values.empty() ? 0.0 : sum / static_cast<double>(values.size());
}

double population_std(const std::vector<double>& values) {
  const double m = mean(values);
  double sum = 0.0;
  for (double v : values) sum += (v - m) * (v - m);
  return values.empty() ? 0.0 : std::sqrt(sum / static_cast<double>(values.size()));
}

std::string error_rate_csv(const std::vector<ErrorRateRun>& runs, int repetitions) {
  std::string text = csv_line(summary_columns());
  for (size_t first = 0; first < runs.size(); first += static_cast<size_t>(repetitions)) {
    std::vector<double> flipped, top1, top5, masked, non_critical, critical, due;
    const bool labelled = runs[first].outcome.labelled;
    for (size_t r = first; r < first + static_cast<size_t>(repetitions) && r < runs.size(); ++r) {
      const FaultOutcome& o = runs[r].outcome;
      flipped.push_back(static_cast<double>(runs[r].flipped_bits));
      top1.push_back(accuracy(o.top_1_correct, o.n_injections));
      top5.push_back(accuracy(o.top_5_correct, o.n_injections));
      masked.push_back(static_cast<double>(o.masked));
      non_critical.push_back(static_cast<double>(o.non_critical));
      critical.push_back(static_cast<double>(o.critical));
      due.push_back(static_cast<double>(o.due));
    }
    text += csv_line({std::to_string(runs[first].exponent), shortest_number(runs[first].error_rate),
                      std::to_string(top1.size()), shortest_number(mean(flipped)),
                      labelled ? shortest_number(mean(top1)) : "", labelled ? shortest_number(population_std(top1)) : "",
                      labelled ? shortest_number(mean(top5)) : "", labelled ? shortest_number(population_std(top5)) : "",
                      shortest_number(mean(masked)), shortest_number(mean(non_critical)),
                      shortest_number(mean(critical)), shortest_number(mean(due))});
  }
  return text;
}

}  // namespace

Result<ErrorRateResult> run_error_rate_sweep(const ErrorRateSpec& spec) {
  namespace fs = std::filesystem;
  const ErrorRateSweep& sweep = spec.sweep;
  if (!spec.model) return invalid_argument("error-rate sweep: no model");
  if (spec.dataset.images.dtype() != DType::kFloat32 || spec.dataset.images.rank() < 1)
    return invalid_argument("error-rate sweep: the dataset's images must be float32 [N, ...]");
  if (sweep.min_exp > sweep.max_exp || sweep.max_exp > 0 || sweep.repetitions < 1)
    return invalid_argument("faults.error_rate: needs min_exp <= max_exp <= 0 and repetitions >= 1");

  ErrorRateResult result;
  const fs::path folder(spec.output);
  result.golden_path = (folder / kGoldenFile).string();
  result.detail_path = (folder / kErrorRateDetailFile).string();
  result.error_rate_path = (folder / kErrorRateFile).string();

  std::error_code ec;
  std::string existing;
  if (fs::exists(result.detail_path, ec)) {
    FL_ASSIGN_OR_RETURN(existing, read_file(result.detail_path));
    if (!spec.resume && !existing.empty())
      return invalid_argument(result.detail_path +
                              ": results of a sweep are already there; pass --resume to continue it or choose another "
                              "output folder");
  }

  // One ber fault per matched layer and exponent: entries [ei * L, ei * L + L) are exponent ei's.
  GeneratorOptions generator;
  generator.target = SiteTarget::kWeight;
  generator.layers = sweep.layers;
  const int exponents = sweep.max_exp - sweep.min_exp + 1;
  FaultList list;
  list.source = "faults.error_rate";
  size_t layers = 0;
  for (int ei = 0; ei < exponents; ++ei) {
    Result<FaultList> ber = generate_ber_faults(spec.targets, generator, std::pow(10.0, sweep.min_exp + ei));
    if (!ber.is_ok()) return ber.status().with_context("faults.error_rate.layers");
    layers = ber->entries.size();
    for (FaultListEntry& entry : ber->entries) list.entries.push_back(std::move(entry));
  }
  FL_ASSIGN_OR_RETURN(std::vector<ResolvedFault> faults, resolve_fault_list(list, spec.targets));

  FL_ASSIGN_OR_RETURN(std::unique_ptr<FaultReplayer> replayer,
                      FaultReplayer::create(spec.model, spec.options, list, faults, spec.targets, spec.dataset.images));
  FL_ASSIGN_OR_RETURN(Tensor golden, replayer->golden());
  FL_ASSIGN_OR_RETURN(result.golden, evaluate_golden(golden, spec.dataset.labels));
  const std::string golden_text = golden_csv(result.golden);

  // Each layer's stored size in bytes, for the flipped-bit count.
  std::vector<size_t> layer_bytes;
  for (size_t l = 0; l < layers; ++l) {
    const FaultTarget& target = replayer->targets()[faults[l].target];
    layer_bytes.push_back(static_cast<size_t>(target.elements) * dtype_size(target.dtype));
  }
  const int64_t total_runs = static_cast<int64_t>(exponents) * sweep.repetitions;
  auto run_of = [&](int64_t r) {
    ErrorRateRun run;
    run.exponent = sweep.min_exp + static_cast<int>(r / sweep.repetitions);
    run.error_rate = std::pow(10.0, run.exponent);
    run.repetition = static_cast<int>(r % sweep.repetitions);
    run.seed = fault_seed(spec.seed, r);
    return run;
  };

  // Resume.
  const std::string header = csv_line(detail_columns());
  size_t kept = existing.rfind('\n') == std::string::npos ? 0 : existing.rfind('\n') + 1;
  existing.resize(kept);
  if (kept < header.size()) {
    if (header.compare(0, kept, existing) != 0)
      return invalid_argument(result.detail_path + ": its header differs from this sweep's; choose another output folder");
    kept = 0;
  } else {
    if (existing.compare(0, header.size(), header) != 0)
      return invalid_argument(result.detail_path + ": its header differs from this sweep's; choose another output folder");
    FL_ASSIGN_OR_RETURN(std::vector<CsvRecord> rows,
                        parse_csv(std::string_view(existing).substr(header.size()), result.detail_path));
    if (static_cast<int64_t>(rows.size()) > total_runs)
      return invalid_argument(result.detail_path + ": holds more rows than this sweep has runs");
    if (!rows.empty()) {
      FL_ASSIGN_OR_RETURN(const std::string old_golden, read_file(result.golden_path));
      if (old_golden != golden_text)
        return invalid_argument(result.golden_path +
                                ": differs from this run's golden accuracy (another model or dataset); choose another "
                                "output folder");
    }
    for (size_t r = 0; r < rows.size(); ++r) {
      const std::string where = result.detail_path + ": row " + std::to_string(r + 1);
      Result<ErrorRateRun> parsed = parse_detail_row(rows[r].fields);
      if (!parsed.is_ok()) return parsed.status().with_context(where);
      const ErrorRateRun expected = run_of(static_cast<int64_t>(r));
      if (parsed->exponent != expected.exponent || parsed->repetition != expected.repetition ||
          parsed->seed != expected.seed || detail_row(*parsed) != csv_line(rows[r].fields))
        return invalid_argument(where + " is not run " + std::to_string(r) + " of this sweep (exponent " +
                                std::to_string(expected.exponent) + ", repetition " +
                                std::to_string(expected.repetition) + ", seed " + std::to_string(expected.seed) +
                                "); choose another output folder");
      parsed->error_rate = expected.error_rate;
      result.runs.push_back(*parsed);
    }
    result.resumed = static_cast<int64_t>(rows.size());
  }

  fs::create_directories(folder, ec);
  if (ec) return io_error(spec.output + ": cannot create the folder: " + ec.message());
  FL_RETURN_IF_ERROR(write_file_atomically(result.golden_path, golden_text));
  FL_ASSIGN_OR_RETURN(AppendFile file, AppendFile::open(result.detail_path, kept));
  if (kept == 0) FL_RETURN_IF_ERROR(file.append(header));

  CampaignProgress progress;
  progress.faults_total = total_runs;
  progress.faults_done = result.resumed;
  progress.faults_resumed = result.resumed;
  for (const ErrorRateRun& run : result.runs) progress.critical += run.outcome.critical;
  std::vector<std::byte> scratch;
  for (int64_t r = result.resumed; r < total_runs; ++r) {
    ErrorRateRun run = run_of(r);
    const size_t first = static_cast<size_t>(r / sweep.repetitions) * layers;
    std::vector<size_t> together(layers);
    for (size_t l = 0; l < layers; ++l) together[l] = first + l;
    FL_ASSIGN_OR_RETURN(Tensor faulty, replayer->run_together(together, InjectorOptions{run.seed}));
    for (size_t l = 0; l < layers; ++l) {
      scratch.assign(layer_bytes[l], std::byte{0});
      FL_ASSIGN_OR_RETURN(BitFlipLog flips,
                          flip_bits_with_probability(scratch, run.error_rate,
                                                     fault_seed(run.seed, list.entries[first + l].injection)));
      run.flipped_bits += static_cast<int64_t>(flips.flipped_bits.size());
    }
    FL_ASSIGN_OR_RETURN(run.outcome, evaluate_fault(golden, faulty, spec.dataset.labels));
    FL_RETURN_IF_ERROR(file.append(detail_row(run)));
    FL_RETURN_IF_ERROR(file.sync());  // a run is a whole pass over the data: one fsync each costs nothing
    result.runs.push_back(run);
    ++progress.faults_done;
    progress.critical += run.outcome.critical;
    if (spec.progress && spec.progress(progress) == CampaignControl::kStop && r + 1 < total_runs) return result;
  }
  FL_RETURN_IF_ERROR(write_file_atomically(result.error_rate_path, error_rate_csv(result.runs, sweep.repetitions)));
  result.complete = true;
  return result;
}

}  // namespace faultline
