// Injection overhead (issue #7): what the fault hooks cost per batch on the CIFAR-10 ResNet20
// (tests/data/models/resnet20.onnx, BN folded), per backend, against clean inference with no observer.
//
//   build/benchmarks/bench_injection_overhead [MODEL.onnx] [--rounds R] [--iterations I] [--batch B]
//       [--threads T] [--reference-images M] [--reference-iterations J] [--backends onednn,reference]
//
// --backends also takes cuda in a build with the CUDA backend (on a GPU: benchmarks/gpu_compare.sh runs
// `--backends cuda --batch 1000`).
//
// Every variant runs one batch of images, the same N(0, 1) images (benchmarks/bench_support.h):
//   a   the clean plan, execute() with no observer (the engine as plain inference runs it);
//   b   the clean plan with a FaultInjector that has no fault armed (hooks compiled in and called, no fault);
//   n   the clean plan with propagate_nan, as every fault-replay plan is made (NaN-exact ReLU, MaxPool, ...);
//   c0  the plan a weight fault needs: that weight observable (faulted_value_names) and propagate_nan, no
//       fault armed;
//   c   the same plan, one weight fault armed (sign bit of a layer2.1.conv1 weight), full pass;
//   d0  the plan an activation fault needs: that activation observable and propagate_nan, no fault armed;
//   d   the same plan, one activation fault armed (sign bit of one element of layer2.1.conv1's output, every
//       image), full pass;
//   e   the same two faults through FaultReplayer::run (its default incremental path: golden values kept,
//       only what the fault changes recomputed; the golden pass is not timed), one fault per replayer, so
//       each is planned as c or d is, plus keep_values.
// The variants are interleaved: each round times every variant once, in a shuffled order (I batches each,
// after one untimed warm-up batch of every variant before the first round); the table gives the median
// images/s over the R rounds and the median over rounds of the ratio to (a) of the same round (the ratio is
// the steadier figure on a shared machine). "changed" is the number of images whose output row differs
// (bitwise) from the same plan's clean row (c against c0, d against d0, e against the replay's golden rows):
// a check that the faults act. "steps" is the share of steps the incremental passes ran. The reference
// backend (plain loops, single-threaded) is about 100 times slower than oneDNN: it runs batches of M images
// (default 10), J iterations (default 1) per round, and says so in the output.
// Defaults: R = 10, I = 5, B = 100, T = 2, both backends. The load average is printed before and after.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <memory>
#include <numeric>
#include <random>
#include <span>
#include <sstream>
#include <string>
#include <vector>

#include "benchmarks/bench_support.h"
#include "engine/session.h"
#include "faults/fault_injector.h"
#include "faults/fault_list.h"
#include "faults/fault_replay.h"
#include "faults/fault_targets.h"
#include "frontends/load_model.h"
#ifdef FAULTLINE_BENCH_CUDA
#include "kernels/cuda/cuda_backend.h"  // --backends cuda
#endif

