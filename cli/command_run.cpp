#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <set>

#include "cli/arguments.h"
#include "cli/commands.h"
#include "engine/spiking/spike_encoding.h"
#include "faults/campaign.h"
#include "faults/campaign_shard.h"
#include "faults/error_rate_sweep.h"
#include "faults/experiment_config.h"
#include "faults/fault_generator.h"
#include "faults/fault_targets.h"
#include "frontends/load_model.h"

namespace faultline::cli {

namespace {
constexpr const char* kHelp =
    "usage: faultline run EXPERIMENT.yaml [--resume] [--shard I/N] [--save-outputs] [--full-passes] [--quiet]\n"
    "\n"
    "Runs a fault-injection campaign described by a YAML file (see README, 'Experiments'): a golden pass over\n"
    "the dataset, then every fault of the list (or the generated one) over every image, writing to `output`:\n"
    "  faults.csv    the fault list that ran\n"
    "  golden.csv    fault-free accuracy (top-1, top-5) when the dataset has labels\n"
    "  summary.csv   one row per fault: the fault-list columns, then n_injections, masked, non_critical,\n"
    "                critical, due, top_1_correct, top_5_correct, top_1_robust, top_5_robust\n"
    "  layers.csv, bits.csv   the outcomes per layer and per bit, with 99 % margins\n"
    "  outputs.h5    with --save-outputs: golden [images, ...], faulty [faults, images, ...], injection [faults]\n"
    "  spiking.csv   spiking models (a `spiking:` section; also with spiking_report: true): SpikingJET's table\n"
    "                per layer: fully_masked, SDC_1, SDC_0_5%, SDC_5_10%, SDC_10_20%, SDC_20, facc, acc\n"
    "With faults.error_rate (the bit-error-rate sweep) it writes golden.csv, error_rate_detail.csv (one row per\n"
    "repetition) and error_rate.csv (per exponent: mean and spread of top-1/top-5 accuracy, mean outcomes).\n"
    "Every key is checked before anything runs. Rows are appended and flushed one fault at a time: a stopped\n"
    "campaign continues with --resume, and the finished files equal an uninterrupted run's.\n"
    "  --resume        continue the campaign (or the shard) whose results are in `output`\n"
    "  --shard I/N     run only the faults at list positions k with k mod N == I (0 <= I < N), into\n"
    "                  `output`/shards/I-of-N/; combine the N shards with 'faultline merge'\n"
    "  --save-outputs  keep the golden and faulty output vectors in outputs.h5 (also YAML save_outputs: true)\n"
    "  --full-passes   run every fault through the whole model instead of recomputing only what it changes\n"
    "                  from the kept golden values (the results are the same bytes; for checking and timing)\n"
    "  --quiet         no header and no progress lines (the result lines are still printed)\n";

// The experiment's list: read, or generated with inference / batch faults' images drawn over the `images` of
// the dataset.
Result<FaultList> fault_list_for(const ExperimentConfig& config, const std::vector<FaultTarget>& targets,
                                 int64_t images) {
  if (config.faults.list) return read_fault_list(*config.faults.list);
  const FaultGeneration& generation = *config.faults.generate;
  GeneratorOptions options = generation.options;
  options.images = images;
  if (generation.count) return generate_random_faults(targets, options, *generation.count);
  if (generation.statistical)
    return generate_statistical_faults(targets, options, generation.statistical->scope, generation.statistical->sample);
  return generate_exhaustive_faults(targets, options);
}

// A progress line: a rewritten line on a terminal, a line every 10 s otherwise.
class ProgressPrinter {
 public:
  // `unit`: what faults_done counts ("faults", or "runs" for the error-rate sweep).
  // The rate and ETA count from construction (the golden pass included): faults finish in groups, so the
  // time between the first rows says nothing.
  explicit ProgressPrinter(int64_t images, const char* unit = "faults")
      : images_(images), unit_(unit), terminal_(::isatty(STDERR_FILENO)), start_(std::chrono::steady_clock::now()) {}

  CampaignControl operator()(const CampaignProgress& p) {
    const auto now = std::chrono::steady_clock::now();
    const double seconds = std::chrono::duration<double>(now - start_).count();
    const bool last = p.faults_done == p.faults_total;
    if (!terminal_ && !last && std::chrono::duration<double>(now - last_print_).count() < 10.0) return CampaignControl::kContinue;
    last_print_ = now;
    const double ran = static_cast<double>(p.faults_done - p.faults_resumed) + p.faults_in_flight;
    const double rate = seconds > 0 ? ran / seconds : 0.0;
    const double eta = rate > 0 ? (static_cast<double>(p.faults_total - p.faults_done) - p.faults_in_flight) / rate : 0.0;
    std::fprintf(stderr, "%s%lld/%lld %s  %.0f fault-images/s  ETA %.0f s  critical images %lld%s",
                 terminal_ ? "\r" : "", static_cast<long long>(p.faults_done), static_cast<long long>(p.faults_total),
                 unit_, rate * static_cast<double>(images_), eta, static_cast<long long>(p.critical),
                 terminal_ && !last ? "   " : "\n");
    return CampaignControl::kContinue;
  }

