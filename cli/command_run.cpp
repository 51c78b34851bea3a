#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>

#include "cli/arguments.h"
#include "cli/commands.h"
#include "faults/campaign.h"
#include "faults/experiment_config.h"
#include "faults/fault_generator.h"
#include "faults/fault_targets.h"
#include "frontends/load_model.h"

namespace faultline::cli {

namespace {
constexpr const char* kHelp =
    "usage: faultline run EXPERIMENT.yaml [--resume] [--quiet]\n"
    "\n"
    "Runs a fault-injection campaign described by a YAML file (see README, 'Experiments'): a golden pass over\n"
    "the dataset, then every fault of the list (or the generated one) over every image, writing to `output`:\n"
    "  faults.csv    the fault list that ran (generated lists are written here first)\n"
    "  golden.csv    fault-free accuracy (top-1, top-5) when the dataset has labels\n"
    "  summary.csv   one row per fault: the fault-list columns, then n_injections, masked, non_critical,\n"
    "                critical, due, top_1_correct, top_5_correct, top_1_robust, top_5_robust\n"
    "  layers.csv, bits.csv   the outcomes per layer and per bit, with 99 % margins\n"
    "Every key is checked before anything runs. Rows are appended and flushed one fault at a time: a stopped\n"
    "campaign continues with --resume, and the finished files equal an uninterrupted run's.\n"
    "  --resume   continue the campaign whose results are in `output`\n"
    "  --quiet    no header and no progress lines (the result lines are still printed)\n";

Result<FaultList> fault_list_for(const ExperimentConfig& config, const std::vector<FaultTarget>& targets) {
  if (config.faults.list) return read_fault_list(*config.faults.list);
  if (config.faults.error_rate)
    return unsupported(config.path + ": faults.error_rate: the bit-error-rate sweep is not implemented yet; use "
                       "faults.list or faults.generate");
  const FaultGeneration& generation = *config.faults.generate;
  if (generation.count) return generate_random_faults(targets, generation.options, *generation.count);
  if (generation.statistical)
    return generate_statistical_faults(targets, generation.options, generation.statistical->scope,
                                       generation.statistical->sample);
  return generate_exhaustive_faults(targets, generation.options);
}

// A progress line: a rewritten line on a terminal, a line every 10 s otherwise.
class ProgressPrinter {
 public:
  explicit ProgressPrinter(int64_t images) : images_(images), terminal_(::isatty(STDERR_FILENO)) {}

  CampaignControl operator()(const CampaignProgress& p) {
    const auto now = std::chrono::steady_clock::now();
    if (first_ < 0) {
      first_ = p.faults_done - 1;
      start_ = now;
    }
    const double seconds = std::chrono::duration<double>(now - start_).count();
    const bool last = p.faults_done == p.faults_total;
    if (!terminal_ && !last && std::chrono::duration<double>(now - last_print_).count() < 10.0) return CampaignControl::kContinue;
    last_print_ = now;
    const int64_t ran = p.faults_done - first_;
    const double rate = seconds > 0 ? static_cast<double>(ran) / seconds : 0.0;
    const double eta = rate > 0 ? static_cast<double>(p.faults_total - p.faults_done) / rate : 0.0;
    std::fprintf(stderr, "%s%lld/%lld faults  %.0f fault-images/s  ETA %.0f s  critical images %lld%s",
                 terminal_ ? "\r" : "", static_cast<long long>(p.faults_done), static_cast<long long>(p.faults_total),
                 rate * static_cast<double>(images_), eta, static_cast<long long>(p.critical),
                 terminal_ && !last ? "   " : "\n");
    return CampaignControl::kContinue;
  }

 private:
  int64_t images_;
  bool terminal_;
  int64_t first_ = -1;
  std::chrono::steady_clock::time_point start_, last_print_;
};

void print_results(const CampaignResult& result) {
  if (result.golden.labelled)
    std::printf("golden accuracy: top-1 %.2f %%, top-5 %.2f %% on %lld images\n", 100 * result.golden.top_1_accuracy(),
                100 * result.golden.top_5_accuracy(), static_cast<long long>(result.golden.n_images));
  FaultOutcome total;
  for (const FaultOutcome& o : result.outcomes) total += o;
  const double n = total.n_injections ? static_cast<double>(total.n_injections) : 1.0;
  std::printf("%zu faults x %lld images: masked %.2f %%, non-critical %.2f %%, critical %.2f %%, DUE %.2f %%\n",
              result.outcomes.size(), static_cast<long long>(result.golden.n_images), 100 * total.masked / n,
              100 * total.non_critical / n, 100 * total.critical / n, 100 * total.due / n);
  std::printf("results: %s, %s, %s\n", result.summary_path.c_str(), result.layers_path.c_str(), result.bits_path.c_str());
}
}  // namespace

Status command_run(int argc, char** argv) {
  FL_ASSIGN_OR_RETURN(Arguments args, Arguments::parse(argc, argv, 2, {{}, {"resume", "quiet"}}));
  if (args.flag("help")) {
    std::fputs(kHelp, stdout);
    return Status::ok();
  }
  if (args.positional().size() != 1) return invalid_argument("expects one EXPERIMENT.yaml argument (see --help)");
  FL_ASSIGN_OR_RETURN(ExperimentConfig config, load_experiment(args.positional()[0]));

  FL_ASSIGN_OR_RETURN(auto model, load_model(config.model));
  if (model->inputs().size() != 1)
    return unsupported(model->source + ": run takes models with one input; this one has " +
                       std::to_string(model->inputs().size()));
  FL_ASSIGN_OR_RETURN(Dataset dataset, load_dataset(config.dataset));
  const Value& input = model->value(model->inputs()[0]);
  FL_RETURN_IF_ERROR(check_dataset_fits(dataset, input.name, input.shape).with_context(config.path));
  FL_ASSIGN_OR_RETURN(std::vector<FaultTarget> targets, list_fault_targets(*model));
  FL_ASSIGN_OR_RETURN(FaultList list, fault_list_for(config, targets));
  auto resolved = resolve_fault_list(list, targets);
  if (!resolved.is_ok()) return resolved.status();

  std::error_code error;
  std::filesystem::create_directories(config.output, error);
  if (error) return io_error(config.output + ": cannot create the output folder: " + error.message());
  if (!config.faults.list) FL_RETURN_IF_ERROR(write_fault_list(config.output + "/faults.csv", list));

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
  if (!args.flag("quiet")) spec.progress = ProgressPrinter(spec.dataset.images.dim(0));
  FL_ASSIGN_OR_RETURN(CampaignResult result, run_campaign(spec));
  print_results(result);
  return Status::ok();
}

}  // namespace faultline::cli
