#include "faults/experiment_config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>

#include "engine/weight_storage.h"
#include "faults/fault.h"

namespace faultline {
namespace {

namespace fs = std::filesystem;

constexpr int64_t kMaxBatchSize = int64_t{1} << 20;
constexpr int64_t kMaxThreads = 1024;
constexpr int64_t kMaxSpikingSteps = int64_t{1} << 20;
constexpr int64_t kMaxRepetitions = 1'000'000;
constexpr int kMinErrorRateExp = -300;  // 1e-300 is still a normal double

// Where errors point and relative paths start.
struct Context {
  std::string file;
  fs::path dir;

  Status error(const std::string& key, const std::string& what) const {
    return invalid_argument(file + ": " + key + ": " + what);
  }
  std::string resolve(const std::string& relative) const {
    fs::path p(relative);
    if (p.is_absolute() || dir.empty()) return p.lexically_normal().string();
    return (dir / p).lexically_normal().string();
  }
};

std::string child(const std::string& parent, const std::string& key) {
  return parent.empty() ? key : parent + "." + key;
}

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) out += (i ? ", " : "") + items[i];
  return out;
}

std::string kind_of(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Null: return "nothing";
    case YAML::NodeType::Scalar: return "'" + node.Scalar() + "'";
    case YAML::NodeType::Sequence: return "a list";
    case YAML::NodeType::Map: return "a mapping";
    default: return "an undefined value";
  }
}

// `node` must be a mapping whose keys are all in `allowed`, each once.
Status check_map(const Context& ctx, const YAML::Node& node, const std::string& path,
                 const std::vector<std::string>& allowed) {
  if (!node.IsMap()) {
    return ctx.error(path.empty() ? "(top level)" : path, "expected a mapping of keys, got " + kind_of(node));
  }
  std::set<std::string> seen;
  for (const auto& item : node) {
    if (!item.first.IsScalar()) return ctx.error(path.empty() ? "(top level)" : path, "a key is not a plain name");
    const std::string key = item.first.Scalar();
    if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
      return ctx.error(child(path, key), "unknown key; allowed: " + join(allowed));
    }
    if (!seen.insert(key).second) return ctx.error(child(path, key), "given twice");
  }
  return Status::ok();
}

Result<std::string> get_string(const Context& ctx, const YAML::Node& node, const std::string& path) {
  if (!node.IsScalar()) return ctx.error(path, "expected a string, got " + kind_of(node));
  return node.Scalar();
}

Result<int64_t> get_int(const Context& ctx, const YAML::Node& node, const std::string& path, int64_t min,
                        int64_t max) {
  if (!node.IsScalar()) return ctx.error(path, "expected an integer, got " + kind_of(node));
  const std::string& text = node.Scalar();
  int64_t value = 0;
  size_t used = 0;
  try {
    value = std::stoll(text, &used, 10);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != text.size()) return ctx.error(path, "expected an integer, got '" + text + "'");
  if (value < min || value > max) {
    std::string range = max == std::numeric_limits<int64_t>::max()
                            ? ">= " + std::to_string(min)
                            : "in " + std::to_string(min) + ".." + std::to_string(max);
    return ctx.error(path, "must be " + range + ", got " + text);
  }
  return value;
}

Result<double> get_double(const Context& ctx, const YAML::Node& node, const std::string& path) {
  if (!node.IsScalar()) return ctx.error(path, "expected a number, got " + kind_of(node));
  double value = 0;
  if (!YAML::convert<double>::decode(node, value) || !std::isfinite(value)) {
    return ctx.error(path, "expected a finite number, got '" + node.Scalar() + "'");
  }
  return value;
}

// A number strictly between 0 and 1.
Result<double> get_fraction(const Context& ctx, const YAML::Node& node, const std::string& path) {
  FL_ASSIGN_OR_RETURN(double value, get_double(ctx, node, path));
  if (!(value > 0.0 && value < 1.0)) return ctx.error(path, "must be in (0, 1), got " + node.Scalar());
  return value;
}

