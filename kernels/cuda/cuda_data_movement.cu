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

template <typename Word>
__device__ bool words_differ(const Word& a, const Word& b) {
  return a != b;
}
template <>
__device__ bool words_differ<uint4>(const uint4& a, const uint4& b) {
  return a.x != b.x || a.y != b.y || a.z != b.z || a.w != b.w;
}

template <typename Word>
__global__ void differ(const Word* a, const Word* b, int64_t count, int* flag) {
  bool differs = false;
  FL_GRID_STRIDE_LOOP(i, count) differs |= words_differ(a[i], b[i]);
  if (__syncthreads_or(differs) && threadIdx.x == 0) *flag = 1;
}

template <typename Word>
int launch_differ(const void* a, const void* b, int64_t count, int* flag, cudaStream_t stream) {
  if (count == 0) return cudaSuccess;
  differ<Word><<<blocks_for(count), kThreadsPerBlock, 0, stream>>>(static_cast<const Word*>(a),
                                                                   static_cast<const Word*>(b), count, flag);
  return launched();
}

}  // namespace

int launch_bytes_differ(const void* a, const void* b, size_t bytes, int* flag, void* stream) {
  const cudaStream_t s = static_cast<cudaStream_t>(stream);
  const bool aligned = reinterpret_cast<uintptr_t>(a) % 16 == 0 && reinterpret_cast<uintptr_t>(b) % 16 == 0;
  if (!aligned) return launch_differ<uint8_t>(a, b, static_cast<int64_t>(bytes), flag, s);
  const size_t words = bytes / 16;
  if (const int error = launch_differ<uint4>(a, b, static_cast<int64_t>(words), flag, s); error != cudaSuccess)
    return error;
  const size_t done = words * 16;
  return launch_differ<uint8_t>(static_cast<const char*>(a) + done, static_cast<const char*>(b) + done,
                                static_cast<int64_t>(bytes - done), flag, s);
}

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
