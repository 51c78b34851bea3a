#include "faults/outcomes.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <cstring>
#include <numeric>

namespace faultline {

std::string_view outcome_name(Outcome outcome) {
  switch (outcome) {
    case Outcome::kMasked: return "masked";
    case Outcome::kNonCritical: return "non_critical";
    case Outcome::kCritical: return "critical";
    case Outcome::kDue: return "due";
  }
  return "unknown";
}

bool ranks_before(float a, int64_t ia, float b, int64_t ib) {
  const bool a_nan = std::isnan(a), b_nan = std::isnan(b);
  if (a_nan || b_nan) {
    if (a_nan && b_nan) return ia < ib;
    return a_nan;
  }
  if (a != b) return a > b;
  return ia < ib;
}

int64_t top1(std::span<const float> row) {
  assert(!row.empty());
  int64_t best = 0;
  for (int64_t i = 1; i < static_cast<int64_t>(row.size()); ++i) {
    if (ranks_before(row[static_cast<size_t>(i)], i, row[static_cast<size_t>(best)], best)) best = i;
  }
  return best;
}

std::vector<int64_t> top_k(std::span<const float> row, int k) {
  std::vector<int64_t> order(row.size());
  std::iota(order.begin(), order.end(), int64_t{0});
  const size_t keep = std::min(order.size(), static_cast<size_t>(std::max(k, 0)));
  std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(keep), order.end(),
                    [&](int64_t a, int64_t b) {
                      return ranks_before(row[static_cast<size_t>(a)], a, row[static_cast<size_t>(b)], b);
                    });
  order.resize(keep);
  return order;
}

bool in_top_k(std::span<const float> row, int64_t index, int k) {
  assert(index >= 0 && index < static_cast<int64_t>(row.size()));
  const float value = row[static_cast<size_t>(index)];
  int ahead = 0;
  for (int64_t i = 0; i < static_cast<int64_t>(row.size()) && ahead < k; ++i) {
    if (ranks_before(row[static_cast<size_t>(i)], i, value, index)) ++ahead;
  }
  return ahead < k;
}

bool has_non_finite(std::span<const float> row) {
  return std::any_of(row.begin(), row.end(), [](float v) { return !std::isfinite(v); });
}

namespace {

// classify() once bit-identity is known (it may be decided on bits of another dtype).
Outcome classify_known(bool bit_identical, std::span<const float> golden, std::span<const float> faulty) {
  if (bit_identical) return Outcome::kMasked;
  if (has_non_finite(faulty)) return Outcome::kDue;
  return top1(faulty) == top1(golden) ? Outcome::kNonCritical : Outcome::kCritical;
}

struct Rows {
  Tensor values;           // float32 [N, classes]
  int64_t rows = 0;
  int64_t classes = 0;
  std::span<const float> row(int64_t i) const {
    return {values.data<float>() + i * classes, static_cast<size_t>(classes)};
  }
};

Result<Rows> as_rows(const Tensor& output, const char* what) {
  if (!is_floating(output.dtype())) {
    return invalid_argument(std::string(what) + " output is " + std::string(dtype_name(output.dtype())) +
                            ", not a floating type");
  }
  if (output.rank() < 2 || output.dim(0) < 1 || output.numel() == 0) {
    return invalid_argument(std::string(what) + " output must have shape [N, classes...], not " +
                            shape_to_string(output.shape()));
  }
  Rows rows;
  rows.rows = output.dim(0);
  rows.classes = output.numel() / rows.rows;
  rows.values = output.dtype() == DType::kFloat32 ? output : output.cast(DType::kFloat32);
  return rows;
}

Status check_labels(const Tensor& labels, const Rows& rows) {
  if (labels.empty()) return Status::ok();
  if (labels.dtype() != DType::kInt64 || labels.rank() != 1 || labels.dim(0) != rows.rows) {
    return invalid_argument("labels must be int64 [" + std::to_string(rows.rows) + "], not " +
                            std::string(dtype_name(labels.dtype())) + " " + shape_to_string(labels.shape()));
  }
  for (int64_t i = 0; i < rows.rows; ++i) {
    const int64_t label = labels.data<int64_t>()[i];
    if (label < 0 || label >= rows.classes) {
      return out_of_range("label " + std::to_string(label) + " of image " + std::to_string(i) +
                          " is outside the model's " + std::to_string(rows.classes) + " classes");
    }
  }
  return Status::ok();
}

}  // namespace

