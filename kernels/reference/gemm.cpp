#include "engine/shape_inference.h"
#include "kernels/reference/reference_internal.h"

namespace faultline::reference {

namespace {

// dst[m, n] = sum_k a[m * a_row + k * a_col] * b[k * b_row + n * b_col], in float32 in natural order as
// PyTorch's float32 kernels compute it (an intermediate overflow to inf is part of a fault's effect). The
// strides let one loop serve plain and transposed operands.
struct MatrixView {
  const float* data;
  int64_t row_stride, col_stride;
  float at(int64_t row, int64_t col) const { return data[row * row_stride + col * col_stride]; }
};

float dot_row_col(const MatrixView& a, const MatrixView& b, int64_t row, int64_t col, int64_t depth) {
  float sum = 0.0f;
  for (int64_t k = 0; k < depth; ++k) sum += a.at(row, k) * b.at(k, col);
  return sum;
}

}  // namespace

// Y = alpha * A' B' + beta * C, A' = transA ? A^T : A, B' likewise, C broadcast to [M, N].
Status run_gemm(const Node& node, Inputs inputs, Outputs outputs) {
  FL_RETURN_IF_ERROR(expect_operands(node, inputs, outputs, 2, 3));
  FL_RETURN_IF_ERROR(expect_float32(node, inputs, outputs));
  FL_ASSIGN_OR_RETURN(const GemmAttrs* attrs, node_attrs<GemmAttrs>(node));
  const Tensor& a = *inputs[0];
  const Tensor& b = *inputs[1];
  const Tensor* c = inputs.size() > 2 ? inputs[2] : nullptr;
  Tensor& y = *outputs[0];
  if (a.rank() != 2 || b.rank() != 2 || y.rank() != 2)
    return node_error(node, "A " + shape_to_string(a.shape()) + ", B " + shape_to_string(b.shape()) + " and Y " +
                                shape_to_string(y.shape()) + " must be matrices");
  const int64_t rows = y.dim(0);
  const int64_t cols = y.dim(1);
  const int64_t depth = attrs->trans_a ? a.dim(0) : a.dim(1);
  const int64_t a_rows = attrs->trans_a ? a.dim(1) : a.dim(0);
  const int64_t b_depth = attrs->trans_b ? b.dim(1) : b.dim(0);
  const int64_t b_cols = attrs->trans_b ? b.dim(0) : b.dim(1);
  if (a_rows != rows || b_depth != depth || b_cols != cols)
    return node_error(node, "A " + shape_to_string(a.shape()) + " and B " + shape_to_string(b.shape()) +
                                " do not multiply into Y " + shape_to_string(y.shape()));
  if (c != nullptr) {
    Result<Shape> broadcast = broadcast_shapes(c->shape(), y.shape());
    if (!broadcast.is_ok() || *broadcast != y.shape())
      return node_error(node,
                        "C " + shape_to_string(c->shape()) + " does not broadcast to " + shape_to_string(y.shape()));
  }
  const MatrixView a_view =
      attrs->trans_a ? MatrixView{a.data<float>(), 1, a.dim(1)} : MatrixView{a.data<float>(), a.dim(1), 1};
  const MatrixView b_view =
      attrs->trans_b ? MatrixView{b.data<float>(), 1, b.dim(1)} : MatrixView{b.data<float>(), b.dim(1), 1};
  float* dst = y.data<float>();
  const float alpha = attrs->alpha;
  const float beta = c != nullptr ? attrs->beta : 0.0f;
  const float kNoBias = 0.0f;
  const float* bias = c != nullptr ? c->data<float>() : &kNoBias;
  const Shape bias_shape = c != nullptr ? c->shape() : Shape{};
  for_each_broadcast(y.shape(), y.shape(), bias_shape, [&](int64_t i, int64_t, int64_t bias_offset) {
    const float product = dot_row_col(a_view, b_view, i / cols, i % cols, depth);
    dst[i] = alpha == 1.0f && beta == 1.0f ? product + bias[bias_offset] : alpha * product + beta * bias[bias_offset];
  });
  return Status::ok();
}

// NumPy matmul: a 1-D A is a row vector, a 1-D B a column vector (their unit axis dropped from Y); the
// batch axes broadcast.
Status run_matmul(const Node& node, Inputs inputs, Outputs outputs) {
  FL_RETURN_IF_ERROR(expect_operands(node, inputs, outputs, 2, 2));
  FL_RETURN_IF_ERROR(expect_float32(node, inputs, outputs));
  const Tensor& a = *inputs[0];
  const Tensor& b = *inputs[1];
  Tensor& y = *outputs[0];
  if (a.rank() < 1 || b.rank() < 1) return node_error(node, "operands must have rank >= 1");
  Shape a_shape = a.shape();
  Shape b_shape = b.shape();
  if (a_shape.size() == 1) a_shape.insert(a_shape.begin(), 1);
  if (b_shape.size() == 1) b_shape.push_back(1);
  const int64_t rows = a_shape[a_shape.size() - 2];
  const int64_t depth = a_shape.back();
  const int64_t cols = b_shape.back();
  if (b_shape[b_shape.size() - 2] != depth)
    return node_error(node,
                      "A " + shape_to_string(a.shape()) + " and B " + shape_to_string(b.shape()) + " disagree on K");
  const Shape a_batch(a_shape.begin(), a_shape.end() - 2);
  const Shape b_batch(b_shape.begin(), b_shape.end() - 2);
  Result<Shape> y_batch = broadcast_shapes(a_batch, b_batch);
  if (!y_batch.is_ok()) return node_error(node, "batch axes: " + y_batch.status().message());
  if (y.numel() != numel(*y_batch) * rows * cols)
    return node_error(node, "output " + shape_to_string(y.shape()) + " does not hold the product of " +
                                shape_to_string(a.shape()) + " and " + shape_to_string(b.shape()));
  const int64_t a_matrix = rows * depth;
  const int64_t b_matrix = depth * cols;
  float* dst = y.data<float>();
  for_each_broadcast(*y_batch, a_batch, b_batch, [&](int64_t batch, int64_t a_index, int64_t b_index) {
    const MatrixView a_view{a.data<float>() + a_index * a_matrix, depth, 1};
    const MatrixView b_view{b.data<float>() + b_index * b_matrix, cols, 1};
    float* y_matrix = dst + batch * rows * cols;
    for (int64_t m = 0; m < rows; ++m)
      for (int64_t n = 0; n < cols; ++n)
        y_matrix[m * cols + n] = static_cast<float>(dot_row_col(a_view, b_view, m, n, depth));
  });
  return Status::ok();
}

}  // namespace faultline::reference
