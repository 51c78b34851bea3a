// The loop nests of the reference kernels that multiply and accumulate (internal to kernels/reference/):
// convolve() serves Conv in float32 and ConvInteger / QLinearConv in int32; matmul_loop() serves MatMul in
// float32 and MatMulInteger / QLinearMatMul in int32. Each op brings its own multiply-accumulate and store.
//
// Convolution summation order, a contract (issue #8's kernel-level faults address the partial sum after MAC t):
//   for every output element y[n, m, o]:
//     acc = zero
//     for ic in the group's input channels (0 .. C/group - 1), in order:
//       for the window taps (kh, kw, ... row-major, last spatial axis fastest) that lie inside the input:
//         acc = mac(acc, x[n, first_ic(m) + ic, tap], w[m, ic, tap])
//     store(y offset, m, acc)
// MAC t of an element is t = (ic * KH + kh) * KW + kw (kernel_size taps per input channel). Taps over the padding
// are skipped: they add x = 0 (Conv) or x - x_zero_point = 0 (the integer ops pad with the zero point), so the
// partial sum after a padded MAC t equals the one after MAC t - 1.
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/reference/reference_internal.h"

namespace faultline::reference {

struct ConvGeometry {
  WindowGeometry window;
  int64_t batch = 0;
  int64_t in_channels = 0, out_channels = 0;
  int64_t group_in_channels = 0, group_out_channels = 0;
};

// Checks x [N, C, spatial...], w [M, C/group, kernel...] and y [N, M, out...] against `attrs` (group, strides,
// dilations, pads; the kernel comes from w); errors name the node.
Result<ConvGeometry> make_conv_geometry(const Node& node, const Shape& x, const Shape& w, const Shape& y,
                                        const ConvAttrs& attrs);

// Runs the loop nest above over dense NCHW `src` and MCHW `weights`: Acc mac(Acc acc, Src x, Weight w) and
// store(int64_t y_offset, int64_t m, Acc acc).
template <typename Acc, typename Src, typename Weight, typename Mac, typename Store>
void convolve(const ConvGeometry& conv, const Src* src, const Weight* weights, Acc zero, Mac&& mac, Store&& store) {
  const WindowGeometry& window = conv.window;
  std::vector<WindowTap> taps;
  for (int64_t o = 0; o < window.output_size; ++o) {
    collect_window_taps(window, o, taps);
    for (int64_t n = 0; n < conv.batch; ++n) {
      for (int64_t m = 0; m < conv.out_channels; ++m) {
        const int64_t first_in_channel = (m / conv.group_out_channels) * conv.group_in_channels;
        Acc acc = zero;
        for (int64_t c = 0; c < conv.group_in_channels; ++c) {
          const Src* src_plane = src + (n * conv.in_channels + first_in_channel + c) * window.input_size;
          const Weight* kernel = weights + (m * conv.group_in_channels + c) * window.kernel_size;
          for (const WindowTap& tap : taps) acc = mac(acc, src_plane[tap.input_offset], kernel[tap.kernel_offset]);
        }
        store((n * conv.out_channels + m) * window.output_size + o, m, acc);
      }
    }
  }
}

// NumPy matmul of A [..., M, K] by B [..., K, N] (a 1-D A is a row, a 1-D B a column), batch axes broadcast.
struct MatmulGeometry {
  Shape batch, a_batch, b_batch;  // the output's batch axes, and A's and B's (broadcast to it)
  int64_t rows = 0, depth = 0, cols = 0;
};

// Checks A, B and Y against NumPy's matmul; errors name the node. Defined in gemm.cpp.
Result<MatmulGeometry> make_matmul_geometry(const Node& node, const Shape& a, const Shape& b, const Shape& y);

// For every output element, in row-major order: acc = zero; for k = 0 .. K-1: acc = mac(acc, A[.., m, k],
// B[.., k, n]) (MAC t = k); then store(y_offset, m, n, acc).
template <typename Acc, typename Src, typename Weight, typename Mac, typename Store>
void matmul_loop(const MatmulGeometry& mm, const Src* a, const Weight* b, Acc zero, Mac&& mac, Store&& store) {
  const int64_t a_matrix = mm.rows * mm.depth;
  const int64_t b_matrix = mm.depth * mm.cols;
  for_each_broadcast(mm.batch, mm.a_batch, mm.b_batch, [&](int64_t batch, int64_t a_index, int64_t b_index) {
    const Src* a_rows = a + a_index * a_matrix;
    const Weight* b_cols = b + b_index * b_matrix;
    for (int64_t m = 0; m < mm.rows; ++m) {
      for (int64_t n = 0; n < mm.cols; ++n) {
        Acc acc = zero;
        for (int64_t k = 0; k < mm.depth; ++k) acc = mac(acc, a_rows[m * mm.depth + k], b_cols[k * mm.cols + n]);
        store((batch * mm.rows + m) * mm.cols + n, m, n, acc);
      }
    }
  });
}

}  // namespace faultline::reference
