// Clean-inference throughput of the CIFAR-10 ResNet20 (tests/data/models/resnet20.onnx, BN folded) on the oneDNN
// backend: batch 100, 2 threads, the configuration of the peer baseline (benchmarks/peer_compare.sh).
//
//   build/benchmarks/bench_resnet20 [MODEL.onnx] [--benchmark_* flags]
//
// MODEL defaults to $FAULTLINE_RESNET20, else the first of tests/data/models/resnet20.onnx and
// ../tests/data/models/resnet20.onnx that exists (run from the repository root or the build folder).
// Also the hook overhead (see run_driver). Interleave repetitions for a fair comparison:
//   build/benchmarks/bench_resnet20 --benchmark_repetitions=10 --benchmark_enable_random_interleaving=true
// Counters: images/s (a rate over wall time: oneDNN's worker threads are not in the main thread's CPU time)
// and GFLOP/s (2 x multiply-adds of Conv/Gemm per image, from the specialized graph).
#include <benchmark/benchmark.h>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "benchmarks/bench_support.h"
#include "engine/executor.h"
#include "engine/graph_stats.h"
#include "engine/session.h"
#include "frontends/onnx/onnx_import.h"

namespace {

constexpr int64_t kBatch = 100;
constexpr int kThreads = 2;
constexpr const char* kBackend = "onednn";

struct Fixture {
  std::unique_ptr<faultline::Session> session;
  std::vector<faultline::Tensor> inputs;
  std::vector<faultline::Tensor> outputs;
  double flops_per_image = 0;
};

void run_batches(benchmark::State& state, Fixture* fixture) {
  for (auto _ : state) {
    faultline::Status status = fixture->session->run_batch(fixture->inputs, fixture->outputs);
    if (!status.is_ok()) {
      state.SkipWithError(status.message().c_str());
      break;
    }
    benchmark::DoNotOptimize(fixture->outputs.front().raw());
  }
  const double images = static_cast<double>(state.iterations() * kBatch);
  state.counters["images/s"] = benchmark::Counter(images, benchmark::Counter::kIsRate);
  state.counters["GFLOP/s"] = benchmark::Counter(images * fixture->flops_per_image / 1e9, benchmark::Counter::kIsRate);
  state.counters["batch"] = static_cast<double>(kBatch);
  state.counters["threads"] = kThreads;
}

// Hook overhead: the same batch driven three ways. `steps` calls run_step in a plain loop (an engine
// without hooks); `execute` is the executor with no observer (hooks compiled in, none armed: the normal
// path); `idle_observer` gives an observer that does nothing a turn before and after every step (the cost
// of the hook calls themselves). Inputs are written and outputs read the same way in all three.
class IdleObserver final : public faultline::StepObserver {
 public:
  faultline::Status before_step(faultline::CompiledModel&, size_t) override { return faultline::Status::ok(); }
  faultline::Status after_step(faultline::CompiledModel&, size_t) override { return faultline::Status::ok(); }
};

enum class Driver { kSteps, kExecute, kIdleObserver };

void run_driver(benchmark::State& state, Fixture* fixture, Driver driver) {
  faultline::CompiledModel& model = fixture->session->compiled();
  const faultline::Graph& graph = model.graph();
  IdleObserver idle;
  for (auto _ : state) {
    for (size_t i = 0; i < fixture->inputs.size(); ++i) (void)model.write_value(graph.inputs()[i], fixture->inputs[i]);
    faultline::Status status;
    switch (driver) {
      case Driver::kSteps:
        for (size_t i = 0; i < model.num_steps(); ++i) model.run_step(i);
        break;
      case Driver::kExecute: status = faultline::execute(model); break;
      case Driver::kIdleObserver: status = faultline::execute(model, &idle); break;
    }
    if (status.is_ok()) status = model.read_value(graph.outputs()[0], fixture->outputs[0]);
    if (!status.is_ok()) {
      state.SkipWithError(status.message().c_str());
      break;
    }
    benchmark::DoNotOptimize(fixture->outputs.front().raw());
  }
  state.counters["images/s"] = benchmark::Counter(static_cast<double>(state.iterations() * kBatch),
                                                  benchmark::Counter::kIsRate);
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (argc > 2) {
    std::fprintf(stderr, "usage: %s [MODEL.onnx] [--benchmark_* flags]\n", argv[0]);
    return 2;
  }
  const std::string path =
      argc == 2 ? argv[1] : faultline::bench::find_bundled_model("resnet20.onnx", "FAULTLINE_RESNET20");

  auto graph = faultline::import_onnx_file(path);
  if (!graph.is_ok()) {
    std::fprintf(stderr, "bench_resnet20: %s\n", graph.status().message().c_str());
    return 1;
  }
  auto model = std::make_shared<const faultline::Graph>(std::move(graph).value());
  faultline::SessionOptions options;
  options.backend = kBackend;
  options.batch = kBatch;
  options.threads = kThreads;
  auto session = faultline::Session::create(model, options);
  if (!session.is_ok()) {
    std::fprintf(stderr, "bench_resnet20: %s\n", session.status().message().c_str());
    return 1;
  }
  Fixture fixture;
  fixture.session = std::move(session).value();
  for (faultline::ValueId id : model->inputs())
    fixture.inputs.push_back(faultline::bench::random_images(model->value(id), kBatch));
  fixture.flops_per_image =
      2.0 * static_cast<double>(faultline::count_macs(fixture.session->compiled().graph())) / kBatch;
  faultline::Status warm_up = fixture.session->run_batch(fixture.inputs, fixture.outputs);
  if (!warm_up.is_ok()) {
    std::fprintf(stderr, "bench_resnet20: %s\n", warm_up.message().c_str());
    return 1;
  }

  benchmark::AddCustomContext("model", path);
  benchmark::RegisterBenchmark("ResNet20/onednn/batch:100/threads:2", run_batches, &fixture)
      ->Unit(benchmark::kMillisecond)
      ->UseRealTime();
  fixture.outputs.resize(1);
  for (auto [name, driver] : {std::pair{"hooks/steps_no_executor", Driver::kSteps},
                              std::pair{"hooks/execute_no_observer", Driver::kExecute},
                              std::pair{"hooks/execute_idle_observer", Driver::kIdleObserver}}) {
    benchmark::RegisterBenchmark(name, [driver = driver](benchmark::State& state, Fixture* f) { run_driver(state, f, driver); },
                                 &fixture)
        ->Unit(benchmark::kMillisecond)
        ->UseRealTime();
  }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