Result<bool> get_bool(const Context& ctx, const YAML::Node& node, const std::string& path) {
  bool value = false;
  if (!node.IsScalar() || !YAML::convert<bool>::decode(node, value)) {
    return ctx.error(path, "expected true or false, got " + kind_of(node));
  }
  return value;
}

// One string or a non-empty list of strings.
Result<std::vector<std::string>> get_strings(const Context& ctx, const YAML::Node& node, const std::string& path) {
  if (node.IsScalar()) return std::vector<std::string>{node.Scalar()};
  if (!node.IsSequence()) return ctx.error(path, "expected a string or a list of strings, got " + kind_of(node));
  std::vector<std::string> out;
  for (size_t i = 0; i < node.size(); ++i) {
    FL_ASSIGN_OR_RETURN(std::string s, get_string(ctx, node[i], path + "[" + std::to_string(i) + "]"));
    out.push_back(std::move(s));
  }
  if (out.empty()) return ctx.error(path, "is an empty list");
  return out;
}

Result<std::vector<float>> get_floats(const Context& ctx, const YAML::Node& node, const std::string& path) {
  if (!node.IsSequence()) return ctx.error(path, "expected a list of numbers, got " + kind_of(node));
  std::vector<float> out;
  for (size_t i = 0; i < node.size(); ++i) {
    FL_ASSIGN_OR_RETURN(double v, get_double(ctx, node[i], path + "[" + std::to_string(i) + "]"));
    out.push_back(static_cast<float>(v));
  }
  if (out.empty()) return ctx.error(path, "is an empty list");
  return out;
}

// One of `choices`, exactly.
Result<std::string> get_choice(const Context& ctx, const YAML::Node& node, const std::string& path,
                               const std::vector<std::string>& choices) {
  FL_ASSIGN_OR_RETURN(std::string value, get_string(ctx, node, path));
  if (std::find(choices.begin(), choices.end(), value) == choices.end()) {
    return ctx.error(path, "'" + value + "' is not one of " + join(choices));
  }
  return value;
}

// Resolves a path that must name an existing file (or, with `folder_ok`, a folder).
Result<std::string> existing_path(const Context& ctx, const YAML::Node& node, const std::string& path,
                                  bool folder_ok = false) {
  FL_ASSIGN_OR_RETURN(std::string given, get_string(ctx, node, path));
  if (given.empty()) return ctx.error(path, "is empty");
  std::string resolved = ctx.resolve(given);
  std::error_code ec;
  auto status = fs::status(resolved, ec);
  if (ec || !fs::exists(status)) return ctx.error(path, resolved + ": no such file");
  if (fs::is_directory(status) && !folder_ok) return ctx.error(path, resolved + ": is a folder, not a file");
  return resolved;
}

Status fail_missing(const Context& ctx, const std::string& path) {
  return Status::error(StatusCode::kNotFound, ctx.file + ": " + path + ": missing (required)");
}

