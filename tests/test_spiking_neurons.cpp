// The spiking-neuron kernels (kernels/reference/neuron_kernels.h) against hand-computed time steps. Parameters
// are chosen so that every intermediate value is a short binary fraction: the expected values below are exact
// in float32 and the comparisons are exact.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <map>
#include <vector>

#include "engine/graph.h"
#include "engine/shape_inference.h"
#include "kernels/reference/reference_ops.h"
#include "tests/support/graph_builder.h"

namespace faultline {
namespace {

// One neuron node run for len(xs) steps on [1, features] tensors, its state outputs fed back as the next
// step's state inputs. Returns every output of every step: steps[t][output][feature].
using Steps = std::vector<std::vector<std::vector<float>>>;

Steps run_steps(OpKind op, const std::map<std::string, std::vector<float>>& params,
                const std::vector<std::vector<float>>& xs, NeuronAttrs attrs) {
  const NeuronLayout layout = neuron_layout(op);
  const int64_t features = static_cast<int64_t>(xs.front().size());
  Node node;
  node.op = op;
  node.name = "neuron";
  node.attrs = attrs;
  // One tensor each (a copied Tensor would share its storage).
  std::vector<Tensor> states;
  for (size_t s = 0; s < layout.states.size(); ++s)
    states.push_back(Tensor::from_floats({1, features}, std::vector<float>(features, 0.0f)));
  std::vector<Tensor> param_tensors;
  for (std::string_view name : layout.params) {
    const std::vector<float>& values = params.at(std::string(name));
    param_tensors.push_back(Tensor::from_floats({static_cast<int64_t>(values.size())}, values));
  }
  Steps steps;
  for (const std::vector<float>& x_values : xs) {
    Tensor x = Tensor::from_floats({1, features}, x_values);
    std::vector<const Tensor*> inputs = {&x};
    for (const Tensor& s : states) inputs.push_back(&s);
    for (const Tensor& p : param_tensors) inputs.push_back(&p);
    std::vector<Tensor> outputs;
    for (size_t o = 0; o < layout.outputs(); ++o)
      outputs.push_back(Tensor::from_floats({1, features}, std::vector<float>(features, -7.0f)));
    std::vector<Tensor*> output_ptrs;
    for (Tensor& o : outputs) output_ptrs.push_back(&o);
    Status status = run_reference_node(node, inputs, output_ptrs);
    EXPECT_TRUE(status.is_ok()) << status.message();
    std::vector<std::vector<float>> step;
    for (const Tensor& o : outputs) step.emplace_back(o.data<float>(), o.data<float>() + features);
    steps.push_back(step);
    const size_t first_state = layout.fires ? 1 : 0;
    for (size_t s = 0; s < states.size(); ++s) states[s] = outputs[first_state + s].clone();
  }
  return steps;
}

NeuronAttrs attrs(float dt, ResetMode reset = ResetMode::kToReset) {
  return NeuronAttrs{dt, reset};
}

// Column `output` (feature 0) over all steps.
std::vector<float> column(const Steps& steps, size_t output, size_t feature = 0) {
  std::vector<float> out;
  for (const auto& step : steps) out.push_back(step[output][feature]);
  return out;
}

// LIF, dt 0.5, tau 2 (a = 0.25), r 1, v_leak 0.5, threshold 1, v_reset 0.125, x = 1.5:
//   v1 = v + 0.25 * ((0.5 - v) + 1.5): 0 -> 0.5 -> 0.875 -> 1.15625 (> 1: spike, reset to 0.125) -> 0.59375
TEST(SpikingNeurons, LifStepsByHand) {
  const Steps steps =
      run_steps(OpKind::kLIF, {{"tau", {2}}, {"r", {1}}, {"v_leak", {0.5}}, {"v_threshold", {1}}, {"v_reset", {0.125}}},
                {{1.5}, {1.5}, {1.5}, {1.5}}, attrs(0.5f));
  EXPECT_EQ(column(steps, 0), (std::vector<float>{0, 0, 1, 0}));
  EXPECT_EQ(column(steps, 1), (std::vector<float>{0.5f, 0.875f, 0.125f, 0.59375f}));
}

// The same neuron with snnTorch's reset by subtraction: the spike of step 3 (v = 1.15625) is subtracted after
// the next decay: v1 = 1.15625 + 0.25 * ((0.5 - 1.15625) + 1.5) = 1.3671875, minus 1 = 0.3671875 (no spike).
TEST(SpikingNeurons, LifSubtractResetAppliesAtTheNextStep) {
  const Steps steps =
      run_steps(OpKind::kLIF, {{"tau", {2}}, {"r", {1}}, {"v_leak", {0.5}}, {"v_threshold", {1}}, {"v_reset", {0.125}}},
                {{1.5}, {1.5}, {1.5}, {1.5}}, attrs(0.5f, ResetMode::kSubtract));
  EXPECT_EQ(column(steps, 0), (std::vector<float>{0, 0, 1, 0}));
  EXPECT_EQ(column(steps, 1), (std::vector<float>{0.5f, 0.875f, 1.15625f, 0.3671875f}));
}

// IF, dt 1, r 0.5, threshold 1, v_reset -0.25, x = 0.8 (v += 0.4): 0.4, 0.8, 1.2 -> spike -> -0.25, 0.15.
// Feature 1: r 1, x 0.5, threshold 1: 0.5, 1.0 (not > 1: no spike, NIR's strict Heaviside), 1.5 -> spike -> v_reset.
TEST(SpikingNeurons, IfStepsByHandAndStrictThreshold) {
  const Steps steps = run_steps(OpKind::kIF, {{"r", {0.5, 1}}, {"v_threshold", {1, 1}}, {"v_reset", {-0.25, -0.25}}},
                                {{0.8f, 0.5f}, {0.8f, 0.5f}, {0.8f, 0.5f}, {0.8f, 0.5f}}, attrs(1.0f));
  EXPECT_EQ(column(steps, 0, 0), (std::vector<float>{0, 0, 1, 0}));
  const std::vector<float> v = column(steps, 1, 0);
  EXPECT_FLOAT_EQ(v[0], 0.4f);
  EXPECT_FLOAT_EQ(v[1], 0.8f);
  EXPECT_EQ(v[2], -0.25f);
  EXPECT_FLOAT_EQ(v[3], 0.15f);
  EXPECT_EQ(column(steps, 0, 1), (std::vector<float>{0, 0, 1, 0}));
  EXPECT_EQ(column(steps, 1, 1), (std::vector<float>{0.5f, 1.0f, -0.25f, 0.25f}));
}

// CubaLIF, dt 0.5, tau_syn 1 (a_syn 0.5), tau_mem 2 (a 0.25), r 1, v_leak 0, w_in 2, threshold 0.5, x = 1:
//   i1 = i + 0.5 * (2 - i):         1, 1.5, 1.75, 1.875
//   v1 = v + 0.25 * ((0 - v) + i1): 0.25, 0.5625 (spike -> 0), 0.4375, 0.796875 (spike -> 0)
// The membrane reads the NEW current (NIR's CubaLIF = LI; Linear; LIF, as snnTorch's Synaptic).
TEST(SpikingNeurons, CubaLifStepsByHand) {
  const Steps steps = run_steps(OpKind::kCubaLIF,
                                {{"tau_syn", {1}},
                                 {"tau_mem", {2}},
                                 {"r", {1}},
                                 {"v_leak", {0}},
                                 {"v_threshold", {0.5}},
                                 {"v_reset", {0}},
                                 {"w_in", {2}}},
                                {{1}, {1}, {1}, {1}}, attrs(0.5f));
  EXPECT_EQ(column(steps, 0), (std::vector<float>{0, 1, 0, 1}));
  EXPECT_EQ(column(steps, 1), (std::vector<float>{1.0f, 1.5f, 1.75f, 1.875f}));
  EXPECT_EQ(column(steps, 2), (std::vector<float>{0.25f, 0.0f, 0.4375f, 0.0f}));
}

TEST(SpikingNeurons, LiIntegratorCubaLiAndThresholdByHand) {
  const Steps li =
      run_steps(OpKind::kLI, {{"tau", {2}}, {"r", {1}}, {"v_leak", {0.5}}}, {{1.5}, {1.5}, {1.5}, {1.5}}, attrs(0.5f));
  EXPECT_EQ(column(li, 0), (std::vector<float>{0.5f, 0.875f, 1.15625f, 1.3671875f}));  // no threshold, no reset

  const Steps integrator = run_steps(OpKind::kIntegrator, {{"r", {2}}}, {{0.75}, {0.75}, {-0.25}}, attrs(0.5f));
  EXPECT_EQ(column(integrator, 0), (std::vector<float>{0.75f, 1.5f, 1.25f}));  // v += 0.5 * (2 * x)

  const Steps cuba_li =
      run_steps(OpKind::kCubaLI, {{"tau_syn", {1}}, {"tau_mem", {2}}, {"r", {1}}, {"v_leak", {0}}, {"w_in", {2}}},
                {{1}, {1}, {1}}, attrs(0.5f));
  EXPECT_EQ(column(cuba_li, 0), (std::vector<float>{1.0f, 1.5f, 1.75f}));
  EXPECT_EQ(column(cuba_li, 1), (std::vector<float>{0.25f, 0.5625f, 0.859375f}));  // 0.5625 + 0.25 * 1.1875

  const Steps threshold =
      run_steps(OpKind::kThreshold, {{"threshold", {0.5}}}, {{0.4f, 0.5f, 0.6f, -1.0f}}, attrs(1.0f));
  EXPECT_EQ(threshold[0][0], (std::vector<float>{0, 0, 1, 0}));  // a one-element threshold serves every feature
}

TEST(SpikingNeurons, NanStateNeverSpikesAndStaysNan) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const Steps steps =
      run_steps(OpKind::kIF, {{"r", {1}}, {"v_threshold", {1}}, {"v_reset", {0}}}, {{nan}, {5.0f}}, attrs(1.0f));
  EXPECT_EQ(column(steps, 0), (std::vector<float>{0, 0}));
  EXPECT_TRUE(std::isnan(steps[1][1][0]));
}

TEST(SpikingNeurons, ShapeInferenceChecksStatesAndParameters) {
  testing::GraphBuilder b;
  const ValueId x = b.input("x", {2, 3});
  const ValueId v = b.input("v", {2, 3});
  const ValueId bad_v = b.input("bad_v", {2, 4});
  const ValueId r = b.constant("r", Tensor::from_floats({3}, {1, 1, 1}));
  const ValueId thr = b.constant("thr", Tensor::from_floats({1}, {1}));
  const ValueId wrong = b.constant("wrong", Tensor::from_floats({2}, {1, 1}));
  Graph& g = b.graph();
  auto add = [&](std::vector<ValueId> inputs, size_t outputs) {
    Node node;
    node.op = OpKind::kIF;
    node.name = "if" + std::to_string(g.nodes().size());
    node.inputs = std::move(inputs);
    for (size_t i = 0; i < outputs; ++i) {
      Value out;
      out.name = node.name + ":" + std::to_string(i);
      node.outputs.push_back(g.add_value(out));
    }
    return g.add_node(node);
  };
  const NodeId good = add({x, v, r, thr, thr}, 2);
  ASSERT_TRUE(infer_output_shapes(g, good).is_ok());
  EXPECT_EQ(g.value(g.node(good).outputs[0]).shape, (Shape{2, 3}));
  EXPECT_EQ(g.value(g.node(good).outputs[1]).shape, (Shape{2, 3}));

  Status status = infer_output_shapes(g, add({x, bad_v, r, thr, thr}, 2));
  EXPECT_NE(status.message().find("must have the shape of x"), std::string::npos) << status.message();
  status = infer_output_shapes(g, add({x, v, wrong, thr, thr}, 2));
  EXPECT_NE(status.message().find("parameter r [2] has neither one element nor one per feature"), std::string::npos)
      << status.message();
  status = infer_output_shapes(g, add({x, v, r, thr}, 2));
  EXPECT_NE(status.message().find("expects 5 inputs"), std::string::npos) << status.message();
  status = infer_output_shapes(g, add({x, v, r, thr, thr}, 1));
  EXPECT_NE(status.message().find("expects 2 outputs"), std::string::npos) << status.message();
}

}  // namespace
}  // namespace faultline
