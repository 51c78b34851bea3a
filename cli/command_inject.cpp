#include <chrono>
#include <cstdio>
#include <limits>

#include "cli/arguments.h"
#include "cli/commands.h"
#include "cli/session_options.h"
#include "engine/npy.h"
#include "faults/fault_list.h"
#include "faults/fault_replay.h"
#include "frontends/load_model.h"

namespace faultline::cli {

namespace {
constexpr const char* kHelp =
    "usage: faultline inject MODEL --faults LIST.csv --input X.npy --output Y.npy [options]\n"
    "\n"
    "Replays every fault of LIST.csv, one at a time, on every image of X.npy and writes the model's first\n"
    "output for each fault to Y.npy as float32 [faults, images, outputs...]. The whole list is read and\n"
    "checked against the model before anything runs (errors name the CSV line); Y.npy is written only when\n"
    "every fault ran. A Batch column names an image of X.npy (0-based); a Persistence column arms a fault for\n"
    "every image (permanent), for that image alone (inference) or for the --batch it runs in (batch).\n"
    "  --faults LIST.csv   fault list (see 'faultline faults generate')\n"
    "  --input X.npy       input array, images first\n"
    "  --output Y.npy      output array\n"
    "  --seed S            base seed of ber / random faults (default 51195)\n";
}  // namespace

Status command_inject(int argc, char** argv) {
  FL_ASSIGN_OR_RETURN(
      Arguments args,
      Arguments::parse(argc, argv, 2, with_session_options({{"faults", "input", "output", "seed"}, {}})));
  if (args.flag("help")) {
    std::fputs(kHelp, stdout);
    std::printf(kSessionOptionsHelp, 100LL);
    return Status::ok();
  }
  if (args.positional().size() != 1) return invalid_argument("expects one MODEL argument (see --help)");
  for (const char* required : {"faults", "input", "output"})
    if (!args.get(required)) return invalid_argument(std::string("option --") + required + " is required");
  const std::string faults_path = *args.get("faults");
  const std::string input_path = *args.get("input");
  const std::string output_path = *args.get("output");
  FL_ASSIGN_OR_RETURN(SessionOptions options, session_options_from(args, 100));
  FL_ASSIGN_OR_RETURN(int64_t seed, args.get_int("seed", 51195, 0, std::numeric_limits<int64_t>::max()));

  FL_ASSIGN_OR_RETURN(auto model, load_model(args.positional()[0]));
  if (model->inputs().size() != 1)
    return unsupported(model->source + ": inject takes models with one input; this one has " +
                       std::to_string(model->inputs().size()));
  FL_ASSIGN_OR_RETURN(std::vector<FaultTarget> targets, list_fault_targets(*model));
  FL_ASSIGN_OR_RETURN(FaultList list, read_fault_list(faults_path));
  FL_ASSIGN_OR_RETURN(std::vector<ResolvedFault> resolved, resolve_fault_list(list, targets));
  FL_ASSIGN_OR_RETURN(Tensor input, read_npy(input_path));

  const auto start = std::chrono::steady_clock::now();
  InjectorOptions injector_options;
  injector_options.seed = static_cast<uint64_t>(seed);
  FL_ASSIGN_OR_RETURN(Tensor outputs, replay_faults(model, options, list, resolved, targets, input, injector_options));
  FL_RETURN_IF_ERROR(write_npy(output_path, outputs));
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("%zu faults x %lld images in %.2f s -> %s\n", resolved.size(),
              static_cast<long long>(input.rank() > 0 ? input.dim(0) : 1), seconds, output_path.c_str());
  return Status::ok();
}

}  // namespace faultline::cli
