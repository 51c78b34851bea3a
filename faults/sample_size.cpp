#include "faults/sample_size.h"

#include <algorithm>
#include <cmath>

namespace faultline {

namespace {

Status validate(const SampleSizeOptions& options) {
  if (!(options.error_margin > 0.0 && options.error_margin < 1.0)) {
    return out_of_range("error margin " + std::to_string(options.error_margin) + " is not in (0, 1)");
  }
  if (!(options.p > 0.0 && options.p < 1.0)) {
    return out_of_range("a-priori probability p " + std::to_string(options.p) + " is not in (0, 1)");
  }
  if (options.t && !(*options.t > 0.0 && std::isfinite(*options.t))) {
    return out_of_range("t " + std::to_string(*options.t) + " is not a positive number");
  }
  if (options.polarities != 1 && options.polarities != 2) {
    return out_of_range("polarities " + std::to_string(options.polarities) + " is not 1 or 2");
  }
  return Status::ok();
}

Result<double> cutoff(const SampleSizeOptions& options) {
  if (options.t) return *options.t;
  return t_from_confidence(options.confidence);
}

double leveugle(double population, double e, double t, double p) {
  return population / (1.0 + e * e * (population - 1.0) / (t * t * p * (1.0 - p)));
}

int64_t ceil_count(double n) {
  // n is a ratio of doubles; a value within 1e-9 of an integer is that integer (no spurious +1).
  double nearest = std::nearbyint(n);
  if (std::fabs(n - nearest) < 1e-9 * std::max(1.0, nearest)) return static_cast<int64_t>(nearest);
  return static_cast<int64_t>(std::ceil(n));
}

}  // namespace

Result<double> t_from_confidence(double confidence) {
  if (!(confidence > 0.0 && confidence < 1.0)) {
    return out_of_range("confidence " + std::to_string(confidence) + " is not in (0, 1)");
  }
  // Solve erf(t / sqrt(2)) = confidence by bisection: erf is monotonic, 200 halvings reach the last ulp.
  double low = 0.0;
  double high = 40.0;
  for (int i = 0; i < 200 && high - low > 0.0; ++i) {
    double mid = 0.5 * (low + high);
    if (mid == low || mid == high) break;
    if (std::erf(mid / std::sqrt(2.0)) < confidence) {
      low = mid;
    } else {
      high = mid;
    }
  }
  return 0.5 * (low + high);
}

Result<double> leveugle_sample_size(double population, const SampleSizeOptions& options) {
  FL_RETURN_IF_ERROR(validate(options));
  if (!(population >= 1.0)) {
    return out_of_range("fault population " + std::to_string(population) + " is below 1");
  }
  FL_ASSIGN_OR_RETURN(double t, cutoff(options));
  return leveugle(population, options.error_margin, t, options.p);
}

Result<int64_t> network_sample_size(const std::vector<LayerPopulation>& layers, const SampleSizeOptions& options) {
  double population = 0;
  for (const LayerPopulation& layer : layers) {
    population += static_cast<double>(layer.words) * layer.bits * options.polarities;
  }
  FL_ASSIGN_OR_RETURN(double n, leveugle_sample_size(population, options));
  return ceil_count(n);
}

Result<std::vector<LayerSample>> sample_sizes(const std::vector<LayerPopulation>& layers, SampleScope scope,
                                              const SampleSizeOptions& options) {
  FL_RETURN_IF_ERROR(validate(options));
  for (const LayerPopulation& layer : layers) {
    if (layer.words < 1 || layer.bits < 1 || layer.bits > 64) {
      return out_of_range("layer '" + layer.layer + "' has " + std::to_string(layer.words) + " words of " +
                          std::to_string(layer.bits) + " bits");
    }
  }
  std::vector<LayerSample> samples;
  if (layers.empty()) return samples;
  const double polarities = options.polarities;
  switch (scope) {
    case SampleScope::kNetwork: {
      double population = 0;
      double words = 0;
      for (const LayerPopulation& layer : layers) {
        population += static_cast<double>(layer.words) * layer.bits * polarities;
        words += static_cast<double>(layer.words);
      }
      FL_ASSIGN_OR_RETURN(double n, leveugle_sample_size(population, options));
      for (const LayerPopulation& layer : layers) {
        auto share = static_cast<int64_t>(std::nearbyint(n * static_cast<double>(layer.words) / words));
        share = std::min(share, layer.words * layer.bits);
        samples.push_back({layer.layer, -1, population, share});
      }
      break;
    }
    case SampleScope::kLayer:
      for (const LayerPopulation& layer : layers) {
        double population = static_cast<double>(layer.words) * layer.bits * polarities;
        FL_ASSIGN_OR_RETURN(double n, leveugle_sample_size(population, options));
        samples.push_back({layer.layer, -1, population, std::min(ceil_count(n), layer.words * layer.bits)});
      }
      break;
    case SampleScope::kLayerBit:
      for (const LayerPopulation& layer : layers) {
        double population = static_cast<double>(layer.words) * polarities;
        FL_ASSIGN_OR_RETURN(double n, leveugle_sample_size(population, options));
        for (int bit = 0; bit < layer.bits; ++bit) {
          samples.push_back({layer.layer, bit, population, std::min(ceil_count(n), layer.words)});
        }
      }
      break;
  }
  return samples;
}

}  // namespace faultline
