// Launchers of faultline's own CUDA kernels (kernels/cuda/cuda_*.cu, one file per op family), a plain
// interface between the host code of the backend (kernels/cuda/cuda_backend.cpp) and nvcc: no engine headers
// cross into CUDA code. Each launcher enqueues on `stream` (a cudaStream_t), never synchronises, and returns a
// cudaError_t value (0 = success, the launch's cudaGetLastError()).
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/cuda/cuda_index_maps.h"

namespace faultline::cuda_detail {

// cuda_elementwise.cu. dst = act(src * scale[c] + shift[c] [+ residual]) over `count` elements, each operation
// rounded on its own; in place is allowed; residual (nullptr: none) has dst's layout.
int launch_channel_affine(const float* src, float* dst, int64_t count, const ChannelAffine& affine,
                          const float* scale, const float* shift, void* stream, const float* residual = nullptr);
// dst = then(a (op) b) with broadcasting; op: 0 add, 1 sub, 2 mul, 3 div (float32, rounded as the reference);
// then: an activation (its activation fields; kActNone: none).
int launch_binary(int op, const float* a, const float* b, float* dst, int64_t count, const BroadcastMap& map,
                  void* stream, const ChannelAffine& then = ChannelAffine{});

// cuda_pooling.cu. MaxPool / AveragePool over [planes, in_h, in_w]; GlobalAverage/MaxPool over `planes` planes
// of `plane` elements (float32 sum then divide; NaN-propagating max).
int launch_pool(const float* src, float* dst, const PoolWindow& window, void* stream);
int launch_global_pool(const float* src, float* dst, int64_t planes, int64_t plane, bool is_max, void* stream);

// cuda_data_movement.cu. dst[i] = src[gather_source(map, i)] (or the fill word) for `count` elements of
// `element_bytes` = 1, 2, 4 or 8 bytes.
int launch_gather(const void* src, void* dst, int64_t count, int element_bytes, const GatherMap& map, void* stream);

// Sets *flag (a device int the caller zeroed) to 1 when the `bytes` bytes at device addresses a and b differ.
int launch_bytes_differ(const void* a, const void* b, size_t bytes, int* flag, void* stream);

// cuda_softmax.cu. Softmax over `length` elements `inner` apart, for outer * inner rows, in double as the reference.
int launch_softmax(const float* src, float* dst, int64_t outer, int64_t length, int64_t inner, void* stream);

}  // namespace faultline::cuda_detail
