#include "faults/fault_generator.h"

#include <algorithm>
#include <unordered_set>

#include "faults/csv.h"

namespace faultline {

namespace {

constexpr int kMaxBit = 63;

bool is_conv_or_linear_weight(const FaultTarget& target) {
  // The integer ops' rank >= 2 parameter is their int8 weight (scales, zero points and biases are 1-D at most).
  return (target.op == "Conv" || target.op == "ConvTranspose" || target.op == "Gemm" || target.op == "MatMul" ||
          target.op == "ConvInteger" || target.op == "QLinearConv" || target.op == "MatMulInteger" ||
          target.op == "QLinearMatMul") &&
         target.shape.size() >= 2;
}

std::vector<int64_t> unravel(int64_t element, const Shape& shape) {
  std::vector<int64_t> index(shape.size());
  for (size_t d = shape.size(); d-- > 0;) {
    index[d] = element % shape[d];
    element /= shape[d];
  }
  return index;
}

// The name a list should use for targets[i]: its canonical layer name when that resolves back to it
// ("conv1" for "conv1.weight"), else its own name.
std::string list_name(const std::vector<FaultTarget>& targets, size_t i, SiteTarget kind) {
  auto by_layer = find_fault_target(targets, kind, targets[i].layer);
  if (by_layer.is_ok() && *by_layer == i) return targets[i].layer;
  return targets[i].name;
}

Status validate_models(const GeneratorOptions& options) {
  if (options.models.empty()) return invalid_argument("no fault model chosen");
  for (FaultModel model : options.models) {
    if (!fault_model_is_word_fault(model)) {
      return invalid_argument("ber is not a word fault model; use generate_ber_faults");
    }
  }
  if (options.multibit_bits < 1) {
    return out_of_range("multibit needs at least 1 bit, not " + std::to_string(options.multibit_bits));
  }
  return Status::ok();
}

KernelSpace kernel_space(const GeneratorOptions& options) {
  return {options.target, options.kernel, options.tile_rows, options.tile_cols};
}

// GeneratorOptions::images: the Batch image of an inference or batch fault, drawn from `rng`.
void draw_batch(const GeneratorOptions& options, std::mt19937_64& rng, Fault& fault) {
  if (options.images > 0 && options.persistence != Persistence::kPermanent)
    fault.site.batch = std::uniform_int_distribution<int64_t>(0, options.images - 1)(rng);
}

// The fault at position `pos` of `layer`, with `model`; multibit draws its extra bits (and an inference fault
// its image) from `rng`.
Result<Fault> make_fault(const FaultSpaceLayer& layer, uint64_t pos, FaultModel model, const GeneratorOptions& options,
                         std::mt19937_64& rng) {
  const uint64_t nbits = layer.bits.size();
  const auto element = static_cast<int64_t>(pos / nbits);
  const size_t bit_slot = pos % nbits;
  Fault fault;
  fault.site.target = options.target;
  fault.site.layer = layer.layer;
  fault.site.index = unravel(element, layer.shape);
  if (is_kernel_site(options.target)) {
    set_kernel_site(*layer.source, kernel_space(options), fault.site.index, fault.site);
  }
  fault.model = model;
  fault.persistence = options.persistence;
  draw_batch(options, rng, fault);
  if (fault_model_uses_bit(model)) fault.site.bit = layer.bits[bit_slot];
  if (model == FaultModel::kValue) fault.value = options.value;
  if (model == FaultModel::kMultiBitFlip) {
    if (static_cast<size_t>(options.multibit_bits) > nbits) {
      return out_of_range("multibit needs " + std::to_string(options.multibit_bits) + " bits, '" + layer.layer +
                          "' has " + std::to_string(nbits) + " chosen");
    }
    std::vector<int> others;
    for (size_t i = 0; i < nbits; ++i) {
      if (i != bit_slot) others.push_back(layer.bits[i]);
    }
    fault.mask = uint64_t{1} << layer.bits[bit_slot];
    for (int k = 1; k < options.multibit_bits; ++k) {  // partial Fisher-Yates over the other bits
      size_t j = static_cast<size_t>(k - 1) + uniform_below(rng, others.size() - static_cast<size_t>(k - 1));
      std::swap(others[static_cast<size_t>(k - 1)], others[j]);
      fault.mask |= uint64_t{1} << others[static_cast<size_t>(k - 1)];
    }
  }
  return fault;
}

// `count` distinct values of [0, population), ascending (Robert Floyd's algorithm).
std::vector<uint64_t> sample_distinct(std::mt19937_64& rng, uint64_t population, uint64_t count) {
  std::unordered_set<uint64_t> chosen;
  chosen.reserve(count);
  for (uint64_t j = population - count; j < population; ++j) {
    uint64_t t = uniform_below(rng, j + 1);
    if (!chosen.insert(t).second) chosen.insert(j);
  }
  std::vector<uint64_t> out(chosen.begin(), chosen.end());
  std::sort(out.begin(), out.end());
  return out;
}

FaultList new_list() {
  FaultList list;
  list.source = "generated fault list";
  return list;
}

void append(FaultList& list, Fault fault) {
  FaultListEntry entry;
  entry.injection = static_cast<int64_t>(list.entries.size());
  entry.fault = std::move(fault);
  list.entries.push_back(std::move(entry));
}

FaultModel pick_model(const GeneratorOptions& options, std::mt19937_64& rng) {
  if (options.models.size() == 1) return options.models[0];
  return options.models[uniform_below(rng, options.models.size())];
}

}  // namespace

std::optional<KernelKeyError> check_kernel_keys(SiteTarget target, std::optional<OutputPattern> pattern,
                                                const KernelKeysGiven& given) {
  const std::string name(site_target_name(target));
  const bool pe = target == SiteTarget::kPe;
  const bool pattern_target = target == SiteTarget::kPattern;
  const bool tile = pattern_target && pattern == OutputPattern::kTile;
  const std::pair<const char*, bool> keys[] = {{"array", given.array}, {"dataflow", given.dataflow},
                                               {"unit", given.unit},   {"pattern", given.pattern},
                                               {"tile", given.tile}};
  for (const auto& [key, present] : keys) {
    const bool array_key = std::string_view(key) != "pattern" && std::string_view(key) != "tile";
    if (present && (array_key ? !pe : !pattern_target))
      return KernelKeyError{key, "is not read by target " + name + " (array, dataflow, unit: pe; pattern, tile: pattern)"};
  }
  if (pe && !given.array) return KernelKeyError{"array", "target pe needs an array (rows x columns, e.g. 16x16)"};
  if (pattern_target && !given.pattern)
    return KernelKeyError{"pattern", "target pattern needs a pattern: element, row, column, channel or tile"};
  if (pattern_target && given.pattern && tile != given.tile) {
    return KernelKeyError{"tile", tile ? "pattern tile needs a tile (rows x columns, e.g. 4x4)"
                                       : "is read by pattern tile only"};
  }
  return std::nullopt;
}

bool glob_match(std::string_view pattern, std::string_view text) {
  size_t p = 0;
  size_t t = 0;
  size_t star = std::string_view::npos;
  size_t star_text = 0;
  while (t < text.size()) {
    if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == text[t])) {
      ++p;
      ++t;
    } else if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      star_text = t;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      t = ++star_text;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

Result<std::vector<int>> parse_bit_spec(std::string_view spec) {
  std::vector<int> bits;
  auto bad = [&](const std::string& why) {
    return invalid_argument("bit spec '" + std::string(spec) + "' " + why +
                            " (expected e.g. \"0-31\" or \"23-30,31\")");
  };
  if (trim(spec).empty()) return bad("is empty");
  size_t pos = 0;
  for (;;) {
    size_t comma = spec.find(',', pos);
    std::string_view item = trim(spec.substr(pos, comma == std::string_view::npos ? spec.npos : comma - pos));
    if (item.empty()) return bad("has an empty item");
    size_t dash = item.find('-', 1);
    int64_t first = 0;
    int64_t last = 0;
    auto a = parse_int64(dash == std::string_view::npos ? item : item.substr(0, dash));
    if (!a.is_ok()) return bad("has a non-integer '" + std::string(item) + "'");
    first = last = *a;
    if (dash != std::string_view::npos) {
      auto b = parse_int64(item.substr(dash + 1));
      if (!b.is_ok()) return bad("has a non-integer '" + std::string(item) + "'");
      last = *b;
    }
    if (first < 0 || last > kMaxBit) return bad("has a bit outside 0-63");
    if (last < first) return bad("has a range that ends before it starts");
    for (int64_t b = first; b <= last; ++b) bits.push_back(static_cast<int>(b));
    if (comma == std::string_view::npos) break;
    pos = comma + 1;
  }
  std::sort(bits.begin(), bits.end());
  bits.erase(std::unique(bits.begin(), bits.end()), bits.end());
  return bits;
}

uint64_t uniform_below(std::mt19937_64& rng, uint64_t bound) {
  // 2^64 mod bound, computed without 128-bit arithmetic: (2^64 - bound) mod bound.
  const uint64_t rejected = (uint64_t{0} - bound) % bound;
  for (;;) {
    const uint64_t x = rng();
    if (x >= rejected) return x % bound;  // [rejected, 2^64) holds a whole number of `bound` blocks
  }
}

Result<std::vector<FaultSpaceLayer>> select_fault_space(const std::vector<FaultTarget>& targets,
                                                        const GeneratorOptions& options) {
  TargetKind kind;
  switch (options.target) {
    case SiteTarget::kWeight:
      kind = TargetKind::kWeight;
      break;
    case SiteTarget::kActivation:
      kind = TargetKind::kActivation;
      break;
    case SiteTarget::kInput:
      kind = TargetKind::kInput;
      break;
    case SiteTarget::kAccumulator:
    case SiteTarget::kProduct:
    case SiteTarget::kPe:
    case SiteTarget::kPattern:
      kind = TargetKind::kKernel;
      break;
    default:
      return unsupported("cannot generate " + std::string(site_target_name(options.target)) + " faults yet");
  }
  std::vector<int> chosen_bits;
  if (!options.bits.empty()) {
    FL_ASSIGN_OR_RETURN(chosen_bits, parse_bit_spec(options.bits));
  }
  if (options.layers.empty()) return invalid_argument("no layer pattern given");
  std::vector<bool> pattern_used(options.layers.size(), false);
  std::vector<FaultSpaceLayer> space;
  for (size_t i = 0; i < targets.size(); ++i) {
    const FaultTarget& t = targets[i];
    if (t.kind != kind) continue;
    bool matched = false;
    for (size_t p = 0; p < options.layers.size(); ++p) {
      if (glob_match(options.layers[p], t.layer) || glob_match(options.layers[p], t.name)) {
        pattern_used[p] = true;
        matched = true;
      }
    }
    if (!matched) continue;
    if (kind == TargetKind::kWeight && options.parameters == ParameterSet::kConvAndLinearWeights &&
        !is_conv_or_linear_weight(t)) {
      continue;
    }
    if (t.elements <= 0) continue;
    FaultSpaceLayer layer;
    layer.target = i;
    layer.source = &t;
    layer.layer = list_name(targets, i, options.target);
    layer.shape = t.shape;
    layer.elements = t.elements;
    if (kind == TargetKind::kKernel) {
      auto shape = kernel_space_shape(t, kernel_space(options));
      if (!shape.is_ok()) return shape.status().with_context("'" + layer.layer + "'");
      layer.shape = *shape;
      layer.elements = numel(layer.shape);
    }
    // A kernel target's word: float32, or an integer op's int32 arithmetic / int8, uint8, int32 output.
    const DType word = kind == TargetKind::kKernel ? kernel_word_dtype(t, options.target) : t.dtype;
    const int width = dtype_bits(word);
    if (chosen_bits.empty()) {
      for (int b = 0; b < width; ++b) layer.bits.push_back(b);
    } else {
      if (chosen_bits.back() >= width) {
        return out_of_range("bit " + std::to_string(chosen_bits.back()) + " is out of range for '" + layer.layer +
                            "' (" + std::string(dtype_name(word)) + ", 0-" + std::to_string(width - 1) + ")");
      }
      layer.bits = chosen_bits;
    }
    space.push_back(std::move(layer));
  }
  for (size_t p = 0; p < options.layers.size(); ++p) {
    if (!pattern_used[p]) {
      return not_found("layer pattern '" + options.layers[p] + "' matches no " +
                       std::string(site_target_name(options.target)) + " of the model");
    }
  }
  if (space.empty()) {
    return not_found("the layer patterns choose no " + std::string(site_target_name(options.target)) +
                     (kind == TargetKind::kWeight ? " (only conv/linear weights are chosen unless all parameters are "
                                                    "asked for)"
                                                  : ""));
  }
  return space;
}

Result<FaultList> generate_random_faults(const std::vector<FaultTarget>& targets, const GeneratorOptions& options,
                                         int64_t count) {
  FL_RETURN_IF_ERROR(validate_models(options));
  FL_ASSIGN_OR_RETURN(std::vector<FaultSpaceLayer> space, select_fault_space(targets, options));
  std::vector<uint64_t> starts;  // first global position of each layer
  uint64_t total = 0;
  for (const FaultSpaceLayer& layer : space) {
    starts.push_back(total);
    total += static_cast<uint64_t>(layer.elements) * layer.bits.size();
  }
  if (count < 0 || static_cast<uint64_t>(count) > total) {
    return out_of_range(std::to_string(count) + " faults asked for, the fault space holds " + std::to_string(total));
  }
  std::mt19937_64 rng(options.seed);
  std::vector<uint64_t> positions = sample_distinct(rng, total, static_cast<uint64_t>(count));
  FaultList list = new_list();
  list.entries.reserve(positions.size());
  size_t layer = 0;
  for (uint64_t pos : positions) {
    while (layer + 1 < space.size() && pos >= starts[layer + 1]) ++layer;
    FaultModel model = pick_model(options, rng);
    FL_ASSIGN_OR_RETURN(Fault fault, make_fault(space[layer], pos - starts[layer], model, options, rng));
    append(list, std::move(fault));
  }
  return list;
}

Result<FaultList> generate_exhaustive_faults(const std::vector<FaultTarget>& targets, const GeneratorOptions& options,
                                             int64_t max_faults) {
  FL_RETURN_IF_ERROR(validate_models(options));
  FL_ASSIGN_OR_RETURN(std::vector<FaultSpaceLayer> space, select_fault_space(targets, options));
  uint64_t total = 0;
  for (const FaultSpaceLayer& layer : space) {
    total += static_cast<uint64_t>(layer.elements) * layer.bits.size() * options.models.size();
  }
  if (total > static_cast<uint64_t>(max_faults)) {
    return out_of_range("an exhaustive list would hold " + std::to_string(total) + " faults, above the limit of " +
                        std::to_string(max_faults));
  }
  std::mt19937_64 rng(options.seed);  // multibit's extra bits only
  FaultList list = new_list();
  list.entries.reserve(total);
  for (const FaultSpaceLayer& layer : space) {
    const uint64_t positions = static_cast<uint64_t>(layer.elements) * layer.bits.size();
    for (uint64_t pos = 0; pos < positions; ++pos) {
      for (FaultModel model : options.models) {
        FL_ASSIGN_OR_RETURN(Fault fault, make_fault(layer, pos, model, options, rng));
        append(list, std::move(fault));
      }
    }
  }
  return list;
}

Result<FaultList> generate_statistical_faults(const std::vector<FaultTarget>& targets, const GeneratorOptions& options,
                                              SampleScope scope, const SampleSizeOptions& sample_options) {
  FL_RETURN_IF_ERROR(validate_models(options));
  FL_ASSIGN_OR_RETURN(std::vector<FaultSpaceLayer> space, select_fault_space(targets, options));
  std::vector<LayerPopulation> populations;
  for (const FaultSpaceLayer& layer : space) {
    populations.push_back({layer.layer, layer.elements, static_cast<int>(layer.bits.size())});
  }
  FL_ASSIGN_OR_RETURN(std::vector<LayerSample> samples, sample_sizes(populations, scope, sample_options));
  std::mt19937_64 rng(options.seed);
  FaultList list = new_list();
  size_t sample = 0;
  for (const FaultSpaceLayer& layer : space) {
    const uint64_t nbits = layer.bits.size();
    std::vector<uint64_t> positions;
    if (scope == SampleScope::kLayerBit) {
      for (uint64_t slot = 0; slot < nbits; ++slot) {
        const LayerSample& s = samples[sample++];
        for (uint64_t element :
             sample_distinct(rng, static_cast<uint64_t>(layer.elements), static_cast<uint64_t>(s.faults))) {
          positions.push_back(element * nbits + slot);
        }
      }
      std::sort(positions.begin(), positions.end());
    } else {
      const LayerSample& s = samples[sample++];
      positions = sample_distinct(rng, static_cast<uint64_t>(layer.elements) * nbits, static_cast<uint64_t>(s.faults));
    }
    for (uint64_t pos : positions) {
      FaultModel model = pick_model(options, rng);
      FL_ASSIGN_OR_RETURN(Fault fault, make_fault(layer, pos, model, options, rng));
      append(list, std::move(fault));
    }
  }
  return list;
}

Result<FaultList> generate_ber_faults(const std::vector<FaultTarget>& targets, const GeneratorOptions& options,
                                      double p) {
  if (!(p >= 0.0 && p <= 1.0)) {
    return out_of_range("bit error rate " + std::to_string(p) + " is not a probability in [0, 1]");
  }
  if (is_kernel_site(options.target)) {
    return invalid_argument("ber is not a kernel-level fault model (" + std::string(site_target_name(options.target)) +
                            " sites take word faults)");
  }
  FL_ASSIGN_OR_RETURN(std::vector<FaultSpaceLayer> space, select_fault_space(targets, options));
  FaultList list = new_list();
  std::mt19937_64 rng(options.seed);  // Batch images only
  for (const FaultSpaceLayer& layer : space) {
    Fault fault;
    fault.site.target = options.target;
    fault.site.layer = layer.layer;
    fault.model = FaultModel::kBitErrorRate;
    fault.value = p;
    fault.persistence = options.persistence;
    draw_batch(options, rng, fault);
    append(list, std::move(fault));
  }
  return list;
}

}  // namespace faultline
