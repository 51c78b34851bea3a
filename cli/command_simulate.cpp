#include <cstdio>
#include <string>

#include "cli/arguments.h"
#include "cli/commands.h"
#include "engine/npy.h"
#include "engine/spiking/spike_encoding.h"
#include "engine/spiking/spiking_session.h"
#include "frontends/load_model.h"

namespace faultline::cli {

namespace {
constexpr const char* kHelp =
    "usage: faultline simulate MODEL.nir --input X.npy --output Y.npy [options]\n"
    "\n"
    "Runs a spiking network (a NIR file) over T time steps and writes its output to Y.npy (float32). X.npy holds\n"
    "either per-step inputs [T, N, ...] (events or spikes: --encoding events, the default) or static inputs\n"
    "[N, ...] that are encoded into T steps (--encoding rate: Bernoulli spikes with probability clamp(x, 0, 1),\n"
    "seeded; --encoding direct: x at every step). Every sample starts from zero state. Neurons follow NIR's\n"
    "equations with forward Euler steps of --dt (see kernels/reference/neuron_kernels.h).\n"
    "  --input X.npy      input array (any numeric dtype; converted to float32)\n"
    "  --output Y.npy     output array, written only when the whole run succeeded\n"
    "  --encoding E       events | rate | direct (default events)\n"
    "  --steps T          time steps of rate / direct encoding (required for them)\n"
    "  --seed S           seed of the rate encoding (default 0)\n"
    "  --dt DT            Euler time step (default 1e-4: snnTorch exports map back to beta = 1 - dt/tau;\n"
    "                     Norse uses 1e-3, Sinabs' discrete IAF 1)\n"
    "  --reset R          zero (to v_reset, NIR) | subtract (v -= v_threshold, snnTorch's order) (default zero)\n"
    "  --record W         counts: [N, out] summed over T (default) | steps: [T, N, out] per step |\n"
    "                     membrane: [T, N, out] membrane potential of the output neurons\n"
    "  --backend B        reference | onednn | cuda (default reference)\n"
    "  --batch N          samples per executed batch (default 32)\n"
    "  --threads T        worker threads (default: all cores)\n";

Result<double> parse_positive(const std::string& option, const std::string& text) {
  try {
    size_t used = 0;
    const double value = std::stod(text, &used);
    if (used == text.size() && value > 0.0) return value;
  } catch (...) {
  }
  return invalid_argument("option --" + option + ": '" + text + "' is not a positive number");
}
}  // namespace

Status command_simulate(int argc, char** argv) {
  FL_ASSIGN_OR_RETURN(Arguments args, Arguments::parse(argc, argv, 2,
                                                       {{"input", "output", "encoding", "steps", "seed", "dt", "reset",
                                                         "record", "backend", "batch", "threads"},
                                                        {}}));
  if (args.flag("help")) {
    std::fputs(kHelp, stdout);
    return Status::ok();
  }
  if (args.positional().size() != 1) return invalid_argument("expects one MODEL argument (see --help)");
  auto input_path = args.get("input");
  auto output_path = args.get("output");
  if (!input_path) return invalid_argument("option --input is required");
  if (!output_path) return invalid_argument("option --output is required");

  SpikingOptions options;
  options.backend = args.get_or("backend", "reference");
  FL_ASSIGN_OR_RETURN(options.batch, args.get_int("batch", 32, 1, 1 << 20));
  FL_ASSIGN_OR_RETURN(int64_t threads, args.get_int("threads", 0, 0, 1024));
  options.threads = static_cast<int>(threads);
  FL_ASSIGN_OR_RETURN(double dt, parse_positive("dt", args.get_or("dt", "1e-4")));
  options.dt = static_cast<float>(dt);
  const std::string reset = args.get_or("reset", "zero");
  if (reset != "zero" && reset != "subtract")
    return invalid_argument("option --reset: '" + reset + "' is not zero or subtract");
  options.reset = reset == "zero" ? ResetMode::kToReset : ResetMode::kSubtract;
  const std::string record_name = args.get_or("record", "counts");
  SpikeRecord record;
  if (record_name == "counts")
    record = SpikeRecord::kCounts;
  else if (record_name == "steps")
    record = SpikeRecord::kSteps;
  else if (record_name == "membrane")
    record = SpikeRecord::kMembrane;
  else
    return invalid_argument("option --record: '" + record_name + "' is not counts, steps or membrane");
  const std::string encoding = args.get_or("encoding", "events");
  if (encoding != "events" && encoding != "rate" && encoding != "direct")
    return invalid_argument("option --encoding: '" + encoding + "' is not events, rate or direct");
  if (encoding == "events" && args.get("steps"))
    return invalid_argument("option --steps: event inputs bring their own time steps (the first axis of X)");
  FL_ASSIGN_OR_RETURN(int64_t steps, args.get_int("steps", 0, 0, 1 << 20));
  if (encoding != "events" && steps < 1)
    return invalid_argument("option --steps is required with --encoding " + encoding);
  FL_ASSIGN_OR_RETURN(int64_t seed, args.get_int("seed", 0, 0, INT64_MAX));

  FL_ASSIGN_OR_RETURN(auto model, load_model(args.positional()[0]));
  FL_ASSIGN_OR_RETURN(auto session, SpikingSession::create(model, options));
  if (session->data_inputs().size() != 1)
    return unsupported(model->source + ": simulate takes models with one input; this one has " +
                       std::to_string(session->data_inputs().size()));
  FL_ASSIGN_OR_RETURN(Tensor input, read_npy(*input_path));
  Result<Tensor> per_step = encoding == "rate"     ? rate_encode(input, steps, static_cast<uint64_t>(seed))
                            : encoding == "direct" ? direct_encode(input, steps)
                                                   : Result<Tensor>(std::move(input));
  if (!per_step.is_ok()) return per_step.status().with_context(*input_path);
  auto outputs = session->run({*per_step}, record);
  if (!outputs.is_ok()) return outputs.status().with_context(*input_path);
  if (outputs->size() > 1)
    std::fprintf(stderr, "faultline simulate: note: the model has %zu outputs; writing the first ('%s')\n",
                 outputs->size(), session->model_outputs().front().c_str());
  return write_npy(*output_path, outputs->front());
}

}  // namespace faultline::cli
