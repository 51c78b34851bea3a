// Fault-aware multiply-accumulate: the arithmetic of one output element of a Conv, Gemm or MatMul, computed
// MAC by MAC so that a kernel-level fault (faults/kernel_sites.h) can corrupt a product, the partial sum
// (accumulator) after a given MAC, or the final sum after the bias, exactly as a faulty MAC unit would.
//
// The GEMM view. Every supported node is, per image, a matrix product O[rows x cols] = A[rows x K] B[K x cols]:
//   Conv (2-D, any group, stride, dilation, pads; specialized form):
//     rows = output pixels, row p = oh * OW + ow (P = OH * OW); cols = output channels, col m = oc;
//     K = (C_in / group) * KH * KW, MAC t = (ic * KH + kh) * KW + kw, ic counted within the group of m.
//     Every tap is a MAC, padded taps included (the input there is +0.0f: im2col hardware multiplies the
//     padding zeros too, so a product fault hits them as well).
//     Bias: B[m] (the third input) when present.
//   Gemm (trans_a = 0; B [K, N] or, with trans_b, [N, K]; a constant or not): the image's row of A is the one
//     GEMM row (rows = 1), cols = N, K = A's columns; the output is alpha * sum + beta * C[m] (C broadcast to
//     the output row; C omitted: no bias).
//   MatMul (A [N, ..., K] with B a 2-D [K, cols] matrix): per image, rows = the product of A's dimensions
//     between the batch and K (1 for a 2-D A), cols = B's columns; no bias.
// The per-image output offset of (row, col) is the engine's dense row-major offset: Conv [OC, OH, OW] ->
// m * P + p; Gemm/MatMul [..., cols] -> row * cols + col.
//
// The arithmetic, in float32 with every operation rounded as written (no FMA contraction):
//   acc = +0.0f
//   for t in 0 .. K-1:
//     prod = a_t * b_t                           ; product(t)      -> prod = fault(prod)   if scheduled
//     acc  = acc + prod                          ; accumulator(t)  -> acc  = fault(acc)    if scheduled
//   out = acc (+ bias)   Conv: acc + bias[m]; Gemm: alpha * acc + beta * c (alpha * acc + 0.0f when C is
//                        omitted, as the reference kernel computes it: a -0 comes out +0; with alpha == 1 and
//                        beta == 1 and C present, acc + c); MatMul: acc
//                                                ; after bias      -> out  = fault(out)    if set
// A fault on the accumulator after MAC K-1 is therefore a fault on the output before the bias.
// `fault` is one word transformation, ((bits & keep) | set) ^ flip on the float32 bits (faults/bit_ops.h's
// WordMasks, truncated to 32 bits), which expresses bit flips, multi-bit flips, stuck-at bits, zero and value.
//
// The reference Conv/Gemm/MatMul kernels sum in this same order; with no fault scheduled, compute() returns
// the same bits as the reference kernel for that element, given finite weights: the reference Conv skips the
// padded taps, and +-0 products leave a sum that started at +0.0f unchanged, but inf * 0 would be NaN here.
// Nothing here allocates per call.
//
// Integer ops (ConvInteger, QLinearConv, MatMulInteger, QLinearMatMul; engine/op_attrs.h). The GEMM view is the
// one of Conv (ConvInteger, QLinearConv: x at input slot 0, w at slot 1 or 3) or MatMul (MatMulInteger,
// QLinearMatMul: A at slot 0, B at slot 1 or 3, B 2-D); MAC t is numbered as for float32 (padded taps
// included). The operands are the node's int8/uint8 data centred by their zero points (prepare_integer(),
// kernels/reference/quantized.h center_conv / center_matmul, as the reference kernels centre them), and the
// arithmetic is int32 modulo 2^32:
//   acc = 0
//   for t in 0 .. K-1:
//     prod = (x_t - x_zp) * (w_t - w_zp)         ; product(t)      -> prod = fault(prod)  (exact: |prod| <= 255^2)
//     acc  = acc + prod (wrapping)               ; accumulator(t)  -> acc  = fault(acc)
//   sum = acc (+ B[m], wrapping: QLinearConv with a bias)
//                                                ; after bias      -> sum  = fault(sum)
//   out = sum (ConvInteger, MatMulInteger: the int32 output), or QLinear*'s requantization of sum
//         (saturate(round_half_even(float(sum) * multiplier[channel]) + y_zp); quantized.h Requantization)
// A padded tap multiplies x - x_zp = 0 (the integer ops pad with the zero point): its product is exactly 0, a
// product fault there still applies to that 0. `fault` is the WordTransform32 on the int32 word (bit 0 = LSB,
// bit 31 = sign). With no fault, compute_integer() returns the reference kernel's output bits for the element.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "engine/graph.h"
#include "engine/status.h"
#include "engine/tensor.h"

