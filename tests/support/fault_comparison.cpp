#include "tests/support/fault_comparison.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <iostream>
#include <sstream>

#include "engine/npy.h"
#include "faults/fault.h"
#include "tests/support/test_support.h"

namespace faultline::testing {

namespace {

enum class Kind { kFinite, kNaN, kPosInf, kNegInf };
Kind kind_of(float v) {
  if (std::isnan(v)) return Kind::kNaN;
  if (std::isinf(v)) return v > 0 ? Kind::kPosInf : Kind::kNegInf;
  return Kind::kFinite;
}

std::string fault_label(const FaultList* list, size_t f) {
  if (list == nullptr) return "";
  if (f >= list->entries.size()) return "fault #" + std::to_string(f);
  return fault_list_location(*list, f) + " [" + describe(list->entries[f].fault) + "]";
}

int64_t argmax(const float* row, int64_t n) { return static_cast<int64_t>(std::max_element(row, row + n) - row); }

// expected/actual as [faults, images, classes].
int compare_rows(const Tensor& expected, const Tensor& actual, int64_t faults, const FaultList* list,
                 const std::string& label, double rel_tol, double abs_tol, int max_reported) {
  EXPECT_EQ(actual.dtype(), DType::kFloat32) << label;
  EXPECT_EQ(shape_to_string(actual.shape()), shape_to_string(expected.shape())) << label;
  if (actual.dtype() != DType::kFloat32 || actual.shape() != expected.shape() || faults == 0) return -1;
  const int64_t classes = expected.dim(expected.rank() - 1);
  const int64_t images = expected.numel() / classes / faults;
  const float* e = expected.data<float>();
  const float* a = actual.data<float>();
  int bad_rows = 0, reported = 0, top1 = 0, nonfinite = 0, value = 0;
  double worst_ratio = 0.0;  // max |diff| / tolerance over matching finite logits
  std::string worst;
  for (int64_t f = 0; f < faults; ++f) {
    for (int64_t n = 0; n < images; ++n) {
      const float* er = e + (f * images + n) * classes;
      const float* ar = a + (f * images + n) * classes;
      std::ostringstream why;
      bool all_finite = true;
      double max_abs = 0.0;
      for (int64_t c = 0; c < classes; ++c) {
        if (!std::isfinite(er[c])) all_finite = false;
        else max_abs = std::max(max_abs, std::fabs(static_cast<double>(er[c])));
      }
      const double tol = std::max(rel_tol * max_abs, abs_tol);
      bool row_bad = false;
      for (int64_t c = 0; c < classes; ++c) {
        const Kind ek = kind_of(er[c]), ak = kind_of(ar[c]);
        if (ek != ak) {
          why << "\n    class " << c << ": expected " << er[c] << ", got " << ar[c] << " (non-finite pattern)";
          row_bad = true;
          ++nonfinite;
        } else if (ek == Kind::kFinite) {
          const double diff = std::fabs(static_cast<double>(er[c]) - ar[c]);
          if (diff > tol) {
            why << "\n    class " << c << ": expected " << er[c] << ", got " << ar[c] << " (|diff| " << diff
                << " > tol " << tol << ")";
            row_bad = true;
            ++value;
          } else if (diff / tol > worst_ratio) {
            worst_ratio = diff / tol;
            std::ostringstream w;
            w << "fault " << f << " image " << n << " class " << c << ": |diff| " << diff << " = " << diff / tol
              << " tol";
            worst = w.str();
          }
        }
      }
      const bool actual_finite = std::all_of(ar, ar + classes, [](float v) { return std::isfinite(v); });
      if (all_finite && actual_finite && argmax(er, classes) != argmax(ar, classes)) {
        why << "\n    top-1: expected class " << argmax(er, classes) << ", got " << argmax(ar, classes);
        row_bad = true;
        ++top1;
      }
      if (row_bad) {
        ++bad_rows;
        if (reported++ < max_reported) {
          ADD_FAILURE() << label << ": fault " << f << " " << fault_label(list, static_cast<size_t>(f)) << ", image "
                        << n << why.str();
        }
      }
    }
  }
  std::cout << "[ " << label << " ] " << faults << " faults x " << images << " images: " << bad_rows
            << " mismatching rows (" << top1 << " top-1, " << nonfinite << " non-finite pattern, " << value
            << " value); worst finite logit within tolerance: " << (worst.empty() ? "-" : worst) << "\n";
  return bad_rows;
}

}  // namespace

Tensor read_npy_or_fail(const std::string& path) {
  auto t = read_npy(path);
  EXPECT_TRUE(t.is_ok()) << t.status().message();
  return t.is_ok() ? std::move(t).value() : Tensor();
}

std::string write_resnet20_input(const std::string& dir, int64_t images) {
  Tensor all = read_npy_or_fail(test_data("models/resnet20_input.npy"));
  if (all.empty() || all.rank() != 4 || all.dim(0) < images) return "";
  auto first = Tensor::allocate(DType::kFloat32, {images, all.dim(1), all.dim(2), all.dim(3)});
  EXPECT_TRUE(first.is_ok());
  if (!first.is_ok()) return "";
  std::memcpy(first.value().raw(), all.raw(), first.value().nbytes());
  const std::string path = dir + "/x.npy";
  Status written = write_npy(path, first.value());
  EXPECT_TRUE(written.is_ok()) << written.message();
  return written.is_ok() ? path : "";
}

int compare_fault_logits(const Tensor& expected, const Tensor& actual, const FaultList& list, const std::string& label,
                         double rel_tol, double abs_tol, int max_reported) {
  if (expected.rank() != 3) {
    ADD_FAILURE() << label << ": expected logits " << shape_to_string(expected.shape()) << " are not [F, N, classes]";
    return -1;
  }
  return compare_rows(expected, actual, expected.dim(0), &list, label, rel_tol, abs_tol, max_reported);
}

int compare_logits(const Tensor& expected, const Tensor& actual, const std::string& label, double rel_tol,
                   double abs_tol) {
  if (expected.rank() != 2) {
    ADD_FAILURE() << label << ": expected logits " << shape_to_string(expected.shape()) << " are not [N, classes]";
    return -1;
  }
  return compare_rows(expected, actual, 1, nullptr, label, rel_tol, abs_tol, 60);
}

}  // namespace faultline::testing
