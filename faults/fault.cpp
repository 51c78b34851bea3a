#include "faults/fault.h"

#include <array>
#include <charconv>
#include <cstdio>

#include "faults/csv.h"

namespace faultline {

namespace {

constexpr std::array<std::string_view, kSiteTargetCount> kSiteTargetNames = {
    "weight", "activation", "input", "state", "accumulator", "product", "pe", "pattern"};
constexpr std::array<std::string_view, static_cast<size_t>(Dataflow::kCount)> kDataflowNames = {
    "output-stationary", "weight-stationary"};
constexpr std::array<std::string_view, static_cast<size_t>(PeUnit::kCount)> kPeUnitNames = {"accumulator", "product"};
constexpr std::array<std::string_view, static_cast<size_t>(OutputPattern::kCount)> kOutputPatternNames = {
    "element", "row", "column", "channel", "tile"};
constexpr std::array<std::string_view, kFaultModelCount> kFaultModelNames = {
    "bitflip", "multibit", "stuck-at-0", "stuck-at-1", "zero", "value", "random", "ber"};
constexpr std::array<std::string_view, kPersistenceCount> kPersistenceNames = {"permanent", "inference", "batch",
                                                                               "steps"};
static_assert(kSiteTargetNames.size() == 8 && kFaultModelNames.size() == 8 && kPersistenceNames.size() == 4,
              "a new enum value needs its name here");

struct Alias {
  std::string_view name;
  FaultModel model;
};
constexpr Alias kFaultModelAliases[] = {
    {"bit-flip", FaultModel::kBitFlip},
    {"flip", FaultModel::kBitFlip},
    {"multi-bit", FaultModel::kMultiBitFlip},
    {"multibitflip", FaultModel::kMultiBitFlip},
    {"sa0", FaultModel::kStuckAt0},
    {"stuck_at_0", FaultModel::kStuckAt0},
    {"stuck-at0", FaultModel::kStuckAt0},
    {"sa1", FaultModel::kStuckAt1},
    {"stuck_at_1", FaultModel::kStuckAt1},
    {"stuck-at1", FaultModel::kStuckAt1},
    {"random-value", FaultModel::kRandomValue},
    {"bit-error-rate", FaultModel::kBitErrorRate},
};

template <size_t N>
std::optional<size_t> find_name(const std::array<std::string_view, N>& names, std::string_view name) {
  std::string_view t = trim(name);
  for (size_t i = 0; i < N; ++i) {
    if (iequals(names[i], t)) return i;
  }
  return std::nullopt;
}

}  // namespace

std::string_view site_target_name(SiteTarget target) {
  return kSiteTargetNames[static_cast<size_t>(target)];
}

bool is_kernel_site(SiteTarget target) {
  return target == SiteTarget::kAccumulator || target == SiteTarget::kProduct || target == SiteTarget::kPe ||
         target == SiteTarget::kPattern;
}

std::string_view dataflow_name(Dataflow dataflow) { return kDataflowNames[static_cast<size_t>(dataflow)]; }

std::optional<Dataflow> dataflow_from_name(std::string_view name) {
  if (iequals(trim(name), "os")) return Dataflow::kOutputStationary;
  if (iequals(trim(name), "ws")) return Dataflow::kWeightStationary;
  if (auto i = find_name(kDataflowNames, name)) return static_cast<Dataflow>(*i);
  return std::nullopt;
}

std::string_view pe_unit_name(PeUnit unit) { return kPeUnitNames[static_cast<size_t>(unit)]; }

std::optional<PeUnit> pe_unit_from_name(std::string_view name) {
  if (auto i = find_name(kPeUnitNames, name)) return static_cast<PeUnit>(*i);
  return std::nullopt;
}

std::string_view output_pattern_name(OutputPattern pattern) {
  return kOutputPatternNames[static_cast<size_t>(pattern)];
}

std::optional<OutputPattern> output_pattern_from_name(std::string_view name) {
  if (auto i = find_name(kOutputPatternNames, name)) return static_cast<OutputPattern>(*i);
  return std::nullopt;
}

std::string mac_to_string(int64_t mac) {
  if (mac == kMacLast) return "last";
  if (mac == kMacBias) return "bias";
  return std::to_string(mac);
}

Result<int64_t> parse_mac(std::string_view text) {
  const std::string_view t = trim(text);
  if (iequals(t, "last")) return kMacLast;
  if (iequals(t, "bias")) return kMacBias;
  auto mac = parse_int64(t);
  if (!mac.is_ok() || *mac < 0) {
    return invalid_argument("Mac '" + std::string(text) + "' is not a MAC index (0, 1, ...), 'last' or 'bias'");
  }
  return *mac;
}

std::string array_to_string(const PeArray& array) {
  return std::to_string(array.rows) + "x" + std::to_string(array.cols);
}

Result<PeArray> parse_array_size(std::string_view text) {
  const std::string_view t = trim(text);
  const size_t x = t.find_first_of("xX");
  auto bad = [&] {
    return invalid_argument("Array '" + std::string(text) + "' is not a PE array size like \"16x16\" (rows x columns)");
  };
  if (x == std::string_view::npos) return bad();
  auto rows = parse_int64(trim(t.substr(0, x)));
  auto cols = parse_int64(trim(t.substr(x + 1)));
  if (!rows.is_ok() || !cols.is_ok() || *rows < 1 || *cols < 1) return bad();
  PeArray array;
  array.rows = *rows;
  array.cols = *cols;
  return array;
}

std::optional<SiteTarget> site_target_from_name(std::string_view name) {
  std::string_view t = trim(name);
  if (!t.empty() && (t.back() == 's' || t.back() == 'S')) {
    if (auto i = find_name(kSiteTargetNames, t.substr(0, t.size() - 1))) return static_cast<SiteTarget>(*i);
  }
  if (auto i = find_name(kSiteTargetNames, t)) return static_cast<SiteTarget>(*i);
  return std::nullopt;
}

std::string_view fault_model_name(FaultModel model) {
  return kFaultModelNames[static_cast<size_t>(model)];
}

std::optional<FaultModel> fault_model_from_name(std::string_view name) {
  if (auto i = find_name(kFaultModelNames, name)) return static_cast<FaultModel>(*i);
  for (const Alias& alias : kFaultModelAliases) {
    if (iequals(alias.name, trim(name))) return alias.model;
  }
  return std::nullopt;
}

bool fault_model_uses_bit(FaultModel model) {
  return model == FaultModel::kBitFlip || model == FaultModel::kStuckAt0 || model == FaultModel::kStuckAt1;
}
bool fault_model_uses_mask(FaultModel model) {
  return model == FaultModel::kMultiBitFlip;
}
bool fault_model_uses_value(FaultModel model) {
  return model == FaultModel::kValue || model == FaultModel::kBitErrorRate;
}
bool fault_model_is_word_fault(FaultModel model) {
  return model != FaultModel::kBitErrorRate;
}

std::string_view persistence_name(Persistence persistence) {
  return kPersistenceNames[static_cast<size_t>(persistence)];
}

std::optional<Persistence> persistence_from_name(std::string_view name) {
  if (auto i = find_name(kPersistenceNames, name)) return static_cast<Persistence>(*i);
  return std::nullopt;
}

std::string index_to_string(const std::vector<int64_t>& index) {
  std::string out = "(";
  for (size_t i = 0; i < index.size(); ++i) {
    if (i > 0) out += ", ";
    out += std::to_string(index[i]);
  }
  if (index.size() == 1) out += ",";
  out += ")";
  return out;
}

Result<std::vector<int64_t>> parse_index(std::string_view text, bool* flat) {
  std::string_view t = trim(text);
  if (flat) *flat = false;
  auto bad = [&](const std::string& why) {
    return invalid_argument("tensor index '" + std::string(text) + "' " + why);
  };
  if (t.empty()) return bad("is empty");
  std::vector<int64_t> index;
  if (t.front() != '(' && t.front() != '[') {
    auto value = parse_int64(t);
    if (!value.is_ok()) return bad("is neither a tuple like \"(3, 0, 2, 1)\" nor an integer");
    if (*value < 0) return bad("is negative");
    if (flat) *flat = true;
    index.push_back(*value);
    return index;
  }
  const char close = t.front() == '(' ? ')' : ']';
  if (t.back() != close) return bad(std::string("does not end with '") + close + "'");
  std::string_view body = trim(t.substr(1, t.size() - 2));
  if (body.empty()) return index;
  size_t pos = 0;
  while (pos <= body.size()) {
    size_t comma = body.find(',', pos);
    std::string_view item = trim(body.substr(pos, comma == std::string_view::npos ? body.npos : comma - pos));
    if (item.empty()) {
      // Only a single trailing comma is allowed: "(5,)".
      if (comma == std::string_view::npos && !index.empty()) break;
      return bad("has an empty element");
    }
    auto value = parse_int64(item);
    if (!value.is_ok()) return bad("has a non-integer element '" + std::string(item) + "'");
    if (*value < 0) return bad("has a negative element");
    index.push_back(*value);
    if (comma == std::string_view::npos) break;
    pos = comma + 1;
  }
  return index;
}

std::string mask_to_string(uint64_t mask) {
  char buffer[24];
  std::snprintf(buffer, sizeof(buffer), "0x%llx", static_cast<unsigned long long>(mask));
  return buffer;
}

Result<uint64_t> parse_mask(std::string_view text) {
  std::string_view t = trim(text);
  int base = 10;
  if (t.size() > 2 && t[0] == '0' && (t[1] == 'x' || t[1] == 'X')) {
    base = 16;
    t.remove_prefix(2);
  } else if (t.size() > 2 && t[0] == '0' && (t[1] == 'b' || t[1] == 'B')) {
    base = 2;
    t.remove_prefix(2);
  }
  uint64_t value = 0;
  auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), value, base);
  if (t.empty() || ec != std::errc() || end != t.data() + t.size()) {
    return invalid_argument("mask '" + std::string(text) + "' is not an integer (0x1f, 31 or 0b11111)");
  }
  if (value == 0) return invalid_argument("mask '" + std::string(text) + "' has no bit set");
  return value;
}

