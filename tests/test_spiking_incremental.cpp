// Incremental spiking replays (faults/spiking_replay.h, ReplayOptions::incremental): a fault's run starts at
// its first faulty time step from the golden states, batches its Batch sample is not in are not run, only the
// steps the fault can reach run (engine/spiking/step_cone.h), and a batch stops once its states are golden
// again; the spike counts must be the bytes the full run gives.
//   - Random campaigns (340 faults: state, spike-output and parameter faults; bit flips, stuck-at bits,
//     values, zeros; permanent and over Step ranges; with and without Batch) on three NIR fixtures of
//     tests/data/nir and the spiking MNIST example network: every fault's counts in three incremental modes
//     (layer skipping; every step's states without it; checkpoints every k > 1 steps) against the full run
//     (ReplayOptions::incremental off).
//   - A hand-computed LIF layer: which time steps run (time_steps_run()), where a transient fault is masked,
//     a permanent fault that changes nothing, checkpoints, and Batch.
//   - The recurrent braille network: the steps a fault in the output layer, in a recurrent weight and in a
//     membrane reaches, and what they read from skipped steps, read off the graph by hand.
//   - `faultline run --full-passes` on a spiking experiment writes the same files as the incremental run.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <random>
#include <set>
#include <sstream>

#include "engine/file_io.h"
#include "engine/npy.h"
#include "engine/spiking/step_cone.h"
#include "faults/fault_list.h"
#include "faults/fault_targets.h"
#include "faults/spiking_replay.h"
#include "frontends/load_model.h"
#include "tests/support/graph_builder.h"
#include "tests/support/spiking_fixtures.h"
#include "tests/support/run_command.h"
#include "tests/support/test_support.h"

