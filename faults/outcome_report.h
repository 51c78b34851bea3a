// Campaign result files: summary.csv (one row per fault), layers.csv and bits.csv (the same outcomes summed
// per layer / per bit, with rates and their 99 % margins).
//
// Rates and margins. In a group, n = the number of (fault, image) samples = the sum of n_injections of its
// faults; the rate of an outcome is count / n, and its 99 % margin is the normal-approximation (Wald)
// half-width z * sqrt(p (1 - p) / n) with z = 2.576 (the two-sided 99 % quantile, to 3 decimals). The interval
// is rate +- margin; the approximation is poor for small n or p near 0 or 1 (the margin is 0 at p = 0 and
// p = 1). A group with n = 0 has empty rate and margin fields.
//
// summary.csv: the caller's fault-list columns, then n_injections, masked, non_critical, critical, due,
// top_1_correct, top_5_correct, top_1_robust, top_5_robust. The first record is GOLDEN: "GOLDEN" in the
// first fault column, the others empty, n_injections = images, top_1_correct / top_5_correct = fault-free
// correct counts (accuracy = count / n_injections), the other outcome columns empty (as tf_injector writes
// it). Correct counts of unlabelled data are empty fields.
//
// layers.csv / bits.csv: <key column>, faults, n_injections, then for each of masked, non_critical, critical,
// due, top_1_correct, top_5_correct, top_1_robust, top_5_robust: <name>, <name>_rate, <name>_margin99.
// Numbers are written in the shortest form that reads back to the same double.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "engine/status.h"
#include "faults/outcomes.h"

namespace faultline {

inline constexpr double kZ99 = 2.576;

// count / n (0 when n = 0) and z * sqrt(p (1 - p) / n) (0 when n = 0).
double outcome_rate(int64_t count, int64_t n);
double margin_99(double p, int64_t n);

struct OutcomeGroup {
  std::string key;  // the layer name or the bit, as the caller gave it
  int64_t faults = 0;
  FaultOutcome total;
};

// Sums `outcomes[i]` into the group of `keys[i]` (the vectors must have equal length: a programmer error
// otherwise). Groups come in ascending numeric order when every key is an integer (bits), else in the order
// of their first appearance (layers as the fault list orders them).
std::vector<OutcomeGroup> group_outcomes(const std::vector<std::string>& keys,
                                         const std::vector<FaultOutcome>& outcomes);

// The summary.csv text. `fault_rows[i]` are the fault-list fields of `outcomes[i]`; every row must have as many
// fields as `fault_header` and the two vectors equal length (else an error naming the row).
Result<std::string> summary_csv(const std::vector<std::string>& fault_header,
                                const std::vector<std::vector<std::string>>& fault_rows,
                                const std::vector<FaultOutcome>& outcomes, const GoldenOutcome& golden);
// layers.csv / bits.csv text, with `key_column` ("layer", "bit") as the first column's name.
std::string groups_csv(const std::string& key_column, const std::vector<OutcomeGroup>& groups);
// The same with several key columns (pes.csv: layer, array, ..., pe_row, pe_col): each group's key holds its
// fields joined by kKeySeparator.
inline constexpr char kKeySeparator = '\x1f';
std::string groups_csv(const std::vector<std::string>& key_columns, const std::vector<OutcomeGroup>& groups);

// The same, written atomically (engine/file_io.h); errors name the path.
Status write_summary_csv(const std::string& path, const std::vector<std::string>& fault_header,
                         const std::vector<std::vector<std::string>>& fault_rows,
                         const std::vector<FaultOutcome>& outcomes, const GoldenOutcome& golden);
Status write_layers_csv(const std::string& path, const std::vector<OutcomeGroup>& groups);
Status write_bits_csv(const std::string& path, const std::vector<OutcomeGroup>& groups);

}  // namespace faultline
