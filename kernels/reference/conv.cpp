#include "kernels/reference/mac_loops.h"

namespace faultline::reference {

Result<ConvGeometry> make_conv_geometry(const Node& node, const Shape& x, const Shape& w, const Shape& y,
                                        const ConvAttrs& attrs) {
  if (x.size() < 3 || w.size() != x.size() || y.size() != x.size())
    return node_error(node, "input " + shape_to_string(x) + ", weight " + shape_to_string(w) + " and output " +
                                shape_to_string(y) + " must be [N, C, spatial...] alike");
  ConvGeometry conv;
  conv.batch = x[0];
  conv.in_channels = x[1];
  conv.out_channels = w[0];
  const int64_t group = attrs.group;
  if (group < 1 || conv.in_channels % group != 0 || w[1] * group != conv.in_channels ||
      conv.out_channels % group != 0 || y[1] != conv.out_channels)
    return node_error(node, "input " + shape_to_string(x) + " and weight " + shape_to_string(w) + " do not fit group " +
                                std::to_string(group));
  conv.group_in_channels = conv.in_channels / group;
  conv.group_out_channels = conv.out_channels / group;
  Result<WindowGeometry> window = make_window_geometry(x, y, Shape(w.begin() + 2, w.end()), attrs.strides,
                                                       attrs.dilations, attrs.pads, attrs.auto_pad,
                                                       /*ceil_mode=*/false);
  if (!window.is_ok()) return node_error(node, window.status().message());
  conv.window = std::move(window).value();
  return conv;
}

// Y[n, m, o] = B[m] + sum over the group's input channels c and the window taps t of X[n, c, t] * W[m, c, t].
Status run_conv(const Node& node, Inputs inputs, Outputs outputs) {
  FL_RETURN_IF_ERROR(expect_operands(node, inputs, outputs, 2, 3));
  FL_RETURN_IF_ERROR(expect_float32(node, inputs, outputs));
  FL_ASSIGN_OR_RETURN(const ConvAttrs* attrs, node_attrs<ConvAttrs>(node));
  const Tensor& x = *inputs[0];
  const Tensor& w = *inputs[1];
  const Tensor* bias = inputs.size() > 2 ? inputs[2] : nullptr;
  Tensor& y = *outputs[0];
  FL_ASSIGN_OR_RETURN(const ConvGeometry conv, make_conv_geometry(node, x.shape(), w.shape(), y.shape(), *attrs));
  float* dst = y.data<float>();
  const float* bias_data = bias ? bias->data<float>() : nullptr;
  // float32 arithmetic in natural order, bias last, as PyTorch's float32 kernels: a fault that drives a partial
  // sum past FLT_MAX must give inf here too (double accumulation would hide it).
  convolve(
      conv, x.data<float>(), w.data<float>(), 0.0f,
      [](float acc, float src, float weight) { return acc + src * weight; },
      [&](int64_t offset, int64_t m, float sum) { dst[offset] = bias_data ? sum + bias_data[m] : sum; });
  return Status::ok();
}

}  // namespace faultline::reference