namespace faultline {
namespace {

bool same_bytes(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && a.nbytes() == b.nbytes() && std::memcmp(a.raw(), b.raw(), a.nbytes()) == 0;
}

std::vector<float> counts_of(const Tensor& t) {
  return std::vector<float>(t.data<float>(), t.data<float>() + t.numel());
}

// A resolved fault list and replayers over it; the list and targets outlive the replayers.
struct Replay {
  FaultList list;
  std::vector<FaultTarget> targets;
  std::vector<ResolvedFault> faults;
};

std::unique_ptr<Replay> resolve(const std::shared_ptr<const Graph>& model, const std::string& csv) {
  auto r = std::make_unique<Replay>();
  auto list = parse_fault_list(csv, "faults.csv");
  EXPECT_TRUE(list.is_ok()) << list.status().message();
  if (!list.is_ok()) return nullptr;
  r->list = std::move(list).value();
  auto targets = list_fault_targets(*model);
  EXPECT_TRUE(targets.is_ok()) << targets.status().message();
  if (!targets.is_ok()) return nullptr;
  r->targets = std::move(targets).value();
  auto faults = resolve_fault_list(r->list, r->targets);
  EXPECT_TRUE(faults.is_ok()) << faults.status().message();
  if (!faults.is_ok()) return nullptr;
  r->faults = std::move(faults).value();
  return r;
}

std::unique_ptr<SpikingReplayer> replayer(const std::shared_ptr<const Graph>& model, const SpikingOptions& options,
                                          const Replay& r, const Tensor& input, ReplayOptions replay_options) {
  auto created = SpikingReplayer::create(model, options, r.list, r.faults, r.targets, input, {}, replay_options);
  EXPECT_TRUE(created.is_ok()) << created.status().message();
  return created.is_ok() ? std::move(created).value() : nullptr;
}

// `count` random faults over the model's parameters and its float32 activations (neuron states and spike
// outputs): each a bit flip, stuck-at bit, value or zero, permanent or over a random Step range, an
// activation fault with a random Batch sample one time in three.
std::string random_faults(const Graph& model, int64_t steps, int64_t samples, int count, uint64_t seed) {
  auto targets = list_fault_targets(model);
  EXPECT_TRUE(targets.is_ok()) << targets.status().message();
  std::vector<const FaultTarget*> chosen;
  for (const FaultTarget& t : *targets)
    if ((t.kind == TargetKind::kWeight || t.kind == TargetKind::kActivation) && t.dtype == DType::kFloat32 &&
        t.elements > 0)
      chosen.push_back(&t);
  std::mt19937_64 rng(seed);
  auto below = [&](int64_t n) { return static_cast<int64_t>(rng() % static_cast<uint64_t>(n)); };
  const char* values[] = {"0", "1", "5", "-3", "0.5", "100"};
  std::ostringstream csv;
  csv << "Injection,Layer,Target,TensorIndex,Bit,Model,Value,Step,Batch\n";
  for (int i = 0; i < count; ++i) {
    const FaultTarget& t = *chosen[static_cast<size_t>(below(static_cast<int64_t>(chosen.size())))];
    const bool weight = t.kind == TargetKind::kWeight;
    csv << i << "," << t.layer << "," << (weight ? "weight" : "activation") << "," << below(t.elements) << ",";
    switch (below(5)) {
      case 0:
      case 1:
        csv << below(32) << ",bitflip,,";
        break;
      case 2:
        csv << below(32) << (below(2) ? ",stuck-at-0,," : ",stuck-at-1,,");
        break;
      case 3:
        csv << ",value," << values[below(6)] << ",";
        break;
      default:
        csv << ",zero,,";
        break;
    }
    if (below(4) > 0) {  // a Step range, three times in four
      const int64_t a = below(steps);
      const int64_t b = below(3) == 0 ? a : a + below(steps - a);
      csv << a;
      if (b > a) csv << "-" << b;
    }
    csv << ",";
    if (!weight && below(3) == 0) csv << below(samples);
    csv << "\n";
  }
  return csv.str();
}

struct CampaignCase {
  const char* name;
  std::string model;  // path
  Tensor input;       // [T, N, ...]
  float dt;
  std::string backend;
  int faults;
};

Tensor load_npy(const std::string& relative) {
  auto t = read_npy(testing::test_data(relative));
  EXPECT_TRUE(t.is_ok()) << t.status().message();
  return t.is_ok() ? t->cast(DType::kFloat32) : Tensor();
}

// [T, N, 784] Bernoulli(0.2) spikes, seeded: rate-coded inputs for the MNIST network.
Tensor random_spikes(int64_t steps, int64_t samples, int64_t features) {
  std::mt19937_64 rng(7);
  std::vector<float> values(static_cast<size_t>(steps * samples * features));
  for (float& v : values) v = rng() % 5 == 0 ? 1.0f : 0.0f;
  return Tensor::from_floats({steps, samples, features}, values);
}

// Every fault of random campaigns: incremental counts (every step's states kept; checkpoints every k > 1
// steps under a budget that holds little more than the step outputs) are the full run's bytes.
TEST(SpikingIncremental, RandomCampaignsEqualFullRunsBitForBit) {
  std::vector<CampaignCase> cases;
  cases.push_back({"two_lif_neurons", testing::test_data("nir/two_lif_neurons.nir"),
                   load_npy("nir/two_lif_neurons_input.npy"), 1e-3f, "reference", 80});
  cases.push_back({"braille", testing::test_data("nir/braille_noDelay_noBias_subtract.nir"),
                   load_npy("nir/braille_input.npy"), 1e-4f, "reference", 100});
  cases.push_back({"neuron_zoo", testing::test_data("nir/synthetic/neuron_zoo.nir"),
                   load_npy("nir/neuron_zoo_input.npy"), 1e-3f, "reference", 60});
  cases.push_back({"spiking_mnist", testing::test_data("../../examples/data/spiking_mnist.nir"),
                   random_spikes(25, 6, 784), 1.0f, "onednn", 100});
  int64_t total = 0, stopped = 0, steps_run = 0, steps_total = 0;
  for (const CampaignCase& c : cases) {
    SCOPED_TRACE(c.name);
    auto loaded = load_model(c.model);
    ASSERT_TRUE(loaded.is_ok()) << loaded.status().message();
    const std::shared_ptr<const Graph> model = *loaded;
    const int64_t steps = c.input.dim(0), samples = c.input.dim(1);
    auto r = resolve(model, random_faults(*model, steps, samples, c.faults, 11));
    ASSERT_TRUE(r);
    SpikingOptions options;
    options.backend = c.backend;
    options.threads = 1;
    options.batch = std::max<int64_t>(1, samples / 2);  // several batches: Batch faults skip the others
    if (c.dt != 1.0f) options.dt = c.dt;
    // Budgets: everything (layer skipping); every step's states but no step records; the states of about
    // every fourth step.
    size_t state_bytes = 0;  // per sample
    for (const StateLink& link : model->state_links) {
      size_t bytes = sizeof(float);
      const Shape& shape = model->value(*model->find_value(link.state_input)).shape;
      for (size_t d = 1; d < shape.size(); ++d) bytes *= static_cast<size_t>(shape[d]);
      state_bytes += bytes;
    }
    ReplayOptions full, skipping, every_step, checkpoints;
    full.incremental = false;
    auto reference = replayer(model, options, *r, c.input, full);
    ASSERT_TRUE(reference);
    auto g_full = reference->golden();
    ASSERT_TRUE(g_full.is_ok());
    const size_t outputs = g_full->nbytes() * static_cast<size_t>(steps);
    const size_t states = state_bytes * static_cast<size_t>(samples * (steps - 1));
    every_step.golden_budget_bytes = outputs + states;
    checkpoints.golden_budget_bytes = outputs + states / 4;
    std::unique_ptr<SpikingReplayer> fast[3] = {replayer(model, options, *r, c.input, skipping),
                                                replayer(model, options, *r, c.input, every_step),
                                                replayer(model, options, *r, c.input, checkpoints)};
    const char* mode[3] = {"layer skipping", "every step's states", "checkpoints"};
    for (int m = 0; m < 3; ++m) {
      ASSERT_TRUE(fast[m]);
      auto golden = fast[m]->golden();
      ASSERT_TRUE(golden.is_ok()) << golden.status().message();
      EXPECT_TRUE(same_bytes(*g_full, *golden)) << mode[m];
    }
    EXPECT_TRUE(fast[0]->skips_layers());
    EXPECT_EQ(fast[0]->checkpoint_interval(), 1);
    EXPECT_FALSE(fast[1]->skips_layers());
    EXPECT_EQ(fast[1]->checkpoint_interval(), 1);
    EXPECT_EQ(fast[1]->stats().golden_bytes, outputs + states);
    EXPECT_FALSE(fast[2]->skips_layers());
    EXPECT_GT(fast[2]->checkpoint_interval(), 1);
    int differing = 0;
    for (size_t f = 0; f < r->faults.size(); ++f) {
      auto expected = reference->run(f);
      ASSERT_TRUE(expected.is_ok()) << expected.status().message();
      for (int m = 0; m < 3; ++m) {
        auto counts = fast[m]->run(f);
        ASSERT_TRUE(counts.is_ok()) << counts.status().message();
        EXPECT_TRUE(same_bytes(*expected, *counts)) << "fault " << f << " (" << mode[m] << ")";
      }
      differing += same_bytes(*expected, *g_full) ? 0 : 1;
    }
    EXPECT_GT(differing, 0) << "no fault changed the counts: the campaign checks nothing";
    EXPECT_EQ(reference->stats().passes, 0);  // full runs count nothing
    const ReplayStats& s = fast[0]->stats();
    const int64_t batches = (samples + options.batch - 1) / options.batch;
    EXPECT_EQ(fast[1]->stats().steps_total % (static_cast<int64_t>(r->faults.size()) * steps * batches), 0);
    // Layer skipping runs a part of each time step; checkpoints start earlier and stop less often.
    EXPECT_LT(s.steps_run, fast[1]->stats().steps_run);
    std::printf(
        "%s: %zu faults; graph steps run: layer skipping %lld, every step's states %lld, checkpoints %lld, "
        "full %lld; time steps %lld / %lld / %lld of %lld; stopped early %lld of %lld batch passes\n",
        c.name, r->faults.size(), (long long)s.steps_run, (long long)fast[1]->stats().steps_run,
        (long long)fast[2]->stats().steps_run, (long long)s.steps_total, (long long)fast[0]->time_steps_run(),
        (long long)fast[1]->time_steps_run(), (long long)fast[2]->time_steps_run(),
        (long long)(static_cast<int64_t>(r->faults.size()) * steps * batches), (long long)s.stopped_early,
        (long long)s.passes);
    EXPECT_EQ(fast[0]->time_steps_run(), fast[1]->time_steps_run());
    EXPECT_GE(fast[2]->time_steps_run(), fast[1]->time_steps_run());
    EXPECT_LE(fast[2]->stats().steps_run, fast[2]->stats().steps_total);
    total += static_cast<int64_t>(r->faults.size());
    stopped += s.stopped_early;
    steps_run += s.steps_run;
    steps_total += s.steps_total;
  }
  EXPECT_GE(total, 300);
  // The savings are real: whole batches skipped or stopped early, and a part of the steps not run.
  EXPECT_GT(stopped, 0);
  EXPECT_LT(steps_run, steps_total * 3 / 4) << steps_run << " of " << steps_total;
}

// The LIF layer of tests/support/spiking_fixtures.h: x [N, 2] -> LIF "n" (dt 0.5, tau 2, r 1, v_leak 0,
// v_threshold 1, v_reset 0) -> "out"; v1 = v + 0.25 * (x - v), a spike iff v1 > 1, then v = 0. With x = (3, 2)
// over 6 steps, the potential after each step (after reset) and the spikes, all exact in float32:
//   neuron 0: 0.75, 0 (spike), 0.75, 0 (spike), 0.75, 0 (spike)   -> 3
//   neuron 1: 0.5, 0.875, 0 (spike), 0.5, 0.875, 0 (spike)         -> 2
using testing::lif_layer;
using testing::lif_layer_input;

struct Expected {
  const char* row;  // Layer,TensorIndex,Bit,Model,Value,Step
  std::vector<float> counts;
  int64_t steps_run;      // time steps the incremental run executes
  int64_t stopped_early;  // 1 when it stops before the last step
};

TEST(SpikingIncremental, HandCheckedStepsRunAndEarlyMasking) {
  const Expected cases[] = {
      // Golden reset at step 2 (1.15625 spikes, v = 0): setting 0 after it changes nothing. Steps 0-1 are
      // taken from golden, step 2 runs, its states equal golden: stop. One step.
      {"n.potential,\"(1,)\",,value,0,2", {3, 2}, 1, 1},
      // 0.5 after steps 0-3: step 0 holds 0.5 already; 0.875 -> 0.5 at 1; no spike at 2 (0.875) -> 0.5; at 3
      // 0.875 -> 0.5 = golden's 0.5: stop after step 3 (4 steps). Neuron 1 loses its spike at 2 -> 1.
      {"n.potential,\"(1,)\",,value,0.5,0-3", {3, 1}, 4, 1},
      // 1.5 after step 0: step 1 computes 1.875, spikes as golden does and resets to 0 = golden: 2 steps.
      {"n.potential,\"(0,)\",,value,1.5,0", {3, 2}, 2, 1},
      // 0 after step 3 (golden 0.5): 0.5 at 4, 0.875 at 5, no spike at 5; never golden again. Steps 3-5 run.
      {"n.potential,\"(1,)\",,value,0,3", {3, 1}, 3, 0},
      // Permanent: threshold 1.0 = 0x3F800000 has bit 0 clear, so stuck-at-0 changes nothing; the first
      // step shows it (states golden): one step.
      {"n.threshold,\"(0,)\",0,stuck-at-0,,", {3, 2}, 1, 1},
      // Permanent and changing (threshold 1.0000001): every step runs, the counts stay golden.
      {"n.threshold,\"(0,)\",0,stuck-at-1,,", {3, 2}, 6, 0},
      // Transient threshold 100 at step 1 only: 1.3125 does not fire and is kept; 1.734375 fires at 2 ->
      // v = 0 ... a step behind golden for good: steps 1-5 run, 2 spikes.
      {"n.threshold,\"(0,)\",,value,100,1", {2, 2}, 5, 0},
  };
  auto model = lif_layer();
  std::string csv = "Injection,Layer,TensorIndex,Bit,Model,Value,Step\n";
  for (size_t i = 0; i < std::size(cases); ++i) csv += std::to_string(i) + "," + cases[i].row + "\n";
  auto r = resolve(model, csv);
  ASSERT_TRUE(r);
  for (const char* backend : {"reference", "onednn"}) {
    SCOPED_TRACE(backend);
    SpikingOptions options;
    options.backend = backend;
    auto fast = replayer(model, options, *r, lif_layer_input(1), {});
    ASSERT_TRUE(fast);
    auto golden = fast->golden();
    ASSERT_TRUE(golden.is_ok()) << golden.status().message();
    EXPECT_EQ(counts_of(*golden), (std::vector<float>{3, 2}));
    EXPECT_EQ(fast->checkpoint_interval(), 1);
    // 1 sample * (6 steps * 2 outputs + 5 kept states * 2) floats, and the step records
    EXPECT_GT(fast->stats().golden_bytes, (6 * 2 + 5 * 2) * sizeof(float));
    for (size_t f = 0; f < std::size(cases); ++f) {
      SCOPED_TRACE(cases[f].row);
      const ReplayStats before = fast->stats();
      const int64_t time_steps = fast->time_steps_run();
      auto counts = fast->run(f);
      ASSERT_TRUE(counts.is_ok()) << counts.status().message();
      EXPECT_EQ(counts_of(*counts), cases[f].counts);
      EXPECT_EQ(fast->time_steps_run() - time_steps, cases[f].steps_run);
      EXPECT_EQ(fast->stats().stopped_early - before.stopped_early, cases[f].stopped_early);
    }
  }
}

// A budget for the outputs and two kept states (steps 2 and 4: k = 2) makes a fault at step 3 start at step 2.
TEST(SpikingIncremental, CheckpointsStartAtTheLastOneBeforeTheFault) {
  auto model = lif_layer();
  auto r = resolve(model, "Injection,Layer,TensorIndex,Bit,Model,Value,Step\n0,n.potential,\"(1,)\",,value,0,3\n");
  ASSERT_TRUE(r);
  ReplayOptions budget;
  budget.golden_budget_bytes = (6 * 2 + 2 * 2) * sizeof(float);  // k = 1 needs 5 states, k = 2 two
  auto fast = replayer(model, {}, *r, lif_layer_input(1), budget);
  ASSERT_TRUE(fast);
  ASSERT_TRUE(fast->golden().is_ok());
  EXPECT_EQ(fast->checkpoint_interval(), 2);
  EXPECT_EQ(fast->stats().golden_bytes, budget.golden_budget_bytes);
  auto counts = fast->run(0);
  ASSERT_TRUE(counts.is_ok()) << counts.status().message();
  EXPECT_EQ(counts_of(*counts), (std::vector<float>{3, 1}));
  EXPECT_EQ(fast->time_steps_run(), 4);  // steps 2 (clean), 3 (faulty), 4, 5
}

// A state fault on sample 2 of 3 (batch 1): only that sample's batch runs, from the fault's step.
TEST(SpikingIncremental, BatchRunsOnlyTheSamplesBatch) {
  auto model = lif_layer();
  auto r =
      resolve(model, "Injection,Layer,TensorIndex,Bit,Model,Value,Step,Batch\n0,n.potential,\"(1,)\",,value,0,3,2\n");
  ASSERT_TRUE(r);
  auto fast = replayer(model, {}, *r, lif_layer_input(3), {});
  ASSERT_TRUE(fast);
  auto counts = fast->run(0);
  ASSERT_TRUE(counts.is_ok()) << counts.status().message();
  EXPECT_EQ(counts_of(*counts), (std::vector<float>{3, 2, 3, 2, 3, 1}));
  EXPECT_EQ(fast->stats().passes, 3);
  EXPECT_EQ(fast->time_steps_run(), 3);
  EXPECT_EQ(fast->stats().stopped_early, 2);
}

// The recurrent braille network, one step per node (every value observable): fc1 -> lif1.lif.sum (+ the
// recurrent lif1.w_rec of the previous step's spikes) -> lif1.lif (CubaLIF) -> fc2 -> lif2 (CubaLIF) -> output.
// Which steps a fault reaches, read off the graph by hand.
TEST(SpikingIncremental, StepConeFollowsTheGraphAndTheStateLinks) {
  auto model = load_model(testing::test_data("nir/braille_noDelay_noBias_subtract.nir"));
  ASSERT_TRUE(model.is_ok()) << model.status().message();
  SpikingOptions options;
  for (const char* name : {"fc1", "lif1.lif.sum", "lif1.lif", "lif1.w_rec", "fc2", "lif2", "output"})
    options.observable.push_back(name);
  auto session = SpikingSession::create(*model, options);
  ASSERT_TRUE(session.is_ok()) << session.status().message();
  CompiledModel& compiled = (*session)->compiled();
  const Graph& graph = compiled.graph();
  auto step_of = [&](const std::string& value) {
    const ValueId id = *graph.find_value(value);
    for (size_t s = 0; s < compiled.num_steps(); ++s)
      for (ValueId v : compiled.step(s).outputs)
        if (v == id) return s;
    ADD_FAILURE() << "no step produces " << value;
    return size_t{0};
  };
  auto reached = [&](const StepCone& cone) {
    std::set<std::string> names;
    for (size_t s = 0; s < compiled.num_steps(); ++s)
      if (cone.reached[s])
        for (NodeId n : compiled.step(s).nodes) names.insert(graph.node(n).name);
    return names;
  };
  auto names_of = [&](const std::vector<ValueId>& values) {
    std::set<std::string> names;
    for (ValueId v : values) names.insert(graph.value(v).name);
    return names;
  };
  // The output layer: lif2 and the output, reading fc2 from a skipped step.
  const size_t lif2 = step_of("lif2");
  auto cone = step_cone(compiled, std::vector<size_t>{lif2}, {});
  ASSERT_TRUE(cone.is_ok()) << cone.status().message();
  EXPECT_EQ(reached(*cone), (std::set<std::string>{"lif2", "output"}));
  EXPECT_EQ(names_of(cone->frontier[lif2]), (std::set<std::string>{"fc2"}));
  // A recurrent weight: w_rec changes lif1's input, hence lif1, whose spikes come back through the link;
  // fc1 is never reached and feeds the sum from outside.
  const ValueId w_rec = *graph.find_value("lif1.w_rec.weight");
  cone = step_cone(compiled, {}, std::vector<ValueId>{w_rec});
  ASSERT_TRUE(cone.is_ok()) << cone.status().message();
  EXPECT_EQ(reached(*cone), (std::set<std::string>{"lif1.w_rec", "lif1.lif.sum", "lif1.lif", "fc2", "lif2", "output"}));
  EXPECT_EQ(names_of(cone->frontier[step_of("lif1.lif.sum")]), (std::set<std::string>{"fc1"}));
  EXPECT_EQ(cone->reached_steps + 1, compiled.num_steps());
  // lif1's potential, faulted at one step: through the link, lif1 and the recurrent weight's step too.
  cone = step_cone(compiled, std::vector<size_t>{step_of("lif1.lif.v")}, {});
  ASSERT_TRUE(cone.is_ok()) << cone.status().message();
  EXPECT_EQ(reached(*cone), (std::set<std::string>{"lif1.lif", "lif1.w_rec", "lif1.lif.sum", "fc2", "lif2", "output"}));
  for (size_t l = 0; l < graph.state_links.size(); ++l)
    EXPECT_EQ(cone->links[l] != 0, graph.state_links[l].next_value != "fc1") << graph.state_links[l].next_value;
}

// `faultline run` on a spiking experiment: incremental by default (it says how many time steps ran), and
// --full-passes writes the same summary.csv and spiking.csv.
TEST(SpikingIncremental, FullPassesFlagWritesTheSameFiles) {
  const std::string dir = testing::temp_dir();
  const std::string model = testing::test_data("nir/two_lif_neurons.nir");
  auto graph = load_model(model);
  ASSERT_TRUE(graph.is_ok()) << graph.status().message();
  std::ofstream(dir + "/faults.csv") << random_faults(**graph, 120, 2, 30, 5);
  auto input = read_npy(testing::test_data("nir/two_lif_neurons_input.npy"));
  ASSERT_TRUE(input.is_ok());
  // The dataset as [N, T, 1] events.
  std::vector<float> events;
  for (int64_t n = 0; n < 2; ++n)
    for (int64_t t = 0; t < 120; ++t) events.push_back(input->cast(DType::kFloat32).data<float>()[t * 2 + n]);
  ASSERT_TRUE(write_npy(dir + "/x.npy", Tensor::from_floats({2, 120, 1}, events)).is_ok());
  std::string outputs[2];
  for (int mode = 0; mode < 2; ++mode) {
    outputs[mode] = dir + (mode ? "/full" : "/fast");
    std::ofstream(dir + "/exp.yaml") << "model: " << model << "\nbackend: reference\ndataset:\n  format: npy\n"
                                     << "  inputs: " << dir << "/x.npy\nbatch_size: 1\nthreads: 1\n"
                                     << "spiking: {steps: 120, encoding: events, dt: 0.001}\n"
                                     << "faults:\n  list: " << dir << "/faults.csv\noutput: " << outputs[mode] << "\n";
    const auto result = testing::run_faultline("run " + dir + "/exp.yaml" + (mode ? " --full-passes" : ""));
    ASSERT_EQ(result.exit_code, 0) << result.err;
    EXPECT_EQ(result.out.find("incremental passes:") != std::string::npos, mode == 0) << result.out;
  }
  for (const char* file : {"summary.csv", "spiking.csv"}) {
    auto fast = read_file(outputs[0] + "/" + file), full = read_file(outputs[1] + "/" + file);
    ASSERT_TRUE(fast.is_ok() && full.is_ok()) << file;
    EXPECT_EQ(*fast, *full) << file;
  }
}

}  // namespace
}  // namespace faultline
