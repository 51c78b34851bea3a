// Statistical fault-injection sample sizes (Leveugle et al., "Statistical fault injection: quantified error
// and confidence", DATE 2009):
//
//     n = N / (1 + e^2 (N - 1) / (t^2 p (1 - p)))
//
// N: the fault population, e: the error margin, t: the cut-off point of the normal distribution for the
// confidence level, p: the a-priori probability of a failure (0.5 is the conservative choice).
//
// Conventions of SFIadvancedmodels / dnn-benchmarks, which these functions reproduce by default:
//   * N counts every (word, bit) pair twice (`polarities` = 2, the two fault polarities); N = words x bits
//     with `polarities` = 1.
//   * t = 2.58 for 99 % (give `t` explicitly; t_from_confidence(0.99) is the exact 2.5758...).
//   * Whole network: n for the network's N, shared out over the layers in proportion to their word counts
//     and rounded to the nearest integer per layer: n_l = round(n * W_l / W). This reproduces every per-layer
//     count of the published dnn-benchmarks ResNet20 list (16,627 rows; ceil would give 16,628, floor
//     16,608). See tests/test_sample_size.cpp.
//   * Per layer: n_l = ceil(n(N_l)) with N_l = W_l x bits x polarities (SFIadvancedmodels' layer-wise mode).
//   * Per layer and bit: n_lb = ceil(n(N_lb)) with N_lb = W_l x polarities.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "engine/status.h"

namespace faultline {

struct SampleSizeOptions {
  double error_margin = 0.01;  // e, in (0, 1)
  double confidence = 0.99;    // used when `t` is not given, in (0, 1)
  std::optional<double> t;     // explicit cut-off (SFIadvancedmodels: 2.58)
  double p = 0.5;              // a-priori failure probability, in (0, 1)
  int polarities = 2;          // fault polarities counted per (word, bit): 1 or 2
};

// The two-sided standard normal quantile: P(|Z| <= t) = confidence (0.90 -> 1.6449, 0.95 -> 1.9600,
// 0.99 -> 2.5758). Fails outside (0, 1).
Result<double> t_from_confidence(double confidence);

// The formula above, unrounded; N >= 1. Validates the options.
Result<double> leveugle_sample_size(double population, const SampleSizeOptions& options);

// One fault-space component: a layer (or tensor) with `words` elements of `bits` bits each.
struct LayerPopulation {
  std::string layer;
  int64_t words = 0;
  int bits = 32;
};

enum class SampleScope {
  kNetwork,   // one n for the whole network, shared out over the layers
  kLayer,     // one n per layer
  kLayerBit,  // one n per (layer, bit)
};

struct LayerSample {
  std::string layer;
  int bit = -1;           // kLayerBit only; -1 otherwise
  double population = 0;  // N of the formula that gave this count (the network's N for kNetwork)
  int64_t faults = 0;     // faults to inject in this layer (and bit)
};

// The number of faults per layer (kLayerBit: per layer and bit, bits 0..bits-1 in order), with the
// rounding rules above. Counts never exceed the words x bits the layer (or words for one bit) holds.
Result<std::vector<LayerSample>> sample_sizes(const std::vector<LayerPopulation>& layers, SampleScope scope,
                                              const SampleSizeOptions& options);

// ceil(n) of the whole network's N (the total before it is shared out).
Result<int64_t> network_sample_size(const std::vector<LayerPopulation>& layers, const SampleSizeOptions& options);

}  // namespace faultline
