#include "faults/fault_list.h"

#include <array>
#include <charconv>
#include <optional>
#include <unordered_map>

#include "engine/file_io.h"
#include "faults/bit_ops.h"
#include "faults/csv.h"
#include "faults/kernel_sites.h"

namespace faultline {

namespace {

enum Column : int {
  kInjection,
  kLayer,
  kTensorIndex,
  kBit,
  kTarget,
  kModel,
  kMask,
  kValue,
  kStep,
  kBatch,
  kPersistence,
  kMac,
  kArray,
  kDataflow,
  kUnit,
  kPattern,
  kColumnCount,
};
constexpr std::array<std::string_view, kColumnCount> kColumnNames = {
    "Injection", "Layer", "TensorIndex", "Bit",   "Target",   "Model", "Mask",   "Value",
    "Step",      "Batch", "Persistence", "Mac",   "Array",    "Dataflow", "Unit", "Pattern"};
constexpr int kFirstOptionalColumn = kTarget;
constexpr int kMaxBit = 63;

std::string format_double(double value) {
  char buffer[64];
  auto [end, ec] = std::to_chars(buffer, buffer + sizeof(buffer), value);
  return ec == std::errc() ? std::string(buffer, end) : std::to_string(value);
}

// The bit column: "15", "" (none), or a comma list "3,5" (a multibit mask).
struct BitField {
  int bit = kNoBit;
  uint64_t mask = 0;  // set for a list of two or more bits
};

Result<BitField> parse_bit_field(std::string_view text) {
  BitField field;
  std::string_view t = trim(text);
  if (t.empty()) return field;
  if (t.front() == '(' || t.front() == '[') t = trim(t.substr(1, t.size() >= 2 ? t.size() - 2 : 0));
  std::vector<int64_t> bits;
  size_t pos = 0;
  for (;;) {
    size_t comma = t.find(',', pos);
    std::string_view item = trim(t.substr(pos, comma == std::string_view::npos ? t.npos : comma - pos));
    if (!item.empty() || comma != std::string_view::npos || bits.empty()) {
      auto bit = parse_int64(item);
      if (!bit.is_ok()) return invalid_argument("bit '" + std::string(text) + "' is not an integer or a list of them");
      if (*bit < 0 || *bit > kMaxBit) {
        return out_of_range("bit " + std::to_string(*bit) + " is out of range (0-" + std::to_string(kMaxBit) + ")");
      }
      bits.push_back(*bit);
    }
    if (comma == std::string_view::npos) break;
    pos = comma + 1;
  }
  if (bits.size() == 1) {
    field.bit = static_cast<int>(bits[0]);
  } else {
    for (int64_t bit : bits) field.mask |= uint64_t{1} << bit;
  }
  return field;
}

struct Header {
  std::array<int, kColumnCount> position;  // field index of each known column, -1 when absent
  std::vector<size_t> extra_fields;        // field indexes of the passthrough columns
};

Result<Header> parse_header(const CsvRecord& record, const std::string& source, FaultList& list) {
  Header header;
  header.position.fill(-1);
  const std::string where = source + ":" + std::to_string(record.line) + ": ";
  for (size_t i = 0; i < record.fields.size(); ++i) {
    std::string_view name = trim(record.fields[i]);
    list.input_header.emplace_back(name);
    int known = -1;
    for (int c = 0; c < kColumnCount; ++c) {
      if (iequals(kColumnNames[static_cast<size_t>(c)], name)) known = c;
    }
    if (known >= 0) {
      if (header.position[static_cast<size_t>(known)] >= 0) {
        return invalid_argument(where + "the header has column '" + std::string(name) + "' twice");
      }
      header.position[static_cast<size_t>(known)] = static_cast<int>(i);
    } else {
      if (name.empty()) return invalid_argument(where + "the header has an empty column name");
      header.extra_fields.push_back(i);
      list.extra_columns.emplace_back(name);
    }
  }
  if (header.position[kLayer] < 0) {
    return invalid_argument(where + "the header has no 'Layer' column (expected Injection,Layer,TensorIndex,Bit)");
  }
  return header;
}

// The kernel-level columns (Mac, Array, Dataflow, Unit, Pattern; faults/kernel_sites.h): required or defaulted by
// the site's target, refused on a site that does not read them.
template <typename Cell>
Status parse_kernel_columns(const Cell& cell, FaultSite& site) {
  const SiteTarget target = site.target;
  auto refuse_unless = [&](Column column, bool wanted) -> Status {
    if (wanted || cell(column).empty()) return Status::ok();
    const std::string_view name = site_target_name(target);
    return invalid_argument(std::string(kColumnNames[static_cast<size_t>(column)]) + " '" + std::string(cell(column)) +
                            "' is given for " + (name.find_first_of("aeiou") == 0 ? "an " : "a ") + std::string(name) +
                            " site, which has none");
  };
  const bool mac_site = target == SiteTarget::kAccumulator || target == SiteTarget::kProduct;
  FL_RETURN_IF_ERROR(refuse_unless(kMac, mac_site));
  FL_RETURN_IF_ERROR(refuse_unless(kArray, target == SiteTarget::kPe));
  FL_RETURN_IF_ERROR(refuse_unless(kDataflow, target == SiteTarget::kPe));
  FL_RETURN_IF_ERROR(refuse_unless(kUnit, target == SiteTarget::kPe));
  FL_RETURN_IF_ERROR(refuse_unless(kPattern, target == SiteTarget::kPattern));
  if (mac_site) {
    if (cell(kMac).empty()) {
      if (target == SiteTarget::kProduct) return invalid_argument("a product site needs a Mac (the MAC index)");
      site.kernel.mac = kMacLast;
    } else {
      FL_ASSIGN_OR_RETURN(site.kernel.mac, parse_mac(cell(kMac)));
      if (target == SiteTarget::kProduct && site.kernel.mac < 0)
        return invalid_argument("a product site needs a MAC index, not '" + std::string(cell(kMac)) + "'");
    }
  }
  if (target == SiteTarget::kPe) {
    if (cell(kArray).empty()) return invalid_argument("a pe site needs an Array (e.g. 16x16)");
    FL_ASSIGN_OR_RETURN(PeArray array, parse_array_size(cell(kArray)));
    if (!cell(kDataflow).empty()) {
      auto dataflow = dataflow_from_name(cell(kDataflow));
      if (!dataflow) {
        return invalid_argument("Dataflow '" + std::string(cell(kDataflow)) +
                                "' is not output-stationary (os) or weight-stationary (ws)");
      }
      array.dataflow = *dataflow;
    }
    if (!cell(kUnit).empty()) {
      auto unit = pe_unit_from_name(cell(kUnit));
      if (!unit) return invalid_argument("Unit '" + std::string(cell(kUnit)) + "' is not accumulator or product");
      array.unit = *unit;
    }
    site.kernel.array = array;
  }
  if (target == SiteTarget::kPattern) {
    if (cell(kPattern).empty()) return invalid_argument("a pattern site needs a Pattern (element, row, column, channel or tile)");
    auto pattern = output_pattern_from_name(cell(kPattern));
    if (!pattern) {
      return invalid_argument("Pattern '" + std::string(cell(kPattern)) +
                              "' is not element, row, column, channel or tile");
    }
    site.kernel.pattern = *pattern;
  }
  return Status::ok();
}

Result<FaultListEntry> parse_row(const CsvRecord& record, const Header& header, int64_t ordinal) {
  FaultListEntry entry;
  entry.line = record.line;
  auto cell = [&](Column column) -> std::string_view {
    int position = header.position[static_cast<size_t>(column)];
    return position < 0 ? std::string_view() : trim(record.fields[static_cast<size_t>(position)]);
  };
  Fault& fault = entry.fault;
  FaultSite& site = fault.site;

  entry.injection = ordinal;
  if (!cell(kInjection).empty()) {
    auto injection = parse_int64(cell(kInjection));
    if (!injection.is_ok()) return invalid_argument("Injection: " + injection.status().message());
    entry.injection = *injection;
  }
  site.layer = std::string(cell(kLayer));
  if (site.layer.empty()) return invalid_argument("the Layer is empty");
  if (!cell(kTarget).empty()) {
    auto target = site_target_from_name(cell(kTarget));
    if (!target) {
      return invalid_argument("Target '" + std::string(cell(kTarget)) +
                              "' is not weight, activation, input, state, accumulator, product, pe or pattern");
    }
    site.target = *target;
  }
  if (!cell(kModel).empty()) {
    auto model = fault_model_from_name(cell(kModel));
    if (!model) {
      return invalid_argument("Model '" + std::string(cell(kModel)) +
                              "' is not bitflip, multibit, stuck-at-0, stuck-at-1, zero, value, random or ber");
    }
    fault.model = *model;
  }
  const std::optional<double> stuck_spike = cell(kModel).empty() ? stuck_spike_value(site.layer) : std::nullopt;
  if (stuck_spike) {
    fault.model = FaultModel::kValue;
    fault.value = *stuck_spike;
  }
  FL_ASSIGN_OR_RETURN(BitField bits, parse_bit_field(cell(kBit)));
  if (bits.mask != 0) {
    if (cell(kModel).empty()) fault.model = FaultModel::kMultiBitFlip;
    if (fault.model != FaultModel::kMultiBitFlip) {
      return invalid_argument("a list of bits needs Model multibit, not " + std::string(fault_model_name(fault.model)));
    }
    fault.mask = bits.mask;
  }
  site.bit = bits.bit;
  if (!cell(kMask).empty()) {
    auto mask = parse_mask(cell(kMask));
    if (!mask.is_ok()) return mask.status();
    fault.mask = *mask;
  }
  if (fault.model == FaultModel::kMultiBitFlip && fault.mask == 0) {
    if (site.bit == kNoBit) return invalid_argument("multibit needs a Mask (or a list of bits)");
    fault.mask = uint64_t{1} << site.bit;
  }
  if (fault_model_uses_bit(fault.model) && site.bit == kNoBit) {
    return invalid_argument(std::string(fault_model_name(fault.model)) + " needs a Bit");
  }
  if (!cell(kValue).empty()) {
    auto value = parse_double(cell(kValue));
    if (!value.is_ok()) return invalid_argument("Value: " + value.status().message());
    fault.value = *value;
  } else if (fault_model_uses_value(fault.model) && !stuck_spike) {
    return invalid_argument(std::string(fault_model_name(fault.model)) + " needs a Value");
  }
  if (fault.model == FaultModel::kBitErrorRate && !(fault.value >= 0.0 && fault.value <= 1.0)) {
    return out_of_range("ber probability " + std::string(cell(kValue)) + " is not in [0, 1]");
  }

  if (!cell(kTensorIndex).empty()) {
    if (fault.model == FaultModel::kBitErrorRate) {
      return invalid_argument("ber faults a whole tensor; leave TensorIndex empty");
    }
    FL_ASSIGN_OR_RETURN(site.index, parse_index(cell(kTensorIndex), &site.flat_index));
  } else if (fault.model != FaultModel::kBitErrorRate) {
    return invalid_argument("the TensorIndex is empty");
  }

  if (!cell(kStep).empty()) {
    FL_ASSIGN_OR_RETURN(StepRange steps, parse_step_range(cell(kStep)));
    site.steps = steps;
    fault.persistence = Persistence::kSteps;
  }
  if (!cell(kBatch).empty()) {
    auto batch = parse_int64(cell(kBatch));
    if (!batch.is_ok()) return invalid_argument("Batch: " + batch.status().message());
    if (*batch < 0) return out_of_range("Batch " + std::to_string(*batch) + " is negative");
    site.batch = *batch;
  }
  if (!cell(kPersistence).empty()) {
    auto persistence = persistence_from_name(cell(kPersistence));
    if (!persistence) {
      return invalid_argument("Persistence '" + std::string(cell(kPersistence)) +
                              "' is not permanent, inference, batch or steps");
    }
    fault.persistence = *persistence;
  }
  if (fault.persistence == Persistence::kSteps && !site.steps) {
    return invalid_argument("Persistence steps needs a Step range");
  }
  FL_RETURN_IF_ERROR(parse_kernel_columns(cell, site));
  for (size_t field : header.extra_fields) entry.extra.push_back(record.fields[field]);
  return entry;
}

bool entry_needs(const FaultListEntry& entry, Column column) {
  const Fault& fault = entry.fault;
  switch (column) {
    case kTarget:
      return fault.site.target != SiteTarget::kWeight;
    case kModel:
      return fault.model != FaultModel::kBitFlip;
    case kMask:
      return fault_model_uses_mask(fault.model);
    case kValue:
      return fault_model_uses_value(fault.model);
    case kStep:
      return fault.site.steps.has_value();
    case kBatch:
      return fault.site.batch.has_value();
    case kPersistence:
      return fault.persistence != Persistence::kPermanent &&
             !(fault.persistence == Persistence::kSteps && fault.site.steps);
    case kMac:
      return fault.site.target == SiteTarget::kAccumulator || fault.site.target == SiteTarget::kProduct;
    case kArray:
    case kDataflow:
    case kUnit:
      return fault.site.target == SiteTarget::kPe;
    case kPattern:
      return fault.site.target == SiteTarget::kPattern;
    default:
      return true;
  }
}

std::string cell_text(const FaultListEntry& entry, Column column) {
  const Fault& fault = entry.fault;
  const FaultSite& site = fault.site;
  switch (column) {
    case kInjection:
      return std::to_string(entry.injection);
    case kLayer:
      return site.layer;
    case kTensorIndex:
      if (fault.model == FaultModel::kBitErrorRate) return "";
      return site.flat_index && site.index.size() == 1 ? std::to_string(site.index[0]) : index_to_string(site.index);
    case kBit:
      return site.bit == kNoBit ? "" : std::to_string(site.bit);
    case kTarget:
      return std::string(site_target_name(site.target));
    case kModel:
      return std::string(fault_model_name(fault.model));
    case kMask:
      return fault_model_uses_mask(fault.model) ? mask_to_string(fault.mask) : "";
    case kValue:
      return fault_model_uses_value(fault.model) || fault.value != 0.0 ? format_double(fault.value) : "";
    case kStep:
      return site.steps ? step_range_to_string(*site.steps) : "";
    case kBatch:
      return site.batch ? std::to_string(*site.batch) : "";
    case kPersistence:
      return std::string(persistence_name(fault.persistence));
    case kMac:
      return site.target == SiteTarget::kAccumulator || site.target == SiteTarget::kProduct
                 ? mac_to_string(site.kernel.mac)
                 : "";
    case kArray:
      return site.target == SiteTarget::kPe ? array_to_string(site.kernel.array) : "";
    case kDataflow:
      return site.target == SiteTarget::kPe ? std::string(dataflow_name(site.kernel.array.dataflow)) : "";
    case kUnit:
      return site.target == SiteTarget::kPe ? std::string(pe_unit_name(site.kernel.array.unit)) : "";
    case kPattern:
      return site.target == SiteTarget::kPattern ? std::string(output_pattern_name(site.kernel.pattern)) : "";
    default:
      return "";
  }
}

}  // namespace

Result<FaultList> parse_fault_list(std::string_view text, const std::string& source) {
  FL_ASSIGN_OR_RETURN(std::vector<CsvRecord> records, parse_csv(text, source));
  FaultList list;
  list.source = source;
  if (records.empty()) return invalid_argument(source + ": the fault list is empty (no header)");
  FL_ASSIGN_OR_RETURN(Header header, parse_header(records[0], source, list));
  list.entries.reserve(records.size() - 1);
  for (size_t r = 1; r < records.size(); ++r) {
    const CsvRecord& record = records[r];
    const std::string where = source + ":" + std::to_string(record.line);
    if (record.fields.size() != records[0].fields.size()) {
      return invalid_argument(where + ": " + std::to_string(record.fields.size()) + " fields, the header has " +
                              std::to_string(records[0].fields.size()) +
                              " (is a tensor index with commas missing its quotes?)");
    }
    auto entry = parse_row(record, header, static_cast<int64_t>(r - 1));
    if (!entry.is_ok()) return entry.status().with_context(where);
    list.entries.push_back(std::move(entry).value());
  }
  return list;
}

Result<FaultList> read_fault_list(const std::string& path) {
  FL_ASSIGN_OR_RETURN(std::string text, read_file(path));
  return parse_fault_list(text, path);
}

std::string format_fault_list(const FaultList& list) {
  std::vector<int> columns = {kInjection, kLayer, kTensorIndex, kBit};
  for (int c = kFirstOptionalColumn; c < kColumnCount; ++c) {
    bool wanted = false;
    for (const std::string& name : list.input_header)
      wanted = wanted || iequals(name, kColumnNames[static_cast<size_t>(c)]);
    for (const FaultListEntry& entry : list.entries) {
      if (wanted) break;
      wanted = entry_needs(entry, static_cast<Column>(c));
    }
    if (wanted) columns.push_back(c);
  }
  std::vector<std::string> fields;
  for (int c : columns) fields.emplace_back(kColumnNames[static_cast<size_t>(c)]);
  for (const std::string& name : list.extra_columns) fields.push_back(name);
  std::string out = csv_line(fields);
  for (const FaultListEntry& entry : list.entries) {
    fields.clear();
    for (int c : columns) fields.push_back(cell_text(entry, static_cast<Column>(c)));
    for (size_t i = 0; i < list.extra_columns.size(); ++i) {
      fields.push_back(i < entry.extra.size() ? entry.extra[i] : "");
    }
    out += csv_line(fields);
  }
  return out;
}

Status write_fault_list(const std::string& path, const FaultList& list) {
  return write_file_atomically(path, format_fault_list(list));
}

std::string fault_list_location(const FaultList& list, size_t entry) {
  const std::string source = list.source.empty() ? "fault list" : list.source;
  if (entry < list.entries.size() && list.entries[entry].line > 0) {
    return source + ":" + std::to_string(list.entries[entry].line);
  }
  return source + ": fault #" + std::to_string(entry);
}

namespace {

bool ends_with(std::string_view text, std::string_view suffix) {
  return text.size() > suffix.size() && text.substr(text.size() - suffix.size()) == suffix;
}

// SpikingJET's spiking site names (faults/fault_targets.h, "Spiking sites"), which name their target whatever
// the row's Target says (SpikingJET's lists have no Target column): "<layer>.potential" / ".current" (a state
// activation, also its value name "lif1.v" for Target state), "<layer>.beta" (the tau parameter),
// "<layer>.dead" / ".saturated" (the spike output activation). nullopt when `layer` is none of them.
std::optional<Result<size_t>> find_spiking_site(const std::vector<FaultTarget>& targets, SiteTarget kind,
                                                std::string_view layer) {
  auto find = [&](TargetKind want, std::string_view name) -> std::optional<size_t> {
    for (size_t i = 0; i < targets.size(); ++i)
      if (targets[i].kind == want && targets[i].layer == name) return i;
    return std::nullopt;
  };
  auto found_or = [&](std::optional<size_t> i, std::string_view what) -> Result<size_t> {
    if (i) return *i;
    return not_found("no " + std::string(what) + " '" + std::string(layer) +
                     "' in the model (`faultline layers` lists the spiking sites)");
  };
  if (ends_with(layer, ".potential") || ends_with(layer, ".current"))
    return found_or(find(TargetKind::kActivation, layer), "neuron state");
  if (ends_with(layer, ".beta")) {
    const std::string tau = std::string(layer.substr(0, layer.size() - 5)) + ".tau";
    return found_or(find(TargetKind::kWeight, tau), "neuron parameter");
  }
  for (std::string_view suffix : {std::string_view(".dead"), std::string_view(".saturated")})
    if (ends_with(layer, suffix))
      return found_or(find(TargetKind::kActivation, layer.substr(0, layer.size() - suffix.size())), "neuron");
  if (kind == SiteTarget::kState) {
    for (size_t i = 0; i < targets.size(); ++i) {
      const FaultTarget& t = targets[i];
      if (t.kind == TargetKind::kActivation && t.name == layer &&
          (ends_with(t.layer, ".potential") || ends_with(t.layer, ".current")))
        return i;
    }
    return not_found("no neuron state '" + std::string(layer) +
                     "' in the model (<layer>.potential, <layer>.current or the state's value name)");
  }
  return std::nullopt;
}

}  // namespace

std::optional<double> stuck_spike_value(std::string_view layer) {
  if (ends_with(layer, ".dead")) return 0.0;
  if (ends_with(layer, ".saturated")) return 1.0;
  return std::nullopt;
}

Result<size_t> find_fault_target(const std::vector<FaultTarget>& targets, SiteTarget kind, std::string_view layer) {
  if (kind != SiteTarget::kInput) {
    if (auto spiking = find_spiking_site(targets, kind, layer)) return *spiking;
  }
  switch (kind) {
    case SiteTarget::kWeight: {
      const std::string weight_name = std::string(layer) + ".weight";
      std::optional<size_t> by_layer;
      std::optional<size_t> by_weight_name;
      std::optional<size_t> by_node;
      for (size_t i = 0; i < targets.size(); ++i) {
        const FaultTarget& t = targets[i];
        if (t.kind != TargetKind::kWeight) continue;
        if (t.name == layer) return i;
        if (!by_weight_name && t.name == weight_name) by_weight_name = i;
        if (!by_layer && t.layer == layer) by_layer = i;
        if (!by_node && t.node == layer) by_node = i;  // the node's first parameter: a Conv/Gemm's weight
      }
      if (by_weight_name) return *by_weight_name;
      if (by_layer) return *by_layer;
      if (by_node) return *by_node;
      return not_found("no weight '" + std::string(layer) +
                       "' in the model (a canonical layer name like 'layer1.0.conv1' or a parameter name; "
                       "`faultline layers` lists them)");
    }
    case SiteTarget::kActivation: {
      std::optional<size_t> by_name;
      std::optional<size_t> by_node;
      for (size_t i = 0; i < targets.size(); ++i) {
        const FaultTarget& t = targets[i];
        if (t.kind != TargetKind::kActivation) continue;
        if (t.layer == layer) return i;
        if (!by_name && t.name == layer) by_name = i;
        if (!by_node && t.node == layer) by_node = i;
      }
      if (by_name) return *by_name;
      if (by_node) return *by_node;
      return not_found("no activation '" + std::string(layer) +
                       "' in the model (a canonical layer name, an ONNX value name or node name; `faultline layers` "
                       "lists them)");
    }
    case SiteTarget::kInput: {
      // "<layer>" is slot 0, "<layer>:<slot>" another slot; "<layer>:0" names slot 0 too.
      std::string_view slot_zero = layer;
      if (slot_zero.size() > 2 && slot_zero.substr(slot_zero.size() - 2) == ":0")
        slot_zero.remove_suffix(2);
      std::vector<size_t> by_name;
      for (size_t i = 0; i < targets.size(); ++i) {
        const FaultTarget& t = targets[i];
        if (t.kind != TargetKind::kInput) continue;
        if (t.layer == layer || (t.slot == 0 && t.layer == slot_zero)) return i;
        if (t.node == layer || (t.slot == 0 && t.node == slot_zero)) return i;  // the ONNX node name
        if (t.name == layer) by_name.push_back(i);
      }
      if (by_name.size() == 1) return by_name.front();  // a value with one reader names its one input site
      if (by_name.size() > 1) {
        std::string readers;
        for (size_t i : by_name) readers += (readers.empty() ? "'" : ", '") + targets[i].layer + "'";
        return not_found("'" + std::string(layer) + "' is read by " + std::to_string(by_name.size()) +
                         " nodes; name the input site by its consumer: " + readers);
      }
      return not_found("no input '" + std::string(layer) +
                       "' in the model (the consumer's canonical layer name, with ':<slot>' for an input slot above "
                       "0; `faultline layers --kind input` lists them)");
    }
    case SiteTarget::kAccumulator:
    case SiteTarget::kProduct:
    case SiteTarget::kPe:
    case SiteTarget::kPattern: {
      // The node name first: it tells apart the kernels of one layer (a Keras SeparableConv2D's depthwise and
      // pointwise Conv), as `faultline layers --kind kernel` lists them.
      std::optional<size_t> by_layer, by_value;
      for (size_t i = 0; i < targets.size(); ++i) {
        const FaultTarget& t = targets[i];
        if (t.kind != TargetKind::kKernel) continue;
        if (t.node == layer) return i;
        if (!by_layer && t.layer == layer) by_layer = i;
        if (!by_value && t.name == layer) by_value = i;
      }
      if (by_layer) return *by_layer;
      if (by_value) return *by_value;
      const std::string site = (kind == SiteTarget::kAccumulator ? "an " : "a ") +
                               std::string(site_target_name(kind)) + " site";
      const std::string hint = " (`faultline layers --kind kernel` lists them)";
      for (const FaultTarget& t : targets) {  // a layer of another op: say which
        if (t.kind != TargetKind::kActivation || (t.layer != layer && t.node != layer && t.name != layer)) continue;
        if (t.op == "Conv" || t.op == "Gemm" || t.op == "MatMul") {
          return not_found("'" + std::string(layer) + "' is a " + t.op + " that " + site +
                           " cannot fault (float32 2-D Conv, Gemm without transA, MatMul with a 2-D B only)" + hint);
        }
        return not_found("'" + std::string(layer) + "' is a " + t.op + ", not a Conv, Gemm or MatMul layer for " +
                         site + hint);
      }
      return not_found("no Conv, Gemm or MatMul layer '" + std::string(layer) + "' for " + site +
                       " (a canonical layer name or node name; `faultline layers --kind kernel` lists them)");
    }
    case SiteTarget::kState:
    case SiteTarget::kCount:
      break;
  }
  return unsupported(std::string(site_target_name(kind)) + " sites cannot be resolved yet");
}

Result<int64_t> site_element(const FaultSite& site, const FaultTarget& target) {
  const std::string what = "'" + site.layer + "' " + shape_to_string(target.shape);
  if (site.flat_index) {
    if (site.index.size() != 1 || site.index[0] < 0 || site.index[0] >= target.elements) {
      return out_of_range("flat index " + (site.index.empty() ? std::string("?") : std::to_string(site.index[0])) +
                          " is out of range for " + what + " (" + std::to_string(target.elements) + " elements)");
    }
    return site.index[0];
  }
  if (site.index.size() != target.shape.size()) {
    return out_of_range("index " + index_to_string(site.index) + " has " + std::to_string(site.index.size()) +
                        " dimensions, " + what + " has " + std::to_string(target.shape.size()));
  }
  int64_t element = 0;
  for (size_t d = 0; d < site.index.size(); ++d) {
    if (site.index[d] < 0 || site.index[d] >= target.shape[d]) {
      return out_of_range("index " + index_to_string(site.index) + " is out of range for " + what + " (dimension " +
                          std::to_string(d) + ")");
    }
    element = element * target.shape[d] + site.index[d];
  }
  return element;
}

Result<int64_t> check_fault_against_target(const Fault& fault, const FaultTarget& target) {
  if (is_kernel_site(fault.site.target) || target.kind == TargetKind::kKernel) return check_kernel_fault(fault, target);
  if (fault.model == FaultModel::kBitErrorRate) return int64_t{-1};
  FL_ASSIGN_OR_RETURN(const int64_t element, site_element(fault.site, target));
  FL_RETURN_IF_ERROR(validate_word_fault(target.dtype, word_fault_of(fault)));
  return element;
}

Result<std::vector<ResolvedFault>> resolve_fault_list(const FaultList& list, const std::vector<FaultTarget>& targets) {
  std::vector<ResolvedFault> resolved;
  resolved.reserve(list.entries.size());
  Status first_error;
  int64_t more_errors = 0;
  std::unordered_map<std::string, Result<size_t>> lookups;
  for (size_t i = 0; i < list.entries.size(); ++i) {
    const Fault& fault = list.entries[i].fault;
    // Lists name few layers many times: look each (kind, layer) up once.
    std::string key = std::string(site_target_name(fault.site.target)).append(":").append(fault.site.layer);
    auto cached = lookups.find(key);
    if (cached == lookups.end()) {
      cached = lookups.emplace(std::move(key), find_fault_target(targets, fault.site.target, fault.site.layer)).first;
    }
    const Result<size_t>& target = cached->second;
    Status status = target.status();
    if (status.is_ok()) {
      auto element = check_fault_against_target(fault, targets[target.value()]);
      status = element.status();
      if (status.is_ok()) resolved.push_back({i, target.value(), *element});
    }
    if (!status.is_ok()) {
      if (first_error.is_ok()) {
        first_error = status.with_context(fault_list_location(list, i));
      } else {
        ++more_errors;
      }
    }
  }
  if (!first_error.is_ok()) {
    if (more_errors == 0) return first_error;
    return Status::error(first_error.code(),
                         first_error.message() + " (and " + std::to_string(more_errors) + " more rows with errors)");
  }
  return resolved;
}

}  // namespace faultline
