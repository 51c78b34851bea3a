#include "kernels/cuda/cuda_kernels.h"
#include "kernels/cuda/cuda_launch.cuh"

namespace faultline::cuda_detail {

namespace {

template <typename Word>
__global__ void gather(const Word* src, Word* dst, int64_t count, GatherMap map) {
  FL_GRID_STRIDE_LOOP(i, count) {
    const int64_t source = gather_source(map, i);
    dst[i] = source < 0 ? static_cast<Word>(map.fill_bits) : src[source];
  }
}

template <typename Word>
int launch_words(const void* src, void* dst, int64_t count, const GatherMap& map, cudaStream_t stream) {
  gather<Word><<<blocks_for(count), kThreadsPerBlock, 0, stream>>>(static_cast<const Word*>(src),
                                                                    static_cast<Word*>(dst), count, map);
  return launched();
}

}  // namespace

int launch_gather(const void* src, void* dst, int64_t count, int element_bytes, const GatherMap& map, void* stream) {
  if (count == 0) return cudaSuccess;
  const cudaStream_t s = static_cast<cudaStream_t>(stream);
  switch (element_bytes) {
    case 1: return launch_words<uint8_t>(src, dst, count, map, s);
    case 2: return launch_words<uint16_t>(src, dst, count, map, s);
    case 4: return launch_words<uint32_t>(src, dst, count, map, s);
    case 8: return launch_words<uint64_t>(src, dst, count, map, s);
    default: return cudaErrorInvalidValue;
  }
}

}  // namespace faultline::cuda_detail
