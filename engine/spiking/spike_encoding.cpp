#include "engine/spiking/spike_encoding.h"

#include <algorithm>
#include <cstring>
#include <random>

namespace faultline {

namespace {

Result<Tensor> repeated_shape(const Tensor& images, int64_t steps, Tensor& source) {
  if (steps < 1) return invalid_argument("the number of time steps must be at least 1, got " + std::to_string(steps));
  if (images.rank() < 1) return invalid_argument("static inputs must be [N, ...], got a scalar");
  source = images.dtype() == DType::kFloat32 ? images : images.cast(DType::kFloat32);
  Shape shape = images.shape();
  shape.insert(shape.begin(), steps);
  return Tensor::allocate(DType::kFloat32, shape);
}

}  // namespace

Result<Tensor> rate_encode(const Tensor& images, int64_t steps, uint64_t seed) {
  Tensor source;
  FL_ASSIGN_OR_RETURN(Tensor out, repeated_shape(images, steps, source));
  std::mt19937_64 rng(seed);
  constexpr float kScale = 1.0f / 16777216.0f;  // 2^-24
  const float* x = source.data<float>();
  float* dst = out.data<float>();
  const int64_t per_step = source.numel();
  for (int64_t t = 0; t < steps; ++t)
    for (int64_t i = 0; i < per_step; ++i) {
      const float u = static_cast<float>(rng() >> 40) * kScale;
      const float p = std::clamp(x[i], 0.0f, 1.0f);  // NaN: clamp returns NaN, u < NaN is false: no spike
      dst[t * per_step + i] = u < p ? 1.0f : 0.0f;
    }
  return out;
}

Result<Tensor> direct_encode(const Tensor& images, int64_t steps) {
  Tensor source;
  FL_ASSIGN_OR_RETURN(Tensor out, repeated_shape(images, steps, source));
  for (int64_t t = 0; t < steps; ++t)
    std::memcpy(out.data<float>() + t * source.numel(), source.raw(), source.nbytes());
  return out;
}

}  // namespace faultline
