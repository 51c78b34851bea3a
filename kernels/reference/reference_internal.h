// Shared by the reference kernels (kernels/reference/*.cpp): the per-family entry points that
// run_reference_node() dispatches to, errors that name the node, and the two index helpers every kernel
// builds on: NumPy broadcasting and sliding windows.
#pragma once

#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <vector>

#include "engine/graph.h"
#include "engine/status.h"
#include "engine/tensor.h"

namespace faultline::reference {

using Inputs = std::span<const Tensor* const>;
using Outputs = std::span<Tensor* const>;

// --- per-family kernels, one file per family ------------------------------------------------------------

// conv.cpp
Status run_conv(const Node& node, Inputs inputs, Outputs outputs);
// pooling.cpp: MaxPool, AveragePool; GlobalAveragePool, GlobalMaxPool
Status run_pool(const Node& node, Inputs inputs, Outputs outputs);
Status run_global_pool(const Node& node, Inputs inputs, Outputs outputs);
// elementwise.cpp: Relu, LeakyRelu, Clip, Sigmoid, Tanh; Add, Sub, Mul, Div
Status run_unary_activation(const Node& node, Inputs inputs, Outputs outputs);
Status run_binary(const Node& node, Inputs inputs, Outputs outputs);
// normalization.cpp
Status run_batch_norm(const Node& node, Inputs inputs, Outputs outputs);
Status run_softmax(const Node& node, Inputs inputs, Outputs outputs);
// gemm.cpp
Status run_gemm(const Node& node, Inputs inputs, Outputs outputs);
Status run_matmul(const Node& node, Inputs inputs, Outputs outputs);
// data_movement.cpp. run_copy: the same bytes under a new shape (Reshape, Flatten, Identity, Squeeze,
// Unsqueeze).
Status run_copy(const Node& node, Inputs inputs, Outputs outputs);
Status run_transpose(const Node& node, Inputs inputs, Outputs outputs);
Status run_concat(const Node& node, Inputs inputs, Outputs outputs);
Status run_slice(const Node& node, Inputs inputs, Outputs outputs);
Status run_pad(const Node& node, Inputs inputs, Outputs outputs);
Status run_gather(const Node& node, Inputs inputs, Outputs outputs);
// shape_ops.cpp
Status run_shape(const Node& node, Inputs inputs, Outputs outputs);
Status run_cast(const Node& node, Inputs inputs, Outputs outputs);
Status run_constant_of_shape(const Node& node, Inputs inputs, Outputs outputs);
Status run_range(const Node& node, Inputs inputs, Outputs outputs);
// quantization.cpp: DequantizeLinear (int8/uint8 -> float32), QuantizeLinear (float32 -> int8/uint8)
Status run_dequantize_linear(const Node& node, Inputs inputs, Outputs outputs);
Status run_quantize_linear(const Node& node, Inputs inputs, Outputs outputs);
// integer_ops.cpp: ConvInteger, MatMulInteger (int32 out), QLinearConv, QLinearMatMul (int8/uint8 out)
Status run_conv_integer(const Node& node, Inputs inputs, Outputs outputs);
Status run_matmul_integer(const Node& node, Inputs inputs, Outputs outputs);
Status run_qlinear_conv(const Node& node, Inputs inputs, Outputs outputs);
Status run_qlinear_matmul(const Node& node, Inputs inputs, Outputs outputs);

// --- errors and operand checks -------------------------------------------------------------------------

// "node 'name' (Op): what", as kInvalidArgument / kUnsupported.
Status node_error(const Node& node, const std::string& what);
Status node_unsupported(const Node& node, const std::string& what);

// Between `min_inputs` and `max_inputs` input slots with the first `min_inputs` present, and one output.
Status expect_operands(const Node& node, Inputs inputs, Outputs outputs, size_t min_inputs, size_t max_inputs);
// Every present input and every output is float32.
Status expect_float32(const Node& node, Inputs inputs, Outputs outputs);
// `output` holds exactly as many elements as `input` (kernels that keep the bytes and change the shape).
Status expect_same_numel(const Node& node, const Tensor& input, const Tensor& output);

// The node's attributes as `A` (defaults when it has none), or an internal error naming the node.
template <typename A>
Result<const A*> node_attrs(const Node& node) {
  const A* attrs = attrs_or_default<A>(node.attrs);
  if (attrs == nullptr) return node_error(node, "carries another op's attributes");
  return attrs;
}

// --- broadcasting --------------------------------------------------------------------------------------

// Element strides of `input` when broadcast to `output` (NumPy rules, aligned right): one entry per output
// axis, 0 where the input has no such axis or has size 1.
std::vector<int64_t> broadcast_strides(const Shape& input, const Shape& output);

// The one index walk every other is built on: calls visit(index, i) for each element of `shape` in
// row-major order, `index` being its multi-index and `i` its row-major position.
template <typename Visit>
void for_each_index(const Shape& shape, Visit&& visit) {
  std::vector<int64_t> index(shape.size(), 0);
  const int64_t total = numel(shape);
  for (int64_t i = 0; i < total; ++i) {
    visit(static_cast<const std::vector<int64_t>&>(index), i);
    for (size_t d = shape.size(); d-- > 0;) {
      if (++index[d] < shape[d]) break;
      index[d] = 0;
    }
  }
}

// base + sum over axes of index[d] * strides[d].
inline int64_t strided_offset(const std::vector<int64_t>& index, int64_t base, const std::vector<int64_t>& strides) {
  for (size_t d = 0; d < index.size(); ++d) base += index[d] * strides[d];
  return base;
}

// Calls visit(out_index, a_offset, b_offset) for every element of `out` in row-major order, with the
// offsets of the elements of `a` and `b` (each broadcast to `out`) that it reads. `a` and `b` must
// broadcast to `out` (see broadcast_shapes()).
template <typename Visit>
void for_each_broadcast(const Shape& out, const Shape& a, const Shape& b, Visit&& visit) {
  const std::vector<int64_t> stride_a = broadcast_strides(a, out);
  const std::vector<int64_t> stride_b = broadcast_strides(b, out);
  for_each_index(out, [&](const std::vector<int64_t>& index, int64_t i) {
    visit(i, strided_offset(index, 0, stride_a), strided_offset(index, 0, stride_b));
  });
}

// --- sliding windows (Conv, MaxPool, AveragePool) ------------------------------------------------------

// A window sliding over the spatial axes of an [N, C, spatial...] tensor, attributes resolved (defaults
// filled, auto_pad turned into pads).
struct WindowGeometry {
  Shape input;                                               // spatial input sizes
  Shape output;                                              // spatial output sizes
  std::vector<int64_t> kernel, strides, dilations, pads;     // pads: [begin..., end...]
  int64_t input_size = 1, output_size = 1, kernel_size = 1;  // element counts of the above
};

// `input`/`output`: full [N, C, spatial...] shapes. Fails (with a message that does not name the node) when
// the attributes do not fit the input or the output is not the size they give.
Result<WindowGeometry> make_window_geometry(const Shape& input, const Shape& output, std::vector<int64_t> kernel,
                                            std::vector<int64_t> strides, std::vector<int64_t> dilations,
                                            std::vector<int64_t> pads, AutoPad auto_pad, bool ceil_mode);

// One position of a window that falls inside the input: its row-major index in the kernel and the
// row-major spatial offset it reads.
struct WindowTap {
  int64_t kernel_offset;
  int64_t input_offset;
};

// Fills `taps` with the taps of output position `out` (row-major spatial index) that lie inside the input.
// Returns how many taps lie inside the input plus its pads (AveragePool's count_include_pad divisor: a
// ceil_mode window running past the end padding counts only up to it).
int64_t collect_window_taps(const WindowGeometry& window, int64_t out, std::vector<WindowTap>& taps);

// --- raw element copies --------------------------------------------------------------------------------

// Calls f(T{}) with an unsigned integer type as wide as one element of `element_bytes` (1, 2, 4 or 8), so
// that dtype-generic data movement copies whole words.
template <typename F>
void with_element_word(size_t element_bytes, F&& f) {
  switch (element_bytes) {
    case 1:
      f(uint8_t{});
      break;
    case 2:
      f(uint16_t{});
      break;
    case 4:
      f(uint32_t{});
      break;
    default:
      f(uint64_t{});
      break;
  }
}

}  // namespace faultline::reference
