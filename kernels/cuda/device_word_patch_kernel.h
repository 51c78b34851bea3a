// Plain C interface between device_word_patch.cpp (host C++, Status) and device_word_patch.cu (nvcc): no
// engine headers cross into CUDA code.
#pragma once

#include <cstdint>

namespace faultline::cuda_detail {

struct PatchRecord {
  int64_t element;
  uint64_t keep, set, flip;
};

// Returns a cudaError_t value (0 = success).
int launch_word_patches(void* device_data, int word_bytes, const PatchRecord* host_patches, int64_t count,
                        void* stream);
int device_count(int* count);
const char* error_string(int error);

}  // namespace faultline::cuda_detail
