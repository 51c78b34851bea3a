#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>

#include "cli/arguments.h"
#include "cli/commands.h"
#include "cli/session_options.h"
#include "engine/executor.h"
#include "engine/graph_stats.h"
#include "frontends/load_model.h"

namespace faultline::cli {

namespace {
constexpr const char* kHelp =
    "usage: faultline bench MODEL [options]\n"
    "\n"
    "Measures clean inference throughput on random inputs (normal, fixed seed): one warm-up batch, then\n"
    "--repeat timed runs of --images images each. Prints images/s (best and median) and GFLOP/s.\n"
    "  --images M    images per timed run (default 1000; rounded up to whole batches)\n"
    "  --repeat R    timed runs (default 3)\n"
    "  --resident    (cuda) the batch is copied to the device once and stays there: the timed runs measure the\n"
    "                kernels and the logits' copy back, as PyTorch's usual figure with its input on the GPU;\n"
    "                without it every batch is copied from host memory first\n";

Result<Tensor> random_batch(const Value& input, int64_t batch) {
  Shape shape = input.shape;
  for (int64_t& d : shape)
    if (d == kDynamicDim) d = batch;
  FL_ASSIGN_OR_RETURN(Tensor t, Tensor::allocate(DType::kFloat32, shape));
  std::mt19937 generator(1234);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = normal(generator);
  return t;
}
}  // namespace

Status command_bench(int argc, char** argv) {
  FL_ASSIGN_OR_RETURN(Arguments args, Arguments::parse(argc, argv, 2, with_session_options({{"images", "repeat"}, {"resident"}})));
  if (args.flag("help")) {
    std::fputs(kHelp, stdout);
    std::printf(kSessionOptionsHelp, 100LL);
    return Status::ok();
  }
  if (args.positional().size() != 1) return invalid_argument("expects one MODEL argument (see --help)");
  FL_ASSIGN_OR_RETURN(SessionOptions options, session_options_from(args, 100));
  FL_ASSIGN_OR_RETURN(int64_t images, args.get_int("images", 1000, 1, int64_t{1} << 30));
  FL_ASSIGN_OR_RETURN(int64_t repeat, args.get_int("repeat", 3, 1, 1000));

  const bool resident = args.flag("resident");
  if (resident && options.backend != "cuda")
    return invalid_argument("--resident needs --backend cuda: the " + options.backend +
                            " backend reads its inputs from host memory anyway");
  FL_ASSIGN_OR_RETURN(auto model, load_model(args.positional()[0]));
  FL_ASSIGN_OR_RETURN(auto session, Session::create(model, options));
  const int64_t batch = session->options().batch;
  std::vector<Tensor> inputs;
  for (ValueId id : model->inputs()) {
    FL_ASSIGN_OR_RETURN(Tensor t, random_batch(model->value(id), batch));
    inputs.push_back(std::move(t));
  }
  const int64_t batches = (images + batch - 1) / batch;
  std::vector<Tensor> outputs;
  FL_RETURN_IF_ERROR(session->run_batch(inputs, outputs));  // warm-up (and, --resident, the batch's one copy)
  // --resident: the plan runs again on the inputs it holds (the cuda backend keeps graph inputs for the whole
  // pass), and only the outputs are read back.
  CompiledModel& compiled = session->compiled();
  auto run_batch = [&]() -> Status {
    if (!resident) return session->run_batch(inputs, outputs);
    FL_RETURN_IF_ERROR(execute(compiled));
    const std::vector<ValueId>& graph_outputs = compiled.graph().outputs();
    outputs.resize(graph_outputs.size());
    for (size_t o = 0; o < graph_outputs.size(); ++o) FL_RETURN_IF_ERROR(compiled.read_value(graph_outputs[o], outputs[o]));
    return Status::ok();
  };

  std::vector<double> rates;
  for (int64_t r = 0; r < repeat; ++r) {
    auto start = std::chrono::steady_clock::now();
    for (int64_t b = 0; b < batches; ++b) FL_RETURN_IF_ERROR(run_batch());
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    rates.push_back(static_cast<double>(batches * batch) / seconds);
  }
  std::sort(rates.begin(), rates.end());
  const double best = rates.back(), median = rates[rates.size() / 2];
  const double flops_per_image = 2.0 * static_cast<double>(count_macs(session->compiled().graph())) / batch;
  std::printf("model      %s\nbackend    %s\nbatch      %lld\nthreads    %s\nimages     %lld x %lld runs\n",
              model->source.c_str(), options.backend.c_str(), static_cast<long long>(batch),
              options.threads ? std::to_string(options.threads).c_str() : "all cores",
              static_cast<long long>(batches * batch), static_cast<long long>(repeat));
  std::printf("input      %s\n", resident ? "resident on the device (copied once)" : "copied from host memory per batch");
  std::printf("images/s   %.1f best, %.1f median\nGFLOP/s    %.1f best (%.2f MFLOP per image)\n", best, median,
              best * flops_per_image / 1e9, flops_per_image / 1e6);
  return Status::ok();
}

}  // namespace faultline::cli