Outcome classify(std::span<const float> golden, std::span<const float> faulty) {
  assert(golden.size() == faulty.size());
  const bool identical = std::memcmp(golden.data(), faulty.data(), golden.size() * sizeof(float)) == 0;
  return classify_known(identical, golden, faulty);
}

FaultOutcome& FaultOutcome::operator+=(const FaultOutcome& other) {
  n_injections += other.n_injections;
  masked += other.masked;
  non_critical += other.non_critical;
  critical += other.critical;
  due += other.due;
  top_1_correct += other.top_1_correct;
  top_5_correct += other.top_5_correct;
  top_1_robust += other.top_1_robust;
  top_5_robust += other.top_5_robust;
  labelled = labelled || other.labelled;
  return *this;
}

Result<GoldenOutcome> evaluate_golden(const Tensor& golden, const Tensor& labels) {
  FL_ASSIGN_OR_RETURN(Rows rows, as_rows(golden, "golden"));
  FL_RETURN_IF_ERROR(check_labels(labels, rows));
  GoldenOutcome result;
  result.n_images = rows.rows;
  result.labelled = !labels.empty();
  if (!result.labelled) return result;
  for (int64_t i = 0; i < rows.rows; ++i) {
    const int64_t label = labels.data<int64_t>()[i];
    result.top_1_correct += top1(rows.row(i)) == label;
    result.top_5_correct += in_top_k(rows.row(i), label, kTopK);
  }
  return result;
}

Result<FaultOutcome> evaluate_fault(const Tensor& golden, const Tensor& faulty, const Tensor& labels) {
  if (golden.dtype() != faulty.dtype() || golden.shape() != faulty.shape()) {
    return invalid_argument("faulty output " + std::string(dtype_name(faulty.dtype())) + " " +
                            shape_to_string(faulty.shape()) + " does not match the golden output " +
                            std::string(dtype_name(golden.dtype())) + " " + shape_to_string(golden.shape()));
  }
  FL_ASSIGN_OR_RETURN(Rows golden_rows, as_rows(golden, "golden"));
  FL_ASSIGN_OR_RETURN(Rows faulty_rows, as_rows(faulty, "faulty"));
  FL_RETURN_IF_ERROR(check_labels(labels, golden_rows));
  const size_t row_bytes = static_cast<size_t>(golden_rows.classes) * dtype_size(golden.dtype());
  const auto* golden_bits = static_cast<const unsigned char*>(golden.raw());
  const auto* faulty_bits = static_cast<const unsigned char*>(faulty.raw());

  FaultOutcome result;
  result.n_injections = golden_rows.rows;
  result.labelled = !labels.empty();
  for (int64_t i = 0; i < golden_rows.rows; ++i) {
    const std::span<const float> g = golden_rows.row(i), f = faulty_rows.row(i);
    const size_t offset = static_cast<size_t>(i) * row_bytes;
    const bool identical = std::memcmp(golden_bits + offset, faulty_bits + offset, row_bytes) == 0;
    switch (classify_known(identical, g, f)) {
      case Outcome::kMasked: ++result.masked; break;
      case Outcome::kNonCritical: ++result.non_critical; break;
      case Outcome::kCritical: ++result.critical; break;
      case Outcome::kDue: ++result.due; break;
    }
    const int64_t golden_top1 = top1(g);
    const int64_t faulty_top1 = top1(f);
    result.top_1_robust += faulty_top1 == golden_top1;
    result.top_5_robust += in_top_k(f, golden_top1, kTopK);
    if (result.labelled) {
      const int64_t label = labels.data<int64_t>()[i];
      result.top_1_correct += faulty_top1 == label;
      result.top_5_correct += in_top_k(f, label, kTopK);
    }
  }
  return result;
}

}  // namespace faultline