Result<DatasetSpec> parse_dataset(const Context& ctx, const YAML::Node& node) {
  const std::string path = "dataset";
  FL_RETURN_IF_ERROR(check_map(ctx, node, path,
                               {"format", "inputs", "labels", "limit", "layout", "preprocess", "hdf5_images",
                                "hdf5_labels"}));
  DatasetSpec spec;
  if (!node["format"]) return fail_missing(ctx, "dataset.format");
  FL_ASSIGN_OR_RETURN(spec.format, get_choice(ctx, node["format"], "dataset.format",
                                              {"npy", "hdf5", "cifar10", "cifar100", "mnist-idx"}));
  if (!node["inputs"]) return fail_missing(ctx, "dataset.inputs");
  const bool cifar = spec.format == "cifar10" || spec.format == "cifar100";
  FL_ASSIGN_OR_RETURN(spec.inputs, existing_path(ctx, node["inputs"], "dataset.inputs", cifar));
  if (node["labels"]) {
    if (cifar) return ctx.error("dataset.labels", "not used by " + spec.format + " (the labels are in the records)");
    FL_ASSIGN_OR_RETURN(spec.labels, existing_path(ctx, node["labels"], "dataset.labels"));
  }
  if (node["limit"]) {
    FL_ASSIGN_OR_RETURN(spec.limit, get_int(ctx, node["limit"], "dataset.limit", 1,
                                            std::numeric_limits<int64_t>::max()));
  }
  if (node["layout"]) {
    if (spec.format != "npy" && spec.format != "hdf5") {
      return ctx.error("dataset.layout", "only npy and hdf5 datasets take a layout");
    }
    FL_ASSIGN_OR_RETURN(spec.layout, get_choice(ctx, node["layout"], "dataset.layout", {"nchw", "nhwc"}));
  }
  for (const char* key : {"hdf5_images", "hdf5_labels"}) {
    if (!node[key]) continue;
    const std::string key_path = child(path, key);
    if (spec.format != "hdf5") return ctx.error(key_path, "only hdf5 datasets take it");
    FL_ASSIGN_OR_RETURN(std::string name, get_string(ctx, node[key], key_path));
    if (std::string(key) == "hdf5_images") {
      if (name.empty()) return ctx.error(key_path, "is empty");
      spec.hdf5_images = name;
    } else {
      spec.hdf5_labels = name;
    }
  }
  if (const YAML::Node pre = node["preprocess"]) {
    FL_RETURN_IF_ERROR(check_map(ctx, pre, "dataset.preprocess", {"scale", "mean", "std"}));
    if (pre["scale"]) {
      FL_ASSIGN_OR_RETURN(double scale, get_double(ctx, pre["scale"], "dataset.preprocess.scale"));
      spec.scale = static_cast<float>(scale);
    }
    if (pre["mean"]) {
      FL_ASSIGN_OR_RETURN(spec.mean, get_floats(ctx, pre["mean"], "dataset.preprocess.mean"));
    }
    if (pre["std"]) {
      FL_ASSIGN_OR_RETURN(spec.std, get_floats(ctx, pre["std"], "dataset.preprocess.std"));
      for (size_t i = 0; i < spec.std.size(); ++i) {
        if (!(spec.std[i] > 0.0f)) {
          return ctx.error("dataset.preprocess.std", "entry " + std::to_string(i) + " must be > 0");
        }
      }
    }
    if (!spec.mean.empty() && !spec.std.empty() && spec.mean.size() != spec.std.size()) {
      return ctx.error("dataset.preprocess.std", "has " + std::to_string(spec.std.size()) +
                                                     " entries but mean has " + std::to_string(spec.mean.size()));
    }
  }
  return spec;
}

Result<std::vector<FaultModel>> parse_models(const Context& ctx, const YAML::Node& node, const std::string& path) {
  FL_ASSIGN_OR_RETURN(auto names, get_strings(ctx, node, path));
  std::vector<FaultModel> models;
  for (const auto& name : names) {
    auto model = fault_model_from_name(name);
    if (!model) {
      return ctx.error(path, "unknown fault model '" + name +
                                 "'; known: bitflip, multibit, stuck-at-0, stuck-at-1, zero, value, random");
    }
    if (*model == FaultModel::kBitErrorRate) {
      return ctx.error(path, "ber faults come from faults.error_rate, not faults.generate");
    }
    models.push_back(*model);
  }
  return models;
}

