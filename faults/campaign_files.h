// The pieces of a campaign's result files that the campaign runner, `faultline merge` and the error-rate sweep
// share: durable appends (one record per write, fsynced on sync()), golden.csv, reading summary.csv rows back into
// outcomes, and layers.csv / bits.csv from the rows.
//
// AppendFile: opens (creating when missing) a results file, truncates it to `keep` bytes (the complete
// records a resume keeps) and appends whole records, each with write() calls continued until complete;
// sync() fsyncs them, and a new file's folder entry is fsynced at open. A kill leaves at most one partial last
// record, which the next resume truncates away; a machine crash loses what was appended since the last sync().
//
// Summary rows: a summary.csv row is the fault-list fields of its fault and then the kSummaryOutcomeColumns
// outcome columns of faults/outcome_report.h (n_injections ... top_5_robust; the correct counts empty for
// unlabelled data).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "engine/status.h"
#include "faults/outcome_report.h"
#include "faults/outcomes.h"

namespace faultline {

inline constexpr size_t kSummaryOutcomeColumns = 9;  // n_injections ... top_5_robust

class AppendFile {
 public:
  // Opens `path` for appending after its first `keep` bytes (the rest is cut away).
  static Result<AppendFile> open(const std::string& path, uint64_t keep);
  AppendFile(AppendFile&& other) noexcept;
  AppendFile& operator=(AppendFile&& other) noexcept;
  AppendFile(const AppendFile&) = delete;
  AppendFile& operator=(const AppendFile&) = delete;
  ~AppendFile();

  // Appends `bytes` (one whole record, one write()); errors name the file. A killed process leaves every
  // appended record in the file (the page cache outlives it); sync() makes them survive a machine crash.
  Status append(std::string_view bytes);
  // fsyncs what was appended; errors name the file.
  Status sync();

 private:
  AppendFile(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  int fd_ = -1;
  std::string path_;
};

// The shortest text that reads back to the same double (std::to_chars); empty when it cannot be written.
std::string shortest_number(double value);

// golden.csv: images, top_1_correct, top_5_correct, top_1_accuracy, top_5_accuracy (the last four empty
// without labels).
std::string golden_csv(const GoldenOutcome& golden);

// The outcome columns of a summary row (its last kSummaryOutcomeColumns fields; the row must have that many).
// Errors say which field is not an integer.
Result<FaultOutcome> parse_summary_outcome(const std::vector<std::string>& fields);

// layers.csv and bits.csv (faults/outcome_report.h) from the summary rows: `fault_rows[i]` are the
// fault-list fields of `outcomes[i]` under `fault_header`. Grouped by the Layer column (in row order) and by
// the Bit column (numerically; rows whose Bit is empty, models without a bit, are left out of bits.csv).
// Written atomically to `layers_path` and `bits_path`.
Status write_layer_and_bit_reports(const std::string& layers_path, const std::string& bits_path,
                                   const std::vector<std::string>& fault_header,
                                   const std::vector<std::vector<std::string>>& fault_rows,
                                   const std::vector<FaultOutcome>& outcomes);

// Kernel-level reports (faults/kernel_sites.h) from the same rows, written atomically into `folder` only when the
// list has such rows: pes.csv groups the rows whose Target is pe by (layer, array, dataflow, unit, pe_row,
// pe_col); patterns.csv the rows whose Target is pattern by (layer, pattern, index). Each row then holds the
// outcome counts, rates and 99 % margins of layers.csv. Returns the paths written.
inline constexpr const char* kPesFile = "pes.csv";
inline constexpr const char* kPatternsFile = "patterns.csv";
Result<std::vector<std::string>> write_kernel_reports(const std::string& folder,
                                                      const std::vector<std::string>& fault_header,
                                                      const std::vector<std::vector<std::string>>& fault_rows,
                                                      const std::vector<FaultOutcome>& outcomes);

}  // namespace faultline
