// Checking a backend against the reference backend (kernels/reference/reference_backend.h), the naive oracle:
// both compile the same graph and run the same inputs, and every graph output must agree within a Tolerance,
// |expected - actual| <= atol + rtol * |expected| (tensors_near's rule: NaN matches NaN). Each test file keeps
// its own per-op Tolerance values; the graphs' inputs are random_inputs(graph, 1) unless a test passes its own.
// Failures are test failures naming the output; a graph that does not compile gives no outputs and fails the
// output-count check.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "engine/backend.h"
#include "engine/graph.h"
#include "engine/tensor.h"

namespace faultline::testing {

// One op's (or one test's) tolerance: elements match when |expected - actual| <= atol + rtol * |expected|.
struct Tolerance {
  double rtol, atol;
};

// tensors_near(expected, actual, tol.rtol, tol.atol).
::testing::AssertionResult tensors_near(const Tensor& expected, const Tensor& actual, Tolerance tol);

// `graph` compiled by `backend` with `options` and run on `inputs`: the graph outputs, or none after a test
// failure (compile_or_fail, run_model).
std::vector<Tensor> run_backend(const Backend& backend, const Graph& graph, const std::vector<Tensor>& inputs,
                                const PlanOptions& options = {});

// One random_tensor per graph input, of its shape, with seeds `seed`, `seed + 1`, ... in input order.
std::vector<Tensor> random_inputs(const Graph& graph, uint32_t seed);

// Runs `graph` on the reference backend (default options) and on `backend` (with `options`) on the same
// `inputs` (random_inputs(graph, 1) when empty) and expects every output to match within `tol`.
void expect_backend_matches_reference(const Backend& backend, const Graph& graph, Tolerance tol,
                                      const PlanOptions& options = {}, std::vector<Tensor> inputs = {});

// A ResNet basic block with a classifier, weights from fixed seeds: x [4, 3, 12, 12] -> conv + BN + relu ->
// (conv + BN) + skip -> relu -> global average pool -> flatten -> gemm -> [4, 10].
Graph residual_block_classifier();

// Runs `model` (compiled from `graph`) on random_inputs(graph, 1), then on random_inputs(graph, 50), then on
// the first inputs again: the two runs on the same inputs must give identical bits, the other inputs another
// output (a re-run that only returned the last output would pass the first check). One output expected.
void expect_rerun_gives_identical_bits(CompiledModel& model, const Graph& graph);

}  // namespace faultline::testing
