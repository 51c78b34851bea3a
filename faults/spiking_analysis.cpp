#include "faults/spiking_analysis.h"

#include <algorithm>
#include <cmath>
#include <span>

#include "faults/campaign_files.h"
#include "faults/csv.h"
#include "faults/outcomes.h"

namespace faultline {

SpikingJetCounts& SpikingJetCounts::operator+=(const SpikingJetCounts& other) {
  faults += other.faults;
  images += other.images;
  fully_masked += other.fully_masked;
  sdc_1 += other.sdc_1;
  sdc_0_5 += other.sdc_0_5;
  sdc_5_10 += other.sdc_5_10;
  sdc_10_20 += other.sdc_10_20;
  sdc_20 += other.sdc_20;
  faulty_correct += other.faulty_correct;
  golden_correct += other.golden_correct;
  labelled = labelled || other.labelled;
  return *this;
}

Result<SpikingJetCounts> spikingjet_counts(const Tensor& golden, const Tensor& faulty, const Tensor& labels) {
  if (golden.dtype() != DType::kFloat32 || faulty.dtype() != DType::kFloat32 || golden.rank() < 1 ||
      golden.shape() != faulty.shape() || golden.dim(0) < 1 || golden.numel() == 0)
    return invalid_argument("spiking analysis: golden " + shape_to_string(golden.shape()) + " and faulty " +
                            shape_to_string(faulty.shape()) + " must be float32 [N, classes] of one shape");
  const int64_t n = golden.dim(0);
  const bool labelled = labels.numel() > 0;
  if (labelled && (labels.dtype() != DType::kInt64 || labels.numel() != n))
    return invalid_argument("spiking analysis: labels must be int64 [" + std::to_string(n) + "]");
  const int64_t classes = golden.numel() / n;
  SpikingJetCounts counts;
  counts.faults = 1;
  counts.images = n;
  counts.labelled = labelled;
  for (int64_t i = 0; i < n; ++i) {
    std::span<const float> g(golden.data<float>() + i * classes, static_cast<size_t>(classes));
    std::span<const float> f(faulty.data<float>() + i * classes, static_cast<size_t>(classes));
    const int64_t golden_class = top1(g);
    const int64_t faulty_class = top1(f);
    if (labelled) {
      const int64_t label = labels.data<int64_t>()[i];
      counts.golden_correct += golden_class == label;
      counts.faulty_correct += faulty_class == label;
    }
    if (golden_class != faulty_class) {
      ++counts.sdc_1;
      continue;
    }
    const float c = g[static_cast<size_t>(golden_class)];
    const float v = f[static_cast<size_t>(faulty_class)];
    const float d = 100.0f * std::fabs(c - v) / c;  // float32, as SpikingJET's torch tensors compute it
    if (c == v) ++counts.fully_masked;
    if (d < 5.0f && c != v) ++counts.sdc_0_5;
    if (d > 5.0f && d < 10.0f) ++counts.sdc_5_10;
    if (d > 10.0f && d < 20.0f) ++counts.sdc_10_20;
    if (d > 20.0f) ++counts.sdc_20;
  }
  return counts;
}

std::vector<SpikingJetLayer> group_spikingjet(const std::vector<std::string>& layers,
                                              const std::vector<SpikingJetCounts>& counts) {
  std::vector<SpikingJetLayer> groups;
  for (size_t i = 0; i < layers.size() && i < counts.size(); ++i) {
    auto it =
        std::find_if(groups.begin(), groups.end(), [&](const SpikingJetLayer& g) { return g.layer == layers[i]; });
    if (it == groups.end()) it = groups.insert(groups.end(), SpikingJetLayer{layers[i], {}});
    it->counts += counts[i];
  }
  return groups;
}

std::string spiking_csv(const std::vector<SpikingJetLayer>& layers) {
  std::vector<std::string> header = {""};
  for (const SpikingJetLayer& l : layers) header.push_back(l.layer);
  std::string text = csv_line(header);
  auto row = [&](const char* name, auto value_of) {
    std::vector<std::string> fields = {name};
    for (const SpikingJetLayer& l : layers) fields.push_back(value_of(l.counts));
    text += csv_line(fields);
  };
  auto rate = [](int64_t SpikingJetCounts::*member) {
    return [member](const SpikingJetCounts& c) {
      return c.images > 0 ? shortest_number(static_cast<double>(c.*member) / static_cast<double>(c.images))
                          : std::string();
    };
  };
  auto labelled_rate = [&](int64_t SpikingJetCounts::*member) {
    return [member, rate](const SpikingJetCounts& c) { return c.labelled ? rate(member)(c) : std::string(); };
  };
  row("# of faults", [](const SpikingJetCounts& c) { return std::to_string(c.faults); });
  row("# of injections", [](const SpikingJetCounts& c) { return std::to_string(c.images); });
  row("fully_masked", rate(&SpikingJetCounts::fully_masked));
  row("SDC_1", rate(&SpikingJetCounts::sdc_1));
  row("SDC_0_5%", rate(&SpikingJetCounts::sdc_0_5));
  row("SDC_5_10%", rate(&SpikingJetCounts::sdc_5_10));
  row("SDC_10_20%", rate(&SpikingJetCounts::sdc_10_20));
  row("SDC_20", rate(&SpikingJetCounts::sdc_20));
  row("facc", labelled_rate(&SpikingJetCounts::faulty_correct));
  row("acc", labelled_rate(&SpikingJetCounts::golden_correct));
  return text;
}

}  // namespace faultline
