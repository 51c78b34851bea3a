#include "tests/support/backend_comparison.h"

#include <cstring>
#include <memory>

#include "kernels/reference/reference_backend.h"
#include "tests/support/graph_builder.h"
#include "tests/support/test_support.h"

namespace faultline::testing {

::testing::AssertionResult tensors_near(const Tensor& expected, const Tensor& actual, Tolerance tol) {
  return tensors_near(expected, actual, tol.rtol, tol.atol);
}

std::vector<Tensor> run_backend(const Backend& backend, const Graph& graph, const std::vector<Tensor>& inputs,
                                const PlanOptions& options) {
  std::unique_ptr<CompiledModel> model = compile_or_fail(backend, graph, options);
  if (!model) return {};
  return run_model(*model, inputs);
}

std::vector<Tensor> random_inputs(const Graph& graph, uint32_t seed) {
  std::vector<Tensor> inputs;
  for (ValueId id : graph.inputs()) inputs.push_back(random_tensor(graph.value(id).shape, seed++));
  return inputs;
}

void expect_backend_matches_reference(const Backend& backend, const Graph& graph, Tolerance tol,
                                      const PlanOptions& options, std::vector<Tensor> inputs) {
  if (inputs.empty()) inputs = random_inputs(graph, 1);
  const std::vector<Tensor> expected = run_backend(*make_reference_backend(), graph, inputs);
  const std::vector<Tensor> actual = run_backend(backend, graph, inputs, options);
  ASSERT_EQ(expected.size(), graph.outputs().size());
  ASSERT_EQ(actual.size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) EXPECT_TRUE(tensors_near(expected[i], actual[i], tol)) << "output " << i;
}

Graph residual_block_classifier() {
  GraphBuilder b;
  const ValueId x = b.input("x", {4, 3, 12, 12});
  ValueId h = b.node(OpKind::kRelu, {random_batch_norm(b, random_conv(b, x, 3, 16, conv3x3(), false, 1), 16, 2)});
  ValueId r = random_batch_norm(b, random_conv(b, h, 16, 16, conv3x3(), false, 5), 16, 6);
  h = b.node(OpKind::kRelu, {b.node(OpKind::kAdd, {r, h})});
  h = b.node(OpKind::kFlatten, {b.node(OpKind::kGlobalAveragePool, {h})}, FlattenAttrs{1});
  b.output(
      b.node(OpKind::kGemm, {h, b.constant("fc", random_tensor({10, 16}, 9))}, GemmAttrs{1.0f, 1.0f, false, true}));
  return b.build_with_shapes();
}

void expect_rerun_gives_identical_bits(CompiledModel& model, const Graph& graph) {
  const std::vector<Tensor> inputs = random_inputs(graph, 1);
  const std::vector<Tensor> first = run_model(model, inputs);
  const std::vector<Tensor> other = run_model(model, random_inputs(graph, 50));
  const std::vector<Tensor> second = run_model(model, inputs);
  ASSERT_EQ(first.size(), 1u);
  ASSERT_EQ(second.size(), 1u);
  EXPECT_EQ(std::memcmp(first[0].raw(), second[0].raw(), first[0].nbytes()), 0);
  EXPECT_NE(std::memcmp(first[0].raw(), other[0].raw(), first[0].nbytes()), 0);
}

}  // namespace faultline::testing
