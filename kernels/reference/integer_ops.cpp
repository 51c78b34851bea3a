// ConvInteger, MatMulInteger, QLinearConv, QLinearMatMul (engine/op_attrs.h QuantizeAttrs): the int8/uint8
// operands are centred by their zero points into int32, multiplied and summed in int32 modulo 2^32 in the order
// of kernels/reference/mac_loops.h; the QLinear ops then requantize the sum in float32.
#include <string>

#include "kernels/reference/mac_loops.h"
#include "kernels/reference/quantized.h"

namespace faultline::reference {

namespace {

int32_t integer_mac(int32_t acc, int32_t a, int32_t b) {
  return wrapping_add(acc, a * b);
}

Status expect_quantized(const Node& node, const Tensor& t, const char* role) {
  if (is_quantized_dtype(t.dtype())) return Status::ok();
  return node_unsupported(node,
                          std::string(role) + " must be int8 or uint8, not " + std::string(dtype_name(t.dtype())));
}

Status expect_output(const Node& node, const Tensor& y, DType dtype) {
  if (y.dtype() == dtype) return Status::ok();
  return node_error(
      node, "the output is " + std::string(dtype_name(y.dtype())) + ", expected " + std::string(dtype_name(dtype)));
}

// One element of a float32 scale tensor (per tensor or per index).
float scale_at(const Tensor& scale, int64_t i) {
  return scale.data<float>()[scale.numel() == 1 ? 0 : i];
}

// The requantization multipliers x_scale * w_scale[i] / y_scale (float32, left to right), one per w_scale element.
std::vector<float> requantize_multipliers(const Tensor& x_scale, const Tensor& w_scale, const Tensor& y_scale) {
  std::vector<float> multipliers(static_cast<size_t>(w_scale.numel()));
  for (int64_t i = 0; i < w_scale.numel(); ++i)
    multipliers[static_cast<size_t>(i)] = x_scale.data<float>()[0] * scale_at(w_scale, i) / y_scale.data<float>()[0];
  return multipliers;
}

// The scales and zero points of QLinearConv / QLinearMatMul (slots 1, 2, 4, 5, 6, 7; `x` and `w` name the data at
// slots 0 and 3: "x", "w" or "a", "b"), checked: x's and y's one element each, w's one or `w_count` each.
Status check_qlinear_parameters(const Node& node, Inputs inputs, const std::string& x, const std::string& w,
                                int64_t w_count) {
  auto check = [&](size_t slot, const std::string& role, DType dtype, int64_t count) {
    return parameter_count(node, inputs[slot], role.c_str(), dtype, count).status();
  };
  FL_RETURN_IF_ERROR(check(1, x + "_scale", DType::kFloat32, 0));
  FL_RETURN_IF_ERROR(check(2, x + "_zero_point", inputs[0]->dtype(), 0));
  FL_RETURN_IF_ERROR(check(4, w + "_scale", DType::kFloat32, w_count));
  FL_RETURN_IF_ERROR(check(5, w + "_zero_point", inputs[3]->dtype(), w_count));
  FL_RETURN_IF_ERROR(check(6, "y_scale", DType::kFloat32, 0));
  FL_RETURN_IF_ERROR(expect_quantized(node, *inputs[7], "y_zero_point"));
  return check(7, "y_zero_point", inputs[7]->dtype(), 0);
}

const Tensor* optional_input(Inputs inputs, size_t slot) {
  return slot < inputs.size() ? inputs[slot] : nullptr;
}

}  // namespace

Result<CenteredConv> center_conv(const Node& node, const Tensor& x, const Tensor* x_zero_point, const Tensor& w,
                                 const Tensor* w_zero_point, const Shape& y) {
  FL_ASSIGN_OR_RETURN(const ConvAttrs* attrs, node_attrs<ConvAttrs>(node));
  FL_RETURN_IF_ERROR(expect_quantized(node, x, "x"));
  FL_RETURN_IF_ERROR(expect_quantized(node, w, "w"));
  CenteredConv centered_conv;
  FL_ASSIGN_OR_RETURN(centered_conv.conv, make_conv_geometry(node, x.shape(), w.shape(), y, *attrs));
  const int64_t channels = centered_conv.conv.out_channels;
  FL_RETURN_IF_ERROR(parameter_count(node, x_zero_point, "x_zero_point", x.dtype(), 0).status());
  FL_ASSIGN_OR_RETURN(const int64_t w_zero_points,
                      parameter_count(node, w_zero_point, "w_zero_point", w.dtype(), channels));
  centered_conv.x = centered(x, x_zero_point, PerIndex{});
  centered_conv.w = centered(w, w_zero_point, per_axis(w.shape(), 0, w_zero_points));
  return centered_conv;
}

Result<CenteredMatmul> center_matmul(const Node& node, const Tensor& a, const Tensor* a_zero_point, const Tensor& b,
                                     const Tensor* b_zero_point, const Shape& y, bool per_row_a) {
  FL_RETURN_IF_ERROR(expect_quantized(node, a, "A"));
  FL_RETURN_IF_ERROR(expect_quantized(node, b, "B"));
  CenteredMatmul centered_matmul;
  FL_ASSIGN_OR_RETURN(centered_matmul.mm, make_matmul_geometry(node, a.shape(), b.shape(), y));
  const int64_t rows = per_row_a && a.rank() == 2 ? a.dim(0) : 0;
  const int64_t cols = b.rank() == 2 ? b.dim(1) : 0;
  FL_ASSIGN_OR_RETURN(const int64_t a_zero_points,
                      parameter_count(node, a_zero_point, "a_zero_point", a.dtype(), rows));
  FL_ASSIGN_OR_RETURN(const int64_t b_zero_points,
                      parameter_count(node, b_zero_point, "b_zero_point", b.dtype(), cols));
  centered_matmul.a = centered(a, a_zero_point, per_axis(a.shape(), 0, a_zero_points));
  centered_matmul.b = centered(b, b_zero_point, per_axis(b.shape(), 1, b_zero_points));
  return centered_matmul;
}

Result<Requantization> qlinear_requantization(const Node& node, Inputs inputs, int64_t w_count) {
  const bool conv = node.op == OpKind::kQLinearConv;
  FL_RETURN_IF_ERROR(check_qlinear_parameters(node, inputs, conv ? "x" : "a", conv ? "w" : "b", w_count));
  Requantization requantization;
  const Tensor* bias = conv ? optional_input(inputs, 8) : nullptr;
  if (bias && (bias->dtype() != DType::kInt32 || bias->numel() != w_count))
    return node_error(node, "bias B must be int32 with " + std::to_string(w_count) + " elements");
  requantization.multipliers = requantize_multipliers(*inputs[1], *inputs[4], *inputs[6]);
  requantization.y_zero_point = quantized_at(inputs[7], 0);
  requantization.bias = bias ? bias->data<int32_t>() : nullptr;
  return requantization;
}

// ConvInteger [x, w, x_zero_point?, w_zero_point?]: int32 y = sum of (x - x_zero_point) * (w - w_zero_point[m]).
Status run_conv_integer(const Node& node, Inputs inputs, Outputs outputs) {
  FL_RETURN_IF_ERROR(expect_operands(node, inputs, outputs, 2, 4));
  Tensor& y = *outputs[0];
  FL_RETURN_IF_ERROR(expect_output(node, y, DType::kInt32));
  FL_ASSIGN_OR_RETURN(const CenteredConv c, center_conv(node, *inputs[0], optional_input(inputs, 2), *inputs[1],
                                                        optional_input(inputs, 3), y.shape()));
  int32_t* dst = y.data<int32_t>();
  convolve(c.conv, c.x.data(), c.w.data(), int32_t{0}, integer_mac,
           [&](int64_t offset, int64_t, int32_t acc) { dst[offset] = acc; });
  return Status::ok();
}

// QLinearConv [x, x_scale, x_zero_point, w, w_scale, w_zero_point, y_scale, y_zero_point, B?]:
// y = saturate(round(float(acc + B[m]) * (x_scale * w_scale[m] / y_scale)) + y_zero_point).
Status run_qlinear_conv(const Node& node, Inputs inputs, Outputs outputs) {
  FL_RETURN_IF_ERROR(expect_operands(node, inputs, outputs, 8, 9));
  Tensor& y = *outputs[0];
  FL_RETURN_IF_ERROR(expect_output(node, y, inputs[7]->dtype()));
  FL_ASSIGN_OR_RETURN(const CenteredConv c,
                      center_conv(node, *inputs[0], inputs[2], *inputs[3], inputs[5], y.shape()));
  FL_ASSIGN_OR_RETURN(const Requantization requantization, qlinear_requantization(node, inputs, c.conv.out_channels));
  with_quantized_type(y.dtype(), [&](auto word) {
    using Q = decltype(word);
    Q* dst = y.data<Q>();
    convolve(c.conv, c.x.data(), c.w.data(), int32_t{0}, integer_mac, [&](int64_t offset, int64_t m, int32_t acc) {
      dst[offset] = requantization.requantize<Q>(requantization.add_bias(acc, m), m);
    });
  });
  return Status::ok();
}

// MatMulInteger [A, B, a_zero_point?, b_zero_point?]: int32 Y = sum over k of (A - a_zp[m]) * (B - b_zp[n]).
Status run_matmul_integer(const Node& node, Inputs inputs, Outputs outputs) {
  FL_RETURN_IF_ERROR(expect_operands(node, inputs, outputs, 2, 4));
  Tensor& y = *outputs[0];
  FL_RETURN_IF_ERROR(expect_output(node, y, DType::kInt32));
  FL_ASSIGN_OR_RETURN(const CenteredMatmul c, center_matmul(node, *inputs[0], optional_input(inputs, 2), *inputs[1],
                                                            optional_input(inputs, 3), y.shape(), /*per_row_a=*/true));
  int32_t* dst = y.data<int32_t>();
  matmul_loop(c.mm, c.a.data(), c.b.data(), int32_t{0}, integer_mac,
              [&](int64_t offset, int64_t, int64_t, int32_t acc) { dst[offset] = acc; });
  return Status::ok();
}

// QLinearMatMul [a, a_scale, a_zero_point, b, b_scale, b_zero_point, y_scale, y_zero_point]:
// y = saturate(round(float(acc) * (a_scale * b_scale[n] / y_scale)) + y_zero_point).
Status run_qlinear_matmul(const Node& node, Inputs inputs, Outputs outputs) {
  FL_RETURN_IF_ERROR(expect_operands(node, inputs, outputs, 8, 8));
  Tensor& y = *outputs[0];
  FL_RETURN_IF_ERROR(expect_output(node, y, inputs[7]->dtype()));
  FL_ASSIGN_OR_RETURN(const CenteredMatmul c, center_matmul(node, *inputs[0], inputs[2], *inputs[3], inputs[5],
                                                            y.shape(), /*per_row_a=*/false));
  FL_ASSIGN_OR_RETURN(const Requantization requantization,
                      qlinear_requantization(node, inputs, inputs[3]->rank() == 2 ? c.mm.cols : 0));
  with_quantized_type(y.dtype(), [&](auto word) {
    using Q = decltype(word);
    Q* dst = y.data<Q>();
    matmul_loop(c.mm, c.a.data(), c.b.data(), int32_t{0}, integer_mac,
                [&](int64_t offset, int64_t, int64_t n, int32_t acc) {
                  dst[offset] = requantization.requantize<Q>(acc, n);
                });
  });
  return Status::ok();
}

}  // namespace faultline::reference
