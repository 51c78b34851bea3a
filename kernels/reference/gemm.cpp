#include "engine/shape_inference.h"
#include "kernels/reference/mac_loops.h"

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

Result<MatmulGeometry> make_matmul_geometry(const Node& node, const Shape& a, const Shape& b, const Shape& y) {
  if (a.empty() || b.empty()) return node_error(node, "operands must have rank >= 1");
  Shape a_shape = a;
  Shape b_shape = b;
  if (a_shape.size() == 1) a_shape.insert(a_shape.begin(), 1);
  if (b_shape.size() == 1) b_shape.push_back(1);
  MatmulGeometry mm;
  mm.rows = a_shape[a_shape.size() - 2];
  mm.depth = a_shape.back();
  mm.cols = b_shape.back();
  if (b_shape[b_shape.size() - 2] != mm.depth)
    return node_error(node, "A " + shape_to_string(a) + " and B " + shape_to_string(b) + " disagree on K");
  mm.a_batch.assign(a_shape.begin(), a_shape.end() - 2);
  mm.b_batch.assign(b_shape.begin(), b_shape.end() - 2);
  Result<Shape> batch = broadcast_shapes(mm.a_batch, mm.b_batch);
  if (!batch.is_ok()) return node_error(node, "batch axes: " + batch.status().message());
  mm.batch = std::move(batch).value();
  if (numel(y) != numel(mm.batch) * mm.rows * mm.cols)
    return node_error(node, "output " + shape_to_string(y) + " does not hold the product of " + shape_to_string(a) +
                                " and " + shape_to_string(b));
  return mm;
}

// NumPy matmul (make_matmul_geometry): a 1-D A is a row vector, a 1-D B a column vector (their unit axis dropped
// from Y); the batch axes broadcast. Summed in float32 in natural order (k = 0 .. K-1), as Gemm.
Status run_matmul(const Node& node, Inputs inputs, Outputs outputs) {
  FL_RETURN_IF_ERROR(expect_operands(node, inputs, outputs, 2, 2));
  FL_RETURN_IF_ERROR(expect_float32(node, inputs, outputs));
  const Tensor& a = *inputs[0];
  const Tensor& b = *inputs[1];
  Tensor& y = *outputs[0];
  FL_ASSIGN_OR_RETURN(const MatmulGeometry mm, make_matmul_geometry(node, a.shape(), b.shape(), y.shape()));
  float* dst = y.data<float>();
  matmul_loop(
      mm, a.data<float>(), b.data<float>(), 0.0f, [](float acc, float x, float w) { return acc + x * w; },
      [&](int64_t offset, int64_t, int64_t, float acc) { dst[offset] = acc; });
  return Status::ok();
}

}  // namespace faultline::reference
