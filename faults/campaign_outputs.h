// Saved output vectors of a campaign (`faultline run --save-outputs`): outputs.h5, for later analysis.
//
// outputs.h5 (HDF5), float32 in C order:
//   golden     [images, out...]          the fault-free outputs (the model's first output)
//   faulty     [faults, images, out...]  row f: the outputs with summary.csv's row f armed
//   injection  [faults] int64            row f's Injection number (the fault list's column)
//
// Crash safety. An HDF5 file is not safe against a kill in the middle of a write (its metadata can be left
// inconsistent and the whole file unreadable), so the rows first go to an append-only log, outputs.h5.part:
// one record per fault, [int64 injection][float32 x row_floats], appended before the fault's summary.csv row
// and fsynced before it (faults/campaign_files.h: AppendFile; the campaign syncs the log, then summary.csv). A kill leaves the log with at least as many whole
// records as summary.csv has rows (and perhaps a torn last one); resume keeps exactly the first K records for
// the K rows of summary.csv, checking their Injection numbers. When the campaign is complete, outputs.h5 is
// written from the golden outputs and the log (to a temporary name, fsynced, renamed), and the log is removed.
// After a resume the file thus holds exactly the rows of summary.csv, each once.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "engine/status.h"
#include "engine/tensor.h"
#include "faults/campaign_files.h"

namespace faultline {

inline constexpr const char* kOutputsFile = "outputs.h5";
inline constexpr const char* kOutputsLogFile = "outputs.h5.part";

// The append-only log of faulty outputs.
class OutputsLog {
 public:
  // Opens (creates) `path` for records of `row_floats` floats, keeping the first expected_injections.size()
  // records and cutting away the rest. Fails, naming the file, when fewer records are there or when a kept
  // record's Injection differs from expected_injections.
  static Result<OutputsLog> open(const std::string& path, int64_t row_floats,
                                 std::span<const int64_t> expected_injections);
  // Appends one record; `faulty` must hold row_floats float32 values.
  Status append(int64_t injection, const Tensor& faulty);
  // fsyncs the records appended so far.
  Status sync() { return file_.sync(); }

 private:
  OutputsLog(AppendFile file, int64_t row_floats) : file_(std::move(file)), row_floats_(row_floats) {}
  AppendFile file_;
  int64_t row_floats_ = 0;
};

// Everything outputs.h5 holds (read back whole: for tests and small campaigns).
struct SavedOutputs {
  Tensor golden;                   // [images, out...]
  Tensor faulty;                   // [faults, images, out...]
  std::vector<int64_t> injections;  // [faults]
};

// Writes outputs.h5 at `path` atomically, row by row: golden, then faulty row f = row_source(f, dst) (which
// fills dst with golden.numel() floats and returns the row's Injection). Errors name the file.
using OutputsRowSource = std::function<Result<int64_t>(int64_t f, std::span<float> dst)>;
Status write_outputs_h5(const std::string& path, const Tensor& golden, int64_t faults,
                        const OutputsRowSource& row_source);

// outputs.h5 from the log's first `faults` records (see above).
Status write_outputs_h5_from_log(const std::string& path, const Tensor& golden, const std::string& log_path,
                                 int64_t faults);

// Reads an outputs.h5 file; errors name the file and the dataset.
Result<SavedOutputs> read_outputs_h5(const std::string& path);

// Reads outputs.h5 one row at a time (faultline merge).
class OutputsReader {
 public:
  static Result<OutputsReader> open(const std::string& path);
  OutputsReader(OutputsReader&& other) noexcept;
  OutputsReader& operator=(OutputsReader&&) = delete;
  OutputsReader(const OutputsReader&) = delete;
  OutputsReader& operator=(const OutputsReader&) = delete;
  ~OutputsReader();

  const Tensor& golden() const { return golden_; }
  int64_t faults() const { return static_cast<int64_t>(injections_.size()); }
  const std::vector<int64_t>& injections() const { return injections_; }
  // Row f of `faulty` into dst (golden().numel() floats).
  Status read_row(int64_t f, std::span<float> dst) const;

 private:
  OutputsReader() = default;
  std::string path_;
  int64_t file_ = -1;     // hid_t
  int64_t faulty_ = -1;   // hid_t of the faulty dataset
  Tensor golden_;
  std::vector<int64_t> injections_;
};

}  // namespace faultline
