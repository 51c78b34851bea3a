#include <cuda_runtime.h>

#include "kernels/cuda/device_word_patch_kernel.h"

namespace faultline::cuda_detail {

namespace {

template <typename Word>
__global__ void patch_words(Word* words, const PatchRecord* patches, int64_t count) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= count) return;
  const PatchRecord p = patches[i];
  const uint64_t original = static_cast<uint64_t>(words[p.element]);
  words[p.element] = static_cast<Word>(((original & p.keep) | p.set) ^ p.flip);
}

template <typename Word>
void launch(void* data, const PatchRecord* patches, int64_t count, cudaStream_t stream) {
  constexpr int kThreads = 128;
  const int blocks = static_cast<int>((count + kThreads - 1) / kThreads);
  patch_words<Word><<<blocks, kThreads, 0, stream>>>(static_cast<Word*>(data), patches, count);
}

}  // namespace

int launch_word_patches(void* device_data, int word_bytes, const PatchRecord* host_patches, int64_t count,
                        void* stream_handle) {
  if (count == 0) return cudaSuccess;
  cudaStream_t stream = static_cast<cudaStream_t>(stream_handle);
  PatchRecord* device_patches = nullptr;
  cudaError_t error = cudaMallocAsync(reinterpret_cast<void**>(&device_patches), sizeof(PatchRecord) * count, stream);
  if (error != cudaSuccess) return error;
  error = cudaMemcpyAsync(device_patches, host_patches, sizeof(PatchRecord) * count, cudaMemcpyHostToDevice, stream);
  if (error == cudaSuccess) {
    switch (word_bytes) {
      case 1: launch<uint8_t>(device_data, device_patches, count, stream); break;
      case 2: launch<uint16_t>(device_data, device_patches, count, stream); break;
      case 4: launch<uint32_t>(device_data, device_patches, count, stream); break;
      default: launch<uint64_t>(device_data, device_patches, count, stream); break;
    }
    error = cudaGetLastError();
  }
  cudaError_t free_error = cudaFreeAsync(device_patches, stream);
  cudaError_t sync_error = cudaStreamSynchronize(stream);
  if (error != cudaSuccess) return error;
  return free_error != cudaSuccess ? free_error : sync_error;
}

int device_count(int* count) {
  *count = 0;
  return cudaGetDeviceCount(count);
}

const char* error_string(int error) { return cudaGetErrorString(static_cast<cudaError_t>(error)); }

}  // namespace faultline::cuda_detail