namespace {

using faultline::FaultInjector;
using faultline::FaultReplayer;
using faultline::Result;
using faultline::Session;
using faultline::SessionOptions;
using faultline::Status;
using faultline::Tensor;

// The two faults, one row each (sign-bit flips: the value changes sign, and stays finite).
constexpr const char* kFaultList =
    "Injection,Layer,TensorIndex,Bit,Target\n"
    "0,layer2.1.conv1,\"(5, 3, 1, 1)\",31,weight\n"
    "1,layer2.1.conv1,\"(5, 7, 7)\",31,activation\n";
constexpr size_t kWeightFault = 0;
constexpr size_t kActivationFault = 1;

[[noreturn]] void fail(const std::string& what) {
  std::fprintf(stderr, "bench_injection_overhead: %s\n", what.c_str());
  std::exit(1);
}

template <typename T>
T must(Result<T> result) {
  if (!result.is_ok()) fail(result.status().message());
  return std::move(result).value();
}

void must(const Status& status) {
  if (!status.is_ok()) fail(status.message());
}

int64_t flag(int argc, char** argv, const std::string& name, int64_t fallback) {
  for (int i = 1; i + 1 < argc; ++i)
    if (argv[i] == name) return std::atoll(argv[i + 1]);
  return fallback;
}

std::string text_flag(int argc, char** argv, const std::string& name, const std::string& fallback) {
  for (int i = 1; i + 1 < argc; ++i)
    if (argv[i] == name) return argv[i + 1];
  return fallback;
}

std::string load_average() {
  std::ifstream file("/proc/loadavg");
  std::string one, five, fifteen;
  if (!(file >> one >> five >> fifteen)) return "unknown";
  return one + " " + five + " " + fifteen;
}

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  const size_t n = values.size();
  return n % 2 == 1 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

// The number of rows (images) of two [N, ...] outputs whose bytes differ.
int64_t changed_rows(const Tensor& clean, const Tensor& faulty) {
  if (clean.nbytes() != faulty.nbytes() || clean.rank() == 0) fail("outputs of different shapes");
  const int64_t rows = clean.dim(0);
  const size_t row_bytes = clean.nbytes() / static_cast<size_t>(rows);
  const auto* a = static_cast<const unsigned char*>(clean.raw());
  const auto* b = static_cast<const unsigned char*>(faulty.raw());
  int64_t changed = 0;
  for (int64_t r = 0; r < rows; ++r)
    changed += std::memcmp(a + r * row_bytes, b + r * row_bytes, row_bytes) != 0 ? 1 : 0;
  return changed;
}

// The rows of a backend's table, in order.
enum Row : size_t {
  kClean,
  kIdle,
  kNanPlan,
  kWeightPlan,
  kWeightFull,
  kActivationPlan,
  kActivationFull,
  kWeightReplay,
  kActivationReplay,
};

struct Variant {
  std::string label;
  std::function<Status()> run_batch;  // one batch
  std::vector<double> images_per_s;   // per round
  std::vector<double> ratios;         // per round, to row a (kClean) of the same round
  std::string changed = "-";
  std::string steps = "-";
};

// One backend's variants, timed in `rounds` interleaved rounds of `iterations` batches each.
void run_backend(const std::shared_ptr<const faultline::Graph>& model,
                 const std::vector<faultline::FaultTarget>& targets, const faultline::FaultList& list,
                 const std::vector<faultline::ResolvedFault>& resolved, const std::string& backend, int64_t batch,
                 int threads, int64_t iterations, int64_t rounds) {
  SessionOptions clean_options;
  clean_options.backend = backend;
  clean_options.batch = batch;
  clean_options.threads = threads;
  SessionOptions nan_options = clean_options;
  nan_options.propagate_nan = true;
  auto fault_options = [&](size_t f) {
    SessionOptions options = nan_options;
    options.observable = faultline::faulted_value_names(std::span(resolved).subspan(f, 1), targets);
    return options;
  };

  const std::vector<Tensor> inputs = {faultline::bench::random_images(model->value(model->inputs()[0]), batch)};
  auto clean = must(Session::create(model, clean_options));
  auto nan_plan = must(Session::create(model, nan_options));
  auto weight_plan = must(Session::create(model, fault_options(kWeightFault)));
  auto activation_plan = must(Session::create(model, fault_options(kActivationFault)));

  FaultInjector idle = must(FaultInjector::create({}));
  const faultline::ArmedFault weight_armed = faultline::armed_fault(list, resolved[kWeightFault], targets);
  const faultline::ArmedFault activation_armed = faultline::armed_fault(list, resolved[kActivationFault], targets);
  FaultInjector weight_injector = must(FaultInjector::create({&weight_armed, 1}));
  FaultInjector activation_injector = must(FaultInjector::create({&activation_armed, 1}));

  auto weight_replayer = must(FaultReplayer::create(model, clean_options, list,
                                                    std::span(resolved).subspan(kWeightFault, 1), targets, inputs[0]));
  auto activation_replayer = must(FaultReplayer::create(
      model, clean_options, list, std::span(resolved).subspan(kActivationFault, 1), targets, inputs[0]));
  const Tensor weight_golden = must(weight_replayer->golden()).clone();  // the untimed golden pass
  const Tensor activation_golden = must(activation_replayer->golden()).clone();

  std::vector<Tensor> outputs;
  auto on = [&](Session& session, FaultInjector* injector) {
    return [&session, injector, &inputs, &outputs]() {
      if (injector != nullptr) injector->set_image_offset(0);
      return session.run_batch(inputs, outputs, injector);
    };
  };
  auto replay = [](FaultReplayer& replayer) { return [&replayer]() { return replayer.run(0).status(); }; };
  // In the order of the enum Row.
  std::vector<Variant> variants;
  variants.push_back({"a  clean plan, no observer", on(*clean, nullptr)});
  variants.push_back({"b  clean plan, injector with no fault", on(*clean, &idle)});
  variants.push_back({"n  propagate_nan plan, no observer", on(*nan_plan, nullptr)});
  variants.push_back({"c0 weight-fault plan, no fault", on(*weight_plan, nullptr)});
  variants.push_back({"c  weight fault, full pass", on(*weight_plan, &weight_injector)});
  variants.push_back({"d0 activation-fault plan, no fault", on(*activation_plan, nullptr)});
  variants.push_back({"d  activation fault, full pass", on(*activation_plan, &activation_injector)});
  variants.push_back({"e  weight fault, incremental replay", replay(*weight_replayer)});
  variants.push_back({"e  activation fault, incremental replay", replay(*activation_replayer)});

  // The faults act: each faulty output against its own plan's clean output.
  auto output_of = [&](Variant& variant) {
    must(variant.run_batch());
    return outputs.front().clone();
  };
  auto changed_between = [&](size_t clean_variant, size_t faulty_variant) {
    const Tensor clean_rows = output_of(variants[clean_variant]);
    const Tensor faulty_rows = output_of(variants[faulty_variant]);
    return std::to_string(changed_rows(clean_rows, faulty_rows)) + "/" + std::to_string(batch);
  };
  variants[kWeightFull].changed = changed_between(kWeightPlan, kWeightFull);
  variants[kActivationFull].changed = changed_between(kActivationPlan, kActivationFull);
  variants[kWeightReplay].changed =
      std::to_string(changed_rows(weight_golden, must(weight_replayer->run(0)))) + "/" + std::to_string(batch);
  variants[kActivationReplay].changed =
      std::to_string(changed_rows(activation_golden, must(activation_replayer->run(0)))) + "/" + std::to_string(batch);
  for (Variant& variant : variants) must(variant.run_batch());  // warm-up

  std::vector<size_t> order(variants.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::mt19937 shuffler(1);
  for (int64_t round = 0; round < rounds; ++round) {
    std::shuffle(order.begin(), order.end(), shuffler);
    for (size_t row : order) {
      Variant& variant = variants[row];
      const auto start = std::chrono::steady_clock::now();
      for (int64_t i = 0; i < iterations; ++i) must(variant.run_batch());
      const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      variant.images_per_s.push_back(static_cast<double>(iterations * batch) / seconds);
    }
    for (Variant& variant : variants)
      variant.ratios.push_back(variant.images_per_s.back() / variants[kClean].images_per_s.back());
  }
  must(weight_injector.check_restored());
  auto steps_share = [](const FaultReplayer& replayer) {
    const faultline::ReplayStats& stats = replayer.stats();
    if (!stats.incremental || stats.steps_total == 0) fail("the replay did not run incremental passes");
    char text[32];
    std::snprintf(text, sizeof text, "%.0f%%",
                  100.0 * static_cast<double>(stats.steps_run) / static_cast<double>(stats.steps_total));
    return std::string(text);
  };
  variants[kWeightReplay].steps = steps_share(*weight_replayer);
  variants[kActivationReplay].steps = steps_share(*activation_replayer);

  std::printf("\nbackend %s: batch %lld, %d threads, %lld batch%s per variant per round, %lld rounds%s\n",
              backend.c_str(), static_cast<long long>(batch), threads, static_cast<long long>(iterations),
              iterations == 1 ? "" : "es", static_cast<long long>(rounds),
              backend == "reference" ? " (the reference backend is slow: fewer images and iterations)" : "");
  std::printf("%-42s %12s %8s %9s %7s\n", "variant", "images/s", "vs a", "changed", "steps");
  for (const Variant& variant : variants)
    std::printf("%-42s %12.1f %7.3fx %9s %7s\n", variant.label.c_str(), median(variant.images_per_s),
                median(variant.ratios), variant.changed.c_str(), variant.steps.c_str());
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
#ifdef FAULTLINE_BENCH_CUDA
  faultline::register_cuda_backend();
#endif
  const std::string path = argc > 1 && argv[1][0] != '-'
                               ? argv[1]
                               : faultline::bench::find_bundled_model("resnet20.onnx", "FAULTLINE_RESNET20");
  const int64_t rounds = flag(argc, argv, "--rounds", 10);
  const int64_t iterations = flag(argc, argv, "--iterations", 5);
  const int64_t batch = flag(argc, argv, "--batch", 100);
  const int threads = static_cast<int>(flag(argc, argv, "--threads", 2));
  const int64_t reference_images = flag(argc, argv, "--reference-images", 10);
  const int64_t reference_iterations = flag(argc, argv, "--reference-iterations", 1);
  const std::string backends = text_flag(argc, argv, "--backends", "onednn,reference");
  if (rounds < 1 || iterations < 1 || batch < 1 || threads < 0 || reference_images < 1 || reference_iterations < 1)
    fail("--rounds, --iterations, --batch, --reference-images and --reference-iterations must be positive");

  auto model = must(faultline::load_model(path));
  const std::vector<faultline::FaultTarget> targets = must(faultline::list_fault_targets(*model));
  const faultline::FaultList list = must(faultline::parse_fault_list(kFaultList, "bench_injection_overhead faults"));
  const std::vector<faultline::ResolvedFault> resolved = must(faultline::resolve_fault_list(list, targets));

  std::printf("%s, load average %s\n", path.c_str(), load_average().c_str());
  std::printf(
      "faults (sign bit flips in layer2.1.conv1): weight %s (5, 3, 1, 1); activation %s (5, 7, 7), every image\n",
      targets[resolved[kWeightFault].target].name.c_str(), targets[resolved[kActivationFault].target].name.c_str());
  std::stringstream names(backends);
  for (std::string backend; std::getline(names, backend, ',');) {
    if (backend == "reference")
      run_backend(model, targets, list, resolved, backend, reference_images, threads, reference_iterations, rounds);
    else
      run_backend(model, targets, list, resolved, backend, batch, threads, iterations, rounds);
  }
  std::printf("\nload average %s\n", load_average().c_str());
  return 0;
}
