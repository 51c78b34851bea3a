// Fault for fault, faultline gives the outputs PyTorch gives: `faultline inject` runs the fault list
// tests/data/faults/resnet20_faults.csv (weight bit flips / stuck-at / multibit / zero / value in conv, linear
// and BatchNorm parameters; activation faults on conv, BatchNorm, ReLU, Add, shortcut Slice/Pad, AveragePool,
// Reshape and logits outputs, in every image or one Batch image) on resnet20_bn.onnx for the first 4 images
// of models/resnet20_input.npy, on each CPU backend, and the result is compared with the logits PyTorch
// computed with the same faults (scripts/make_fault_reference.py -> faults/resnet20_faulty_logits.npy).
//
// The comparison rules (same non-finite logits, same top-1 of finite rows, finite logits within
// max(kRelTol * max|finite expected logit of the row|, kAbsTol)) are tests/support/fault_comparison.h's; each
// mismatch is reported with its fault row (CSV line and description), image, class and both values.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "engine/tensor.h"
#include "faults/fault.h"
#include "faults/fault_list.h"
#include "faults/fault_targets.h"
#include "frontends/onnx/onnx_import.h"
#include "tests/support/fault_comparison.h"
#include "tests/support/run_command.h"
#include "tests/support/test_support.h"

namespace faultline {
namespace {

using faultline::testing::compare_fault_logits;
using faultline::testing::read_npy_or_fail;
using faultline::testing::run_faultline;
using faultline::testing::temp_dir;
using faultline::testing::test_data;

constexpr int64_t kImages = 4;
constexpr double kRelTol = 1e-4;
constexpr double kAbsTol = 1e-5;

const std::string kModel = test_data("models/resnet20_bn.onnx");
const std::string kFaults = test_data("faults/resnet20_faults.csv");
const std::string kExpected = test_data("faults/resnet20_faulty_logits.npy");

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
  Tensor expected = read_npy_or_fail(kExpected);
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
  Tensor expected = read_npy_or_fail(kExpected);
  ASSERT_FALSE(expected.empty());

  const std::string dir = temp_dir();
  const std::string input = faultline::testing::write_resnet20_input(dir, kImages);
  ASSERT_FALSE(input.empty());
  const std::string output = dir + "/y_" + backend + ".npy";
  auto r = run_faultline("inject " + kModel + " --faults " + kFaults + " --input " + input + " --output " + output +
                         " --backend " + backend);
  ASSERT_EQ(r.exit_code, 0) << "faultline inject --backend " << backend << " failed: " << r.err;
  Tensor actual = read_npy_or_fail(output);
  ASSERT_FALSE(actual.empty());
  // oneDNN's convolutions and GEMM sum in another order than PyTorch, but the same tolerance holds: measured
  // worst finite logit 0.054 of it on onednn, 0.040 on reference (the printed "worst finite logit"), so both
  // backends use it.
  EXPECT_EQ(compare_fault_logits(expected, actual, list.value(), backend, kRelTol, kAbsTol), 0);
}

INSTANTIATE_TEST_SUITE_P(Backends, FaultEquivalenceBackend, ::testing::Values("reference", "onednn"),
                         [](const ::testing::TestParamInfo<const char*>& info) { return std::string(info.param); });

}  // namespace
}  // namespace faultline
