// Index maps the CUDA kernels evaluate per output element, as plain structs and inline functions that compile
// both for the device (nvcc) and for the host (g++), so the CPU tests (tests/cuda/test_cuda_planning.cpp) check
// the exact arithmetic the kernels run against the reference kernels, without a GPU. No engine headers here:
// kernels/cuda/*.cu include it. Maps are built at plan time by kernels/cuda/cuda_plan.h.
#pragma once

#include <cmath>
#include <cstdint>

#ifdef __CUDACC__
#define FL_HOST_DEVICE __host__ __device__
#else
#define FL_HOST_DEVICE
#endif

namespace faultline::cuda_detail {

inline constexpr int kMaxMapRank = 8;

// Slice, Pad, Transpose and broadcast copies as one gather: output element (i_0, ..., i_{r-1}) reads input
// coordinate c_d = start[d] + i_d * step[d] along output axis d (in_stride[d] input elements per unit), or the
// fill word when some c_d lies outside [0, in_size[d]) and `mode` is kConstant (kEdge clamps, kReflect folds
// as numpy.pad "reflect"). A broadcast axis has in_stride 0.
enum GatherMode : int { kGatherInside = 0, kGatherConstant = 1, kGatherEdge = 2, kGatherReflect = 3 };
struct GatherMap {
  int rank = 0;
  int mode = kGatherInside;
  int64_t out_dims[kMaxMapRank] = {};
  int64_t in_stride[kMaxMapRank] = {};
  int64_t start[kMaxMapRank] = {};
  int64_t step[kMaxMapRank] = {};
  int64_t in_size[kMaxMapRank] = {};
  uint64_t fill_bits = 0;  // the constant's word (Pad's value in the element's dtype)
  int64_t base = 0;        // added to every source offset
};

// Source element offset of output element `out` (row-major), or -1 for the fill word.
FL_HOST_DEVICE inline int64_t gather_source(const GatherMap& map, int64_t out) {
  int64_t offset = map.base;
  for (int d = map.rank - 1; d >= 0; --d) {
    const int64_t index = out % map.out_dims[d];
    out /= map.out_dims[d];
    int64_t c = map.start[d] + index * map.step[d];
    if (c < 0 || c >= map.in_size[d]) {
      const int64_t size = map.in_size[d];
      if (map.mode == kGatherEdge) {
        c = c < 0 ? 0 : size - 1;
      } else if (map.mode == kGatherReflect) {
        if (size == 1) {
          c = 0;
        } else {
          const int64_t period = 2 * (size - 1);
          int64_t folded = c % period;
          if (folded < 0) folded += period;
          c = folded < size ? folded : period - folded;
        }
      } else {
        return -1;
      }
    }
    offset += c * map.in_stride[d];
  }
  return offset;
}

// NumPy broadcasting of two operands to the output: element offsets of a and b read by output element `out`.
struct BroadcastMap {
  int rank = 0;
  bool same_shape = false;  // every operand has the output's shape: offsets are `out`
  int64_t out_dims[kMaxMapRank] = {};
  int64_t a_stride[kMaxMapRank] = {};
  int64_t b_stride[kMaxMapRank] = {};
};
FL_HOST_DEVICE inline void broadcast_sources(const BroadcastMap& map, int64_t out, int64_t& a, int64_t& b) {
  if (map.same_shape) {
    a = b = out;
    return;
  }
  a = b = 0;
  for (int d = map.rank - 1; d >= 0; --d) {
    const int64_t index = out % map.out_dims[d];
    out /= map.out_dims[d];
    a += index * map.a_stride[d];
    b += index * map.b_stride[d];
  }
}

// A 2-D pooling window over [planes, in_h, in_w] (1-D pools have in_h = out_h = kernel_h = 1): output position
// (oh, ow) reads rows oh * stride_h - pad_top + kh * dilation_h (kh < kernel_h), likewise columns. `divisor`
// semantics as the reference: the taps inside the input, or (count_include_pad) those inside input + pads.
struct PoolWindow {
  int64_t planes = 0, in_h = 1, in_w = 1, out_h = 1, out_w = 1;
  int64_t kernel_h = 1, kernel_w = 1, stride_h = 1, stride_w = 1, dilation_h = 1, dilation_w = 1;
  int64_t pad_top = 0, pad_left = 0, pad_bottom = 0, pad_right = 0;
  bool is_max = false;
  bool count_include_pad = false;
};

// The pooled value of output element `out` (row-major over [planes, out_h, out_w]) of `src`. Max lets a NaN
// through (as aten); average sums in float32 in row-major tap order, then divides.
FL_HOST_DEVICE inline float pool_value(const PoolWindow& w, const float* src, int64_t out) {
  const int64_t ow = out % w.out_w;
  const int64_t oh = (out / w.out_w) % w.out_h;
  const int64_t plane = out / (w.out_w * w.out_h);
  const float* in = src + plane * w.in_h * w.in_w;
  const int64_t row0 = oh * w.stride_h - w.pad_top, col0 = ow * w.stride_w - w.pad_left;
  int64_t padded_rows = 0, padded_cols = 0, rows = 0, cols = 0;
  for (int64_t k = 0; k < w.kernel_h; ++k) {
    const int64_t r = row0 + k * w.dilation_h;
    if (r >= -w.pad_top && r < w.in_h + w.pad_bottom) ++padded_rows;
    if (r >= 0 && r < w.in_h) ++rows;
  }
  for (int64_t k = 0; k < w.kernel_w; ++k) {
    const int64_t c = col0 + k * w.dilation_w;
    if (c >= -w.pad_left && c < w.in_w + w.pad_right) ++padded_cols;
    if (c >= 0 && c < w.in_w) ++cols;
  }
  float best = -INFINITY;
  float sum = 0.0f;
  for (int64_t kh = 0; kh < w.kernel_h; ++kh) {
    const int64_t r = row0 + kh * w.dilation_h;
    if (r < 0 || r >= w.in_h) continue;
    for (int64_t kw = 0; kw < w.kernel_w; ++kw) {
      const int64_t c = col0 + kw * w.dilation_w;
      if (c < 0 || c >= w.in_w) continue;
      const float v = in[r * w.in_w + c];
      if (w.is_max) {
        if ((v > best || v != v) && best == best) best = v;
      } else {
        sum = sum + v;
      }
    }
  }
  if (w.is_max) return best;
  const int64_t divisor = w.count_include_pad ? padded_rows * padded_cols : rows * cols;
  return sum / static_cast<float>(divisor);
}

// Per-channel affine transform and activation, y = act(x * scale[c] + shift[c]) (scale / shift optional; with
// both, one fused multiply-add), the one element-wise kernel behind standalone activations, BatchNormalization
// (scale = alpha, shift = beta: kernels/reference/batch_norm_terms.h, aten's form) and the conv epilogue
// (shift = bias). Comparisons let a NaN through (aten's
// semantics); sigmoid and tanh are computed in double as the reference does.
enum Activation : int { kActNone = 0, kActRelu, kActLeakyRelu, kActClip, kActSigmoid, kActTanh };
struct ChannelAffine {
  int64_t channels = 1, plane = 1;  // element i belongs to channel (i / plane) % channels
  bool has_scale = false, has_shift = false;
  int activation = kActNone;
  float alpha = 0.0f, low = 0.0f, high = 0.0f;  // LeakyRelu slope; Clip bounds
};

FL_HOST_DEVICE inline float apply_activation(int activation, float x, float alpha, float low, float high) {
  switch (activation) {
    case kActRelu: return x < 0.0f ? 0.0f : x;
    case kActLeakyRelu: return x < 0.0f ? alpha * x : x;
    case kActClip: {
      const float raised = x < low ? low : x;
      return raised > high ? high : raised;
    }
    case kActSigmoid: return static_cast<float>(1.0 / (1.0 + exp(-static_cast<double>(x))));
    case kActTanh: return static_cast<float>(tanh(static_cast<double>(x)));
    default: return x;
  }
}

}  // namespace faultline::cuda_detail
