// Helpers shared by the tests: fixture paths, tensor comparison with a tolerance, a scratch folder.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "engine/backend.h"
#include "engine/executor.h"
#include "engine/session.h"
#include "engine/tensor.h"

namespace faultline::testing {

// FAULTLINE_TEST_DATA_DIR + "/" + relative (tests/data in the source tree).
std::string test_data(const std::string& relative);

// Success when both tensors have the same dtype and shape and every element satisfies
// |expected - actual| <= atol + rtol * |expected| (NaN matches NaN, an infinity matches the same infinity).
// The failure message gives the shapes or the worst element, its index and how many elements differ.
::testing::AssertionResult tensors_near(const Tensor& expected, const Tensor& actual, double rtol, double atol);

// A float32 tensor of `shape` with values uniform in [lo, hi) from std::mt19937(seed): the same values on
// every run.
Tensor random_tensor(Shape shape, uint32_t seed, float lo = -1.0f, float hi = 1.0f);

// A tensor of `dtype` and `shape` holding `values` (whose element type must have dtype's width), e.g.
// tensor_of<int8_t>(DType::kInt8, {2, 2}, {1, -2, 3, -4}).
template <typename T>
Tensor tensor_of(DType dtype, Shape shape, const std::vector<T>& values) {
  Tensor t = std::move(Tensor::allocate(dtype, std::move(shape))).value();
  EXPECT_EQ(static_cast<size_t>(t.numel()), values.size());
  EXPECT_EQ(t.nbytes(), values.size() * sizeof(T));
  if (t.nbytes() == values.size() * sizeof(T)) std::memcpy(t.raw(), values.data(), t.nbytes());
  return t;
}

// backend.compile(graph, options), with a test failure (naming the backend and the error) and nullptr if it
// fails.
std::unique_ptr<CompiledModel> compile_or_fail(const Backend& backend, const Graph& graph, const PlanOptions& options);

// Writes `inputs` into the graph inputs, executes every step (with `observer`, if any) and reads the graph
// outputs; every failure along the way is a test failure.
std::vector<Tensor> run_model(CompiledModel& model, const std::vector<Tensor>& inputs,
                              StepObserver* observer = nullptr);

// A fresh empty folder under the system temp dir, unique to this process and call; removed at exit.
std::string temp_dir();

// The bytes of a file as a string (empty when it cannot be read).
std::string read_text(const std::string& path);

// SessionOptions as an incremental campaign plans its model (faults/fault_replay.cpp) on oneDNN: kept values,
// NaN propagation, and `observable` (the fault sites) never fused away.
SessionOptions onednn_campaign_options(int64_t batch, int threads, std::vector<std::string> observable);

}  // namespace faultline::testing
