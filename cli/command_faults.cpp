#include <cstdio>
#include <limits>
#include <optional>
#include <string_view>

#include "cli/arguments.h"
#include "cli/commands.h"
#include "faults/fault_generator.h"
#include "frontends/load_model.h"

namespace faultline::cli {

namespace {
constexpr const char* kHelp =
    "usage: faultline faults generate MODEL (--count N | --exhaustive | --statistical | --ber P) -o LIST.csv\n"
    "                                 [options]\n"
    "\n"
    "Writes a fault list for MODEL (the CSV that 'faultline inject' replays). The fault space is every\n"
    "(tensor, element, bit) of the chosen targets; the same options and seed give the same file.\n"
    "  --count N              N faults drawn uniformly without repetition\n"
    "  --exhaustive           every position with every model\n"
    "  --statistical          Leveugle et al.'s sample size (with --error, --confidence or --t, --scope)\n"
    "  --ber P                one bit-error-rate fault (probability P) per chosen tensor (weight, activation or\n"
    "                         input)\n"
    "  -o, --output LIST.csv  the fault list (written only on success)\n"
    "  --target T             weight | activation | input (default weight); input sites are one consumer's\n"
    "                         copy of a value, named '<consumer layer>[:<slot>]' ('faultline layers --kind input');\n"
    "                         or a kernel-level site of the Conv / Gemm / MatMul layers and the int8 model's\n"
    "                         integer convs and matmuls ('faultline layers --kind kernel', docs/kernel_faults.md):\n"
    "                         accumulator | product (every output element x MAC), pe (every PE of --array),\n"
    "                         pattern (every element / row / column / channel / tile of --pattern)\n"
    "  --array RxC            pe: the PE array, e.g. 16x16 (required)\n"
    "  --dataflow D           pe: output-stationary | weight-stationary (os | ws; default output-stationary)\n"
    "  --unit U               pe: the faulty register, accumulator | product (default accumulator)\n"
    "  --pattern P            pattern: element | row | column | channel | tile (required)\n"
    "  --tile RxC             pattern tile: the tile size, e.g. 4x4 (required)\n"
    "  --layers GLOB          layers to cover, by canonical or value name ('layer3.*', '*conv*'); may repeat or\n"
    "                         take a comma list (default: all)\n"
    "  --all-parameters       weights also cover biases and BatchNorm parameters (default: conv/linear weights)\n"
    "  --bits SPEC            bits to hit, '0-31', '23-30,31' (default: every bit of the word: an integer\n"
    "                         op's accumulator, product and pe sites have int32 words, its pattern sites the\n"
    "                         output's int8 / uint8 / int32 words)\n"
    "  --model M              bitflip | multibit | stuck-at-0 | stuck-at-1 | zero | value | random; a comma\n"
    "                         list draws one per fault (default bitflip)\n"
    "  --multibit-bits K      bits flipped by a multibit fault (default 2)\n"
    "  --value V              the value written by the value model\n"
    "  --persistence P        permanent | inference | batch (default permanent)\n"
    "  --images N             inference / batch: draw each fault's Batch image from 0..N-1 (the dataset's images)\n"
    "  --error E              statistical: error margin (default 0.01)\n"
    "  --confidence C         statistical: confidence level (default 0.99)\n"
    "  --t T                  statistical: explicit cut-off instead of --confidence (SFIadvancedmodels: 2.58)\n"
    "  --scope S              statistical: network | layer | layer-bit (default network)\n"
    "  --seed S               random seed (default 51195)\n";

// "a,b" and repeated options, as one list without empty items.
std::vector<std::string> split_list(const std::vector<std::string>& values) {
  std::vector<std::string> items;
  for (const std::string& value : values) {
    size_t start = 0;
    while (start <= value.size()) {
      const size_t end = std::min(value.find(',', start), value.size());
      if (end > start) items.push_back(value.substr(start, end - start));
      start = end + 1;
    }
  }
  return items;
}

Result<double> get_double(const Arguments& args, const std::string& name, double fallback) {
  auto text = args.get(name);
  if (!text) return fallback;
  try {
    size_t used = 0;
    const double value = std::stod(*text, &used);
    if (used == text->size()) return value;
  } catch (const std::exception&) {
  }
  return invalid_argument("option --" + name + ": '" + *text + "' is not a number");
}

// "RxC" of --array / --tile.
Result<PeArray> size_option(const Arguments& args, const std::string& name) {
  auto size = parse_array_size(*args.get(name));
  if (!size.is_ok()) return invalid_argument("option --" + name + ": '" + *args.get(name) + "' is not a size like 16x16");
  return size;
}

// --array, --dataflow, --unit, --pattern, --tile: the kernel-level fault spaces, checked by the YAML's rule
// (faults/fault_generator.h check_kernel_keys).
Status kernel_options_from(const Arguments& args, GeneratorOptions& options) {
  std::optional<OutputPattern> pattern;
  if (auto name = args.get("pattern"); name && options.target == SiteTarget::kPattern) {
    pattern = output_pattern_from_name(*name);
    if (!pattern)
      return invalid_argument("option --pattern: '" + *name + "' is not element, row, column, channel or tile");
  }
  const KernelKeysGiven given{args.get("array").has_value(), args.get("dataflow").has_value(),
                              args.get("unit").has_value(), args.get("pattern").has_value(),
                              args.get("tile").has_value()};
  if (auto problem = check_kernel_keys(options.target, pattern, given))
    return invalid_argument("option --" + problem->key + ": " + problem->message);
  if (given.array) {
    FL_ASSIGN_OR_RETURN(PeArray array, size_option(args, "array"));
    options.kernel.array.rows = array.rows;
    options.kernel.array.cols = array.cols;
  }
  if (given.dataflow) {
    auto dataflow = dataflow_from_name(*args.get("dataflow"));
    if (!dataflow) {
      return invalid_argument("option --dataflow: '" + *args.get("dataflow") +
                              "' is not output-stationary, weight-stationary, os or ws");
    }
    options.kernel.array.dataflow = *dataflow;
  }
  if (given.unit) {
    auto unit = pe_unit_from_name(*args.get("unit"));
    if (!unit) return invalid_argument("option --unit: '" + *args.get("unit") + "' is not accumulator or product");
    options.kernel.array.unit = *unit;
  }
  if (pattern) options.kernel.pattern = *pattern;
  if (given.tile) {
    FL_ASSIGN_OR_RETURN(PeArray tile, size_option(args, "tile"));
    options.tile_rows = tile.rows;
    options.tile_cols = tile.cols;
  }
  return Status::ok();
}

Result<GeneratorOptions> generator_options_from(const Arguments& args) {
  GeneratorOptions options;
  const std::string target = args.get_or("target", "weight");
  auto kind = site_target_from_name(target);
  if (!kind || *kind == SiteTarget::kState) {
    return invalid_argument("option --target: '" + target +
                            "' is not weight, activation, input, accumulator, product, pe or pattern");
  }
  options.target = *kind;
  FL_RETURN_IF_ERROR(kernel_options_from(args, options));
  if (auto layers = split_list(args.get_all("layers")); !layers.empty()) options.layers = std::move(layers);
  if (args.flag("all-parameters")) options.parameters = ParameterSet::kAllParameters;
  options.bits = args.get_or("bits", "");
  if (auto models = split_list(args.get_all("model")); !models.empty()) {
    options.models.clear();
    for (const std::string& name : models) {
      auto model = fault_model_from_name(name);
      if (!model) return invalid_argument("option --model: unknown fault model '" + name + "'");
      if (!fault_model_is_word_fault(*model))
        return invalid_argument("option --model: " + name + " is not a word fault (use --ber P)");
      options.models.push_back(*model);
    }
  }
  FL_ASSIGN_OR_RETURN(int64_t multibit_bits, args.get_int("multibit-bits", options.multibit_bits, 2, 64));
  options.multibit_bits = static_cast<int>(multibit_bits);
  FL_ASSIGN_OR_RETURN(options.value, get_double(args, "value", options.value));
  const std::string persistence = args.get_or("persistence", "permanent");
  auto parsed = persistence_from_name(persistence);
  if (!parsed) return invalid_argument("option --persistence: unknown persistence '" + persistence + "'");
  options.persistence = *parsed;
  FL_ASSIGN_OR_RETURN(options.images, args.get_int("images", 0, 1, std::numeric_limits<int64_t>::max()));
  if (options.images > 0 && options.persistence == Persistence::kPermanent)
    return invalid_argument("option --images: draws the Batch image of inference or batch faults; give "
                            "--persistence inference or batch");
  FL_ASSIGN_OR_RETURN(int64_t seed,
                      args.get_int("seed", static_cast<int64_t>(options.seed), 0, std::numeric_limits<int64_t>::max()));
  options.seed = static_cast<uint64_t>(seed);
  return options;
}

Result<SampleScope> scope_from(const std::string& name) {
  if (name == "network") return SampleScope::kNetwork;
  if (name == "layer") return SampleScope::kLayer;
  if (name == "layer-bit") return SampleScope::kLayerBit;
  return invalid_argument("option --scope: '" + name + "' is not network, layer or layer-bit");
}

Result<FaultList> generate(const Arguments& args, const std::vector<FaultTarget>& targets,
                           const GeneratorOptions& options) {
  const int modes = (args.get("count") ? 1 : 0) + (args.flag("exhaustive") ? 1 : 0) +
                    (args.flag("statistical") ? 1 : 0) + (args.get("ber") ? 1 : 0);
  if (modes != 1) return invalid_argument("give exactly one of --count, --exhaustive, --statistical, --ber");
  if (args.get("count")) {
    FL_ASSIGN_OR_RETURN(int64_t count, args.get_int("count", 0, 0, std::numeric_limits<int64_t>::max()));
    return generate_random_faults(targets, options, count);
  }
  if (args.flag("exhaustive")) return generate_exhaustive_faults(targets, options);
  if (args.get("ber")) {
    FL_ASSIGN_OR_RETURN(double p, get_double(args, "ber", 0.0));
    return generate_ber_faults(targets, options, p);
  }
  SampleSizeOptions sample;
  FL_ASSIGN_OR_RETURN(sample.error_margin, get_double(args, "error", sample.error_margin));
  FL_ASSIGN_OR_RETURN(sample.confidence, get_double(args, "confidence", sample.confidence));
  if (args.get("t")) {
    FL_ASSIGN_OR_RETURN(double t, get_double(args, "t", 0.0));
    sample.t = t;
  }
  FL_ASSIGN_OR_RETURN(SampleScope scope, scope_from(args.get_or("scope", "network")));
  return generate_statistical_faults(targets, options, scope, sample);
}

Status faults_generate(int argc, char** argv) {
  OptionSpec spec{{"output", "target", "layers", "bits", "model", "multibit-bits", "value", "persistence", "images", "count",
                   "ber", "error", "confidence", "t", "scope", "seed", "array", "dataflow", "unit", "pattern", "tile"},
                  {"exhaustive", "statistical", "all-parameters"},
                  {{"-o", "output"}}};
  FL_ASSIGN_OR_RETURN(Arguments args, Arguments::parse(argc, argv, 3, spec));
  if (args.flag("help")) {
    std::fputs(kHelp, stdout);
    return Status::ok();
  }
  if (args.positional().size() != 1) return invalid_argument("generate expects one MODEL argument (see --help)");
  auto output = args.get("output");
  if (!output) return invalid_argument("option -o/--output is required");
  FL_ASSIGN_OR_RETURN(GeneratorOptions options, generator_options_from(args));
  FL_ASSIGN_OR_RETURN(auto model, load_model(args.positional()[0]));
  FL_ASSIGN_OR_RETURN(std::vector<FaultTarget> targets, list_fault_targets(*model));
  FL_ASSIGN_OR_RETURN(FaultList list, generate(args, targets, options));
  FL_RETURN_IF_ERROR(write_fault_list(*output, list));
  std::printf("%zu faults -> %s\n", list.entries.size(), output->c_str());
  return Status::ok();
}
}  // namespace

Status command_faults(int argc, char** argv) {
  const std::string_view sub = argc > 2 ? argv[2] : "";
  if (sub == "generate") return faults_generate(argc, argv);
  if (sub == "--help" || sub == "-h" || sub == "help") {
    std::fputs(kHelp, stdout);
    return Status::ok();
  }
  if (sub.empty()) return invalid_argument("expects a subcommand: generate (see 'faultline faults --help')");
  return invalid_argument("unknown subcommand '" + std::string(sub) + "' (expected generate)");
}

}  // namespace faultline::cli
