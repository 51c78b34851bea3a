// How a campaign's cost grows with the depth of the faulted layer: for every Conv/Gemm layer of a model, K
// random weight faults in that layer and K random activation faults at its output, each replayed over N images
// twice, with incremental passes (the default) and with full passes, on the same FaultReplayer settings a
// campaign uses. Prints, per layer, fault-images/s both ways, their ratio and the share of steps recomputed;
// then the whole campaign time against the number of faults (golden pass included).
//
//   build/benchmarks/bench_fault_depth [MODEL.onnx] [--images N] [--faults K] [--threads T] [--batch B]
//
// MODEL defaults to tests/data/models/resnet20_bn.onnx (BatchNorm kept, PyTorch names); the images are N(0, 1)
// with a fixed seed (the work does not depend on their values). Defaults: N = 100, K = 10, T = 2, B = 100.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "benchmarks/bench_support.h"
#include "faults/fault_generator.h"
#include "faults/fault_list.h"
#include "faults/fault_replay.h"
#include "faults/fault_targets.h"
#include "frontends/load_model.h"

namespace {

using faultline::FaultList;
using faultline::FaultReplayer;
using faultline::ReplayOptions;
using faultline::ResolvedFault;

struct Timing {
  double seconds = 0;
  double steps_share = 1;
};

// Seconds to run every fault of `list` over `input` (after the golden pass, which is not counted).
Timing time_faults(const std::shared_ptr<const faultline::Graph>& model, const faultline::SessionOptions& options,
                   const FaultList& list, const std::vector<faultline::FaultTarget>& targets,
                   const faultline::Tensor& input, bool incremental, bool include_golden = false) {
  auto resolved = faultline::resolve_fault_list(list, targets);
  if (!resolved.is_ok()) {
    std::fprintf(stderr, "bench_fault_depth: %s\n", resolved.status().message().c_str());
    std::exit(1);
  }
  ReplayOptions replay;
  replay.incremental = incremental;
  const auto start = std::chrono::steady_clock::now();
  auto replayer = FaultReplayer::create(model, options, list, *resolved, targets, input, {}, replay);
  if (!replayer.is_ok() || !(*replayer)->golden().is_ok()) {
    std::fprintf(stderr, "bench_fault_depth: cannot plan the replay\n");
    std::exit(1);
  }
  const auto after_golden = std::chrono::steady_clock::now();
  for (size_t f = 0; f < resolved->size(); ++f) {
    auto out = (*replayer)->run(f);
    if (!out.is_ok()) {
      std::fprintf(stderr, "bench_fault_depth: %s\n", out.status().message().c_str());
      std::exit(1);
    }
  }
  const auto end = std::chrono::steady_clock::now();
  Timing timing;
  timing.seconds = std::chrono::duration<double>(end - (include_golden ? start : after_golden)).count();
  const faultline::ReplayStats& stats = (*replayer)->stats();
  if (stats.steps_total > 0)
    timing.steps_share = static_cast<double>(stats.steps_run) / static_cast<double>(stats.steps_total);
  return timing;
}

int64_t flag(int argc, char** argv, const std::string& name, int64_t fallback) {
  for (int i = 1; i + 1 < argc; ++i)
    if (argv[i] == name) return std::atoll(argv[i + 1]);
  return fallback;
}

}  // namespace

int main(int argc, char** argv) {
  std::string path = faultline::bench::find_bundled_model("resnet20_bn.onnx");
  if (argc > 1 && argv[1][0] != '-') path = argv[1];
  const int64_t images = flag(argc, argv, "--images", 100);
  const int64_t per_layer = flag(argc, argv, "--faults", 10);
  faultline::SessionOptions options;
  options.batch = flag(argc, argv, "--batch", 100);
  options.threads = static_cast<int>(flag(argc, argv, "--threads", 2));

  auto model = faultline::load_model(path);
  if (!model.is_ok()) {
    std::fprintf(stderr, "bench_fault_depth: %s\n", model.status().message().c_str());
    return 1;
  }
  auto targets = faultline::list_fault_targets(**model);
  if (!targets.is_ok()) {
    std::fprintf(stderr, "bench_fault_depth: %s\n", targets.status().message().c_str());
    return 1;
  }
  const faultline::Tensor input = faultline::bench::random_images((*model)->value((*model)->inputs()[0]), images);

  // The Conv/Gemm layers with a weight target, in model order.
  std::vector<std::string> layers;
  for (const faultline::FaultTarget& t : *targets)
    if (t.kind == faultline::TargetKind::kWeight && t.shape.size() >= 2 && (t.op == "Conv" || t.op == "Gemm"))
      layers.push_back(t.layer);

  std::printf("%s: %lld images, batch %lld, %d threads, %lld faults per layer and kind\n", path.c_str(),
              static_cast<long long>(images), static_cast<long long>(options.batch), options.threads,
              static_cast<long long>(per_layer));
  std::printf("%-20s %-10s %14s %14s %7s %9s\n", "layer", "faults", "incremental", "full passes", "ratio", "steps");
  for (const std::string& layer : layers) {
    for (faultline::SiteTarget kind : {faultline::SiteTarget::kWeight, faultline::SiteTarget::kActivation}) {
      faultline::GeneratorOptions generator_options;
      generator_options.target = kind;
      generator_options.layers = {layer};
      generator_options.seed = 7;
      auto list = faultline::generate_random_faults(*targets, generator_options, per_layer);
      if (!list.is_ok()) continue;  // a layer whose output is not an activation site (fused away)
      const Timing fast = time_faults(*model, options, *list, *targets, input, true);
      const Timing full = time_faults(*model, options, *list, *targets, input, false);
      const double fault_images = static_cast<double>(per_layer * images);
      std::printf("%-20s %-10s %14.0f %14.0f %6.1fx %8.0f%%\n", layer.c_str(),
                  kind == faultline::SiteTarget::kWeight ? "weight" : "activation", fault_images / fast.seconds,
                  fault_images / full.seconds, full.seconds / fast.seconds, 100 * fast.steps_share);
      std::fflush(stdout);
    }
  }

  std::printf("\ncampaign time (golden pass included) against the number of random weight faults:\n");
  std::printf("%8s %14s %14s\n", "faults", "incremental s", "full s");
  for (int64_t count : {10, 40, 160}) {
    faultline::GeneratorOptions generator_options;
    generator_options.seed = 11;
    auto list = faultline::generate_random_faults(*targets, generator_options, count);
    if (!list.is_ok()) return 1;
    const Timing fast = time_faults(*model, options, *list, *targets, input, true, true);
    const Timing full = time_faults(*model, options, *list, *targets, input, false, true);
    std::printf("%8lld %14.2f %14.2f\n", static_cast<long long>(count), fast.seconds, full.seconds);
    std::fflush(stdout);
  }
  return 0;
}
