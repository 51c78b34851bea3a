// Folding an inference BatchNormalization into the convolution before it, as the oneDNN and CUDA backends fuse
// conv + BN. Per output channel o, with s = double(scale[o]) / sqrt(double(var[o]) + epsilon) in double:
//   w'[o, k] = float(double(w[o, k]) * s)
//   b'[o]    = float((double(b[o]) - mean[o]) * s + B[o])      (b = 0 when the conv has no bias)
// Without a BatchNormalization, w' = w and b' = b (or 0). The result differs from conv-then-BN by the rounding
// of the folded operands only (the backends' tests bound it); fault plans keep a BN whose output is a fault site.
#pragma once

#include <cstdint>
#include <span>

namespace faultline {

// The four per-channel parameter arrays of a BatchNormalization (ONNX input order) and its epsilon.
struct BatchNormParams {
  const float* scale = nullptr;
  const float* bias = nullptr;
  const float* mean = nullptr;
  const float* var = nullptr;
  float epsilon = 0.0f;
};

// `weights` holds out_channels rows of weights.size() / out_channels elements; `conv_bias` is null or holds
// out_channels values; `bn` is null when there is nothing to fold. Writes folded_weights (weights.size()) and
// folded_bias (out_channels).
void fold_batch_norm(std::span<const float> weights, const float* conv_bias, int64_t out_channels,
                     const BatchNormParams* bn, std::span<float> folded_weights, std::span<float> folded_bias);

}  // namespace faultline
