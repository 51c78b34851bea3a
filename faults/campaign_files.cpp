#include "faults/campaign_files.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <optional>

#include "faults/csv.h"

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

}  // namespace faultline
