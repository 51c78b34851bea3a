#include "kernels/reference/reference_internal.h"

namespace faultline::reference {

// Y[n, m, o] = B[m] + sum over the group's input channels c and the window taps t of X[n, c, t] * W[m, c, t].
Status run_conv(const Node& node, Inputs inputs, Outputs outputs) {
  FL_RETURN_IF_ERROR(expect_operands(node, inputs, outputs, 2, 3));
  FL_RETURN_IF_ERROR(expect_float32(node, inputs, outputs));
  FL_ASSIGN_OR_RETURN(const ConvAttrs* attrs, node_attrs<ConvAttrs>(node));
  const Tensor& x = *inputs[0];
  const Tensor& w = *inputs[1];
  const Tensor* bias = inputs.size() > 2 ? inputs[2] : nullptr;
  Tensor& y = *outputs[0];
  if (x.rank() < 3 || w.rank() != x.rank() || y.rank() != x.rank())
    return node_error(node, "input " + shape_to_string(x.shape()) + ", weight " + shape_to_string(w.shape()) +
                                " and output " + shape_to_string(y.shape()) + " must be [N, C, spatial...] alike");
  const int64_t batch = x.dim(0);
  const int64_t in_channels = x.dim(1);
  const int64_t out_channels = w.dim(0);
  const int64_t group = attrs->group;
  if (group < 1 || in_channels % group != 0 || w.dim(1) * group != in_channels || out_channels % group != 0 ||
      y.dim(1) != out_channels)
    return node_error(node, "input " + shape_to_string(x.shape()) + " and weight " + shape_to_string(w.shape()) +
                                " do not fit group " + std::to_string(group));
  const int64_t group_in_channels = in_channels / group;
  const int64_t group_out_channels = out_channels / group;

  Result<WindowGeometry> geometry =
      make_window_geometry(x.shape(), y.shape(), Shape(w.shape().begin() + 2, w.shape().end()), attrs->strides,
                           attrs->dilations, attrs->pads, attrs->auto_pad, /*ceil_mode=*/false);
  if (!geometry.is_ok()) return node_error(node, geometry.status().message());
  const WindowGeometry& window = *geometry;
  const float* src = x.data<float>();
  const float* weights = w.data<float>();
  float* dst = y.data<float>();
  std::vector<WindowTap> taps;
  for (int64_t o = 0; o < window.output_size; ++o) {
    collect_window_taps(window, o, taps);
    for (int64_t n = 0; n < batch; ++n) {
      for (int64_t m = 0; m < out_channels; ++m) {
        const int64_t first_in_channel = (m / group_out_channels) * group_in_channels;
        // float32 arithmetic in natural order, bias last, as PyTorch's float32 kernels: a fault that drives a
        // partial sum past FLT_MAX must give inf here too (double accumulation would hide it).
        float sum = 0.0f;
        for (int64_t c = 0; c < group_in_channels; ++c) {
          const float* src_plane = src + (n * in_channels + first_in_channel + c) * window.input_size;
          const float* kernel = weights + (m * group_in_channels + c) * window.kernel_size;
          for (const WindowTap& tap : taps)
            sum += src_plane[tap.input_offset] * kernel[tap.kernel_offset];
        }
        dst[(n * out_channels + m) * window.output_size + o] = bias ? sum + bias->data<float>()[m] : sum;
      }
    }
  }
  return Status::ok();
}

}  // namespace faultline::reference
