// Spiking fault campaigns (faults/spiking_replay.h, faults/spiking_analysis.h, SpikingJET's site names in
// faults/fault_list.h / fault_targets.h): hand-computed spike counts of a two-neuron LIF layer under
// threshold, potential, dead and saturated faults, permanent and over a Step range; a campaign's summary and
// spiking.csv; SpikingJET's bins on a hand-made outcome table; the errors.
//
// The model: x [N, 2] -> LIF "n" (dt 0.5, tau 2, r 1, v_leak 0, v_threshold [1, 1], v_reset 0) -> "out".
// With a = dt / tau = 0.25, v1 = v + 0.25 * (x - v), spike iff v1 > 1, then v = 0. Every number below is exact
// in float32. With x = (3, 2) over 6 steps:
//   neuron 0: v1 = 0.75, 1.3125 (spike), 0.75, 1.3125 (spike), 0.75, 1.3125 (spike)   -> 3 spikes (t 1, 3, 5)
//   neuron 1: v1 = 0.5, 0.875, 1.15625 (spike), 0.5, 0.875, 1.15625 (spike)            -> 2 spikes (t 2, 5)
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "engine/file_io.h"
#include "faults/campaign.h"
#include "faults/fault_list.h"
#include "faults/fault_targets.h"
#include "faults/spiking_analysis.h"
#include "faults/spiking_replay.h"
#include "tests/support/graph_builder.h"
#include "tests/support/spiking_fixtures.h"
#include "tests/support/test_support.h"

