// Fault for fault, faultline gives the outputs PyTorch gives: `faultline inject` runs the fault list
// tests/data/faults/resnet20_faults.csv (weight bit flips / stuck-at / multibit / zero / value in conv, linear
// and BatchNorm parameters; activation faults on conv, BatchNorm, ReLU, Add, shortcut Slice/Pad, AveragePool,
// Reshape and logits outputs, in every image or one Batch image) on resnet20_bn.onnx for the first 4 images
// of models/resnet20_input.npy, on each CPU backend, and the result is compared with the logits PyTorch
// computed with the same faults (scripts/make_fault_reference.py -> faults/resnet20_faulty_logits.npy).
//
// Per fault and image:
//   - the non-finite logits are the same ones, of the same kind (NaN, +Inf, -Inf);
//   - a row whose logits are all finite has the same top-1 class (the generator checks every such row's top-2
//     margin exceeds 0.1 % of the two logits, so rounding cannot decide it);
//   - every finite logit is within max(kRelTol * max|finite expected logit of the row|, kAbsTol).
// Each mismatch is reported with its fault row (CSV line and description), image, class and both values.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "engine/npy.h"
#include "engine/tensor.h"
#include "faults/fault.h"
#include "faults/fault_list.h"
#include "faults/fault_targets.h"
#include "frontends/onnx/onnx_import.h"
#include "tests/support/run_command.h"
#include "tests/support/test_support.h"

namespace faultline {
namespace {

using faultline::testing::run_faultline;
using faultline::testing::temp_dir;
using faultline::testing::test_data;

constexpr int64_t kImages = 4;
constexpr double kRelTol = 1e-4;
constexpr double kAbsTol = 1e-5;
constexpr int kMaxReported = 60;  // mismatch lines per backend; the count is always given

const std::string kModel = test_data("models/resnet20_bn.onnx");
const std::string kFaults = test_data("faults/resnet20_faults.csv");
const std::string kExpected = test_data("faults/resnet20_faulty_logits.npy");

Tensor read_or_fail(const std::string& path) {
  auto t = read_npy(path);
  EXPECT_TRUE(t.is_ok()) << t.status().message();
  return t.is_ok() ? std::move(t).value() : Tensor();
}

// The first kImages images of the committed ResNet20 input, written to a scratch .npy.
std::string write_input(const std::string& dir) {
  Tensor all = read_or_fail(test_data("models/resnet20_input.npy"));
  if (all.empty() || all.rank() != 4 || all.dim(0) < kImages) return "";
  auto first = Tensor::allocate(DType::kFloat32, {kImages, all.dim(1), all.dim(2), all.dim(3)});
  EXPECT_TRUE(first.is_ok());
  if (!first.is_ok()) return "";
  std::memcpy(first.value().raw(), all.raw(), first.value().nbytes());
  const std::string path = dir + "/x.npy";
  Status written = write_npy(path, first.value());
  EXPECT_TRUE(written.is_ok()) << written.message();
  return written.is_ok() ? path : "";
}

enum class Kind { kFinite, kNaN, kPosInf, kNegInf };
Kind kind_of(float v) {
  if (std::isnan(v)) return Kind::kNaN;
  if (std::isinf(v)) return v > 0 ? Kind::kPosInf : Kind::kNegInf;
  return Kind::kFinite;
}

std::string fault_label(const FaultList& list, size_t f) {
  if (f >= list.entries.size()) return "fault #" + std::to_string(f);
  return fault_list_location(list, f) + " [" + describe(list.entries[f].fault) + "]";
}

int64_t argmax(const float* row, int64_t n) {
  return static_cast<int64_t>(std::max_element(row, row + n) - row);
}

// Compares faultline's [F, images, classes] output with PyTorch's; one ADD_FAILURE per mismatch (up to
// kMaxReported), then a summary. Returns the number of mismatching (fault, image) rows.
int compare(const Tensor& expected, const Tensor& actual, const FaultList& list, const std::string& backend,
            double rel_tol, double abs_tol) {
  EXPECT_EQ(actual.dtype(), DType::kFloat32) << backend;
  EXPECT_EQ(shape_to_string(actual.shape()), shape_to_string(expected.shape())) << backend;
  if (actual.dtype() != DType::kFloat32 || actual.shape() != expected.shape()) return -1;
  const int64_t faults = expected.dim(0), images = expected.dim(1), classes = expected.dim(2);
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
            w << "fault " << f << " image " << n << " class " << c << ": |diff| " << diff << " = "
              << diff / tol << " tol";
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
        if (reported++ < kMaxReported) {
          ADD_FAILURE() << backend << ": fault " << f << " " << fault_label(list, static_cast<size_t>(f))
                        << ", image " << n << why.str();
        }
      }
    }
  }
  std::cout << "[ " << backend << " ] " << faults << " faults x " << images << " images: " << bad_rows
            << " mismatching rows (" << top1 << " top-1, " << nonfinite << " non-finite pattern, " << value
            << " value); worst finite logit within tolerance: " << (worst.empty() ? "-" : worst) << "\n";
  return bad_rows;
}

