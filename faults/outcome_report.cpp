#include "faults/outcome_report.h"

#include <algorithm>
#include <cassert>
#include <charconv>
#include <cmath>
#include <map>

#include "engine/file_io.h"
#include "faults/csv.h"

namespace faultline {

namespace {

std::string number(double value) {
  char text[32];
  auto [end, ec] = std::to_chars(text, text + sizeof(text), value);
  assert(ec == std::errc());
  return std::string(text, end);
}

std::string number(int64_t value) { return std::to_string(value); }

const std::vector<std::string>& outcome_columns() {
  static const std::vector<std::string> kColumns = {"n_injections",  "masked",        "non_critical",
                                                    "critical",      "due",           "top_1_correct",
                                                    "top_5_correct", "top_1_robust",  "top_5_robust"};
  return kColumns;
}

// The eight counts in outcome_columns() order after n_injections.
std::vector<int64_t> counts(const FaultOutcome& o) {
  return {o.masked, o.non_critical, o.critical, o.due, o.top_1_correct, o.top_5_correct, o.top_1_robust,
          o.top_5_robust};
}

bool is_correct_column(size_t count_index) { return count_index == 4 || count_index == 5; }

}  // namespace

double outcome_rate(int64_t count, int64_t n) { return n > 0 ? static_cast<double>(count) / n : 0.0; }

double margin_99(double p, int64_t n) {
  if (n <= 0) return 0.0;
  return kZ99 * std::sqrt(std::max(0.0, p * (1.0 - p)) / static_cast<double>(n));
}

std::vector<OutcomeGroup> group_outcomes(const std::vector<std::string>& keys,
                                         const std::vector<FaultOutcome>& outcomes) {
  assert(keys.size() == outcomes.size());
  std::vector<OutcomeGroup> groups;
  std::map<std::string, size_t> index;
  for (size_t i = 0; i < keys.size(); ++i) {
    auto [it, inserted] = index.try_emplace(keys[i], groups.size());
    if (inserted) groups.push_back(OutcomeGroup{keys[i], 0, FaultOutcome{}});
    OutcomeGroup& group = groups[it->second];
    ++group.faults;
    group.total += outcomes[i];
  }
  std::vector<int64_t> numeric;
  for (const OutcomeGroup& group : groups) {
    Result<int64_t> value = parse_int64(group.key);
    if (!value.is_ok()) return groups;
    numeric.push_back(*value);
  }
  std::vector<size_t> order(groups.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return numeric[a] < numeric[b]; });
  std::vector<OutcomeGroup> sorted;
  for (size_t i : order) sorted.push_back(std::move(groups[i]));
  return sorted;
}

Result<std::string> summary_csv(const std::vector<std::string>& fault_header,
                                const std::vector<std::vector<std::string>>& fault_rows,
                                const std::vector<FaultOutcome>& outcomes, const GoldenOutcome& golden) {
  if (fault_rows.size() != outcomes.size()) {
    return internal_error("summary.csv: " + std::to_string(fault_rows.size()) + " fault rows but " +
                          std::to_string(outcomes.size()) + " outcomes");
  }
  if (fault_header.empty()) return internal_error("summary.csv: no fault-list columns");
  std::vector<std::string> header = fault_header;
  header.insert(header.end(), outcome_columns().begin(), outcome_columns().end());
  std::string text = csv_line(header);

  std::vector<std::string> gold(header.size());
  gold[0] = "GOLDEN";
  gold[fault_header.size()] = number(golden.n_images);
  if (golden.labelled) {
    gold[fault_header.size() + 5] = number(golden.top_1_correct);
    gold[fault_header.size() + 6] = number(golden.top_5_correct);
  }
  text += csv_line(gold);

  for (size_t i = 0; i < outcomes.size(); ++i) {
    if (fault_rows[i].size() != fault_header.size()) {
      return internal_error("summary.csv: fault row " + std::to_string(i) + " has " +
                            std::to_string(fault_rows[i].size()) + " fields, the header " +
                            std::to_string(fault_header.size()));
    }
    std::vector<std::string> row = fault_rows[i];
    row.push_back(number(outcomes[i].n_injections));
    const std::vector<int64_t> values = counts(outcomes[i]);
    for (size_t c = 0; c < values.size(); ++c) {
      row.push_back(is_correct_column(c) && !outcomes[i].labelled ? std::string() : number(values[c]));
    }
    text += csv_line(row);
  }
  return text;
}

std::string groups_csv(const std::string& key_column, const std::vector<OutcomeGroup>& groups) {
  return groups_csv(std::vector<std::string>{key_column}, groups);
}

std::string groups_csv(const std::vector<std::string>& key_columns, const std::vector<OutcomeGroup>& groups) {
  std::vector<std::string> header = key_columns;
  header.insert(header.end(), {"faults", "n_injections"});
  for (size_t c = 1; c < outcome_columns().size(); ++c) {
    const std::string& name = outcome_columns()[c];
    header.insert(header.end(), {name, name + "_rate", name + "_margin99"});
  }
  std::string text = csv_line(header);
  for (const OutcomeGroup& group : groups) {
    const int64_t n = group.total.n_injections;
    std::vector<std::string> row;
    for (size_t start = 0;;) {  // the key's fields
      const size_t end = group.key.find(kKeySeparator, start);
      row.push_back(group.key.substr(start, end == std::string::npos ? std::string::npos : end - start));
      if (end == std::string::npos) break;
      start = end + 1;
    }
    row.insert(row.end(), {number(group.faults), number(n)});
    const std::vector<int64_t> values = counts(group.total);
    for (size_t c = 0; c < values.size(); ++c) {
      if (n == 0 || (is_correct_column(c) && !group.total.labelled)) {
        row.insert(row.end(), {n == 0 ? number(values[c]) : std::string(), std::string(), std::string()});
        continue;
      }
      const double p = outcome_rate(values[c], n);
      row.insert(row.end(), {number(values[c]), number(p), number(margin_99(p, n))});
    }
    text += csv_line(row);
  }
  return text;
}

Status write_summary_csv(const std::string& path, const std::vector<std::string>& fault_header,
                         const std::vector<std::vector<std::string>>& fault_rows,
                         const std::vector<FaultOutcome>& outcomes, const GoldenOutcome& golden) {
  Result<std::string> text = summary_csv(fault_header, fault_rows, outcomes, golden);
  if (!text.is_ok()) return text.status().with_context(path);
  return write_file_atomically(path, *text);
}

Status write_layers_csv(const std::string& path, const std::vector<OutcomeGroup>& groups) {
  return write_file_atomically(path, groups_csv("layer", groups));
}

Status write_bits_csv(const std::string& path, const std::vector<OutcomeGroup>& groups) {
  return write_file_atomically(path, groups_csv("bit", groups));
}

}  // namespace faultline