namespace faultline {
namespace {

using testing::lif_layer;
using testing::lif_layer_input;

struct Replay {
  FaultList list;
  std::vector<FaultTarget> targets;
  std::vector<ResolvedFault> faults;
  std::unique_ptr<SpikingReplayer> replayer;
};

// Parses `csv`, resolves it against lif_layer() and creates a replayer over `samples` samples.
std::unique_ptr<Replay> replay(const std::string& csv, int64_t samples = 1, const std::string& backend = "reference") {
  auto r = std::make_unique<Replay>();
  auto list = parse_fault_list(csv, "faults.csv");
  EXPECT_TRUE(list.is_ok()) << list.status().message();
  if (!list.is_ok()) return nullptr;
  r->list = std::move(list).value();
  auto model = lif_layer();
  auto targets = list_fault_targets(*model);
  EXPECT_TRUE(targets.is_ok()) << targets.status().message();
  r->targets = std::move(targets).value();
  auto faults = resolve_fault_list(r->list, r->targets);
  EXPECT_TRUE(faults.is_ok()) << faults.status().message();
  if (!faults.is_ok()) return nullptr;
  r->faults = std::move(faults).value();
  SpikingOptions options;
  options.backend = backend;
  auto replayer = SpikingReplayer::create(model, options, r->list, r->faults, r->targets, lif_layer_input(samples));
  EXPECT_TRUE(replayer.is_ok()) << replayer.status().message();
  if (!replayer.is_ok()) return nullptr;
  r->replayer = std::move(replayer).value();
  return r;
}

std::vector<float> counts_of(const Tensor& t) {
  return std::vector<float>(t.data<float>(), t.data<float>() + t.numel());
}

TEST(SpikingSites, LayersCarrySpikingJetNames) {
  auto targets = list_fault_targets(*lif_layer());
  ASSERT_TRUE(targets.is_ok()) << targets.status().message();
  std::vector<std::string> layers;
  for (const FaultTarget& t : *targets)
    if (t.kind != TargetKind::kInput) layers.push_back(t.layer);
  EXPECT_EQ(layers,
            (std::vector<std::string>{"n.tau", "n.r", "n.leak", "n.threshold", "n.reset", "n", "n.potential", "out"}));
  // Every alias resolves, whatever the Target column says (SpikingJET's lists have none).
  auto index_of = [&](const std::string& name) {
    for (size_t i = 0; i < targets->size(); ++i)
      if ((*targets)[i].name == name && (*targets)[i].kind != TargetKind::kInput) return i;
    return targets->size();
  };
  const std::pair<const char*, const char*> cases[] = {{"n.threshold", "n.v_threshold"},
                                                       {"n.tau", "n.tau"},
                                                       {"n.beta", "n.tau"},
                                                       {"n.leak", "n.v_leak"},
                                                       {"n.reset", "n.v_reset"},
                                                       {"n.r", "n.r"},
                                                       {"n.potential", "n.v"},
                                                       {"n.dead", "n"},
                                                       {"n.saturated", "n"},
                                                       {"n.v_threshold", "n.v_threshold"}};
  for (auto [layer, name] : cases) {
    auto found = find_fault_target(*targets, SiteTarget::kWeight, layer);
    ASSERT_TRUE(found.is_ok()) << layer << ": " << found.status().message();
    EXPECT_EQ(*found, index_of(name)) << layer;
  }
  auto state = find_fault_target(*targets, SiteTarget::kState, "n.v");
  ASSERT_TRUE(state.is_ok()) << state.status().message();
  EXPECT_EQ(*state, index_of("n.v"));
  auto missing = find_fault_target(*targets, SiteTarget::kWeight, "m.potential");
  ASSERT_FALSE(missing.is_ok());
  EXPECT_NE(missing.status().message().find("'m.potential'"), std::string::npos);
}

TEST(SpikingSites, DeadAndSaturatedAreValueFaultsWrittenBack) {
  auto list =
      parse_fault_list("Injection,Layer,TensorIndex,Bit\n0,n.dead,\"(0,)\",\n1,n.saturated,\"(1,)\",\n", "faults.csv");
  ASSERT_TRUE(list.is_ok()) << list.status().message();
  EXPECT_EQ(list->entries[0].fault.model, FaultModel::kValue);
  EXPECT_EQ(list->entries[0].fault.value, 0.0);
  EXPECT_EQ(list->entries[1].fault.value, 1.0);
  auto again = parse_fault_list(format_fault_list(*list), "again.csv");
  ASSERT_TRUE(again.is_ok()) << again.status().message();
  EXPECT_EQ(again->entries[0].fault, list->entries[0].fault);
  EXPECT_EQ(again->entries[1].fault, list->entries[1].fault);
}

TEST(SpikingReplay, HandComputedCountsUnderFaults) {
  const std::string csv =
      "Injection,Layer,TensorIndex,Bit,Model,Value,Step\n"
      // neuron 0 never fires: threshold 100 throughout
      "0,n.threshold,\"(0,)\",,value,100,\n"
      // threshold 100 only at step 1: 1.3125 does not fire and is kept; step 2: 1.734375 fires, then t 4 -> 2
      "1,n.threshold,\"(0,)\",,value,100,1\n"
      // neuron 1's potential set to -10 after step 0's update: -7, -4.75, -3.0625, -1.796875, -0.84765625 -> 0
      "2,n.potential,\"(1,)\",,value,-10,0\n"
      // neuron 1's potential set to 5 after every step's update: step 0 computes 0.5 (no spike, the fault comes
      // after the update); steps 1-5 compute 4.25 -> 5 spikes
      "3,n.potential,\"(1,)\",,value,5,0-5\n"
      // neuron 0's spikes stuck at 0
      "4,n.dead,\"(0,)\",,,,\n"
      // neuron 1's spikes stuck at 1 in steps 0-2 (its own spike at t 2 included), its own at t 5 -> 4
      "5,n.saturated,\"(1,)\",,,,0-2\n"
      // bit 30 of neuron 0's threshold (1.0 -> 2^128 = Inf) over steps 3-5 only: spikes at t 1 -> 1,
      // then 0.75, 1.3125, 1.734375, 2.05078125 never fire
      "6,n.threshold,\"(0,)\",30,bitflip,,3-5\n";
  for (const char* backend : {"reference", "onednn"}) {
    SCOPED_TRACE(backend);
    auto r = replay(csv, 1, backend);
    ASSERT_TRUE(r);
    auto golden = r->replayer->golden();
    ASSERT_TRUE(golden.is_ok()) << golden.status().message();
    EXPECT_EQ(counts_of(*golden), (std::vector<float>{3, 2}));
    const std::vector<std::vector<float>> expected = {{0, 2}, {2, 2}, {3, 0}, {3, 5}, {0, 2}, {3, 4}, {1, 2}};
    for (size_t f = 0; f < expected.size(); ++f) {
      auto counts = r->replayer->run(f);
      ASSERT_TRUE(counts.is_ok()) << counts.status().message();
      EXPECT_EQ(counts_of(*counts), expected[f]) << "fault " << f;
    }
    // The parameters are restored: the golden counts again.
    auto clean = r->replayer->golden();
    EXPECT_EQ(counts_of(*clean), (std::vector<float>{3, 2}));
  }
}

TEST(SpikingReplay, BatchLimitsAStateFaultToOneSampleAcrossBatches) {
  auto r = replay("Injection,Layer,TensorIndex,Bit,Model,Value,Step,Batch\n0,n.potential,\"(1,)\",,value,-10,0,2\n", 3);
  ASSERT_TRUE(r);
  auto counts = r->replayer->run(0);
  ASSERT_TRUE(counts.is_ok()) << counts.status().message();
  EXPECT_EQ(counts_of(*counts), (std::vector<float>{3, 2, 3, 2, 3, 0}));
}

TEST(SpikingReplay, RefusesWhatItCannotRun) {
  auto model = lif_layer();
  auto targets = list_fault_targets(*model).value();
  const std::pair<const char*, const char*> cases[] = {
      {"0,n.threshold,\"(0,)\",,value,5,6,\n", "faults.csv:2: Step 6 is past the input's last time step 5"},
      {"0,n.threshold,\"(0,)\",,value,5,,0\n", "faults.csv:2: a neuron parameter or weight is shared"},
      {"0,n.potential,\"(0,)\",,value,5,,4\n", "faults.csv:2: Batch 4 is past the input's 1 samples"},
  };
  for (auto [row, message] : cases) {
    auto list =
        parse_fault_list(std::string("Injection,Layer,TensorIndex,Bit,Model,Value,Step,Batch\n") + row, "faults.csv");
    ASSERT_TRUE(list.is_ok()) << list.status().message();
    auto faults = resolve_fault_list(*list, targets);
    ASSERT_TRUE(faults.is_ok()) << faults.status().message();
    auto replayer = SpikingReplayer::create(model, {}, *list, *faults, targets, lif_layer_input(1));
    ASSERT_FALSE(replayer.is_ok()) << row;
    EXPECT_NE(replayer.status().message().find(message), std::string::npos) << replayer.status().message();
  }
}

// x [N, 1] -> CubaLIF "c" (dt 0.5, tau_syn 1, tau_mem 2, r 1, v_leak 0, threshold 1, v_reset 0, w_in 1) -> out.
// With x = 2: i1 = i + 0.5 (2 - i), v1 = v + 0.25 (i1 - v):
//   clean:                 i = 1, 1.5, 1.75, 1.875;  v = 0.25, 0.5625, 0.859375, 1.11328125 (spike)  -> 1 spike
//   c.current = 10 after step 0's update (v of step 0 stays 0.25): i = 6, 4, 3; v = 1.6875 (spike, reset 0),
//   1.0 (not above 1: NIR's Heaviside is strict), 1.5 (spike)                                        -> 2 spikes
TEST(SpikingReplay, SynapticCurrentFaultOfACubaLif) {
  testing::GraphBuilder b;
  const ValueId x = b.input("x", {kDynamicDim, 1});
  std::vector<ValueId> inputs = {x, b.input("c.i@prev", {kDynamicDim, 1}), b.input("c.v@prev", {kDynamicDim, 1})};
  for (auto [name, value] : {std::pair{"c.tau_syn", 1.0f},
                             {"c.tau_mem", 2.0f},
                             {"c.r", 1.0f},
                             {"c.v_leak", 0.0f},
                             {"c.v_threshold", 1.0f},
                             {"c.v_reset", 0.0f},
                             {"c.w_in", 1.0f}})
    inputs.push_back(b.constant(name, Tensor::from_floats({1}, {value})));
  Graph& g = b.graph();
  const std::vector<ValueId> outputs =
      b.node_with_outputs(OpKind::kCubaLIF, inputs, NeuronAttrs{0.5f, ResetMode::kToReset}, "c", {"c", "c.i", "c.v"});
  b.output(b.node(OpKind::kIdentity, {outputs[0]}, {}, "out", "out"));
  b.output(outputs[1]);
  b.output(outputs[2]);
  g.state_links.push_back({"c.i@prev", "c.i"});
  g.state_links.push_back({"c.v@prev", "c.v"});
  g.source = "cuba";
  auto model = std::make_shared<const Graph>(b.build());

  auto targets = list_fault_targets(*model);
  ASSERT_TRUE(targets.is_ok()) << targets.status().message();
  auto list = parse_fault_list("Injection,Layer,TensorIndex,Bit,Model,Value,Step\n0,c.current,\"(0,)\",,value,10,0\n",
                               "faults.csv");
  ASSERT_TRUE(list.is_ok()) << list.status().message();
  auto faults = resolve_fault_list(*list, *targets);
  ASSERT_TRUE(faults.is_ok()) << faults.status().message();
  EXPECT_EQ((*targets)[(*faults)[0].target].name, "c.i");
  auto replayer = SpikingReplayer::create(model, {}, *list, *faults, *targets,
                                          Tensor::from_floats({4, 1, 1}, {2.0f, 2.0f, 2.0f, 2.0f}));
  ASSERT_TRUE(replayer.is_ok()) << replayer.status().message();
  auto golden = (*replayer)->golden();
  ASSERT_TRUE(golden.is_ok()) << golden.status().message();
  EXPECT_EQ(counts_of(*golden), (std::vector<float>{1}));
  auto faulty = (*replayer)->run(0);
  ASSERT_TRUE(faulty.is_ok()) << faulty.status().message();
  EXPECT_EQ(counts_of(*faulty), (std::vector<float>{2}));
}

// SpikingJET's bins (smilies-polito/SpikingJET, SDC_interval), computed by hand on a table of 10 images.
TEST(SpikingJetAnalysis, BinsOfAHandMadeTable) {
  // golden top value c = 10 (class 0) unless noted; d = 100 |c - f| / c
  const std::vector<float> golden = {10, 2, 10, 2, 10, 2, 10, 2, 10, 2, 10, 2, 10, 2, 0, 0, 0, 0, 10, 2};
  const std::vector<float> faulty = {
      10,   2,  // fully masked
      3,    9,  // SDC_1 (class 1)
      9.6f, 2,  // d = 4.0000x: SDC_0_5%
      9.3f, 2,  // d = 6.99999: SDC_5_10%
      8.5f, 2,  // d = 15: SDC_10_20%
      5,    2,  // d = 50: SDC_20
      9.5f, 2,  // d = 5 exactly: no bin (SpikingJET's bounds are strict)
      0,    0,  // c = f = 0: fully masked (d is NaN)
      1,    0,  // c = 0, f = 1: d = Inf: SDC_20
      NAN,  2,  // NaN ranks first: same class 0; c != f, d NaN: no bin
  };
  const Tensor g = Tensor::from_floats({10, 2}, golden);
  const Tensor f = Tensor::from_floats({10, 2}, faulty);
  const Tensor labels = Tensor::from_int64s({10}, {0, 0, 0, 0, 0, 0, 0, 1, 1, 1});
  auto counts = spikingjet_counts(g, f, labels);
  ASSERT_TRUE(counts.is_ok()) << counts.status().message();
  EXPECT_EQ(counts->images, 10);
  EXPECT_EQ(counts->fully_masked, 2);
  EXPECT_EQ(counts->sdc_1, 1);
  EXPECT_EQ(counts->sdc_0_5, 1);
  EXPECT_EQ(counts->sdc_5_10, 1);
  EXPECT_EQ(counts->sdc_10_20, 1);
  EXPECT_EQ(counts->sdc_20, 2);
  // golden classes: 0 x7, then [0,0] -> 0, [0,0] -> 0, 0: labels 0 x7 right, then 1 1 1 wrong -> 7
  EXPECT_EQ(counts->golden_correct, 7);
  // faulty classes: 0, 1, 0, 0, 0, 0, 0, 0, 0, 0 (NaN first) -> 6 of the first 7 right, none of the last 3
  EXPECT_EQ(counts->faulty_correct, 6);

  // Two layers, the second with one fault whose images are all masked.
  auto masked = spikingjet_counts(g, g, labels);
  ASSERT_TRUE(masked.is_ok());
  const auto layers =
      group_spikingjet({"lif1.threshold", "lif2.potential", "lif1.threshold"}, {*counts, *masked, *masked});
  ASSERT_EQ(layers.size(), 2u);
  EXPECT_EQ(spiking_csv(layers),
            ",lif1.threshold,lif2.potential\n"
            "# of faults,2,1\n"
            "# of injections,20,10\n"
            "fully_masked,0.6,1\n"
            "SDC_1,0.05,0\n"
            "SDC_0_5%,0.05,0\n"
            "SDC_5_10%,0.05,0\n"
            "SDC_10_20%,0.05,0\n"
            "SDC_20,0.1,0\n"
            "facc,0.65,0.7\n"
            "acc,0.7,0.7\n");
}

TEST(SpikingCampaign, WritesSummaryAndSpikingCsv) {
  const std::string dir = testing::temp_dir();
  const std::string csv =
      "Injection,Layer,TensorIndex,Bit,Model,Value,Step\n"
      "0,n.threshold,\"(0,)\",,value,100,\n"
      "1,n.threshold,\"(0,)\",,value,100,1\n"
      "2,n.potential,\"(1,)\",,value,5,0-5\n";
  auto list = parse_fault_list(csv, dir + "/faults_in.csv");
  ASSERT_TRUE(list.is_ok()) << list.status().message();
  CampaignSpec spec;
  spec.model = lif_layer();
  spec.list = std::move(list).value();
  auto targets = list_fault_targets(*spec.model);
  ASSERT_TRUE(targets.is_ok());
  spec.targets = std::move(targets).value();
  auto faults = resolve_fault_list(spec.list, spec.targets);
  ASSERT_TRUE(faults.is_ok()) << faults.status().message();
  spec.faults = std::move(faults).value();
  spec.dataset.images = Tensor::from_floats({2, 2}, {3, 2, 3, 2});
  spec.dataset.labels = Tensor::from_int64s({2}, {0, 1});
  spec.spiking.emplace();
  spec.spiking->input = lif_layer_input(2);
  spec.output = dir + "/out";
  auto result = run_campaign(spec);
  ASSERT_TRUE(result.is_ok()) << result.status().message();
  ASSERT_TRUE(result->complete);
  // golden [3, 2] -> class 0 for both samples (labels 0, 1: accuracy 1/2)
  EXPECT_EQ(result->golden.top_1_correct, 1);
  ASSERT_EQ(result->outcomes.size(), 3u);
  EXPECT_EQ(result->outcomes[0].critical, 2);      // [0, 2]: class 1
  EXPECT_EQ(result->outcomes[1].non_critical, 2);  // [2, 2]: the tie goes to class 0
  EXPECT_EQ(result->outcomes[2].critical, 2);      // [3, 5]
  auto text = read_file(result->spiking_path);
  ASSERT_TRUE(text.is_ok()) << text.status().message();
  // n.threshold: fault 0 SDC_1 x2 (facc: class 1 right for sample 1), fault 1 same class, c 3 -> 2: d 33 %
  // (SDC_20); n.potential: SDC_1 x2.
  EXPECT_EQ(*text,
            ",n.threshold,n.potential\n"
            "# of faults,2,1\n"
            "# of injections,4,2\n"
            "fully_masked,0,0\n"
            "SDC_1,0.5,1\n"
            "SDC_0_5%,0,0\n"
            "SDC_5_10%,0,0\n"
            "SDC_10_20%,0,0\n"
            "SDC_20,0.5,0\n"
            "facc,0.5,0.5\n"
            "acc,0.5,0.5\n");
  EXPECT_TRUE(std::filesystem::exists(result->layers_path));
}

// A stopped spiking campaign resumes to the same summary.csv and spiking.csv (the resumed rows' outputs are run
// again for the table).
TEST(SpikingCampaign, ResumeGivesTheSameFiles) {
  const std::string csv =
      "Injection,Layer,TensorIndex,Bit,Model,Value,Step\n"
      "0,n.threshold,\"(0,)\",,value,100,\n"
      "1,n.threshold,\"(0,)\",,value,100,1\n"
      "2,n.potential,\"(1,)\",,value,5,0-5\n"
      "3,n.saturated,\"(1,)\",,,,0-2\n";
  auto make_spec = [&](const std::string& output) {
    CampaignSpec spec;
    spec.model = lif_layer();
    spec.list = parse_fault_list(csv, output + "_faults.csv").value();
    spec.targets = list_fault_targets(*spec.model).value();
    spec.faults = resolve_fault_list(spec.list, spec.targets).value();
    spec.dataset.images = Tensor::from_floats({2, 2}, {3, 2, 3, 2});
    spec.dataset.labels = Tensor::from_int64s({2}, {0, 1});
    spec.spiking.emplace();
    spec.spiking->input = lif_layer_input(2);
    spec.output = output;
    return spec;
  };
  const std::string dir = testing::temp_dir();
  auto whole = run_campaign(make_spec(dir + "/whole"));
  ASSERT_TRUE(whole.is_ok()) << whole.status().message();
  CampaignSpec stopped = make_spec(dir + "/stopped");
  stopped.progress = [](const CampaignProgress& p) {
    return p.faults_done == 2 ? CampaignControl::kStop : CampaignControl::kContinue;
  };
  auto first = run_campaign(stopped);
  ASSERT_TRUE(first.is_ok()) << first.status().message();
  EXPECT_FALSE(first->complete);
  EXPECT_FALSE(std::filesystem::exists(dir + "/stopped/spiking.csv"));
  CampaignSpec resumed = make_spec(dir + "/stopped");
  resumed.resume = true;
  auto second = run_campaign(resumed);
  ASSERT_TRUE(second.is_ok()) << second.status().message();
  EXPECT_EQ(second->resumed, 2);
  for (const char* file : {"summary.csv", "spiking.csv", "layers.csv"})
    EXPECT_EQ(read_file(dir + "/stopped/" + file).value(), read_file(dir + "/whole/" + file).value()) << file;
}

// spiking_report on a non-spiking model: the same table from its output vectors. y = x W^T with W = I: the
// faulty output is the input with one weight changed, binned by hand.
TEST(SpikingCampaign, SpikingReportForACnnCampaign) {
  testing::GraphBuilder b;
  const ValueId x = b.input("x", {kDynamicDim, 2});
  const ValueId w = b.constant("fc.weight", Tensor::from_floats({2, 2}, {1, 0, 0, 1}));
  GemmAttrs gemm;
  gemm.trans_b = true;
  b.output(b.node(OpKind::kGemm, {x, w}, gemm, "fc", "y"));
  CampaignSpec spec;
  spec.model = std::make_shared<const Graph>(b.build());
  spec.list =
      parse_fault_list(
          "Injection,Layer,TensorIndex,Bit,Model,Value\n0,fc,\"(0, 0)\",,value,0.97\n1,fc,\"(0, 0)\",,value,0.5\n",
          "faults.csv")
          .value();
  spec.targets = list_fault_targets(*spec.model).value();
  spec.faults = resolve_fault_list(spec.list, spec.targets).value();
  spec.dataset.images = Tensor::from_floats({2, 2}, {10, 2, 4, 3});
  spec.options.backend = "reference";
  spec.spiking_report = true;
  spec.output = testing::temp_dir() + "/cnn";
  auto result = run_campaign(spec);
  ASSERT_TRUE(result.is_ok()) << result.status().message();
  // fault 0 (0.97): image 0: 9.7 -> d = 100 * 0.3 / 10 = 3 % (float32: 2.99999) -> SDC_0_5%; image 1: 3.88
  // -> d 3 % -> SDC_0_5%. fault 1 (0.5): image 0: 5 -> d 50 -> SDC_20; image 1: 2 < 3 -> SDC_1.
  EXPECT_EQ(read_file(result->spiking_path).value(),
            ",fc\n# of faults,2\n# of injections,4\nfully_masked,0\nSDC_1,0.25\nSDC_0_5%,0.5\nSDC_5_10%,0\n"
            "SDC_10_20%,0\nSDC_20,0.25\nfacc,\nacc,\n");
}

}  // namespace
}  // namespace faultline
