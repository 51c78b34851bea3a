#include "kernels/cuda/cuda_kernels.h"
#include "kernels/cuda/cuda_launch.cuh"

namespace faultline::cuda_detail {

namespace {

__global__ void pool(const float* src, float* dst, PoolWindow window, int64_t count) {
  FL_GRID_STRIDE_LOOP(i, count) { dst[i] = pool_value(window, src, i); }
}

// One thread per plane, in the reference's order (a float32 running sum; a NaN-propagating max).
__global__ void global_pool(const float* src, float* dst, int64_t planes, int64_t plane, bool is_max) {
  FL_GRID_STRIDE_LOOP(p, planes) {
    const float* in = src + p * plane;
    if (is_max) {
      float best = -INFINITY;
      for (int64_t i = 0; i < plane; ++i) {
        const float v = in[i];
        if ((v > best || v != v) && best == best) best = v;
      }
      dst[p] = best;
    } else {
      float sum = 0.0f;
      for (int64_t i = 0; i < plane; ++i) sum = __fadd_rn(sum, in[i]);
      dst[p] = __fdiv_rn(sum, static_cast<float>(plane));
    }
  }
}

}  // namespace

int launch_pool(const float* src, float* dst, const PoolWindow& window, void* stream) {
  const int64_t count = window.planes * window.out_h * window.out_w;
  if (count == 0) return cudaSuccess;
  pool<<<blocks_for(count), kThreadsPerBlock, 0, static_cast<cudaStream_t>(stream)>>>(src, dst, window, count);
  return launched();
}

int launch_global_pool(const float* src, float* dst, int64_t planes, int64_t plane, bool is_max, void* stream) {
  if (planes == 0) return cudaSuccess;
  global_pool<<<blocks_for(planes), kThreadsPerBlock, 0, static_cast<cudaStream_t>(stream)>>>(src, dst, planes, plane,
                                                                                               is_max);
  return launched();
}

}  // namespace faultline::cuda_detail