Result<StatisticalSampling> parse_statistical(const Context& ctx, const YAML::Node& node) {
  const std::string path = "faults.generate.statistical";
  FL_RETURN_IF_ERROR(check_map(ctx, node, path, {"error", "confidence", "t", "p", "polarities", "scope"}));
  StatisticalSampling out;
  if (node["error"]) {
    FL_ASSIGN_OR_RETURN(out.sample.error_margin, get_fraction(ctx, node["error"], path + ".error"));
  }
  if (node["confidence"]) {
    FL_ASSIGN_OR_RETURN(out.sample.confidence, get_fraction(ctx, node["confidence"], path + ".confidence"));
  }
  if (node["t"]) {
    FL_ASSIGN_OR_RETURN(double t, get_double(ctx, node["t"], path + ".t"));
    if (!(t > 0.0)) return ctx.error(path + ".t", "must be > 0");
    out.sample.t = t;
  }
  if (node["p"]) {
    FL_ASSIGN_OR_RETURN(out.sample.p, get_fraction(ctx, node["p"], path + ".p"));
  }
  if (node["polarities"]) {
    FL_ASSIGN_OR_RETURN(int64_t polarities, get_int(ctx, node["polarities"], path + ".polarities", 1, 2));
    out.sample.polarities = static_cast<int>(polarities);
  }
  if (node["scope"]) {
    FL_ASSIGN_OR_RETURN(std::string scope,
                        get_choice(ctx, node["scope"], path + ".scope", {"network", "layer", "layer-bit"}));
    out.scope = scope == "network" ? SampleScope::kNetwork
                : scope == "layer" ? SampleScope::kLayer
                                   : SampleScope::kLayerBit;
  }
  return out;
}

// faults.generate.array / pattern / tile: the kernel-level fault spaces (faults/kernel_sites.h).
Status parse_kernel_generation(const Context& ctx, const YAML::Node& node, const std::string& path,
                               GeneratorOptions& options) {
  const SiteTarget target = options.target;
  std::optional<OutputPattern> pattern;
  if (target == SiteTarget::kPattern && node["pattern"]) {
    FL_ASSIGN_OR_RETURN(std::string name, get_choice(ctx, node["pattern"], path + ".pattern",
                                                     {"element", "row", "column", "channel", "tile"}));
    pattern = output_pattern_from_name(name);
  }
  // One rule for the YAML and the CLI (faults/fault_generator.h); dataflow and unit sit inside the array here.
  const KernelKeysGiven given{.array = static_cast<bool>(node["array"]), .pattern = static_cast<bool>(node["pattern"]),
                              .tile = static_cast<bool>(node["tile"])};
  if (auto problem = check_kernel_keys(target, pattern, given)) return ctx.error(path + "." + problem->key, problem->message);
  if (target == SiteTarget::kPe) {
    const std::string where = path + ".array";
    const YAML::Node array = node["array"];
    FL_RETURN_IF_ERROR(check_map(ctx, array, where, {"rows", "cols", "dataflow", "unit"}));
    if (!array["rows"] || !array["cols"]) return ctx.error(where, "needs rows and cols");
    FL_ASSIGN_OR_RETURN(options.kernel.array.rows, get_int(ctx, array["rows"], where + ".rows", 1, 1 << 20));
    FL_ASSIGN_OR_RETURN(options.kernel.array.cols, get_int(ctx, array["cols"], where + ".cols", 1, 1 << 20));
    if (array["dataflow"]) {
      FL_ASSIGN_OR_RETURN(std::string name, get_choice(ctx, array["dataflow"], where + ".dataflow",
                                                       {"output-stationary", "weight-stationary", "os", "ws"}));
      options.kernel.array.dataflow = *dataflow_from_name(name);
    }
    if (array["unit"]) {
      FL_ASSIGN_OR_RETURN(std::string name, get_choice(ctx, array["unit"], where + ".unit", {"accumulator", "product"}));
      options.kernel.array.unit = *pe_unit_from_name(name);
    }
  }
  if (target == SiteTarget::kPattern) {
    options.kernel.pattern = *pattern;
    const bool tile = options.kernel.pattern == OutputPattern::kTile;
    if (tile) {
      const std::string where = path + ".tile";
      FL_RETURN_IF_ERROR(check_map(ctx, node["tile"], where, {"rows", "cols"}));
      if (!node["tile"]["rows"] || !node["tile"]["cols"]) return ctx.error(where, "needs rows and cols");
      FL_ASSIGN_OR_RETURN(options.tile_rows, get_int(ctx, node["tile"]["rows"], where + ".rows", 1, 1 << 20));
      FL_ASSIGN_OR_RETURN(options.tile_cols, get_int(ctx, node["tile"]["cols"], where + ".cols", 1, 1 << 20));
    }
  }
  return Status::ok();
}

