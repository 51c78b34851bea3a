#include "tests/support/replay_campaign.h"

#include <gtest/gtest.h>

#include <cstring>
#include <fstream>

#include "frontends/load_model.h"
#include "tests/support/fault_comparison.h"
#include "tests/support/test_support.h"

namespace faultline::testing {

Campaign make_campaign(const std::string& model_file, const std::string& input_file, SiteTarget target, int64_t count,
                       uint64_t seed, Persistence persistence, int64_t images) {
  Campaign c;
  auto model = load_model(test_data(model_file));
  EXPECT_TRUE(model.is_ok()) << model.status().message();
  c.model = *model;
  auto targets = list_fault_targets(*c.model);
  EXPECT_TRUE(targets.is_ok()) << targets.status().message();
  c.targets = *targets;
  GeneratorOptions options;
  options.target = target;
  options.models = {FaultModel::kBitFlip, FaultModel::kBitFlip, FaultModel::kStuckAt1, FaultModel::kMultiBitFlip};
  options.persistence = persistence;
  options.seed = seed;
  auto list = generate_random_faults(c.targets, options, count);
  EXPECT_TRUE(list.is_ok()) << list.status().message();
  c.list = *list;
  c.input = read_npy_or_fail(test_data(input_file));
  if (images > 0 && images < c.input.dim(0)) {
    Shape shape = c.input.shape();
    shape[0] = images;
    Tensor head = std::move(Tensor::allocate(DType::kFloat32, shape)).value();
    std::memcpy(head.raw(), c.input.raw(), head.nbytes());
    c.input = std::move(head);
  }
  if (persistence != Persistence::kPermanent)
    for (size_t i = 0; i < c.list.entries.size(); ++i)
      c.list.entries[i].fault.site.batch = static_cast<int64_t>((i * 7 + 3) % static_cast<size_t>(c.input.dim(0)));
  auto resolved = resolve_fault_list(c.list, c.targets);
  EXPECT_TRUE(resolved.is_ok()) << resolved.status().message();
  c.resolved = *resolved;
  return c;
}

SessionOptions replay_session_options(const std::string& backend, int64_t batch) {
  SessionOptions options;
  options.backend = backend;
  options.batch = batch;
  options.threads = 1;
  return options;
}

size_t one_batch_golden_bytes(const Campaign& c, const std::string& backend, int64_t batch) {
  auto sizing =
      FaultReplayer::create(c.model, replay_session_options(backend, batch), c.list, c.resolved, c.targets, c.input);
  EXPECT_TRUE(sizing.is_ok()) << sizing.status().message();
  if (!sizing.is_ok()) return 0;
  const int64_t batches = (c.input.dim(0) + batch - 1) / batch;
  return (*sizing)->stats().golden_bytes / static_cast<size_t>(batches);
}

namespace {

// expect_identical and expect_group_identical: the fast replay runs each fault alone, or all in one group.
ReplayStats expect_as_full_passes(const Campaign& c, const std::string& backend, int64_t batch,
                                  const ReplayOptions& fast_options, bool grouped) {
  const SessionOptions options = replay_session_options(backend, batch);
  ReplayOptions full;
  full.incremental = false;
  auto plain = FaultReplayer::create(c.model, options, c.list, c.resolved, c.targets, c.input, {}, full);
  auto fast = FaultReplayer::create(c.model, options, c.list, c.resolved, c.targets, c.input, {}, fast_options);
  EXPECT_TRUE(plain.is_ok()) << plain.status().message();
  EXPECT_TRUE(fast.is_ok()) << fast.status().message();
  if (!plain.is_ok() || !fast.is_ok()) return {};
  EXPECT_TRUE((*fast)->stats().incremental);
  auto golden_plain = (*plain)->golden();
  auto golden_fast = (*fast)->golden();
  EXPECT_TRUE(golden_plain.is_ok() && golden_fast.is_ok());
  EXPECT_EQ(std::memcmp(golden_plain->raw(), golden_fast->raw(), golden_plain->nbytes()), 0) << "golden differs";
  std::vector<Tensor> group_outputs;
  if (grouped) {
    std::vector<size_t> group;
    for (size_t f = 0; f < c.resolved.size(); ++f) group.push_back(f);
    auto outputs = (*fast)->run_group(group);
    EXPECT_TRUE(outputs.is_ok()) << outputs.status().message();
    if (!outputs.is_ok()) return {};
    group_outputs = std::move(outputs).value();
  }
  int mismatches = 0;
  for (size_t f = 0; f < c.resolved.size(); ++f) {
    auto a = (*plain)->run(f);
    auto b = grouped ? Result<Tensor>(std::move(group_outputs[f])) : (*fast)->run(f);
    EXPECT_TRUE(a.is_ok()) << a.status().message();
    EXPECT_TRUE(b.is_ok()) << b.status().message();
    if (!a.is_ok() || !b.is_ok()) return {};
    if (a->nbytes() != b->nbytes() || std::memcmp(a->raw(), b->raw(), a->nbytes()) != 0) {
      const FaultListEntry& entry = c.list.entries[c.resolved[f].entry];
      if (++mismatches <= 5)
        ADD_FAILURE() << backend << ": fault " << entry.injection << " (" << entry.fault.site.layer << ", element "
                      << c.resolved[f].element << ") differs between " << (grouped ? "its group" : "incremental")
                      << " and full passes";
    }
  }
  EXPECT_EQ(mismatches, 0) << "of " << c.resolved.size() << " faults";
  return (*fast)->stats();
}

}  // namespace

ReplayStats expect_identical(const Campaign& c, const std::string& backend, int64_t batch,
                             const ReplayOptions& fast_options) {
  return expect_as_full_passes(c, backend, batch, fast_options, false);
}

ReplayStats expect_group_identical(const Campaign& c, const std::string& backend, int64_t batch,
                                   const ReplayOptions& fast_options) {
  return expect_as_full_passes(c, backend, batch, fast_options, true);
}

CampaignSpec campaign_spec(const Campaign& c, int64_t batch, const std::string& output) {
  CampaignSpec spec;
  spec.model = c.model;
  spec.options.batch = batch;
  spec.options.threads = 1;  // ctest runs two tests at once on two cores
  spec.dataset.images = c.input;
  spec.list = c.list;
  spec.faults = c.resolved;
  spec.targets = c.targets;
  spec.output = output;
  return spec;
}

void write_resnet20_campaign_yaml(const std::string& path, int64_t batch, const std::string& extra_keys,
                                  const std::string& generate, const std::string& output) {
  std::ofstream(path) << "model: " << test_data("models/resnet20_bn.onnx") << "\n"
                      << "dataset: {format: npy, inputs: " << test_data("models/resnet20_input.npy") << "}\n"
                      << "batch_size: " << batch << "\nthreads: 1\n" << extra_keys << "faults: {generate: {" << generate << "}}\n"
                      << "output: " << output << "\n";
}

}  // namespace faultline::testing
