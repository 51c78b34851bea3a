// engine/spiking: the time-step loop of SpikingSession on a hand-built LIF graph (hand-computed membranes), the
// fault hooks per time step (a state fault carried to the next step, a threshold fault), batching, errors, and
// the rate / direct encodings against their documented definitions.
#include <gtest/gtest.h>

#include <random>

#include "engine/spiking/spike_encoding.h"
#include "engine/spiking/spiking_session.h"
#include "tests/support/graph_builder.h"
#include "tests/support/test_support.h"

namespace faultline {
namespace {

// x [N, 1] -> LIF(tau 2, r 1, v_leak 0.5, threshold 1, v_reset 0.125) -> Identity "out"; state n.v@prev <- n.v.
// With dt 0.5 and x = 1.5 the membrane is 0.5, 0.875, 1.15625 (spike, reset to 0.125), 0.59375 (see
// tests/test_spiking_neurons.cpp).
std::shared_ptr<const Graph> lif_graph() {
  testing::GraphBuilder b;
  const ValueId x = b.input("x", {kDynamicDim, 1});
  const ValueId v_prev = b.input("n.v@prev", {kDynamicDim, 1});
  std::vector<ValueId> inputs = {x, v_prev};
  for (auto [name, value] :
       {std::pair{"n.tau", 2.0f}, {"n.r", 1.0f}, {"n.v_leak", 0.5f}, {"n.v_threshold", 1.0f}, {"n.v_reset", 0.125f}})
    inputs.push_back(b.constant(name, Tensor::from_floats({1}, {value})));
  Graph& g = b.graph();
  const std::vector<ValueId> lif =
      b.node_with_outputs(OpKind::kLIF, inputs, NeuronAttrs{0.5f, ResetMode::kToReset}, "n", {"n", "n.v"});
  const ValueId spikes = lif[0], v = lif[1];
  const ValueId out = b.node(OpKind::kIdentity, {spikes}, {}, "out", "out");
  b.output(out);
  b.output(v);
  g.state_links.push_back({"n.v@prev", "n.v"});
  g.source = "lif_graph";
  return std::make_shared<const Graph>(b.build());
}

Tensor constant_input(int64_t steps, int64_t samples, float value) {
  return Tensor::from_floats({steps, samples, 1}, std::vector<float>(static_cast<size_t>(steps * samples), value));
}

std::unique_ptr<SpikingSession> make_session(SpikingOptions options = {}) {
  auto session = SpikingSession::create(lif_graph(), options);
  EXPECT_TRUE(session.is_ok()) << session.status().message();
  return session.is_ok() ? std::move(session).value() : nullptr;
}

TEST(SpikingSession, MembraneSpikesAndCountsByHand) {
  for (const char* backend : {"reference", "onednn"}) {
    SCOPED_TRACE(backend);
    SpikingOptions options;
    options.backend = backend;
    options.batch = 2;
    auto session = make_session(options);
    ASSERT_TRUE(session);
    EXPECT_EQ(session->data_inputs(), (std::vector<std::string>{"x"}));
    EXPECT_EQ(session->model_outputs(), (std::vector<std::string>{"out"}));
    const Tensor x = constant_input(4, 3, 1.5f);  // 3 samples in batches of 2: a second plan for the last one
    auto membrane = session->run({x}, SpikeRecord::kMembrane);
    ASSERT_TRUE(membrane.is_ok()) << membrane.status().message();
    ASSERT_EQ(membrane->front().shape(), (Shape{4, 3, 1}));
    const float expected_v[] = {0.5f, 0.875f, 0.125f, 0.59375f};
    for (int64_t t = 0; t < 4; ++t)
      for (int64_t n = 0; n < 3; ++n) EXPECT_EQ(membrane->front().data<float>()[t * 3 + n], expected_v[t]);
    auto steps = session->run({x}, SpikeRecord::kSteps);
    ASSERT_TRUE(steps.is_ok());
    for (int64_t n = 0; n < 3; ++n) EXPECT_EQ(steps->front().data<float>()[2 * 3 + n], 1.0f);
    auto counts = session->run({x}, SpikeRecord::kCounts);
    ASSERT_TRUE(counts.is_ok());
    EXPECT_EQ(counts->front().shape(), (Shape{3, 1}));
    EXPECT_EQ(counts->front().to_doubles(), (std::vector<double>{1, 1, 1}));  // every sample starts from zero state
  }
}

TEST(SpikingSession, DtAndResetOptionsOverrideTheModel) {
  SpikingOptions options;
  options.dt = 1.0f;  // a = 0.5: v = 1.0 (not > 1), 1.5 (spike) ...
  options.reset = ResetMode::kSubtract;
  auto session = make_session(options);
  ASSERT_TRUE(session);
  auto membrane = session->run({constant_input(3, 1, 1.5f)}, SpikeRecord::kMembrane);
  ASSERT_TRUE(membrane.is_ok());
  // v1 = v + 0.5 * ((0.5 - v) + 1.5): 1.0, 1.5 (spike), then 1.5 + 0.5 * 0.5 = 1.75 minus threshold 1 = 0.75.
  EXPECT_EQ(membrane->front().to_doubles(), (std::vector<double>{1.0, 1.5, 0.75}));
}

// Changes n.v after the LIF step of time step `at` (an activation fault on the state), or the threshold before the
// first step (a parameter fault), and records the time steps it saw.
class FaultAtStep : public StepObserver {
 public:
  FaultAtStep(const SpikingSession& session, int64_t at, bool threshold)
      : session_(session), at_(at), threshold_(threshold) {}
  Status before_step(CompiledModel& model, size_t index) override {
    if (index == 0) seen_.push_back(session_.time_step());
    if (threshold_ && session_.time_step() == 0 && index == 0)
      return model.write_value(*model.graph().find_value("n.v_threshold"), Tensor::from_floats({1}, {2.0f}));
    return Status::ok();
  }
  Status after_step(CompiledModel& model, size_t index) override {
    if (threshold_ || session_.time_step() != at_) return Status::ok();
    const ValueId v = *model.graph().find_value("n.v");
    const auto& outputs = model.step(index).outputs;
    if (std::find(outputs.begin(), outputs.end(), v) == outputs.end()) return Status::ok();
    return model.write_value(v, Tensor::from_floats({1, 1}, {-1.0f}));
  }
  std::vector<int64_t> seen_;