Result<FaultGeneration> parse_generate(const Context& ctx, const YAML::Node& node, uint64_t default_seed) {
  const std::string path = "faults.generate";
  FL_RETURN_IF_ERROR(check_map(ctx, node, path,
                               {"target", "layers", "parameters", "bits", "model", "multibit_bits", "value",
                                "persistence", "seed", "count", "statistical", "exhaustive", "array", "pattern",
                                "tile"}));
  FaultGeneration gen;
  GeneratorOptions& options = gen.options;
  options.seed = default_seed;
  if (node["target"]) {
    FL_ASSIGN_OR_RETURN(std::string name, get_string(ctx, node["target"], path + ".target"));
    auto target = site_target_from_name(name);
    if (!target || *target == SiteTarget::kState) {
      return ctx.error(path + ".target",
                       "'" + name + "' is not one of weight, activation, input, accumulator, product, pe, pattern");
    }
    options.target = *target;
  }
  FL_RETURN_IF_ERROR(parse_kernel_generation(ctx, node, path, options));
  if (node["layers"]) {
    FL_ASSIGN_OR_RETURN(options.layers, get_strings(ctx, node["layers"], path + ".layers"));
  }
  if (node["parameters"]) {
    FL_ASSIGN_OR_RETURN(std::string set, get_choice(ctx, node["parameters"], path + ".parameters", {"weights", "all"}));
    options.parameters = set == "all" ? ParameterSet::kAllParameters : ParameterSet::kConvAndLinearWeights;
  }
  if (node["bits"]) {
    FL_ASSIGN_OR_RETURN(options.bits, get_string(ctx, node["bits"], path + ".bits"));
    auto bits = parse_bit_spec(options.bits);
    if (!bits.is_ok()) return ctx.error(path + ".bits", bits.status().message());
  }
  if (node["model"]) {
    FL_ASSIGN_OR_RETURN(options.models, parse_models(ctx, node["model"], path + ".model"));
  }
  if (node["multibit_bits"]) {
    FL_ASSIGN_OR_RETURN(int64_t n, get_int(ctx, node["multibit_bits"], path + ".multibit_bits", 2, 64));
    options.multibit_bits = static_cast<int>(n);
  }
  if (node["value"]) {
    FL_ASSIGN_OR_RETURN(options.value, get_double(ctx, node["value"], path + ".value"));
  }
  if (node["persistence"]) {
    FL_ASSIGN_OR_RETURN(std::string name, get_choice(ctx, node["persistence"], path + ".persistence",
                                                     {"permanent", "inference", "batch"}));
    options.persistence = *persistence_from_name(name);
  }
  if (node["seed"]) {
    FL_ASSIGN_OR_RETURN(int64_t seed, get_int(ctx, node["seed"], path + ".seed", 0,
                                              std::numeric_limits<int64_t>::max()));
    options.seed = static_cast<uint64_t>(seed);
  }

  const int forms = (node["count"] ? 1 : 0) + (node["statistical"] ? 1 : 0) + (node["exhaustive"] ? 1 : 0);
  if (forms != 1) {
    return ctx.error(path, std::string(forms == 0 ? "needs" : "takes only") +
                               " one of count, statistical, exhaustive");
  }
  if (node["count"]) {
    FL_ASSIGN_OR_RETURN(gen.count, get_int(ctx, node["count"], path + ".count", 1,
                                           std::numeric_limits<int64_t>::max()));
  }
  if (node["statistical"]) {
    FL_ASSIGN_OR_RETURN(gen.statistical, parse_statistical(ctx, node["statistical"]));
  }
  if (node["exhaustive"]) {
    FL_ASSIGN_OR_RETURN(gen.exhaustive, get_bool(ctx, node["exhaustive"], path + ".exhaustive"));
    if (!gen.exhaustive) {
      return ctx.error(path + ".exhaustive", "must be true (give count or statistical for other lists)");
    }
  }
  return gen;
}

