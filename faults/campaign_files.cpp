#include "faults/campaign_files.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <optional>

#include "engine/file_io.h"
#include "faults/csv.h"
#include "faults/fault.h"

namespace faultline {

namespace {

Status errno_error(const std::string& path, const std::string& what) {
  return io_error(path + ": " + what + ": " + std::strerror(errno));
}

std::optional<size_t> column_index(const std::vector<std::string>& header, std::string_view name) {
  for (size_t i = 0; i < header.size(); ++i)
    if (iequals(header[i], name)) return i;
  return std::nullopt;
}

}  // namespace

Result<AppendFile> AppendFile::open(const std::string& path, uint64_t keep) {
  std::error_code ec;
  const bool existed = std::filesystem::exists(path, ec);
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return errno_error(path, "cannot open");
  AppendFile file(fd, path);
  if (::ftruncate(fd, static_cast<off_t>(keep)) != 0) return errno_error(path, "cannot truncate");
  if (::lseek(fd, 0, SEEK_END) < 0) return errno_error(path, "cannot seek");
  if (!existed) {  // the new file's folder entry
    const std::filesystem::path folder = std::filesystem::path(path).parent_path();
    const int dir = ::open(folder.empty() ? "." : folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir >= 0) {
      ::fsync(dir);
      ::close(dir);
    }
  }
  return file;
}

AppendFile::AppendFile(AppendFile&& other) noexcept : fd_(other.fd_), path_(std::move(other.path_)) { other.fd_ = -1; }

AppendFile& AppendFile::operator=(AppendFile&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = other.fd_;
    path_ = std::move(other.path_);
    other.fd_ = -1;
  }
  return *this;
}

AppendFile::~AppendFile() {
  if (fd_ >= 0) ::close(fd_);
}

Status AppendFile::append(std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t written = ::write(fd_, bytes.data(), bytes.size());
    if (written < 0) {
      if (errno == EINTR) continue;
      return errno_error(path_, "cannot write");
    }
    bytes.remove_prefix(static_cast<size_t>(written));
  }
  return Status::ok();
}

Status AppendFile::sync() {
  if (::fsync(fd_) != 0) return errno_error(path_, "cannot fsync");
  return Status::ok();
}

std::string shortest_number(double value) {
  char text[32];
  auto [end, ec] = std::to_chars(text, text + sizeof(text), value);
  return ec == std::errc() ? std::string(text, end) : std::string();
}

std::string golden_csv(const GoldenOutcome& golden) {
  std::string text =
      csv_line({"images", "top_1_correct", "top_5_correct", "top_1_accuracy", "top_5_accuracy"});
  if (golden.labelled) {
    return text + csv_line({std::to_string(golden.n_images), std::to_string(golden.top_1_correct),
                            std::to_string(golden.top_5_correct), shortest_number(golden.top_1_accuracy()),
                            shortest_number(golden.top_5_accuracy())});
  }
  return text + csv_line({std::to_string(golden.n_images), "", "", "", ""});
}