 private:
  int64_t images_;
  const char* unit_;
  bool terminal_;
  std::chrono::steady_clock::time_point start_, last_print_;
};

void print_results(const CampaignResult& result) {
  if (result.golden.labelled)
    std::printf("golden accuracy: top-1 %.2f %%, top-5 %.2f %% on %lld images\n", 100 * result.golden.top_1_accuracy(),
                100 * result.golden.top_5_accuracy(), static_cast<long long>(result.golden.n_images));
  FaultOutcome total;
  for (const FaultOutcome& o : result.outcomes) total += o;
  const double n = total.n_injections ? static_cast<double>(total.n_injections) : 1.0;
  const long long images = static_cast<long long>(result.golden.n_images);
  if (total.n_injections == static_cast<int64_t>(result.outcomes.size()) * images)
    std::printf("%zu faults x %lld images: ", result.outcomes.size(), images);
  else  // faults on one image or one batch count those images only
    std::printf("%zu faults, %lld fault-images: ", result.outcomes.size(), static_cast<long long>(total.n_injections));
  std::printf("masked %.2f %%, non-critical %.2f %%, critical %.2f %%, DUE %.2f %%\n", 100 * total.masked / n,
              100 * total.non_critical / n, 100 * total.critical / n, 100 * total.due / n);
  std::printf("results: %s, %s, %s%s%s\n", result.summary_path.c_str(), result.layers_path.c_str(),
              result.bits_path.c_str(), result.outputs_path.empty() ? "" : ", ", result.outputs_path.c_str());
  if (!result.spiking_path.empty()) std::printf("spiking analysis: %s\n", result.spiking_path.c_str());
  for (const std::string& path : result.kernel_report_paths) std::printf("kernel-level report: %s\n", path.c_str());
}

void print_sweep_results(const ErrorRateResult& result) {
  if (result.golden.labelled)
    std::printf("golden accuracy: top-1 %.2f %%, top-5 %.2f %% on %lld images\n", 100 * result.golden.top_1_accuracy(),
                100 * result.golden.top_5_accuracy(), static_cast<long long>(result.golden.n_images));
  for (size_t first = 0; first < result.runs.size();) {
    size_t end = first;
    double top1 = 0.0, critical = 0.0;
    while (end < result.runs.size() && result.runs[end].exponent == result.runs[first].exponent) {
      const FaultOutcome& o = result.runs[end].outcome;
      top1 += o.n_injections ? static_cast<double>(o.top_1_correct) / static_cast<double>(o.n_injections) : 0.0;
      critical += o.n_injections ? static_cast<double>(o.critical) / static_cast<double>(o.n_injections) : 0.0;
      ++end;
    }
    const double n = static_cast<double>(end - first);
    if (result.golden.labelled)
      std::printf("error rate 1e%d: top-1 %.2f %%, critical %.2f %% (mean of %zu runs)\n", result.runs[first].exponent,
                  100 * top1 / n, 100 * critical / n, end - first);
    else
      std::printf("error rate 1e%d: critical %.2f %% (mean of %zu runs)\n", result.runs[first].exponent,
                  100 * critical / n, end - first);
    first = end;
  }
  std::printf("results: %s, %s\n", result.detail_path.c_str(), result.error_rate_path.c_str());
}

// The [T, N, features...] input of a spiking campaign: the images (flattened to the model's data input when
// their element counts agree, as snnTorch's Flatten does) encoded per `spiking`, or, for events, the
// dataset's [N, T, ...] spikes with the first two axes swapped.
Result<Tensor> spiking_input(const ExperimentConfig& config, const Graph& model, const Tensor& images) {
  const SpikingExperiment& sp = *config.spiking;
  std::set<std::string> state_inputs;
  for (const StateLink& link : model.state_links) state_inputs.insert(link.state_input);
  const Value* data = nullptr;
  for (ValueId id : model.inputs())
    if (!state_inputs.count(model.value(id).name)) data = &model.value(id);
  if (data == nullptr) return invalid_argument(model.source + ": the spiking model has no data input");
  int64_t features = 1;
  for (size_t d = 1; d < data->shape.size(); ++d) features *= data->shape[d];
  const int64_t n = images.dim(0);
  if (sp.encoding == "events") {
    if (images.rank() < 2) return invalid_argument(config.path + ": spiking.encoding events needs [N, T, ...] inputs");
    const int64_t steps = images.dim(1);
    if (sp.steps && *sp.steps != steps)
      return invalid_argument(config.path + ": spiking.steps: " + std::to_string(*sp.steps) +
                              " differs from the dataset's " + std::to_string(steps) + " time steps");
    if (images.numel() != n * steps * features)
      return invalid_argument(config.path + ": dataset.inputs: event samples " + shape_to_string(images.shape()) +
                              " do not fit the model input " + data->name + " " + shape_to_string(data->shape));
    FL_ASSIGN_OR_RETURN(Tensor out, Tensor::allocate(DType::kFloat32, {steps, n, features}));
    const float* src = images.data<float>();
    float* dst = out.data<float>();
    for (int64_t i = 0; i < n; ++i)
      for (int64_t t = 0; t < steps; ++t)
        std::memcpy(dst + (t * n + i) * features, src + (i * steps + t) * features,
                    static_cast<size_t>(features) * sizeof(float));
    return out;
  }
  if (images.numel() != n * features)
    return invalid_argument(config.path + ": dataset.inputs: samples " + shape_to_string(images.shape()) +
                            " do not fit the model input " + data->name + " " + shape_to_string(data->shape));
  FL_ASSIGN_OR_RETURN(Tensor flat, images.reshaped({n, features}));
  return sp.encoding == "rate" ? rate_encode(flat, *sp.steps, sp.seed) : direct_encode(flat, *sp.steps);
}

Status run_sweep(const Arguments& args, const ExperimentConfig& config, std::shared_ptr<const Graph> model,
                 Dataset dataset, std::vector<FaultTarget> targets) {
  if (args.get("shard")) return invalid_argument("--shard splits a fault list; the error-rate sweep has none");
  if (args.flag("save-outputs") || config.save_outputs)
    return invalid_argument("--save-outputs (save_outputs) keeps a fault list's outputs; the error-rate sweep has none");
  if (!args.flag("quiet")) std::printf("%s\n", describe_experiment(config).c_str());
  ErrorRateSpec spec;
  spec.model = std::move(model);
  spec.options = config.session;
  spec.dataset = std::move(dataset);
  spec.targets = std::move(targets);
  spec.sweep = *config.faults.error_rate;
  spec.seed = config.seed;
  spec.output = config.output;
  spec.resume = args.flag("resume");
  if (!args.flag("quiet")) spec.progress = ProgressPrinter(spec.dataset.images.dim(0), "runs");
  FL_ASSIGN_OR_RETURN(ErrorRateResult result, run_error_rate_sweep(spec));
  print_sweep_results(result);
  return Status::ok();
}
}  // namespace

Status command_run(int argc, char** argv) {
  FL_ASSIGN_OR_RETURN(Arguments args, Arguments::parse(argc, argv, 2, {{"shard"}, {"resume", "quiet", "save-outputs", "full-passes"}}));
  if (args.flag("help")) {
    std::fputs(kHelp, stdout);
    return Status::ok();
  }
  if (args.positional().size() != 1) return invalid_argument("expects one EXPERIMENT.yaml argument (see --help)");
  CampaignShard shard;
  if (auto text = args.get("shard")) {
    FL_ASSIGN_OR_RETURN(shard, parse_shard(*text));
  }
  FL_ASSIGN_OR_RETURN(ExperimentConfig config, load_experiment(args.positional()[0]));

  FL_ASSIGN_OR_RETURN(auto model, load_model(config.model));
  const bool spiking_model = !model->state_links.empty();
  if (spiking_model && !config.spiking)
    return invalid_argument(config.path + ": spiking: " + model->source +
                            " is a spiking model; the experiment needs a spiking section (steps, encoding, ...)");
  if (!spiking_model && config.spiking)
    return invalid_argument(config.path + ": spiking: " + model->source + " is not a spiking model");
  if (spiking_model && (config.faults.error_rate || args.flag("save-outputs") || config.save_outputs))
    return unsupported(config.path +
                       ": a spiking campaign runs a fault list (faults.list or faults.generate), "
                       "without save_outputs");
  if (!spiking_model && model->inputs().size() != 1)
    return unsupported(model->source + ": run takes models with one input; this one has " +
                       std::to_string(model->inputs().size()));
  FL_ASSIGN_OR_RETURN(Dataset dataset, load_dataset(config.dataset));
  std::optional<SpikingCampaign> spiking;
  if (spiking_model) {
    spiking.emplace();
    FL_ASSIGN_OR_RETURN(spiking->input, spiking_input(config, *model, dataset.images));
    spiking->options.backend = config.session.backend;
    spiking->options.batch = config.session.batch;
    spiking->options.threads = config.session.threads;
    spiking->options.dt = config.spiking->dt;
    spiking->options.reset = config.spiking->reset;
  } else {
    const Value& input = model->value(model->inputs()[0]);
    FL_RETURN_IF_ERROR(check_dataset_fits(dataset, input.name, input.shape).with_context(config.path));
  }
  FL_ASSIGN_OR_RETURN(std::vector<FaultTarget> targets, list_fault_targets(*model));
  if (config.faults.error_rate) return run_sweep(args, config, model, std::move(dataset), std::move(targets));
  FL_ASSIGN_OR_RETURN(FaultList list, fault_list_for(config, targets, dataset.images.dim(0)));
  auto resolved = resolve_fault_list(list, targets);
  if (!resolved.is_ok()) return resolved.status();

  if (!args.flag("quiet")) std::printf("%s\n", describe_experiment(config).c_str());
  CampaignSpec spec;
  spec.model = model;
  spec.options = config.session;
  spec.dataset = std::move(dataset);
  spec.list = std::move(list);
  spec.faults = std::move(resolved).value();
  spec.targets = std::move(targets);
  spec.injector_options.seed = config.seed;
  spec.output = config.output;
  spec.resume = args.flag("resume");
  spec.shard = shard;
  spec.save_outputs = args.flag("save-outputs") || config.save_outputs;
  spec.replay.incremental = !args.flag("full-passes");
  if (config.golden_budget_bytes) spec.replay.golden_budget_bytes = *config.golden_budget_bytes;
  spec.spiking = std::move(spiking);
  spec.spiking_report = config.spiking_report;
  if (!args.flag("quiet")) {
    if (shard.sharded())
      std::printf("shard %s: %lld of %zu faults\n", shard_folder_name(shard).c_str(),
                  static_cast<long long>(shard.size_of(static_cast<int64_t>(spec.faults.size()))), spec.faults.size());
    spec.progress = ProgressPrinter(spec.dataset.images.dim(0));
  }
  FL_ASSIGN_OR_RETURN(CampaignResult result, run_campaign(spec));
  print_results(result);
  if (!args.flag("quiet") && !result.replay.full_passes_reason.empty())
    std::printf("full passes: %s\n", result.replay.full_passes_reason.c_str());
  if (!args.flag("quiet") && result.replay.passes > 0) {
    const ReplayStats& r = result.replay;
    std::printf("incremental passes: %.1f %% of the steps recomputed, %.1f %% of the passes stopped early (all "
                "golden); golden values kept: %.0f MB%s\n",
                100.0 * static_cast<double>(r.steps_run) / static_cast<double>(std::max<int64_t>(r.steps_total, 1)),
                100.0 * static_cast<double>(r.stopped_early) / static_cast<double>(r.passes),
                static_cast<double>(r.golden_bytes) / 1e6, r.golden_on_device ? " of device memory" : "");
    if (r.window_steps > 0) {
      const double run = static_cast<double>(std::max<int64_t>(r.steps_run, 1));
      std::printf("partial re-execution: %.1f %% of the recomputed steps ran on part of their output only, a window of "
                  "rows and columns or some images (%.1f %%: the batch's other images had masked the fault)\n",
                  100.0 * static_cast<double>(r.window_steps) / run, 100.0 * static_cast<double>(r.image_steps) / run);
    }
    if (r.channel_steps > 0)
      std::printf("channel re-execution: %lld faulted convolutions recomputed the output channels their faulty "
                  "weights reach\n", static_cast<long long>(r.channel_steps));
    if (r.pass_batch > 0)
      std::printf("smaller passes: one batch's golden values take %.0f MB, more than golden_budget_mb or the %.0f "
                  "MB a pass keeps at most (larger ones ran slower); every value is kept for %lld images at a time "
                  "instead and passes run on %lld images (the same bytes: the first batch's clean outputs are "
                  "equal at both sizes)\n",
                  static_cast<double>(r.all_values_bytes) / 1e6, static_cast<double>(r.pass_batch_cap) / (1 << 20),
                  static_cast<long long>(r.pass_batch), static_cast<long long>(r.pass_batch));
    if (r.checkpoints > 0)
      std::printf("checkpoints: one batch's golden values take %.0f MB, more than golden_budget_mb; the values "
                  "crossing %lld of the %lld step boundaries are kept instead and each fault re-runs from the last "
                  "one before it%s%s%s\n",
                  static_cast<double>(r.all_values_bytes) / 1e6, static_cast<long long>(r.checkpoints),
                  static_cast<long long>(r.boundaries), r.pass_batch_refused.empty() ? "" : " (not smaller passes: ",
                  r.pass_batch_refused.c_str(), r.pass_batch_refused.empty() ? "" : ")");
    if (r.batch_major) std::printf("batch-major: one batch's golden values at a time, faults in groups\n");
    if (r.wave_faults > 0)
      std::printf("transient faults: %lld run in %lld shared passes (one fault per image)\n",
                  static_cast<long long>(r.wave_faults), static_cast<long long>(r.waves));
  }
  return Status::ok();
}

}  // namespace faultline::cli