Result<StepRange> parse_step_range(std::string_view text) {
  std::string_view t = trim(text);
  size_t dash = t.find('-', 1);  // from 1: a leading '-' is a sign, caught below
  StepRange steps;
  auto bad = [&](const std::string& why) { return invalid_argument("step '" + std::string(text) + "' " + why); };
  if (dash == std::string_view::npos) {
    auto value = parse_int64(t);
    if (!value.is_ok()) return bad("is not a step or range like \"3-5\"");
    steps.first = steps.last = *value;
  } else {
    auto first = parse_int64(t.substr(0, dash));
    auto last = parse_int64(t.substr(dash + 1));
    if (!first.is_ok() || !last.is_ok()) return bad("is not a step or range like \"3-5\"");
    steps.first = *first;
    steps.last = *last;
  }
  if (steps.first < 0) return bad("is negative");
  if (steps.last < steps.first) return bad("ends before it starts");
  return steps;
}

std::string step_range_to_string(const StepRange& steps) {
  if (steps.first == steps.last) return std::to_string(steps.first);
  return std::to_string(steps.first) + "-" + std::to_string(steps.last);
}

std::string describe(const Fault& fault) {
  const FaultSite& site = fault.site;
  std::string out(site_target_name(site.target));
  out.append(" ").append(site.layer);
  if (!site.index.empty()) {
    out.append(" ");
    if (site.flat_index) {
      out.append("[").append(std::to_string(site.index[0])).append("]");
    } else {
      out.append(index_to_string(site.index));
    }
  }
  switch (site.target) {
    case SiteTarget::kAccumulator:
    case SiteTarget::kProduct:
      out.append(" mac ").append(mac_to_string(site.kernel.mac));
      break;
    case SiteTarget::kPe:
      out.append(" of ").append(array_to_string(site.kernel.array)).append(" ");
      out.append(dataflow_name(site.kernel.array.dataflow)).append(" ").append(pe_unit_name(site.kernel.array.unit));
      break;
    case SiteTarget::kPattern:
      out.append(" ").append(output_pattern_name(site.kernel.pattern));
      break;
    default:
      break;
  }
  if (site.batch) out.append(" image ").append(std::to_string(*site.batch));
  if (site.bit != kNoBit) out.append(" bit ").append(std::to_string(site.bit));
  out.append(" ").append(fault_model_name(fault.model));
  if (fault_model_uses_mask(fault.model)) out.append(" ").append(mask_to_string(fault.mask));
  if (fault.model == FaultModel::kValue) out.append(" ").append(std::to_string(fault.value));
  if (fault.model == FaultModel::kBitErrorRate) out.append(" p=").append(std::to_string(fault.value));
  if (site.steps) out.append(" steps ").append(step_range_to_string(*site.steps));
  return out;
}

}  // namespace faultline