Result<ErrorRateSweep> parse_error_rate(const Context& ctx, const YAML::Node& node) {
  const std::string path = "faults.error_rate";
  FL_RETURN_IF_ERROR(check_map(ctx, node, path, {"min_exp", "max_exp", "repetitions", "layers"}));
  ErrorRateSweep sweep;
  if (!node["min_exp"]) return fail_missing(ctx, path + ".min_exp");
  if (!node["max_exp"]) return fail_missing(ctx, path + ".max_exp");
  FL_ASSIGN_OR_RETURN(int64_t min_exp, get_int(ctx, node["min_exp"], path + ".min_exp", kMinErrorRateExp, 0));
  FL_ASSIGN_OR_RETURN(int64_t max_exp, get_int(ctx, node["max_exp"], path + ".max_exp", kMinErrorRateExp, 0));
  if (max_exp < min_exp) {
    return ctx.error(path + ".max_exp", std::to_string(max_exp) + " is below min_exp " + std::to_string(min_exp));
  }
  sweep.min_exp = static_cast<int>(min_exp);
  sweep.max_exp = static_cast<int>(max_exp);
  if (node["repetitions"]) {
    FL_ASSIGN_OR_RETURN(int64_t reps, get_int(ctx, node["repetitions"], path + ".repetitions", 1, kMaxRepetitions));
    sweep.repetitions = static_cast<int>(reps);
  }
  if (node["layers"]) {
    FL_ASSIGN_OR_RETURN(sweep.layers, get_strings(ctx, node["layers"], path + ".layers"));
  }
  return sweep;
}

Result<SpikingExperiment> parse_spiking(const Context& ctx, const YAML::Node& node, uint64_t default_seed) {
  FL_RETURN_IF_ERROR(check_map(ctx, node, "spiking", {"steps", "encoding", "dt", "reset", "seed"}));
  SpikingExperiment spiking;
  spiking.seed = default_seed;
  if (node["encoding"]) {
    FL_ASSIGN_OR_RETURN(spiking.encoding,
                        get_choice(ctx, node["encoding"], "spiking.encoding", {"rate", "direct", "events"}));
  }
  if (node["steps"]) {
    FL_ASSIGN_OR_RETURN(spiking.steps, get_int(ctx, node["steps"], "spiking.steps", 1, kMaxSpikingSteps));
  } else if (spiking.encoding != "events") {
    return fail_missing(ctx, "spiking.steps");
  }
  if (node["dt"]) {
    FL_ASSIGN_OR_RETURN(double dt, get_double(ctx, node["dt"], "spiking.dt"));
    if (!(dt > 0.0) || !std::isfinite(dt)) return ctx.error("spiking.dt", "must be a positive number");
    spiking.dt = static_cast<float>(dt);
  }
  if (node["reset"]) {
    FL_ASSIGN_OR_RETURN(std::string reset, get_choice(ctx, node["reset"], "spiking.reset", {"zero", "subtract"}));
    spiking.reset = reset == "zero" ? ResetMode::kToReset : ResetMode::kSubtract;
  }
  if (node["seed"]) {
    FL_ASSIGN_OR_RETURN(int64_t seed, get_int(ctx, node["seed"], "spiking.seed", 0,
                                              std::numeric_limits<int64_t>::max()));
    spiking.seed = static_cast<uint64_t>(seed);
  }
  return spiking;
}

