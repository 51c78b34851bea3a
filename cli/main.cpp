// faultline: the command-line entry point. One line per error, non-zero exit on failure.
#include <cstdio>
#include <cstring>
#include <string>

#include "cli/commands.h"
#ifdef FAULTLINE_HAVE_CUDA
#include "cli/cuda_module.h"
#endif

namespace {

constexpr const char* kUsage =
    "faultline - an inference engine with built-in fault injection\n"
    "\n"
    "usage: faultline <command> [options]\n"
    "\n"
    "commands:\n"
    "  run EXPERIMENT.yaml                run a fault-injection campaign described by a YAML file\n"
    "  merge SHARD_DIR...                 combine the shards of a campaign run with 'run --shard I/N'\n"
    "  layers MODEL                       list every weight and activation a fault can target\n"
    "  infer MODEL --input X.npy --output Y.npy   run a model on a NumPy array\n"
    "  bench MODEL                        measure clean inference throughput (images/s)\n"
    "  compare EXPECTED.npy ACTUAL.npy    compare two output arrays (max difference, top-1 agreement)\n"
    "  inject MODEL --faults LIST.csv --input X.npy --output Y.npy   replay a fault list\n"
    "  faults generate MODEL ... -o LIST.csv   write a fault list (random, exhaustive, statistical, ber)\n"
    "  simulate MODEL.nir --input X.npy --output Y.npy   run a spiking network (NIR) over time steps\n"
    "\n"
    "Run 'faultline <command> --help' for a command's options.\n";

struct Command {
  const char* name;
  faultline::Status (*run)(int, char**);
};
constexpr Command kCommands[] = {
    {"layers", faultline::cli::command_layers},
    {"infer", faultline::cli::command_infer},
    {"bench", faultline::cli::command_bench},
    {"compare", faultline::cli::command_compare},
    {"run", faultline::cli::command_run},
    {"merge", faultline::cli::command_merge},
    {"inject", faultline::cli::command_inject},
    {"faults", faultline::cli::command_faults},
    {"simulate", faultline::cli::command_simulate},
};

}  // namespace

int main(int argc, char** argv) {
#ifdef FAULTLINE_HAVE_CUDA
  faultline::cli::register_cuda_module();
#endif
  if (argc < 2 || std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0 ||
      std::strcmp(argv[1], "help") == 0) {
    std::fputs(kUsage, argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  for (const Command& command : kCommands) {
    if (std::strcmp(argv[1], command.name) != 0) continue;
    faultline::Status status = command.run(argc, argv);
    if (status.is_ok()) return 0;
    std::fprintf(stderr, "faultline %s: %s\n", command.name, status.message().c_str());
    return 1;
  }
  std::fprintf(stderr, "faultline: unknown command '%s' (run 'faultline --help')\n", argv[1]);
  return 2;
}
