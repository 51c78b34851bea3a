// Fault persistence in replay_faults (faults/fault.h): an inference fault changes only its Batch image's row
// (a weight too: the image's batch-mates see the clean weight), a batch fault only the rows of the executed
// batch that holds the image, and those rows are bit-identical to the permanent fault's; every other row is
// bit-identical to the golden run. Rows without Batch, and 'steps', are refused before anything runs.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <random>

#include "engine/file_io.h"
#include "engine/npy.h"
#include "engine/session.h"
#include "faults/fault_replay.h"
#include "frontends/load_model.h"
#include "tests/support/graph_builder.h"
#include "tests/support/run_command.h"
#include "tests/support/test_support.h"

namespace faultline {
namespace {

using testing::GraphBuilder;
using testing::random_tensor;

constexpr int64_t kImages = 5;
constexpr int64_t kBatch = 2;  // executed batches: {0, 1}, {2, 3}, {4}
constexpr int64_t kImage = 3;  // the Batch image; its executed batch is {2, 3}

// x -> conv1 -> relu (r) -> { conv2 (1x1), identity } -> add -> concat(sum, r).
std::shared_ptr<const Graph> branching_model() {
  GraphBuilder b;
  const ValueId x = b.input("x", {kDynamicDim, 2, 4, 4});
  const ValueId w1 = b.constant("conv1.weight", random_tensor({3, 2, 3, 3}, 1, 0.02f, 0.3f));
  const ValueId c1 = b.node(OpKind::kConv, {x, w1}, ConvAttrs{{3, 3}, {}, {}, {1, 1, 1, 1}}, "conv1", "c1");
  const ValueId r = b.node(OpKind::kRelu, {c1}, {}, "relu", "r");
  const ValueId w2 = b.constant("conv2.weight", random_tensor({3, 3, 1, 1}, 2, -0.5f, 0.5f));
  const ValueId c2 = b.node(OpKind::kConv, {r, w2}, ConvAttrs{{1, 1}}, "conv2", "c2");
  const ValueId skip = b.node(OpKind::kIdentity, {r}, {}, "skip", "s");
  const ValueId sum = b.node(OpKind::kAdd, {c2, skip}, {}, "add", "sum");
  b.output(b.node(OpKind::kConcat, {sum, r}, ConcatAttrs{1}, "cat", "out"));
  return std::make_shared<const Graph>(b.build());
}

// Whether image n's row of fault fault_a in `a` and of fault fault_b in `b` (both [F, kImages, ...]) are
// bit-identical.
bool rows_identical(const Tensor& a, int64_t fault_a, const Tensor& b, int64_t fault_b, int64_t n) {
  if (a.rank() < 2 || a.dim(1) != kImages || b.rank() != a.rank() || b.dim(1) != kImages) return false;
  const size_t row = static_cast<size_t>(numel(Shape(a.shape().begin() + 2, a.shape().end()))) * sizeof(float);
  auto at = [row](const Tensor& t, int64_t f, int64_t image) {
    return t.data<std::byte>() + static_cast<size_t>(f * kImages + image) * row;
  };
  return std::memcmp(at(a, fault_a, n), at(b, fault_b, n), row) == 0;
}

struct Replay {
  Tensor stacked;  // [F, N, ...]
  Tensor golden;   // [1, N, ...]: a clean run on the plan the replay uses
};

// Replays `list` on `model` and runs it clean on the same plan (the list's faulted values observable, NaN
// propagation on, as replay_faults plans).
Replay replay(const std::shared_ptr<const Graph>& model, const std::string& backend, const FaultList& list,
              const Tensor& x) {
  Replay result;
  auto targets = list_fault_targets(*model);
  EXPECT_TRUE(targets.is_ok()) << targets.status().message();
  auto resolved = resolve_fault_list(list, *targets);
  EXPECT_TRUE(resolved.is_ok()) << resolved.status().message();
  if (!resolved.is_ok()) return result;
  SessionOptions options;
  options.backend = backend;
  options.batch = kBatch;
  auto out = replay_faults(model, options, list, *resolved, *targets, x);
  EXPECT_TRUE(out.is_ok()) << out.status().message();
  if (out.is_ok()) result.stacked = std::move(out).value();

  options.observable = faulted_value_names(*resolved, *targets);
  options.propagate_nan = true;
  auto session = Session::create(model, options);
  EXPECT_TRUE(session.is_ok()) << session.status().message();
  if (!session.is_ok()) return result;
  auto clean = (*session)->run({x});
  EXPECT_TRUE(clean.is_ok()) << clean.status().message();
  if (!clean.is_ok()) return result;
  Shape shape = clean->front().shape();
  shape.insert(shape.begin(), 1);
  result.golden = clean->front().reshaped(shape).value();
  return result;
}

// Faults 0, 1, 2 of `r` are one fault as permanent, inference (Batch kImage) and batch (Batch kImage).
void expect_persistence_rows(const Replay& r) {
  ASSERT_EQ(r.stacked.rank(), r.golden.rank());
  ASSERT_EQ(r.stacked.dim(0), 3);
  for (int64_t n = 0; n < kImages; ++n) {
    SCOPED_TRACE("image " + std::to_string(n));
    const bool in_batch = n / kBatch == kImage / kBatch;
    EXPECT_FALSE(rows_identical(r.stacked, 0, r.golden, 0, n));  // the permanent fault reaches every image
    EXPECT_TRUE(rows_identical(r.stacked, 1, n == kImage ? r.stacked : r.golden, 0, n)) << "inference";
    EXPECT_TRUE(rows_identical(r.stacked, 2, in_batch ? r.stacked : r.golden, 0, n)) << "batch";
  }
}

// Appends copies of entry 0 of `list` as inference and batch faults on image kImage.
void add_transient_copies(FaultList& list) {
  for (Persistence persistence : {Persistence::kInference, Persistence::kBatch}) {
    FaultListEntry entry = list.entries.front();
    entry.injection = static_cast<int64_t>(list.entries.size());
    entry.fault.persistence = persistence;
    entry.fault.site.batch = kImage;
    list.entries.push_back(entry);
  }
}

class FaultPersistenceOnBackend : public ::testing::TestWithParam<std::string> {};

TEST_P(FaultPersistenceOnBackend, WeightFaultStaysInItsImageOrBatch) {
  const auto model = branching_model();
  // A weight with Batch is built in memory: the CSV reader takes Batch for activation/input/state rows only.
  auto list = parse_fault_list("Injection,Layer,TensorIndex,Bit\n0,conv1,\"(1, 0, 2, 1)\",30\n", "w.csv");
  ASSERT_TRUE(list.is_ok()) << list.status().message();
  add_transient_copies(*list);
  expect_persistence_rows(replay(model, GetParam(), *list, random_tensor({kImages, 2, 4, 4}, 3, 0.1f, 1.0f)));
}

TEST_P(FaultPersistenceOnBackend, ActivationFaultStaysInItsImageOrBatch) {
  const auto model = branching_model();
  auto list = parse_fault_list(
      "Injection,Layer,TensorIndex,Bit,Target,Batch,Persistence\n"
      "0,relu,\"(1, 2, 3)\",30,activation,,permanent\n"
      "1,relu,\"(1, 2, 3)\",30,activation,3,inference\n"
      "2,relu,\"(1, 2, 3)\",30,activation,3,batch\n",
      "a.csv");
  ASSERT_TRUE(list.is_ok()) << list.status().message();
  expect_persistence_rows(replay(model, GetParam(), *list, random_tensor({kImages, 2, 4, 4}, 3, 0.1f, 1.0f)));
}

TEST_P(FaultPersistenceOnBackend, BitErrorRateOfABatchDrawsThePermanentFaultsBits) {
  // ber seeds each image by its index in the whole input, so the batch's rows are the permanent fault's.
  const auto model = branching_model();
  auto list = parse_fault_list(
      "Injection,Layer,TensorIndex,Bit,Target,Model,Value,Batch,Persistence\n"
      "0,relu,,,activation,ber,0.05,,\n"
      "0,relu,,,activation,ber,0.05,3,inference\n"
      "0,relu,,,activation,ber,0.05,3,batch\n",
      "ber.csv");
  ASSERT_TRUE(list.is_ok()) << list.status().message();
  expect_persistence_rows(replay(model, GetParam(), *list, random_tensor({kImages, 2, 4, 4}, 3, 0.1f, 1.0f)));
}

TEST_P(FaultPersistenceOnBackend, LastShortBatchAndResnet20Weights) {
  auto model = load_model(testing::test_data("models/resnet20_bn.onnx"));
  ASSERT_TRUE(model.is_ok()) << model.status().message();
  auto all = read_npy(testing::test_data("models/resnet20_input.npy"));
  ASSERT_TRUE(all.is_ok()) << all.status().message();
  Shape shape = all->shape();
  shape[0] = kImages;
  const Tensor x = Tensor::view(DType::kFloat32, shape, all->data<float>()).clone();
  auto list = parse_fault_list("Injection,Layer,TensorIndex,Bit\n0,layer1.0.conv1,\"(3, 2, 1, 1)\",30\n", "r.csv");
  ASSERT_TRUE(list.is_ok()) << list.status().message();
  add_transient_copies(*list);
  FaultListEntry last = list->entries[2];  // a batch fault on image 4, alone in the last (short) batch
  last.fault.site.batch = kImages - 1;
  list->entries.push_back(last);
  const Replay r = replay(*model, GetParam(), *list, x);
  ASSERT_EQ(r.stacked.dim(0), 4);
  const Tensor first_three = Tensor::view(DType::kFloat32, Shape{3, kImages, 10}, const_cast<void*>(r.stacked.raw()));
  expect_persistence_rows(Replay{first_three.clone(), r.golden});
  for (int64_t n = 0; n < kImages; ++n)
    EXPECT_TRUE(rows_identical(r.stacked, 3, n == kImages - 1 ? r.stacked : r.golden, 0, n)) << n;
}

INSTANTIATE_TEST_SUITE_P(Backends, FaultPersistenceOnBackend, ::testing::Values("reference", "onednn"));

// replay_faults' message for `list` (which must fail), checked before anything runs.
std::string replay_error(const FaultList& list) {
  const auto model = branching_model();
  auto targets = list_fault_targets(*model);
  EXPECT_TRUE(targets.is_ok());
  auto resolved = resolve_fault_list(list, *targets);
  EXPECT_TRUE(resolved.is_ok()) << resolved.status().message();
  if (!resolved.is_ok()) return "";
  SessionOptions options;
  options.backend = "reference";
  auto out = replay_faults(model, options, list, *resolved, *targets, random_tensor({2, 2, 4, 4}, 3, 0.1f, 1.0f));
  EXPECT_FALSE(out.is_ok());
  return out.is_ok() ? "" : out.status().message();
}

TEST(FaultPersistence, RefusesRowsItCannotScope) {
  auto no_batch = parse_fault_list(
      "Injection,Layer,TensorIndex,Bit,Target,Persistence\n"
      "0,relu,\"(1, 2, 3)\",30,activation,permanent\n"
      "1,relu,\"(1, 2, 3)\",30,activation,batch\n",
      "nb.csv");
  ASSERT_TRUE(no_batch.is_ok()) << no_batch.status().message();
  std::string message = replay_error(*no_batch);
  EXPECT_NE(message.find("nb.csv:3: persistence 'batch' needs a Batch"), std::string::npos) << message;

  auto steps = parse_fault_list("Injection,Layer,TensorIndex,Bit,Step\n0,conv1,\"(1, 0, 2, 1)\",30,3-5\n", "s.csv");
  ASSERT_TRUE(steps.is_ok()) << steps.status().message();
  message = replay_error(*steps);
  EXPECT_NE(message.find("s.csv:2: persistence 'steps' needs a spiking model"), std::string::npos) << message;

  auto weight = parse_fault_list("Injection,Layer,TensorIndex,Bit\n0,conv1,\"(1, 0, 2, 1)\",30\n", "w.csv");
  ASSERT_TRUE(weight.is_ok());
  weight->entries[0].fault.site.batch = 1;  // permanent: a weight hits every image
  message = replay_error(*weight);
  EXPECT_NE(message.find("w.csv:2: a weight is shared by every image"), std::string::npos) << message;
  weight->entries[0].fault.persistence = Persistence::kInference;
  weight->entries[0].fault.site.batch = 2;  // an input of 2 images
  message = replay_error(*weight);
  EXPECT_NE(message.find("w.csv:2: Batch 2 is out of range"), std::string::npos) << message;
}

TEST(FaultPersistence, InjectNamesTheCsvLineOfARowWithoutBatch) {
  const std::string dir = testing::temp_dir();
  const std::string list = dir + "/faults.csv";
  const std::string output = dir + "/y.npy";
  ASSERT_TRUE(write_file_atomically(list,
                                    "Injection,Layer,TensorIndex,Bit,Persistence\n"
                                    "0,conv1,\"(3, 2, 1, 1)\",30,permanent\n"
                                    "1,conv1,\"(3, 2, 1, 1)\",30,inference\n")
                  .is_ok());
  auto r = testing::run_faultline("inject " + testing::test_data("models/resnet20_bn.onnx") + " --faults " + list +
                                  " --input " + testing::test_data("models/resnet20_input.npy") + " --output " +
                                  output + " --batch 2");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("faults.csv:3: persistence 'inference' needs a Batch"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(output));
}

}  // namespace
}  // namespace faultline