// The fault list itself: every row names a target of resnet20_bn.onnx that exists, with an index inside it,
// and there is one row per [F] of the expected logits. Runs without `inject`.
TEST(FaultEquivalence, FaultListResolvesAgainstResnet20Bn) {
  auto graph = import_onnx_file(kModel);
  ASSERT_TRUE(graph.is_ok()) << graph.status().message();
  auto targets = list_fault_targets(graph.value());
  ASSERT_TRUE(targets.is_ok()) << targets.status().message();
  auto list = read_fault_list(kFaults);
  ASSERT_TRUE(list.is_ok()) << list.status().message();
  auto resolved = resolve_fault_list(list.value(), targets.value());
  ASSERT_TRUE(resolved.is_ok()) << resolved.status().message();
  Tensor expected = read_or_fail(kExpected);
  ASSERT_EQ(expected.rank(), 3);
  EXPECT_EQ(expected.dim(0), static_cast<int64_t>(list.value().entries.size()));
  EXPECT_EQ(expected.dim(1), kImages);
  EXPECT_EQ(expected.dim(2), 10);
  int weights = 0, activations = 0;
  for (const auto& entry : list.value().entries) {
    (entry.fault.site.target == SiteTarget::kWeight ? weights : activations)++;
  }
  EXPECT_GT(weights, 20);
  EXPECT_GT(activations, 20);
}

class FaultEquivalenceBackend : public ::testing::TestWithParam<const char*> {};

TEST_P(FaultEquivalenceBackend, InjectMatchesPyTorch) {
  const std::string backend = GetParam();
  auto help = run_faultline("inject --help");
  ASSERT_EQ(help.exit_code, 0) << "`faultline inject` is missing or broken (exit " << help.exit_code
                               << "): " << help.err;
  auto list = read_fault_list(kFaults);
  ASSERT_TRUE(list.is_ok()) << list.status().message();
  Tensor expected = read_or_fail(kExpected);
  ASSERT_FALSE(expected.empty());

  const std::string dir = temp_dir();
  const std::string input = write_input(dir);
  ASSERT_FALSE(input.empty());
  const std::string output = dir + "/y_" + backend + ".npy";
  auto r = run_faultline("inject " + kModel + " --faults " + kFaults + " --input " + input + " --output " + output +
                         " --backend " + backend);
  ASSERT_EQ(r.exit_code, 0) << "faultline inject --backend " << backend << " failed: " << r.err;
  Tensor actual = read_or_fail(output);
  ASSERT_FALSE(actual.empty());
  // oneDNN's convolutions and GEMM sum in another order than PyTorch, but the same tolerance holds: measured
  // worst finite logit 0.054 of it on onednn, 0.040 on reference (the printed "worst finite logit"), so both
  // backends use it.
  EXPECT_EQ(compare(expected, actual, list.value(), backend, kRelTol, kAbsTol), 0);
}

INSTANTIATE_TEST_SUITE_P(Backends, FaultEquivalenceBackend, ::testing::Values("reference", "onednn"),
                         [](const ::testing::TestParamInfo<const char*>& info) { return std::string(info.param); });

}  // namespace
}  // namespace faultline
