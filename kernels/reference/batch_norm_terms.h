// PyTorch's CPU inference BatchNormalization, bit for bit: aten's batch_norm_cpu_collect_linear_and_constant_terms
// and batch_norm_cpu_contiguous_impl (also its channels-last path), whose `a * b + c` the compiler contracts into
// fused multiply-adds. Per channel, in float32,
//   alpha = scale * (1 / sqrt(var + epsilon)),   beta = fma(-mean, alpha, bias),
// and per element y = fma(x, alpha, beta) (scripts/make_batch_norm_reference.py checks this against torch; the
// reference and oneDNN fault-plan kernels compute it). The form decides what faults do: a scale flipped to 3e38
// overflows alpha to inf, a negative variance makes the channel NaN, an inf mean makes beta inf, exactly where
// PyTorch's do.
#pragma once

#include <cmath>

namespace faultline {

struct BatchNormTerms {
  float alpha = 1.0f;
  float beta = 0.0f;
};

inline BatchNormTerms batch_norm_terms(float scale, float bias, float mean, float var, float epsilon) {
  const float inv_std = 1.0f / std::sqrt(var + epsilon);
  const float alpha = scale * inv_std;
  return {alpha, std::fma(-mean, alpha, bias)};
}

inline float batch_norm_apply(float x, BatchNormTerms terms) { return std::fma(x, terms.alpha, terms.beta); }

}  // namespace faultline
