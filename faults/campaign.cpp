#include "faults/campaign.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <optional>

#include "engine/file_io.h"
#include "faults/csv.h"
#include "faults/fault_replay.h"
#include "faults/outcome_report.h"

namespace faultline {

namespace {

constexpr size_t kOutcomeColumns = 9;  // n_injections ... top_5_robust (faults/outcome_report.h)

std::string shortest(double value) {
  char text[32];
  auto [end, ec] = std::to_chars(text, text + sizeof(text), value);
  return ec == std::errc() ? std::string(text, end) : std::string();
}

std::string golden_csv(const GoldenOutcome& golden) {
  std::string text =
      csv_line({"images", "top_1_correct", "top_5_correct", "top_1_accuracy", "top_5_accuracy"});
  if (golden.labelled) {
    return text + csv_line({std::to_string(golden.n_images), std::to_string(golden.top_1_correct),
                            std::to_string(golden.top_5_correct), shortest(golden.top_1_accuracy()),
                            shortest(golden.top_5_accuracy())});
  }
  return text + csv_line({std::to_string(golden.n_images), "", "", "", ""});
}

Status errno_error(const std::string& path, const std::string& what) {
  return io_error(path + ": " + what + ": " + std::strerror(errno));
}

// An fd closed on scope exit.
class File {
 public:
  explicit File(int fd) : fd_(fd) {}
  File(const File&) = delete;
  File& operator=(const File&) = delete;
  ~File() {
    if (fd_ >= 0) ::close(fd_);
  }
  int fd() const { return fd_; }

 private:
  int fd_;
};

// Appends `bytes` (one whole record) and fsyncs. One write() call holds the line; a short write (a full
// disk, a signal) is continued, and a kill in between leaves a line without its "\n", which resume drops.
Status append_durably(int fd, std::string_view bytes, const std::string& path) {
  while (!bytes.empty()) {
    const ssize_t written = ::write(fd, bytes.data(), bytes.size());
    if (written < 0) {
      if (errno == EINTR) continue;
      return errno_error(path, "cannot write");
    }
    bytes.remove_prefix(static_cast<size_t>(written));
  }
  if (::fsync(fd) != 0) return errno_error(path, "cannot fsync");
  return Status::ok();
}

// The outcome columns of a summary row (the last kOutcomeColumns fields).
Result<FaultOutcome> parse_outcome(const std::vector<std::string>& fields) {
  const size_t base = fields.size() - kOutcomeColumns;
  int64_t values[kOutcomeColumns] = {};
  FaultOutcome outcome;
  outcome.labelled = !trim(fields[base + 5]).empty();
  for (size_t c = 0; c < kOutcomeColumns; ++c) {
    if ((c == 5 || c == 6) && !outcome.labelled) continue;
    FL_ASSIGN_OR_RETURN(values[c], parse_int64(fields[base + c]));
  }
  outcome.n_injections = values[0];
  outcome.masked = values[1];
  outcome.non_critical = values[2];
  outcome.critical = values[3];
  outcome.due = values[4];
  outcome.top_1_correct = values[5];
  outcome.top_5_correct = values[6];
  outcome.top_1_robust = values[7];
  outcome.top_5_robust = values[8];
  return outcome;
}

std::optional<size_t> column_index(const std::vector<std::string>& header, std::string_view name) {
  for (size_t i = 0; i < header.size(); ++i)
    if (iequals(header[i], name)) return i;
  return std::nullopt;
}

}  // namespace

Result<CampaignResult> run_campaign(const CampaignSpec& spec) {
  namespace fs = std::filesystem;
  if (!spec.model) return invalid_argument("campaign: no model");
  if (spec.dataset.images.dtype() != DType::kFloat32 || spec.dataset.images.rank() < 1)
    return invalid_argument("campaign: the dataset's images must be float32 [N, ...]");

  CampaignResult result;
  const fs::path folder(spec.output);
  result.summary_path = (folder / kSummaryFile).string();
  result.golden_path = (folder / kGoldenFile).string();
  result.layers_path = (folder / kLayersFile).string();
  result.bits_path = (folder / kBitsFile).string();

  // Refuse to overwrite results before anything runs.
  std::error_code ec;
  const bool summary_exists = fs::exists(result.summary_path, ec);
  std::string existing;
  if (summary_exists) {
    FL_ASSIGN_OR_RETURN(existing, read_file(result.summary_path));
    if (!spec.resume && !existing.empty()) {
      return invalid_argument(result.summary_path +
                            ": results of a campaign are already there; pass --resume to continue it or choose "
                            "another output folder");
    }
  }

  // The fault-list fields of every entry, as the list is written.
  const std::string list_text = format_fault_list(spec.list);
  FL_ASSIGN_OR_RETURN(std::vector<CsvRecord> list_records, parse_csv(list_text, spec.list.source));
  if (list_records.size() != spec.list.entries.size() + 1)
    return internal_error("campaign: the formatted fault list has " + std::to_string(list_records.size()) +
                          " records for " + std::to_string(spec.list.entries.size()) + " faults");
  const std::vector<std::string>& fault_header = list_records.front().fields;
  auto fault_fields = [&](size_t f) -> const std::vector<std::string>& {
    return list_records[spec.faults[f].entry + 1].fields;
  };

  // Golden pass.
  FL_ASSIGN_OR_RETURN(std::unique_ptr<FaultReplayer> replayer,
                      FaultReplayer::create(spec.model, spec.options, spec.list, spec.faults, spec.targets,
                                            spec.dataset.images, spec.injector_options));
  FL_ASSIGN_OR_RETURN(Tensor golden, replayer->golden());
  FL_ASSIGN_OR_RETURN(result.golden, evaluate_golden(golden, spec.dataset.labels));
  fs::create_directories(folder, ec);
  if (ec) return io_error(spec.output + ": cannot create the folder: " + ec.message());
  FL_RETURN_IF_ERROR(write_file_atomically(result.golden_path, golden_csv(result.golden)));

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
    if (rows.size() > spec.faults.size())
      return invalid_argument(result.summary_path + ": holds more rows than the fault list has faults");
    for (size_t f = 0; f < rows.size(); ++f) {
      const std::vector<std::string>& fields = rows[f].fields;
      const std::vector<std::string>& expected = fault_fields(f);
      const bool same_fault = fields.size() == expected.size() + kOutcomeColumns &&
                              std::equal(expected.begin(), expected.end(), fields.begin());
      if (!same_fault) {
        return invalid_argument(result.summary_path + ": row " + std::to_string(f + 1) +
                                   " is not fault Injection " + expected.front() +
                                   " of the list (the rows must be the list's first faults, in order)");
      }
      Result<FaultOutcome> outcome = parse_outcome(fields);
      if (!outcome.is_ok()) return outcome.status().with_context(result.summary_path);
      result.outcomes.push_back(*outcome);
    }
    result.resumed = static_cast<int64_t>(rows.size());
  }