Result<ExperimentConfig> parse_root(const Context& ctx, const YAML::Node& root) {
  FL_RETURN_IF_ERROR(check_map(ctx, root, "",
                               {"model", "backend", "batch_size", "threads", "weights", "dataset", "faults",
                                "output", "seed", "save_outputs", "golden_budget_mb", "spiking", "spiking_report"}));
  ExperimentConfig config;
  config.path = ctx.file;

  // The seed first: faults.generate.seed defaults to it.
  if (root["seed"]) {
    FL_ASSIGN_OR_RETURN(int64_t seed, get_int(ctx, root["seed"], "seed", 0, std::numeric_limits<int64_t>::max()));
    config.seed = static_cast<uint64_t>(seed);
  }
  if (!root["model"]) return fail_missing(ctx, "model");
  FL_ASSIGN_OR_RETURN(config.model, existing_path(ctx, root["model"], "model"));

  if (root["backend"]) {
    FL_ASSIGN_OR_RETURN(config.session.backend,
                        get_choice(ctx, root["backend"], "backend", {"onednn", "reference", "cuda"}));
  }
  if (root["batch_size"]) {
    FL_ASSIGN_OR_RETURN(config.session.batch, get_int(ctx, root["batch_size"], "batch_size", 1, kMaxBatchSize));
  }
  if (root["threads"]) {
    FL_ASSIGN_OR_RETURN(int64_t threads, get_int(ctx, root["threads"], "threads", 0, kMaxThreads));
    config.session.threads = static_cast<int>(threads);
  }
  if (root["weights"]) {
    FL_ASSIGN_OR_RETURN(std::string name, get_string(ctx, root["weights"], "weights"));
    auto dtype = weight_storage_dtype_from_name(name);
    if (!dtype.is_ok()) return ctx.error("weights", dtype.status().message());
    config.session.weight_dtype = *dtype;
  }

  if (!root["dataset"]) return fail_missing(ctx, "dataset");
  FL_ASSIGN_OR_RETURN(config.dataset, parse_dataset(ctx, root["dataset"]));

  if (!root["faults"]) return fail_missing(ctx, "faults");
  const YAML::Node faults = root["faults"];
  FL_RETURN_IF_ERROR(check_map(ctx, faults, "faults", {"list", "generate", "error_rate"}));
  const int forms = (faults["list"] ? 1 : 0) + (faults["generate"] ? 1 : 0) + (faults["error_rate"] ? 1 : 0);
  if (forms != 1) {
    return ctx.error("faults", std::string(forms == 0 ? "needs" : "takes only") +
                                   " one of list, generate, error_rate");
  }
  if (faults["list"]) {
    FL_ASSIGN_OR_RETURN(config.faults.list, existing_path(ctx, faults["list"], "faults.list"));
  }
  if (faults["generate"]) {
    FL_ASSIGN_OR_RETURN(config.faults.generate, parse_generate(ctx, faults["generate"], config.seed));
  }
  if (faults["error_rate"]) {
    FL_ASSIGN_OR_RETURN(config.faults.error_rate, parse_error_rate(ctx, faults["error_rate"]));
  }

  if (!root["output"]) return fail_missing(ctx, "output");
  FL_ASSIGN_OR_RETURN(std::string output, get_string(ctx, root["output"], "output"));
  if (output.empty()) return ctx.error("output", "is empty");
  config.output = ctx.resolve(output);

  if (root["golden_budget_mb"]) {
    FL_ASSIGN_OR_RETURN(int64_t mb, get_int(ctx, root["golden_budget_mb"], "golden_budget_mb", 0, int64_t{1} << 30));
    config.golden_budget_bytes = static_cast<size_t>(mb) << 20;
  }
  if (root["save_outputs"]) {
    FL_ASSIGN_OR_RETURN(config.save_outputs, get_bool(ctx, root["save_outputs"], "save_outputs"));
  }
  if (root["spiking"]) {
    FL_ASSIGN_OR_RETURN(config.spiking, parse_spiking(ctx, root["spiking"], config.seed));
  }
  if (root["spiking_report"]) {
    FL_ASSIGN_OR_RETURN(config.spiking_report, get_bool(ctx, root["spiking_report"], "spiking_report"));
  }
  return config;
}

std::string scope_name(SampleScope scope) {
  switch (scope) {
    case SampleScope::kNetwork: return "network";
    case SampleScope::kLayer: return "layer";
    case SampleScope::kLayerBit: return "layer-bit";
  }
  return "?";
}

}  // namespace

