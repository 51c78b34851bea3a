// Incremental fault passes (engine/incremental_executor.h through FaultReplayer, ReplayOptions::incremental)
// against the plain full recomputation: for every fault of random campaigns on ResNet20 (residual branches)
// and an Inception net (Concat branches), on both backends, over several executed batches (a smaller last
// batch included), the faulty outputs are bit-identical, NaN/Inf patterns included. The incremental path must
// also really be the one taken: fewer steps than full passes, and passes that stop early.
#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "engine/executor.h"
#include "engine/incremental_executor.h"
#include "engine/session.h"
#include "faults/campaign.h"
#include "faults/fault_generator.h"
#include "faults/fault_injector.h"
#include "faults/fault_list.h"
#include "faults/fault_replay.h"
#include "faults/fault_targets.h"
#include "frontends/load_model.h"
#include "tests/support/fault_comparison.h"
#include "tests/support/replay_campaign.h"
#include "tests/support/run_command.h"
#include "tests/support/test_support.h"

namespace faultline {
namespace {

using testing::Campaign;
using testing::campaign_spec;
using testing::expect_identical;
using testing::make_campaign;
using testing::read_npy_or_fail;
using testing::read_text;
using testing::test_data;

TEST(IncrementalReplay, ResNet20WeightFaultsMatchFullPassesOnOnednn) {
  const Campaign c = make_campaign("models/resnet20_bn.onnx", "models/resnet20_input.npy", SiteTarget::kWeight, 300, 11,
                                   Persistence::kPermanent, 8);
  const ReplayStats stats = expect_identical(c, "onednn", 3);  // batches of 3, 3 and 2 images: two plans
  EXPECT_FALSE(stats.golden_on_device);
  EXPECT_LT(stats.steps_run, stats.steps_total / 2) << "weight faults sit mostly in layer3: most steps are skipped";
  EXPECT_GT(stats.stopped_early, 0);
  EXPECT_GT(stats.channel_steps, stats.passes / 2) << "a faulted convolution recomputes its faulty weight's channels";
}

TEST(IncrementalReplay, ResNet20ActivationFaultsMatchFullPassesOnOnednn) {
  const Campaign c = make_campaign("models/resnet20_bn.onnx", "models/resnet20_input.npy", SiteTarget::kActivation, 250,
                                   12, Persistence::kPermanent, 8);
  const ReplayStats stats = expect_identical(c, "onednn", 4);
  EXPECT_LT(stats.steps_run, stats.steps_total);
  EXPECT_GT(stats.stopped_early, 0) << "activation faults on other images' rows are masked at their own step";
  EXPECT_GT(stats.window_steps, stats.steps_run / 10) << "the cones of activation faults run on windows";
}

TEST(IncrementalReplay, ResNet20InputFaultsMatchFullPassesOnOnednn) {
  const Campaign c = make_campaign("models/resnet20_bn.onnx", "models/resnet20_input.npy", SiteTarget::kInput, 150, 13,
                                   Persistence::kPermanent, 4);
  const ReplayStats stats = expect_identical(c, "onednn", 4);
  EXPECT_LT(stats.steps_run, stats.steps_total);
  EXPECT_GT(stats.window_steps, 0);
}

TEST(IncrementalReplay, InferenceAndBatchPersistenceMatchFullPasses) {
  const Campaign weights = make_campaign("models/resnet20_bn.onnx", "models/resnet20_input.npy", SiteTarget::kWeight,
                                         100, 14, Persistence::kInference, 8);
  expect_identical(weights, "onednn", 3);
  const Campaign activations = make_campaign("models/resnet20_bn.onnx", "models/resnet20_input.npy",
                                             SiteTarget::kActivation, 100, 15, Persistence::kBatch, 8);
  expect_identical(activations, "onednn", 3);
}

TEST(IncrementalReplay, InceptionConcatFaultsMatchFullPassesOnOnednn) {
  const Campaign weights =
      make_campaign("models/googlenet_small.onnx", "models/googlenet_small_input.npy", SiteTarget::kWeight, 150, 16);
  const ReplayStats stats = expect_identical(weights, "onednn", 3);  // batches of 3 and 1
  EXPECT_LT(stats.steps_run, stats.steps_total);
  const Campaign activations = make_campaign("models/googlenet_small.onnx", "models/googlenet_small_input.npy",
                                             SiteTarget::kActivation, 150, 17);
  EXPECT_GT(expect_identical(activations, "onednn", 4).window_steps, 0);
}

// Regression: a pass that re-runs an early step (its conv1 fault masked by the max pool) must not clobber a
// later value's golden bytes through a scratch buffer the oneDNN plan shared with it; the next fault, seeded
// after that value, read them. A smaller last batch (another plan, another arena layout) showed it.
// 1x1 convolutions of 512 input channels on 28x28 maps, as in ResNet-50's bottlenecks: oneDNN's jit_1x1 kernels
// sum the channels in chunks sized from the problem, so a crop of them rounded otherwise than the whole step
// and a fault masked in full passes came out non-critical. They now run whole in partial re-execution.
TEST(IncrementalReplay, OneByOneConvolutionsOfManyChannelsMatchFullPassesOnOnednn) {
  for (SiteTarget target : {SiteTarget::kActivation, SiteTarget::kWeight}) {
    const Campaign c = make_campaign("models/bottleneck_1x1.onnx", "models/bottleneck_1x1_input.npy", target, 40,
                                     target == SiteTarget::kWeight ? 61 : 62);
    const ReplayStats stats = expect_identical(c, "onednn", 4);
    EXPECT_LT(stats.steps_run, stats.steps_total);
  }
}

TEST(IncrementalReplay, EarlyStepsDoNotClobberLaterGoldenValuesOnOnednn) {
  Campaign c;
  auto model = load_model(test_data("../../examples/data/mnist_cnn.onnx"));
  ASSERT_TRUE(model.is_ok()) << model.status().message();
  c.model = *model;
  auto targets = list_fault_targets(*c.model);
  ASSERT_TRUE(targets.is_ok());
  c.targets = *targets;
  auto list = parse_fault_list(
      "Injection,Layer,TensorIndex,Bit,Target\n"
      "0,conv1,\"(2, 1, 9)\",16,activation\n"
      "1,res.conv_b,\"(1, 8, 4)\",14,activation\n"
      "2,res.conv_b,\"(1, 8, 4)\",14,input\n",
      "regression.csv");
  ASSERT_TRUE(list.is_ok()) << list.status().message();
  c.list = *list;
  auto resolved = resolve_fault_list(c.list, c.targets);
  ASSERT_TRUE(resolved.is_ok()) << resolved.status().message();
  c.resolved = *resolved;
  c.input = testing::random_tensor({3, 1, 28, 28}, 6, 0.0f, 1.0f);
  expect_identical(c, "onednn", 2);
}

TEST(IncrementalReplay, ResNet20FaultsMatchFullPassesOnReference) {
  const Campaign weights = make_campaign("models/resnet20_bn.onnx", "models/resnet20_input.npy", SiteTarget::kWeight,
                                         24, 18, Persistence::kPermanent, 3);
  const ReplayStats stats = expect_identical(weights, "reference", 2);
  EXPECT_LT(stats.steps_run, stats.steps_total);
  const Campaign activations = make_campaign("models/resnet20_bn.onnx", "models/resnet20_input.npy",
                                             SiteTarget::kActivation, 24, 19, Persistence::kPermanent, 3);
  expect_identical(activations, "reference", 2);
}

TEST(IncrementalReplay, GoldenBudgetTooSmallFallsBackToFullPasses) {
  const Campaign c = make_campaign("models/resnet20_bn.onnx", "models/resnet20_input.npy", SiteTarget::kWeight, 5, 20);
  SessionOptions options;
  options.batch = 8;
  ReplayOptions tiny;
  tiny.golden_budget_bytes = 1024;
  auto replayer = FaultReplayer::create(c.model, options, c.list, c.resolved, c.targets, c.input, {}, tiny);
  ASSERT_TRUE(replayer.is_ok()) << replayer.status().message();
  EXPECT_FALSE((*replayer)->stats().incremental);
  ASSERT_TRUE((*replayer)->run(0).is_ok());
  EXPECT_EQ((*replayer)->stats().passes, 0);
}

TEST(IncrementalExecutor, RefusesAModelPlannedWithoutKeptValues) {
  auto model = load_model(test_data("models/resnet20.onnx"));
  ASSERT_TRUE(model.is_ok());
  SessionOptions options;
  options.batch = 2;
  auto session = Session::create(*model, options);
  ASSERT_TRUE(session.is_ok());
  auto executor = IncrementalExecutor::create((*session)->compiled());
  ASSERT_FALSE(executor.is_ok());
  EXPECT_NE(executor.status().message().find("keep_values"), std::string::npos) << executor.status().message();
}

TEST(IncrementalReplay, ResNet20ActivationFaultsOnSomeImagesMatchFullPasses) {
  // Batches of 16: steps run on the images that still differ, in crops of 8 or 16 images.
  const Campaign c = make_campaign("models/resnet20_bn.onnx", "models/resnet20_input.npy", SiteTarget::kActivation, 80,
                                   31, Persistence::kPermanent, 16);
  const ReplayStats stats = expect_identical(c, "onednn", 16);
  EXPECT_GT(stats.image_steps, stats.steps_run / 20) << "faults masked in some images run on the others only";
}

// An activation fault's own step, its inputs golden, is not run: its golden outputs are loaded and the fault
// acts on them. The pass gives the bytes of a pass that runs it, and of a plain faulty execute().
TEST(IncrementalExecutor, AnActivationFaultsStepWithGoldenInputsIsNotRun) {
  const Campaign c = make_campaign("models/resnet20_bn.onnx", "models/resnet20_input.npy", SiteTarget::kActivation, 6,
                                   32, Persistence::kPermanent, 4);
  int reaching = 0;  // faults whose pass changes the model's output (the bounded comparison must find them)
  for (size_t f = 0; f < c.resolved.size(); ++f) {
    const ArmedFault armed = armed_fault(c.list, c.resolved[f], c.targets);
    auto session = Session::create(c.model, testing::onednn_campaign_options(4, 1, {armed.target->name}));
    ASSERT_TRUE(session.is_ok()) << session.status().message();
    CompiledModel& compiled = (*session)->compiled();
    const Graph& graph = compiled.graph();
    ASSERT_TRUE(compiled.write_value(graph.inputs()[0], c.input).is_ok());
    ASSERT_TRUE(execute(compiled).is_ok());
    Tensor golden_out;
    ASSERT_TRUE(compiled.read_value(graph.outputs()[0], golden_out).is_ok());
    auto executor = IncrementalExecutor::create(compiled);
    ASSERT_TRUE(executor.is_ok()) << executor.status().message();
    ASSERT_TRUE((*executor)->capture(0).is_ok());
    auto injector = FaultInjector::create({&armed, 1});
    ASSERT_TRUE(injector.is_ok()) << injector.status().message();
    auto seeds = injector->acting_steps(compiled);
    auto output_only = injector->output_only_steps(compiled);
    ASSERT_TRUE(seeds.is_ok() && output_only.is_ok());
    EXPECT_EQ(*output_only, *seeds) << "an activation fault acts after its step only";
    auto output = [&] {
      Tensor out;
      EXPECT_TRUE(compiled.read_value(graph.outputs()[0], out).is_ok());
      return out;
    };
    auto skipping = (*executor)->run(0, *injector, *seeds, {}, *output_only);
    ASSERT_TRUE(skipping.is_ok()) << skipping.status().message();
    const Tensor skipped = output();
    auto running = (*executor)->run(0, *injector, *seeds, {});
    ASSERT_TRUE(running.is_ok()) << running.status().message();
    const Tensor ran = output();
    // Told where the fault acts, the pass compares only that window of the golden step's output.
    auto acted = injector->output_only_elements(compiled);
    ASSERT_TRUE(acted.is_ok()) << acted.status().message();
    ASSERT_EQ(acted->size(), 1u);
    EXPECT_EQ((*acted)[0].value, graph.find_value(armed.target->name).value_or(kNoValue));
    EXPECT_EQ((*acted)[0].elements, std::vector<int64_t>{engine_element(*armed.target, armed.element)});
    auto bounded = (*executor)->run(0, *injector, *seeds, {}, *output_only, {}, *acted);
    ASSERT_TRUE(bounded.is_ok()) << bounded.status().message();
    const Tensor bounded_out = output();
    ASSERT_TRUE(execute(compiled, &*injector).is_ok());
    const Tensor plain = output();
    EXPECT_EQ(skipping->steps_run + 1, running->steps_run) << "fault " << f;
    ASSERT_EQ(skipped.nbytes(), plain.nbytes());
    EXPECT_EQ(std::memcmp(skipped.raw(), ran.raw(), skipped.nbytes()), 0) << "fault " << f;
    EXPECT_EQ(std::memcmp(skipped.raw(), plain.raw(), skipped.nbytes()), 0) << "fault " << f;
    EXPECT_EQ(std::memcmp(bounded_out.raw(), plain.raw(), plain.nbytes()), 0) << "fault " << f;
    if (std::memcmp(plain.raw(), golden_out.raw(), plain.nbytes()) != 0) ++reaching;
  }
  EXPECT_GT(reaching, 0);
}

// The elements a weight fault changes, as the executor is told them: the faulted word's element for a bit flip;
// that element or none for a stuck-at (the bit may already hold the value).
TEST(FaultInjector, FaultedWeightElementsAreTheChangedWords) {
  const Campaign c = make_campaign("models/resnet20_bn.onnx", "models/resnet20_input.npy", SiteTarget::kWeight, 12, 33,
                                   Persistence::kPermanent, 2);
  SessionOptions options;
  options.backend = "onednn";
  options.batch = 2;
  options.threads = 1;
  for (const FaultTarget& t : c.targets)
    if (t.kind == TargetKind::kWeight) options.observable.push_back(t.name);
  auto session = Session::create(c.model, options);
  ASSERT_TRUE(session.is_ok()) << session.status().message();
  int bit_flips = 0;
  for (size_t f = 0; f < c.resolved.size(); ++f) {
    const ArmedFault armed = armed_fault(c.list, c.resolved[f], c.targets);
    auto injector = FaultInjector::create({&armed, 1});
    ASSERT_TRUE(injector.is_ok()) << injector.status().message();
    auto elements = injector->faulted_weight_elements((*session)->compiled());
    ASSERT_TRUE(elements.is_ok()) << elements.status().message();
    ASSERT_EQ(elements->size(), 1u);
    const std::vector<int64_t> one = {c.resolved[f].element};
    if (armed.fault->model == FaultModel::kBitFlip || armed.fault->model == FaultModel::kMultiBitFlip) {
      EXPECT_EQ(elements->front(), one) << "fault " << f;
      ++bit_flips;
    } else {
      EXPECT_TRUE(elements->front().empty() || elements->front() == one) << "fault " << f;
    }
  }
  EXPECT_GT(bit_flips, 0);
}

// Batch-major replays: a golden budget that holds one batch's values but not every batch's.
TEST(IncrementalReplay, BatchMajorGroupsMatchFullPasses) {
  for (SiteTarget target : {SiteTarget::kWeight, SiteTarget::kActivation}) {
    const Campaign c = make_campaign("models/resnet20_bn.onnx", "models/resnet20_input.npy", target, 60,
                                     target == SiteTarget::kWeight ? 21 : 22, Persistence::kPermanent, 8);
    SessionOptions options;
    options.batch = 3;    // batches of 3, 3 and 2: two plans
    options.threads = 1;  // ctest runs two tests at once on two cores: no oversubscribed OpenMP barriers
    auto sizing = FaultReplayer::create(c.model, options, c.list, c.resolved, c.targets, c.input);
    ASSERT_TRUE(sizing.is_ok()) << sizing.status().message();
    ReplayOptions one_batch;
    one_batch.golden_budget_bytes = (*sizing)->stats().golden_bytes / 3 + 1;  // one slot of three
    ReplayOptions full;
    full.incremental = false;
    auto plain = FaultReplayer::create(c.model, options, c.list, c.resolved, c.targets, c.input, {}, full);
    auto major = FaultReplayer::create(c.model, options, c.list, c.resolved, c.targets, c.input, {}, one_batch);
    ASSERT_TRUE(plain.is_ok() && major.is_ok());
    ASSERT_TRUE((*major)->stats().batch_major);
    auto golden_plain = (*plain)->golden();
    auto golden_major = (*major)->golden();
    ASSERT_TRUE(golden_plain.is_ok() && golden_major.is_ok());
    EXPECT_EQ(std::memcmp(golden_plain->raw(), golden_major->raw(), golden_plain->nbytes()), 0);
    std::vector<size_t> group;
    for (size_t f = 0; f < c.resolved.size(); ++f) group.push_back(f);
    auto outputs = (*major)->run_group(std::span<const size_t>(group).subspan(0, 40));
    ASSERT_TRUE(outputs.is_ok()) << outputs.status().message();
    for (size_t f = 0; f < c.resolved.size(); ++f) {
      auto expected = (*plain)->run(f);
      ASSERT_TRUE(expected.is_ok()) << expected.status().message();
      // The first 40 from the group, the rest one at a time (run(f) in batch-major mode).
      Tensor actual;
      if (f < 40) {
        actual = std::move((*outputs)[f]);
      } else {
        auto single = (*major)->run(f);
        ASSERT_TRUE(single.is_ok()) << single.status().message();
        actual = std::move(single).value();
      }
      ASSERT_EQ(actual.nbytes(), expected->nbytes());
      EXPECT_EQ(std::memcmp(actual.raw(), expected->raw(), actual.nbytes()), 0) << "fault " << f;
    }
    EXPECT_LT((*major)->stats().steps_run, (*major)->stats().steps_total);
  }
}

// A campaign whose golden values do not all fit writes the same summary.csv in batch-major groups.
TEST(IncrementalReplay, BatchMajorCampaignWritesTheSameSummary) {
  const Campaign c = make_campaign("models/resnet20_bn.onnx", "models/resnet20_input.npy", SiteTarget::kWeight, 90, 23,
                                   Persistence::kPermanent, 8);
  const std::string dir = testing::temp_dir();
  std::string summaries[2];
  for (int mode = 0; mode < 2; ++mode) {
    CampaignSpec spec = campaign_spec(c, 3, dir + (mode == 0 ? "/full" : "/major"));
    spec.replay.incremental = mode == 1;
    if (mode == 1) {
      auto sizing = FaultReplayer::create(c.model, spec.options, c.list, c.resolved, c.targets, c.input);
      ASSERT_TRUE(sizing.is_ok());
      spec.replay.golden_budget_bytes = (*sizing)->stats().golden_bytes / 3 + 1;
    }
    auto result = run_campaign(spec);
    ASSERT_TRUE(result.is_ok()) << result.status().message();
    EXPECT_EQ(result->replay.batch_major, mode == 1);
    summaries[mode] = read_text(result->summary_path);
  }
  EXPECT_EQ(summaries[0], summaries[1]);
  EXPECT_NE(summaries[0].find("\n"), std::string::npos);
}

// Inference faults on activations and inputs share passes, one fault per image (run_group's waves), in both
// golden layouts: every fault's output is bit for bit the one a full pass of it alone gives, with 15 or 30 faults
// on each image (as many waves per executed batch) over two executed batches in one group, on ResNet20 and the
// Inception net; the passes are the waves, far fewer than the faults.
TEST(IncrementalReplay, InferenceFaultsShareOnePassPerImage) {
  struct Case {
    const char* model;
    const char* input;
    SiteTarget target;
    bool batch_major;
  };
  for (const Case& k : {Case{"models/resnet20_bn.onnx", "models/resnet20_input.npy", SiteTarget::kActivation, false},
                        Case{"models/resnet20_bn.onnx", "models/resnet20_input.npy", SiteTarget::kInput, true},
                        Case{"models/googlenet_small.onnx", "models/googlenet_small_input.npy",
                             SiteTarget::kActivation, true}}) {
    // Batch (i * 7 + 3) % N: 120 / N faults on each of the N images (8 of ResNet20's, the Inception net's 4).
    // Every third one is a permanent fault given a Batch, which acts on that image only as well.
    Campaign c = make_campaign(k.model, k.input, k.target, 120, 26, Persistence::kInference, 8);
    for (size_t i = 0; i < c.list.entries.size(); i += 3) c.list.entries[i].fault.persistence = Persistence::kPermanent;
    const int64_t images = c.input.dim(0);
    SessionOptions options;
    options.batch = images / 2;  // two executed batches, each with 120 / N waves of N / 2 faults
    options.threads = 1;
    ReplayOptions full;
    full.incremental = false;
    ReplayOptions fast;
    if (k.batch_major) fast.golden_budget_bytes = 1;  // sized below: one slot of two
    auto plain = FaultReplayer::create(c.model, options, c.list, c.resolved, c.targets, c.input, {}, full);
    ASSERT_TRUE(plain.is_ok()) << plain.status().message();
    if (k.batch_major) {
      auto sizing = FaultReplayer::create(c.model, options, c.list, c.resolved, c.targets, c.input);
      ASSERT_TRUE(sizing.is_ok()) << sizing.status().message();
      fast.golden_budget_bytes = (*sizing)->stats().golden_bytes / 2 + 1;
    }
    auto shared = FaultReplayer::create(c.model, options, c.list, c.resolved, c.targets, c.input, {}, fast);
    ASSERT_TRUE(shared.is_ok()) << shared.status().message();
    ASSERT_EQ((*shared)->stats().batch_major, k.batch_major);
    std::vector<size_t> group;
    for (size_t f = 0; f < c.resolved.size(); ++f) group.push_back(f);
    auto outputs = (*shared)->run_group(group);
    ASSERT_TRUE(outputs.is_ok()) << outputs.status().message();
    EXPECT_EQ((*shared)->stats().passes, 2 * 120 / images) << k.model << ": two batches of 120 / N waves";
    EXPECT_EQ((*shared)->stats().waves, 2 * 120 / images) << k.model;
    EXPECT_EQ((*shared)->stats().wave_faults, 120) << k.model;
    int mismatches = 0;
    for (size_t f = 0; f < c.resolved.size(); ++f) {
      auto expected = (*plain)->run(f);
      ASSERT_TRUE(expected.is_ok()) << expected.status().message();
      const Tensor& actual = (*outputs)[f];
      ASSERT_EQ(actual.nbytes(), expected->nbytes());
      if (std::memcmp(actual.raw(), expected->raw(), actual.nbytes()) != 0 && ++mismatches <= 5)
        ADD_FAILURE() << k.model << ": fault " << f << " on image " << *c.list.entries[f].fault.site.batch
                      << " differs from its full pass";
    }
    EXPECT_EQ(mismatches, 0) << k.model;
  }
}

// replay_faults (faultline inject) runs inference faults in waves too: the stacked outputs are those of full
// passes, with permanent faults in between.
TEST(IncrementalReplay, ReplayFaultsRunsInferenceFaultsInWaves) {
  Campaign c = make_campaign("models/resnet20_bn.onnx", "models/resnet20_input.npy", SiteTarget::kActivation, 40, 28,
                             Persistence::kInference, 8);
  c.list.entries[17].fault.persistence = Persistence::kPermanent;  // a permanent one between two runs
  c.list.entries[17].fault.site.batch.reset();
  SessionOptions options;
  options.batch = 4;
  options.threads = 1;
  ReplayOptions full;
  full.incremental = false;
  auto waves = replay_faults(c.model, options, c.list, c.resolved, c.targets, c.input);
  auto plain = replay_faults(c.model, options, c.list, c.resolved, c.targets, c.input, {}, full);
  ASSERT_TRUE(waves.is_ok()) << waves.status().message();
  ASSERT_TRUE(plain.is_ok()) << plain.status().message();
  ASSERT_EQ(waves->shape(), plain->shape());
  EXPECT_EQ(std::memcmp(waves->raw(), plain->raw(), waves->nbytes()), 0);
}

// Campaign-sized checks: 2,000 faults of every kind in one list (permanent weight, activation and input faults,
// inference activation faults; bit flips, stuck-at and multi-bit), run as a campaign runs them (run_group in
// groups of 64, batch-major since two batches run and most faults are permanent, the inference faults in
// waves), on ResNet20 (residual branches) and the Inception net (Concat branches): every fault's outputs are
// bit for bit those of its full pass.
TEST(IncrementalReplay, TwoThousandMixedFaultsInCampaignGroupsMatchFullPasses) {
  for (const auto& [model, input] : {std::pair{"models/resnet20_bn.onnx", "models/resnet20_input.npy"},
                                     std::pair{"models/googlenet_small.onnx", "models/googlenet_small_input.npy"}}) {
    const struct {
      SiteTarget target;
      int64_t count;
      Persistence persistence;
    } parts[] = {{SiteTarget::kWeight, 800, Persistence::kPermanent},
                 {SiteTarget::kActivation, 500, Persistence::kPermanent},
                 {SiteTarget::kInput, 300, Persistence::kPermanent},
                 {SiteTarget::kActivation, 400, Persistence::kInference}};
    Campaign c;
    uint64_t seed = 40;
    for (const auto& part : parts) {
      Campaign piece = make_campaign(model, input, part.target, part.count, seed++, part.persistence, 4);
      if (c.list.entries.empty()) {
        c = std::move(piece);
        continue;
      }
      for (FaultListEntry entry : piece.list.entries) {
        entry.injection = static_cast<int64_t>(c.list.entries.size());
        c.list.entries.push_back(std::move(entry));
      }
    }
    auto resolved = resolve_fault_list(c.list, c.targets);
    ASSERT_TRUE(resolved.is_ok()) << resolved.status().message();
    c.resolved = *resolved;
    ASSERT_EQ(c.resolved.size(), 2000u);
    SessionOptions options;
    options.batch = 2;  // images 0-1 and 2-3
    options.threads = 1;
    ReplayOptions full;
    full.incremental = false;
    ReplayOptions grouped;
    grouped.prefer_batch_major = true;
    auto plain = FaultReplayer::create(c.model, options, c.list, c.resolved, c.targets, c.input, {}, full);
    auto fast = FaultReplayer::create(c.model, options, c.list, c.resolved, c.targets, c.input, {}, grouped);
    ASSERT_TRUE(plain.is_ok()) << plain.status().message();
    ASSERT_TRUE(fast.is_ok()) << fast.status().message();
    EXPECT_TRUE((*fast)->stats().batch_major);
    int mismatches = 0;
    for (size_t first = 0; first < c.resolved.size(); first += 64) {
      std::vector<size_t> group;
      for (size_t f = first; f < std::min(first + 64, c.resolved.size()); ++f) group.push_back(f);
      auto outputs = (*fast)->run_group(group);
      ASSERT_TRUE(outputs.is_ok()) << outputs.status().message();
      for (size_t k = 0; k < group.size(); ++k) {
        auto expected = (*plain)->run(group[k]);
        ASSERT_TRUE(expected.is_ok()) << expected.status().message();
        const Tensor& actual = (*outputs)[k];
        if ((actual.nbytes() != expected->nbytes() ||
             std::memcmp(actual.raw(), expected->raw(), actual.nbytes()) != 0) &&
            ++mismatches <= 5)
          ADD_FAILURE() << model << ": fault " << group[k] << " (" << c.list.entries[group[k]].fault.site.layer
                        << ") differs from its full pass";
      }
    }
    EXPECT_EQ(mismatches, 0) << model;
    EXPECT_LT((*fast)->stats().steps_run, (*fast)->stats().steps_total) << model;
    EXPECT_LT((*fast)->stats().passes, 2 * 2000) << model << ": the inference faults share passes";
  }
}

// Campaigns go batch-major (ReplayOptions::prefer_batch_major) when several batches run and at least half of the
// faults are permanent or share passes one per image, even though every batch's golden values fit; one batch,
// or a list of mostly inference weight faults (each runs alone), keeps a golden slot per batch. Either way
// summary.csv is the one full passes write.
TEST(IncrementalReplay, CampaignsGoBatchMajorWhenMostFaultsRunInGroups) {
  struct Case {
    SiteTarget target;
    Persistence persistence;
    int64_t batch;
    bool batch_major;
  };
  for (const Case& k : {Case{SiteTarget::kActivation, Persistence::kPermanent, 3, true},
                        Case{SiteTarget::kActivation, Persistence::kPermanent, 8, false},
                        Case{SiteTarget::kActivation, Persistence::kInference, 3, true},
                        Case{SiteTarget::kWeight, Persistence::kInference, 3, false}}) {
    const Campaign c =
        make_campaign("models/resnet20_bn.onnx", "models/resnet20_input.npy", k.target, 30, 24, k.persistence, 8);
    const std::string dir = testing::temp_dir();
    std::string summaries[2];
    for (int mode = 0; mode < 2; ++mode) {
      CampaignSpec spec = campaign_spec(c, k.batch, dir + (mode == 0 ? "/full" : "/incremental"));
      spec.replay.incremental = mode == 1;
      auto result = run_campaign(spec);
      ASSERT_TRUE(result.is_ok()) << result.status().message();
      if (mode == 1) {
        EXPECT_TRUE(result->replay.incremental);
        EXPECT_EQ(result->replay.batch_major, k.batch_major) << "batch " << k.batch;
      }
      summaries[mode] = read_text(result->summary_path);
    }
    EXPECT_EQ(summaries[0], summaries[1]) << "batch " << k.batch;
  }
}

// `faultline run` recomputes incrementally by default and says so; --full-passes writes the same files.
TEST(IncrementalReplay, RunWithAndWithoutFullPassesWritesIdenticalFiles) {
  const std::string dir = testing::temp_dir();
  for (const char* target : {"weight", "activation"}) {
    for (const char* mode : {"incremental", "full"}) {
      const std::string yaml = dir + "/" + target + "_" + mode + ".yaml";
      testing::write_resnet20_campaign_yaml(yaml, 6, "", std::string("target: ") + target + ", count: 40, seed: 5",
                                            dir + "/" + target + "_" + mode);
      auto run = testing::run_faultline("run " + yaml + (std::string(mode) == "full" ? " --full-passes" : ""));
      ASSERT_EQ(run.exit_code, 0) << run.err;
      EXPECT_EQ(run.out.find("incremental passes:") != std::string::npos, std::string(mode) == "incremental")
          << run.out;
    }
    for (const char* file : {"summary.csv", "layers.csv", "bits.csv", "golden.csv"})
      EXPECT_EQ(read_text(dir + "/" + target + "_incremental/" + file), read_text(dir + "/" + target + "_full/" + file))
          << target << " " << file;
  }
}

// golden_budget_mb bounds the kept golden values: 0 runs full passes, a budget below every batch's values (but
// above one batch's) keeps one batch at a time; the results are the same files.
TEST(IncrementalReplay, GoldenBudgetKeyOfTheYamlBoundsTheKeptValues) {
  const std::string dir = testing::temp_dir();
  std::string summaries[3];
  const char* budgets[] = {"", "golden_budget_mb: 0\n", "golden_budget_mb: 20\n"};  // one batch of 8: 13 MB
  for (int k = 0; k < 3; ++k) {
    const std::string yaml = dir + "/budget" + std::to_string(k) + ".yaml";
    testing::write_resnet20_campaign_yaml(yaml, 8, budgets[k], "target: weight, count: 12, seed: 9",
                                          dir + "/out" + std::to_string(k));
    auto run = testing::run_faultline("run " + yaml);
    ASSERT_EQ(run.exit_code, 0) << run.err;
    const size_t line = run.out.find("incremental passes:");
    EXPECT_EQ(line == std::string::npos, k == 1) << run.out;
    if (k == 2) EXPECT_NE(run.out.find("golden values kept: 13 MB", line), std::string::npos) << run.out;
    // Full passes say why.
    EXPECT_EQ(run.out.find("full passes: one batch's golden values take 13 MB, more than the golden budget (0 MB)") !=
                  std::string::npos,
              k == 1)
        << run.out;
    summaries[k] = read_text(dir + "/out" + std::to_string(k) + "/summary.csv");
  }
  EXPECT_EQ(summaries[0], summaries[1]);
  EXPECT_EQ(summaries[0], summaries[2]);
}

// Batch-major groups take about a minute of fault passes: up to 1,024 faults for a fast model, one for a slow one,
// fewer when their outputs would pass 256 MB.
TEST(CampaignGroups, BatchMajorGroupsAreSizedToAboutAMinute) {
  EXPECT_EQ(batch_major_group_size(0.125, 20'000), 480u);  // the peer's ResNet20: 5 batches of 100 in 0.125 s
  EXPECT_EQ(batch_major_group_size(2.5, 20'000), 24u);     // 10,000 images, at first (the golden pass's time)
  EXPECT_EQ(batch_major_group_size(0.8, 20'000), 75u);     // ... then what its faults took
  EXPECT_EQ(batch_major_group_size(0.01, 20'000), 1024u);
  EXPECT_EQ(batch_major_group_size(500.0, 2'000'000), 1u);
  EXPECT_EQ(batch_major_group_size(0.1, size_t{100} << 20), 2u);
  EXPECT_EQ(batch_major_group_size(0.0, 4), 1024u);
}

// Outside batch-major mode a permanent fault runs alone: a campaign told to stop after its first row has run that
// fault's passes and no other fault's, so a kill loses at most the fault in flight.
TEST(CampaignGroups, PermanentFaultsOutsideBatchMajorModeRunOneByOne) {
  const Campaign c = make_campaign("models/resnet20_bn.onnx", "models/resnet20_input.npy", SiteTarget::kWeight, 20, 27,
                                   Persistence::kPermanent, 16);
  CampaignSpec spec = campaign_spec(c, 8, testing::temp_dir() + "/one_by_one");  // two batches
  spec.replay.prefer_batch_major = false;
  spec.progress = [](const CampaignProgress&) { return CampaignControl::kStop; };
  auto result = run_campaign(spec);
  ASSERT_TRUE(result.is_ok()) << result.status().message();
  EXPECT_FALSE(result->replay.batch_major);
  EXPECT_EQ(result->outcomes.size(), 1u);
  EXPECT_EQ(result->replay.passes, 2) << "the first fault's two batches, nothing more";
}

}  // namespace
}  // namespace faultline