  const File file(::open(result.summary_path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
  if (file.fd() < 0) return errno_error(result.summary_path, "cannot open");
  if (::ftruncate(file.fd(), static_cast<off_t>(kept)) != 0) return errno_error(result.summary_path, "cannot truncate");
  if (::lseek(file.fd(), 0, SEEK_END) < 0) return errno_error(result.summary_path, "cannot seek");
  if (kept == 0) {
    FL_RETURN_IF_ERROR(append_durably(file.fd(), prefix, result.summary_path));
    const File dir(::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));  // the new file's entry too
    if (dir.fd() >= 0) ::fsync(dir.fd());
  }

  CampaignProgress progress;
  progress.faults_total = static_cast<int64_t>(spec.faults.size());
  progress.faults_done = result.resumed;
  for (const FaultOutcome& outcome : result.outcomes) progress.critical += outcome.critical;

  for (size_t f = static_cast<size_t>(result.resumed); f < spec.faults.size(); ++f) {
    FL_ASSIGN_OR_RETURN(Tensor faulty, replayer->run(f));
    Result<FaultOutcome> outcome = evaluate_fault(golden, faulty, spec.dataset.labels);
    if (!outcome.is_ok()) return outcome.status().with_context(fault_list_location(spec.list, spec.faults[f].entry));
    FL_ASSIGN_OR_RETURN(const std::string row, row_text(f, *outcome));
    FL_RETURN_IF_ERROR(append_durably(file.fd(), row, result.summary_path));
    result.outcomes.push_back(*outcome);
    ++progress.faults_done;
    progress.critical += outcome->critical;
    if (spec.progress && spec.progress(progress) == CampaignControl::kStop &&
        f + 1 < spec.faults.size()) {
      return result;
    }
  }

  // Aggregates over every row.
  const std::optional<size_t> layer_column = column_index(fault_header, "Layer");
  const std::optional<size_t> bit_column = column_index(fault_header, "Bit");
  std::vector<std::string> layer_keys, bit_keys;
  std::vector<FaultOutcome> bit_outcomes;
  for (size_t f = 0; f < spec.faults.size(); ++f) {
    layer_keys.push_back(layer_column ? fault_fields(f)[*layer_column] : std::string());
    const std::string bit = bit_column ? fault_fields(f)[*bit_column] : std::string();
    if (bit.empty()) continue;  // a model without a bit (zero, value, random, ber)
    bit_keys.push_back(bit);
    bit_outcomes.push_back(result.outcomes[f]);
  }
  FL_RETURN_IF_ERROR(write_layers_csv(result.layers_path, group_outcomes(layer_keys, result.outcomes)));
  FL_RETURN_IF_ERROR(write_bits_csv(result.bits_path, group_outcomes(bit_keys, bit_outcomes)));
  result.complete = true;
  return result;
}

}  // namespace faultline
