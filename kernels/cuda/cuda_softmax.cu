#include "kernels/cuda/cuda_kernels.h"
#include "kernels/cuda/cuda_launch.cuh"

namespace faultline::cuda_detail {

namespace {

// One thread per row, in double as the reference: max (a NaN never becomes the max, so it reaches every exp and
// the whole row turns NaN, as aten), exps, sum, divide.
__global__ void softmax(const float* src, float* dst, int64_t outer, int64_t length, int64_t inner) {
  FL_GRID_STRIDE_LOOP(row, outer * inner) {
    const int64_t base = (row / inner) * length * inner + row % inner;
    double max_value = -INFINITY;
    for (int64_t k = 0; k < length; ++k) {
      const double v = src[base + k * inner];
      if (max_value < v) max_value = v;
    }
    double sum = 0.0;
    for (int64_t k = 0; k < length; ++k) sum += exp(static_cast<double>(src[base + k * inner]) - max_value);
    for (int64_t k = 0; k < length; ++k)
      dst[base + k * inner] = static_cast<float>(exp(static_cast<double>(src[base + k * inner]) - max_value) / sum);
  }
}

}  // namespace

int launch_softmax(const float* src, float* dst, int64_t outer, int64_t length, int64_t inner, void* stream) {
  if (outer * inner == 0) return cudaSuccess;
  softmax<<<blocks_for(outer * inner), kThreadsPerBlock, 0, static_cast<cudaStream_t>(stream)>>>(src, dst, outer,
                                                                                                  length, inner);
  return launched();
}

}  // namespace faultline::cuda_detail