namespace faultline {

namespace reference {
struct Requantization;
}

// One word transformation on float32 bits: ((bits & keep) | set) ^ flip.
struct WordTransform32 {
  uint32_t keep = 0xFFFFFFFFu;
  uint32_t set = 0;
  uint32_t flip = 0;
  uint32_t apply(uint32_t bits) const { return ((bits & keep) | set) ^ flip; }
  float apply(float value) const;
};

// Which MACs of an element a fault acts on: t = first, first + stride, first + 2 * stride, ... (t < K).
// stride 0: none. One MAC t: {t, K}; every MAC: {0, 1}; every R-th MAC from r: {r, R}.
struct MacSchedule {
  int64_t first = 0;
  int64_t stride = 0;
  bool empty() const { return stride <= 0; }
  bool contains(int64_t t) const { return stride > 0 && t >= first && (t - first) % stride == 0; }
};

// The faults of one output element's computation.
struct MacFaults {
  MacSchedule product;      // products corrupted
  MacSchedule accumulator;  // partial sums corrupted right after these MACs
  bool after_bias = false;  // the final output (after the bias) corrupted
  WordTransform32 word;
  bool none() const { return product.empty() && accumulator.empty() && !after_bias; }
};

// The operands of an integer op for one run (MacKernel::prepare_integer()).
struct IntegerMacOperands {
  std::vector<int32_t> a, b;  // the data (x / A) and weights (w / B) minus their zero points, dense row-major
  std::shared_ptr<const reference::Requantization> requantization;  // QLinear*: bias and requantization; else null
  DType output = DType::kInt32;  // the output word: int32, or QLinear*'s int8 / uint8
};

class MacKernel {
 public:
  // `node` in specialized form (engine/op_attrs.h) with the shapes of its inputs and of its output for one
  // executed batch; input_shapes[i] belongs to node.inputs[i] (an omitted optional input, kNoValue, has an
  // empty Shape there, which is ignored). Refuses (naming the node) any other op, a Conv that is not 2-D, Gemm
  // with trans_a, a MatMul whose B is not 2-D (or whose A is 1-D), or shapes that do not fit the op. Also takes the
  // integer ops (see above; the same restrictions). Dtypes are not in the shapes: the caller refuses non-float32
  // values for Conv / Gemm / MatMul (compute() reads every input as float32), and prepare_integer() checks the
  // integer ops' dtypes.
  static Result<MacKernel> create(const Node& node, std::span<const Shape> input_shapes, const Shape& output_shape);

  int64_t macs() const { return macs_; }   // K
  int64_t rows() const { return rows_; }   // GEMM rows per image
  int64_t cols() const { return cols_; }   // GEMM columns
  int64_t image_elements() const { return rows_ * cols_; }  // output elements per image
  int64_t images() const { return images_; }                // the batch the kernel was created for
  bool has_bias() const { return has_bias_; }
  bool integer() const { return integer_; }  // an integer op: use prepare_integer() and compute_integer()
  // The per-image output offset of (row, col), and back.
  int64_t offset(int64_t row, int64_t col) const;
  void row_col(int64_t offset, int64_t& row, int64_t& col) const;

  // Output element (row, col) of image `image` with `faults`. `inputs` are the node's inputs as dense
  // row-major float32 tensors of the create() shapes, null for an omitted optional input.
  float compute(std::span<const Tensor* const> inputs, int64_t image, int64_t row, int64_t col,
                const MacFaults& faults) const;

  // Integer ops: the operands of one run from the node's inputs (all of them, null for an omitted optional
  // one; the batch may differ from create()'s), checked as the reference kernel checks them (errors name the
  // node). Allocates: call once per run, not per element.
  Result<IntegerMacOperands> prepare_integer(std::span<const Tensor* const> inputs) const;
  // Integer ops: output element (row, col) of image `image` with `faults` (faults.word acts on int32 words),
  // as the bits of the output word (an int8 / uint8 output in the low 8 bits).
  uint32_t compute_integer(const IntegerMacOperands& operands, int64_t image, int64_t row, int64_t col,
                           const MacFaults& faults) const;

 private:
  enum class Op : unsigned char { kConv, kGemm, kMatMul };
  MacKernel() = default;
  template <typename T>
  T sum(const T* a, const T* b, int64_t image, int64_t row, int64_t col, const MacFaults& faults) const;
  template <bool kFaulty, typename T>
  T sum_products(const T* a, const T* b, int64_t row, int64_t col, const MacFaults& faults) const;
  template <bool kFaulty, typename T>
  T sum_conv_taps(const T* x, const T* w, int64_t row, const MacFaults& faults) const;

  Op op_ = Op::kConv;
  int64_t macs_ = 0, rows_ = 0, cols_ = 0, images_ = 0;
  bool has_bias_ = false;
  bool integer_ = false;
  Node node_;               // integer ops: the node (prepare_integer() checks and centres its operands)
  Shape image_output_;      // integer ops: the output shape of one image
  // Conv: x [N, C, H, W], w [OC, C / group, KH, KW], output [N, OC, OH, OW].
  int64_t in_channels_ = 0, group_in_channels_ = 0, group_out_channels_ = 0;
  int64_t in_h_ = 0, in_w_ = 0, out_w_ = 0, kernel_h_ = 0, kernel_w_ = 0;
  int64_t stride_h_ = 1, stride_w_ = 1, dilation_h_ = 1, dilation_w_ = 1, pad_top_ = 0, pad_left_ = 0;
  // Gemm / MatMul: a_t = A[image * a_image_stride + row * K + t], b_t = B[t * b_depth_stride + col *
  // b_col_stride]; Gemm's c = C[image * c_image_stride + col * c_col_stride] (broadcast strides).
  int64_t a_image_stride_ = 0, b_depth_stride_ = 0, b_col_stride_ = 0, c_image_stride_ = 0, c_col_stride_ = 0;
  float alpha_ = 1.0f, beta_ = 0.0f;
  bool plain_bias_sum_ = false;  // Gemm with alpha == beta == 1 and C present: acc + c
};

}  // namespace faultline
