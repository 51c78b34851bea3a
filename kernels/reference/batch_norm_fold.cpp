#include "kernels/reference/batch_norm_fold.h"

#include <cmath>
#include <cstddef>

namespace faultline {

void fold_batch_norm(std::span<const float> weights, const float* conv_bias, int64_t out_channels,
                     const BatchNormParams* bn, std::span<float> folded_weights, std::span<float> folded_bias) {
  const size_t per_channel = weights.size() / static_cast<size_t>(out_channels);
  for (size_t o = 0; o < static_cast<size_t>(out_channels); ++o) {
    const double bias = conv_bias != nullptr ? conv_bias[o] : 0.0;
    if (bn == nullptr) {
      for (size_t k = 0; k < per_channel; ++k) folded_weights[o * per_channel + k] = weights[o * per_channel + k];
      folded_bias[o] = static_cast<float>(bias);
      continue;
    }
    const double s = static_cast<double>(bn->scale[o]) / std::sqrt(static_cast<double>(bn->var[o]) + bn->epsilon);
    for (size_t k = 0; k < per_channel; ++k)
      folded_weights[o * per_channel + k] = static_cast<float>(static_cast<double>(weights[o * per_channel + k]) * s);
    folded_bias[o] = static_cast<float>((bias - bn->mean[o]) * s + bn->bias[o]);
  }
}

}  // namespace faultline
