// Shared by the kernels/cuda/*.cu launchers: the grid for one thread per element and the error to return.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace faultline::cuda_detail {

inline constexpr int kThreadsPerBlock = 256;

// Blocks for `count` elements with a grid-stride loop (capped so the grid stays within limits).
inline int blocks_for(int64_t count) {
  const int64_t blocks = (count + kThreadsPerBlock - 1) / kThreadsPerBlock;
  return static_cast<int>(blocks < 65535 * 8 ? (blocks < 1 ? 1 : blocks) : 65535 * 8);
}

inline int launched() { return static_cast<int>(cudaGetLastError()); }

#define FL_GRID_STRIDE_LOOP(i, count)                                                          \
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < (count); \
       i += static_cast<int64_t>(blockDim.x) * gridDim.x)

}  // namespace faultline::cuda_detail
