// Comparing `faultline inject` outputs with PyTorch's, fault for fault (tests/test_fault_equivalence.cpp,
// tests/test_dtype_equivalence.cpp). Per fault and image:
//   - the non-finite logits are the same ones, of the same kind (NaN, +Inf, -Inf);
//   - a row whose logits are all finite has the same top-1 class (the generators check every such row's top-2
//     margin exceeds 0.1 % of the two logits, so rounding cannot decide it);
//   - every finite logit is within max(rel_tol * max|finite expected logit of the row|, abs_tol).
#pragma once

#include <cstdint>
#include <string>

#include "engine/tensor.h"
#include "faults/fault_list.h"

namespace faultline::testing {

// The .npy at `path`, or an empty tensor after a test failure.
Tensor read_npy_or_fail(const std::string& path);

// The first `images` images of tests/data/models/resnet20_input.npy, written to `dir`/x.npy; the path, or ""
// after a test failure.
std::string write_resnet20_input(const std::string& dir, int64_t images);

// Compares [F, images, classes] outputs; one ADD_FAILURE per mismatching row (up to `max_reported`), each
// naming its fault row (CSV line and description), image, class and both values, then a summary line on
// stdout. Returns the number of mismatching (fault, image) rows, -1 when the shapes differ.
int compare_fault_logits(const Tensor& expected, const Tensor& actual, const FaultList& list, const std::string& label,
                         double rel_tol, double abs_tol, int max_reported = 60);

// The same rules for one [images, classes] output (no fault list); rows are named "image N".
int compare_logits(const Tensor& expected, const Tensor& actual, const std::string& label, double rel_tol,
                   double abs_tol);

}  // namespace faultline::testing