Result<ExperimentConfig> parse_experiment(const std::string& text, const std::string& path) {
  Context ctx{path, fs::path(path).parent_path()};
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    return invalid_argument(path + ": line " + std::to_string(e.mark.line + 1) + ", column " +
                            std::to_string(e.mark.column + 1) + ": " + e.msg);
  }
  if (root.IsNull()) return invalid_argument(path + ": the experiment file is empty");
  try {
    return parse_root(ctx, root);
  } catch (const YAML::Exception& e) {  // defensive: every access above is checked
    return invalid_argument(path + ": line " + std::to_string(e.mark.line + 1) + ": " + e.msg);
  }
}

Result<ExperimentConfig> load_experiment(const std::string& yaml_path) {
  std::ifstream in(yaml_path, std::ios::binary);
  if (!in) return not_found(yaml_path + ": cannot open the experiment file");
  std::stringstream text;
  text << in.rdbuf();
  if (in.bad()) return io_error(yaml_path + ": read failed");
  return parse_experiment(text.str(), yaml_path);
}

std::string describe_experiment(const ExperimentConfig& config) {
  std::ostringstream out;
  out << "experiment " << config.path << "\n";
  out << "  model    " << config.model << " on " << config.session.backend << ", batch " << config.session.batch;
  if (config.session.weight_dtype) out << ", weights " << dtype_name(*config.session.weight_dtype);
  out << "\n";
  const DatasetSpec& d = config.dataset;
  out << "  dataset  " << d.format << " " << d.inputs;
  if (!d.labels.empty()) out << " (labels " << d.labels << ")";
  if (d.limit) out << ", first " << *d.limit << " samples";
  out << "\n";
  out << "  faults   ";
  if (config.faults.list) {
    out << "list " << *config.faults.list;
  } else if (config.faults.generate) {
    const FaultGeneration& g = *config.faults.generate;
    if (g.count) out << *g.count << " random";
    if (g.statistical) {
      out << "statistical (" << scope_name(g.statistical->scope) << ", error " << g.statistical->sample.error_margin
          << ", confidence " << g.statistical->sample.confidence << ")";
    }
    if (g.exhaustive) out << "exhaustive";
    out << " " << site_target_name(g.options.target) << " faults";
    if (g.options.target == SiteTarget::kPe) {
      out << " (" << array_to_string(g.options.kernel.array) << " " << dataflow_name(g.options.kernel.array.dataflow)
          << " " << pe_unit_name(g.options.kernel.array.unit) << ")";
    } else if (g.options.target == SiteTarget::kPattern) {
      out << " (" << output_pattern_name(g.options.kernel.pattern) << ")";
    }
    std::vector<std::string> models;
    for (FaultModel m : g.options.models) models.emplace_back(fault_model_name(m));
    out << ", " << join(models) << ", layers " << join(g.options.layers);
    out << ", bits " << (g.options.bits.empty() ? "all" : g.options.bits) << ", seed " << g.options.seed;
  } else if (config.faults.error_rate) {
    const ErrorRateSweep& e = *config.faults.error_rate;
    out << "bit error rate 1e" << e.min_exp << " .. 1e" << e.max_exp << ", " << e.repetitions
        << " repetition(s), layers " << join(e.layers);
  }
  out << "\n";
  if (config.spiking) {
    const SpikingExperiment& sp = *config.spiking;
    out << "  spiking  " << sp.encoding << " encoding";
    if (sp.steps) out << ", " << *sp.steps << " steps";
    if (sp.dt) out << ", dt " << *sp.dt;
    if (sp.reset) out << ", reset " << (*sp.reset == ResetMode::kToReset ? "zero" : "subtract");
    if (sp.encoding == "rate") out << ", seed " << sp.seed;
    out << "\n";
  }
  out << "  output   " << config.output << (config.save_outputs ? " (with outputs)" : "") << "\n";
  return out.str();
}

}  // namespace faultline