Result<FaultOutcome> parse_summary_outcome(const std::vector<std::string>& fields) {
  if (fields.size() < kSummaryOutcomeColumns)
    return invalid_argument("a summary row has " + std::to_string(fields.size()) + " fields, fewer than the " +
                            std::to_string(kSummaryOutcomeColumns) + " outcome columns");
  const size_t base = fields.size() - kSummaryOutcomeColumns;
  int64_t values[kSummaryOutcomeColumns] = {};
  FaultOutcome outcome;
  outcome.labelled = !trim(fields[base + 5]).empty();
  for (size_t c = 0; c < kSummaryOutcomeColumns; ++c) {
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

Status write_layer_and_bit_reports(const std::string& layers_path, const std::string& bits_path,
                                   const std::vector<std::string>& fault_header,
                                   const std::vector<std::vector<std::string>>& fault_rows,
                                   const std::vector<FaultOutcome>& outcomes) {
  if (fault_rows.size() != outcomes.size())
    return internal_error("layer and bit reports: " + std::to_string(fault_rows.size()) + " rows for " +
                          std::to_string(outcomes.size()) + " outcomes");
  const std::optional<size_t> layer_column = column_index(fault_header, "Layer");
  const std::optional<size_t> bit_column = column_index(fault_header, "Bit");
  std::vector<std::string> layer_keys, bit_keys;
  std::vector<FaultOutcome> bit_outcomes;
  for (size_t f = 0; f < fault_rows.size(); ++f) {
    const std::vector<std::string>& row = fault_rows[f];
    layer_keys.push_back(layer_column && *layer_column < row.size() ? row[*layer_column] : std::string());
    const std::string bit = bit_column && *bit_column < row.size() ? row[*bit_column] : std::string();
    if (bit.empty()) continue;  // a model without a bit (zero, value, random, ber)
    bit_keys.push_back(bit);
    bit_outcomes.push_back(outcomes[f]);
  }
  FL_RETURN_IF_ERROR(write_layers_csv(layers_path, group_outcomes(layer_keys, outcomes)));
  return write_bits_csv(bits_path, group_outcomes(bit_keys, bit_outcomes));
}

Result<std::vector<std::string>> write_kernel_reports(const std::string& folder,
                                                      const std::vector<std::string>& fault_header,
                                                      const std::vector<std::vector<std::string>>& fault_rows,
                                                      const std::vector<FaultOutcome>& outcomes) {
  std::vector<std::string> written;
  const std::optional<size_t> target_column = column_index(fault_header, "Target");
  if (!target_column || fault_rows.size() != outcomes.size()) return written;
  auto field = [&](const std::vector<std::string>& row, const char* name) -> std::string {
    const std::optional<size_t> c = column_index(fault_header, name);
    return c && *c < row.size() ? std::string(trim(row[*c])) : std::string();
  };
  struct Report {
    SiteTarget target;
    const char* file;
    std::vector<std::string> columns;
  };
  const Report reports[] = {
      {SiteTarget::kPe, kPesFile, {"layer", "array", "dataflow", "unit", "pe_row", "pe_col"}},
      {SiteTarget::kPattern, kPatternsFile, {"layer", "pattern", "index"}},
  };
  for (const Report& report : reports) {
    std::vector<std::string> keys;
    std::vector<FaultOutcome> chosen;
    for (size_t f = 0; f < fault_rows.size(); ++f) {
      const std::vector<std::string>& row = fault_rows[f];
      if (site_target_from_name(field(row, "Target")) != report.target) continue;
      std::vector<std::string> key = {field(row, "Layer")};
      if (report.target == SiteTarget::kPe) {
        const std::string index_text = field(row, "TensorIndex");
        auto index = parse_index(index_text);
        const bool pair = index.is_ok() && index->size() == 2;
        std::string dataflow = field(row, "Dataflow"), unit = field(row, "Unit");
        key.insert(key.end(), {field(row, "Array"), dataflow.empty() ? "output-stationary" : dataflow,
                               unit.empty() ? "accumulator" : unit, pair ? std::to_string((*index)[0]) : index_text,
                               pair ? std::to_string((*index)[1]) : std::string()});
      } else {
        key.insert(key.end(), {field(row, "Pattern"), field(row, "TensorIndex")});
      }
      std::string joined;
      for (size_t k = 0; k < key.size(); ++k) joined += (k ? std::string(1, kKeySeparator) : "") + key[k];
      keys.push_back(std::move(joined));
      chosen.push_back(outcomes[f]);
    }
    if (keys.empty()) continue;
    const std::string path = (std::filesystem::path(folder) / report.file).string();
    FL_RETURN_IF_ERROR(write_file_atomically(path, groups_csv(report.columns, group_outcomes(keys, chosen))));
    written.push_back(path);
  }
  return written;
}

}  // namespace faultline
