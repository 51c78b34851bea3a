// faultline's spiking runtime against scripts/nir_reference.py, a NumPy simulation written from NIR's documented
// equations (forward Euler, float32, the operation order of kernels/reference/neuron_kernels.h). The reference
// backend must reproduce the committed spike trains and membrane potentials EXACTLY (lif_norse, two_lif_neurons
// and the recurrent braille net, with both reset modes; hidden-layer spikes too; a synthetic chain of CubaLI, I,
// Threshold, Scale and LI) and cnn_sinabs' output spike counts. oneDNN (other summation orders) must agree closely.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>

#include "engine/npy.h"
#include "engine/spiking/spiking_session.h"
#include "frontends/load_model.h"
#include "tests/support/test_support.h"

namespace faultline {
namespace {

using testing::test_data;

Tensor load_npy(const std::string& relative) {
  Result<Tensor> t = read_npy(test_data(relative));
  EXPECT_TRUE(t.is_ok()) << t.status().message();
  return t.is_ok() ? std::move(t).value() : Tensor();
}

::testing::AssertionResult bit_identical(const Tensor& expected, const Tensor& actual) {
  if (expected.shape() != actual.shape() || expected.dtype() != actual.dtype())
    return ::testing::AssertionFailure() << "expected " << shape_to_string(expected.shape()) << ", got "
                                         << shape_to_string(actual.shape());
  int64_t differ = 0, first = -1;
  for (int64_t i = 0; i < expected.numel(); ++i) {
    // -0.0 and +0.0 count as equal (a float32 sum may reach zero from either side); every other bit must match.
    const float e = expected.data<float>()[i], a = actual.data<float>()[i];
    if (e == a || (std::isnan(e) && std::isnan(a))) continue;
    if (first < 0) first = i;
    ++differ;
  }
  if (differ == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << differ << " of " << expected.numel() << " elements differ, first at " << first
                                       << ": expected " << expected.data<float>()[first] << ", got "
                                       << actual.data<float>()[first];
}

// Records the value `name` after the step that computes it, at every time step: [T, N, ...].
class ValueRecorder : public StepObserver {
 public:
  ValueRecorder(const SpikingSession& session, std::string name) : session_(session), name_(std::move(name)) {}
  Status before_step(CompiledModel&, size_t) override { return Status::ok(); }
  Status after_step(CompiledModel& model, size_t index) override {
    auto id = model.graph().find_value(name_);
    if (!id) return not_found("no value " + name_);
    const std::vector<ValueId>& outputs = model.step(index).outputs;
    if (std::find(outputs.begin(), outputs.end(), *id) == outputs.end()) return Status::ok();
    Tensor value;
    FL_RETURN_IF_ERROR(model.read_value(*id, value));
    steps_[session_.time_step()] = std::move(value);
    return Status::ok();
  }
  Tensor stacked() const {
    const Tensor& first = steps_.begin()->second;
    Shape shape = first.shape();
    shape.insert(shape.begin(), static_cast<int64_t>(steps_.size()));
    Tensor out = Tensor::allocate(DType::kFloat32, shape).value();
    for (const auto& [t, value] : steps_)
      std::memcpy(out.data<float>() + t * first.numel(), value.raw(), value.nbytes());
    return out;
  }

 private:
  const SpikingSession& session_;
  std::string name_;
  std::map<int64_t, Tensor> steps_;
};

struct Case {
  const char* name;   // files tests/data/nir/<name>_{spikes,membrane,<hidden>_spikes}.npy
  const char* model;  // tests/data/nir/<model>
  const char* input;  // tests/data/nir/<input>_input.npy
  float dt;
  ResetMode reset;
  const char* hidden;  // a hidden spiking neuron whose spike train is compared too, or ""
};

const Case kCases[] = {
    {"lif_norse", "lif_norse.nir", "lif_norse", 1e-3f, ResetMode::kToReset, ""},
    {"two_lif_neurons", "two_lif_neurons.nir", "two_lif_neurons", 1e-3f, ResetMode::kToReset, "lif1"},
    {"braille", "braille_noDelay_noBias_subtract.nir", "braille", 1e-4f, ResetMode::kToReset, "lif1.lif"},
    {"braille_subtract", "braille_noDelay_noBias_subtract.nir", "braille", 1e-4f, ResetMode::kSubtract, "lif1.lif"},
    {"neuron_zoo", "synthetic/neuron_zoo.nir", "neuron_zoo", 1e-3f, ResetMode::kToReset,
     "thr"},  // CubaLI, I, Threshold, Scale, LI
};

std::unique_ptr<SpikingSession> session_for(const std::string& model_file, const std::string& backend, float dt,
                                            ResetMode reset, int64_t batch) {
  auto model = load_model(test_data("nir/" + model_file));
  EXPECT_TRUE(model.is_ok()) << model.status().message();
  if (!model.is_ok()) return nullptr;
  SpikingOptions options;
  options.backend = backend;
  options.batch = batch;
  options.dt = dt;
  options.reset = reset;
  auto session = SpikingSession::create(*model, options);
  EXPECT_TRUE(session.is_ok()) << session.status().message();
  return session.is_ok() ? std::move(session).value() : nullptr;
}

TEST(NirEquivalence, ReferenceBackendReproducesSpikeTrainsExactly) {
  for (const Case& c : kCases) {
    SCOPED_TRACE(c.name);
    const Tensor input = load_npy(std::string("nir/") + c.input + "_input.npy");
    auto session = session_for(c.model, "reference", c.dt, c.reset, input.dim(1));
    ASSERT_TRUE(session);
    auto steps = session->run({input}, SpikeRecord::kSteps);
    ASSERT_TRUE(steps.is_ok()) << steps.status().message();
    const Tensor expected = load_npy(std::string("nir/") + c.name + "_spikes.npy");
    EXPECT_TRUE(bit_identical(expected, steps->front()));
    auto membrane = session->run({input}, SpikeRecord::kMembrane);
    ASSERT_TRUE(membrane.is_ok()) << membrane.status().message();
    EXPECT_TRUE(bit_identical(load_npy(std::string("nir/") + c.name + "_membrane.npy"), membrane->front()));
    if (*c.hidden) {
      ValueRecorder recorder(*session, c.hidden);
      ASSERT_TRUE(session->run({input}, SpikeRecord::kCounts, &recorder).is_ok());
      const Tensor hidden = load_npy(std::string("nir/") + c.name + "_" + c.hidden + "_spikes.npy");
      EXPECT_TRUE(bit_identical(hidden, recorder.stacked()));
    }
    // Counts are the per-step output summed over time.
    auto counts = session->run({input}, SpikeRecord::kCounts);
    ASSERT_TRUE(counts.is_ok());
    for (int64_t i = 0; i < counts->front().numel(); ++i) {
      float sum = 0;
      for (int64_t t = 0; t < expected.dim(0); ++t) sum += expected.data<float>()[t * counts->front().numel() + i];
      EXPECT_EQ(counts->front().data<float>()[i], sum);
    }
  }
}

TEST(NirEquivalence, CnnSinabsOutputSpikeCountsAreIdentical) {
  const Tensor input = load_npy("nir/cnn_sinabs_input.npy");  // uint8 events [T, N, 2, 34, 34]
  const Tensor expected = load_npy("nir/cnn_sinabs_counts.npy");
  for (const char* backend : {"reference", "onednn"}) {
    SCOPED_TRACE(backend);
    auto session = session_for("cnn_sinabs.nir", backend, 1.0f, ResetMode::kToReset, 2);  // Sinabs: one unit per step
    ASSERT_TRUE(session);
    auto counts = session->run({input}, SpikeRecord::kCounts);
    ASSERT_TRUE(counts.is_ok()) << counts.status().message();
    EXPECT_TRUE(bit_identical(expected, counts->front()));
  }
}

TEST(NirEquivalence, OnednnAgreesWithTheReference) {
  for (const Case& c : kCases) {
    SCOPED_TRACE(c.name);
    const Tensor input = load_npy(std::string("nir/") + c.input + "_input.npy");
    auto session = session_for(c.model, "onednn", c.dt, c.reset, 2);  // two batches: the plan is reused
    ASSERT_TRUE(session);
    auto membrane = session->run({input}, SpikeRecord::kMembrane);
    ASSERT_TRUE(membrane.is_ok()) << membrane.status().message();
    EXPECT_TRUE(
        testing::tensors_near(load_npy(std::string("nir/") + c.name + "_membrane.npy"), membrane->front(), 1e-4, 1e-4));
    auto steps = session->run({input}, SpikeRecord::kSteps);
    ASSERT_TRUE(steps.is_ok()) << steps.status().message();
    const Tensor expected = load_npy(std::string("nir/") + c.name + "_spikes.npy");
    int64_t same = 0;
    for (int64_t i = 0; i < expected.numel(); ++i) same += expected.data<float>()[i] == steps->front().data<float>()[i];
    EXPECT_GE(same, expected.numel() * 99 / 100) << "spike trains agree on " << same << " of " << expected.numel();
  }
}

}  // namespace
}  // namespace faultline