 private:
  const SpikingSession& session_;
  int64_t at_;
  bool threshold_;
};

TEST(SpikingSession, ObserverKnowsTheTimeStepAndStateFaultsCarryOver) {
  auto session = make_session();
  ASSERT_TRUE(session);
  FaultAtStep fault(*session, 1, false);
  auto membrane = session->run({constant_input(4, 1, 1.5f)}, SpikeRecord::kMembrane, &fault);
  ASSERT_TRUE(membrane.is_ok()) << membrane.status().message();
  EXPECT_EQ(fault.seen_, (std::vector<int64_t>{0, 1, 2, 3}));
  EXPECT_EQ(session->time_step(), -1);
  // v = -1 after step 1, then -1 + 0.25 * (1.5 + 1.5) = -0.25, then -0.25 + 0.25 * (0.75 + 1.5) = 0.3125: the
  // spike of step 2 is gone.
  EXPECT_EQ(membrane->front().to_doubles(), (std::vector<double>{0.5, -1.0, -0.25, 0.3125}));

  FaultAtStep threshold(*session, 0, true);
  auto counts = session->run({constant_input(4, 1, 1.5f)}, SpikeRecord::kCounts, &threshold);
  ASSERT_TRUE(counts.is_ok());
  EXPECT_EQ(counts->front().to_doubles(), (std::vector<double>{0}));  // threshold 2 is never crossed
}

TEST(SpikingSession, ErrorsNameWhatIsWrong) {
  auto session = make_session();
  ASSERT_TRUE(session);
  auto wrong_shape = session->run({Tensor::from_floats({2, 1, 2}, {1, 1, 1, 1})}, SpikeRecord::kCounts);
  ASSERT_FALSE(wrong_shape.is_ok());
  EXPECT_NE(wrong_shape.status().message().find(
                "input 'x' must be [T, N, 1] (time steps first, then samples), got [2, 1, 2]"),
            std::string::npos)
      << wrong_shape.status().message();
  auto two_inputs = session->run({constant_input(1, 1, 1), constant_input(1, 1, 1)}, SpikeRecord::kCounts);
  EXPECT_NE(two_inputs.status().message().find("takes 1 data inputs, got 2"), std::string::npos);
  SpikingOptions bad_dt;
  bad_dt.dt = -1.0f;
  EXPECT_FALSE(SpikingSession::create(lif_graph(), bad_dt).is_ok());

  // A model whose output no neuron feeds has no membrane to record.
  testing::GraphBuilder b;
  b.output(b.node(OpKind::kRelu, {b.input("x", {kDynamicDim, 2})}, {}, "relu", "y"));
  auto plain = SpikingSession::create(std::make_shared<const Graph>(b.build()), {});
  ASSERT_TRUE(plain.is_ok()) << plain.status().message();
  auto membrane = (*plain)->run({constant_input(2, 1, 1.0f).reshaped({1, 1, 2}).value()}, SpikeRecord::kMembrane);
  ASSERT_FALSE(membrane.is_ok());
  EXPECT_NE(membrane.status().message().find("output 'y' is not fed by a neuron"), std::string::npos)
      << membrane.status().message();
}

TEST(SpikeEncoding, RateEncodingFollowsItsDocumentedDefinition) {
  std::vector<float> pixels;
  for (int i = 0; i < 1000; ++i) pixels.push_back(i % 4 == 0 ? 0.25f : i % 4 == 1 ? 0.0f : i % 4 == 2 ? 1.0f : 2.0f);
  const Tensor images = Tensor::from_floats({10, 100}, pixels);
  auto spikes = rate_encode(images, 8, 42);
  ASSERT_TRUE(spikes.is_ok());
  ASSERT_EQ(spikes->shape(), (Shape{8, 10, 100}));
  // The definition: one std::mt19937_64(seed) draw per element in [T, N, ...] order, u = (draw >> 40) * 2^-24,
  // spike iff u < clamp(x, 0, 1).
  std::mt19937_64 rng(42);
  int64_t quarter_spikes = 0, quarter_total = 0;
  for (int64_t i = 0; i < spikes->numel(); ++i) {
    const float u = static_cast<float>(rng() >> 40) / 16777216.0f;
    const float p = std::min(1.0f, std::max(0.0f, pixels[static_cast<size_t>(i % 1000)]));
    ASSERT_EQ(spikes->data<float>()[i], u < p ? 1.0f : 0.0f) << i;
    if (i % 4 == 0) {
      quarter_spikes += spikes->data<float>()[i] == 1.0f;
      ++quarter_total;
    }
    if (i % 4 == 1) ASSERT_EQ(spikes->data<float>()[i], 0.0f);  // p = 0 never spikes
    if (i % 4 >= 2) ASSERT_EQ(spikes->data<float>()[i], 1.0f);  // p >= 1 always spikes
  }
  EXPECT_NEAR(static_cast<double>(quarter_spikes) / quarter_total, 0.25, 0.03);
  auto again = rate_encode(images, 8, 42);
  auto other = rate_encode(images, 8, 43);
  EXPECT_TRUE(testing::tensors_near(*spikes, *again, 0, 0));
  EXPECT_FALSE(testing::tensors_near(*spikes, *other, 0, 0));
  EXPECT_FALSE(rate_encode(images, 0, 1).is_ok());
}

TEST(SpikeEncoding, DirectEncodingRepeatsTheInput) {
  auto steps = direct_encode(Tensor::from_floats({2, 2}, {0.5f, -1.0f, 3.0f, 0.0f}), 3);
  ASSERT_TRUE(steps.is_ok());
  EXPECT_EQ(steps->shape(), (Shape{3, 2, 2}));
  EXPECT_EQ(steps->to_doubles(), (std::vector<double>{0.5, -1, 3, 0, 0.5, -1, 3, 0, 0.5, -1, 3, 0}));
}

}  // namespace
}  // namespace faultline
