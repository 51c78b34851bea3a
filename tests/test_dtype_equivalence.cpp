// Weights stored as float16 / bfloat16 / int8 (`--weights`, engine/weight_storage.h), fault for fault against
// PyTorch: for each dtype, `faultline inject resnet20_bn.onnx --weights DTYPE` replays
// tests/data/faults/resnet20_DTYPE_faults.csv (bit flips, stuck-at and multibit faults on the stored words of
// conv / linear weights, biases and BatchNorm parameters, including the sign and the top exponent bit; four
// float32 activation faults) on the first 4 images of models/resnet20_input.npy on each CPU backend, and
// `faultline infer --weights DTYPE` gives the clean logits; both are compared with what
// scripts/make_dtype_reference.py computed in PyTorch with the same storage formulas written in numpy
// (faults/resnet20_DTYPE_logits.npy, _clean_logits.npy) under tests/support/fault_comparison.h's rules.
#include <gtest/gtest.h>

#include <fstream>
#include <string>
#include <tuple>

#include "engine/tensor.h"
#include "faults/fault_list.h"
#include "tests/support/fault_comparison.h"
#include "tests/support/run_command.h"
#include "tests/support/test_support.h"

namespace faultline {
namespace {

using faultline::testing::compare_fault_logits;
using faultline::testing::compare_logits;
using faultline::testing::read_npy_or_fail;
using faultline::testing::run_faultline;
using faultline::testing::temp_dir;
using faultline::testing::test_data;

constexpr int64_t kImages = 4;
// As tests/test_fault_equivalence.cpp: the decoded weights are the same float32 numbers in both engines, so
// only the summation order differs.
constexpr double kRelTol = 1e-4;
constexpr double kAbsTol = 1e-5;

const std::string kModel = test_data("models/resnet20_bn.onnx");

std::string fault_list_of(const std::string& dtype) { return test_data("faults/resnet20_" + dtype + "_faults.csv"); }

class DtypeEquivalence : public ::testing::TestWithParam<std::tuple<const char*, const char*>> {};

TEST_P(DtypeEquivalence, InjectMatchesPyTorch) {
  const std::string dtype = std::get<0>(GetParam());
  const std::string backend = std::get<1>(GetParam());
  auto list = read_fault_list(fault_list_of(dtype));
  ASSERT_TRUE(list.is_ok()) << list.status().message();
  Tensor expected = read_npy_or_fail(test_data("faults/resnet20_" + dtype + "_logits.npy"));
  ASSERT_EQ(expected.rank(), 3);
  ASSERT_EQ(expected.dim(0), static_cast<int64_t>(list.value().entries.size()));

  const std::string dir = temp_dir();
  const std::string input = faultline::testing::write_resnet20_input(dir, kImages);
  ASSERT_FALSE(input.empty());
  const std::string output = dir + "/y.npy";
  auto r = run_faultline("inject " + kModel + " --faults " + fault_list_of(dtype) + " --input " + input +
                         " --output " + output + " --backend " + backend + " --weights " + dtype);
  ASSERT_EQ(r.exit_code, 0) << "faultline inject --weights " << dtype << " --backend " << backend
                            << " failed: " << r.err;
  Tensor actual = read_npy_or_fail(output);
  ASSERT_FALSE(actual.empty());
  EXPECT_EQ(compare_fault_logits(expected, actual, list.value(), dtype + " " + backend, kRelTol, kAbsTol), 0);
}

TEST_P(DtypeEquivalence, CleanInferenceMatchesPyTorch) {
  const std::string dtype = std::get<0>(GetParam());
  const std::string backend = std::get<1>(GetParam());
  Tensor expected = read_npy_or_fail(test_data("faults/resnet20_" + dtype + "_clean_logits.npy"));
  ASSERT_FALSE(expected.empty());
  const std::string dir = temp_dir();
  const std::string input = faultline::testing::write_resnet20_input(dir, kImages);
  ASSERT_FALSE(input.empty());
  const std::string output = dir + "/clean.npy";
  auto r = run_faultline("infer " + kModel + " --input " + input + " --output " + output + " --backend " + backend +
                         " --weights " + dtype);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  Tensor actual = read_npy_or_fail(output);
  ASSERT_FALSE(actual.empty());
  EXPECT_EQ(compare_logits(expected, actual, dtype + " " + backend + " clean", kRelTol, kAbsTol), 0);
  // Storing the weights changes the logits (float32's are models/resnet20_logits.npy): the option took effect.
  Tensor float32 = read_npy_or_fail(test_data("faults/resnet20_golden_logits.npy"));
  ASSERT_EQ(float32.numel(), actual.numel());
  bool differs = false;
  for (int64_t i = 0; i < actual.numel(); ++i) differs = differs || actual.data<float>()[i] != float32.data<float>()[i];
  EXPECT_TRUE(differs) << "--weights " << dtype << " gave the float32 logits bit for bit";
}

INSTANTIATE_TEST_SUITE_P(DtypesAndBackends, DtypeEquivalence,
                         ::testing::Combine(::testing::Values("float16", "bfloat16", "int8"),
                                            ::testing::Values("reference", "onednn")),
                         [](const auto& info) {
                           return std::string(std::get<0>(info.param)) + "_" + std::get<1>(info.param);
                         });

TEST(DtypeOptions, UnknownWeightDtypeIsAClearError) {
  auto r = run_faultline("infer " + kModel + " --input x.npy --output y.npy --weights float64");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("--weights"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("float64"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("float16, bfloat16 or int8"), std::string::npos) << r.err;
}

// Bit 8 does not exist in an int8 word: the run is refused before anything runs, naming the CSV line.
TEST(DtypeOptions, Int8BitOutOfRangeNamesTheCsvLine) {
  const std::string dir = temp_dir();
  const std::string input = faultline::testing::write_resnet20_input(dir, 1);
  ASSERT_FALSE(input.empty());
  const std::string faults = dir + "/bad.csv";
  std::ofstream(faults) << "Injection,Layer,TensorIndex,Bit,Target,Model,Mask,Value,Batch\n"
                           "0,conv1,\"(0, 0, 0, 0)\",7,weight,bitflip,,,\n"
                           "1,layer1.0.conv1,\"(0, 0, 0, 0)\",8,weight,bitflip,,,\n";
  auto r = run_faultline("inject " + kModel + " --faults " + faults + " --input " + input + " --output " + dir +
                         "/y.npy --backend reference --weights int8");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("bad.csv:3"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("int8 (0-7)"), std::string::npos) << r.err;
  // The same list is valid on the float32 weights (bit 8 of a float32 exists).
  auto ok = run_faultline("inject " + kModel + " --faults " + faults + " --input " + input + " --output " + dir +
                          "/y.npy --backend reference");
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
}

}  // namespace
}  // namespace faultline
