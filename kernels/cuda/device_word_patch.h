// The one operation the fault hooks need from a GPU backend: rewrite words of a tensor that lives in device
// memory, in place, on the backend's stream. Each patch (engine/backend.h WordPatch: an element and the
// faults/bit_ops.h WordMasks of its faults) rewrites one element: word = ((word & keep) | set) ^ flip, so
// every word fault model has exactly its host semantics.
// Built only when the CUDA backend is (FAULTLINE_CUDA); the kernel is kernels/cuda/device_word_patch.cu.
#pragma once

#include <cstdint>
#include <span>

#include "engine/backend.h"
#include "engine/status.h"

namespace faultline {

// CUDA devices visible to this process; 0 when there is no GPU or no driver (never an error).
int cuda_device_count();

// Applies `patches` to the tensor at `device_data` (elements of `word_bytes` = 1, 2, 4 or 8 bytes) on
// `stream` (a cudaStream_t; nullptr = the default stream) and waits for it. Elements must lie inside the
// tensor (the caller owns the device allocation; it is not checked here). Errors name the CUDA error.
Status patch_device_words(void* device_data, int word_bytes, std::span<const WordPatch> patches,
                          void* stream = nullptr);

}  // namespace faultline
