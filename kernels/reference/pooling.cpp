#include <algorithm>
#include <cmath>
#include <limits>

#include "kernels/reference/reference_internal.h"

namespace faultline::reference {

namespace {

// Max that lets a NaN through (as PyTorch does): a faulted NaN must not vanish in a pool.
float nan_propagating_max(float best, float value) {
  return (value > best || std::isnan(value)) && !std::isnan(best) ? value : best;
}

// Calls reduce(plane_src, plane_index) for each of the N*C planes of an [N, C, spatial...] tensor.
template <typename Reduce>
void for_each_plane(const Tensor& x, int64_t plane_size, Reduce&& reduce) {
  const int64_t planes = x.dim(0) * x.dim(1);
  for (int64_t p = 0; p < planes; ++p) reduce(x.data<float>() + p * plane_size, p);
}

}  // namespace

// MaxPool ignores padding; AveragePool divides by the taps inside the input, or with count_include_pad by
// those inside input + pads.
Status run_pool(const Node& node, Inputs inputs, Outputs outputs) {
  FL_RETURN_IF_ERROR(expect_operands(node, inputs, outputs, 1, 1));
  FL_RETURN_IF_ERROR(expect_float32(node, inputs, outputs));
  FL_ASSIGN_OR_RETURN(const PoolAttrs* attrs, node_attrs<PoolAttrs>(node));
  const Tensor& x = *inputs[0];
  Tensor& y = *outputs[0];
  if (x.rank() < 3 || y.rank() != x.rank() || y.dim(1) != x.dim(1))
    return node_error(node, "input " + shape_to_string(x.shape()) + " and output " + shape_to_string(y.shape()) +
                                " are not [N, C, spatial...] tensors with the same channels");
  Result<WindowGeometry> geometry =
      make_window_geometry(x.shape(), y.shape(), attrs->kernel_shape, attrs->strides, attrs->dilations, attrs->pads,
                           attrs->auto_pad, attrs->ceil_mode);
  if (!geometry.is_ok()) return node_error(node, geometry.status().message());
  const WindowGeometry& window = *geometry;
  const bool is_max = node.op == OpKind::kMaxPool;
  std::vector<WindowTap> taps;
  for (int64_t o = 0; o < window.output_size; ++o) {
    const int64_t padded_count = collect_window_taps(window, o, taps);
    const int64_t divisor = attrs->count_include_pad ? padded_count : static_cast<int64_t>(taps.size());
    for_each_plane(x, window.input_size, [&](const float* plane, int64_t p) {
      float result;
      if (is_max) {
        result = -std::numeric_limits<float>::infinity();
        for (const WindowTap& tap : taps) result = nan_propagating_max(result, plane[tap.input_offset]);
      } else {
        // float32 sum, then divide, as PyTorch's avg_pool2d: 64 activations of 1e38 overflow to inf.
        float sum = 0.0f;
        for (const WindowTap& tap : taps) sum += plane[tap.input_offset];
        result = sum / static_cast<float>(divisor);
      }
      y.data<float>()[p * window.output_size + o] = result;
    });
  }
  return Status::ok();
}

Status run_global_pool(const Node& node, Inputs inputs, Outputs outputs) {
  FL_RETURN_IF_ERROR(expect_operands(node, inputs, outputs, 1, 1));
  FL_RETURN_IF_ERROR(expect_float32(node, inputs, outputs));
  const Tensor& x = *inputs[0];
  Tensor& y = *outputs[0];
  if (x.rank() < 3 || y.numel() != x.dim(0) * x.dim(1))
    return node_error(node, "input " + shape_to_string(x.shape()) + " and output " + shape_to_string(y.shape()) +
                                " are not [N, C, spatial...] and [N, C, 1...]");
  const int64_t plane_size = x.numel() / std::max<int64_t>(1, y.numel());
  const bool is_max = node.op == OpKind::kGlobalMaxPool;
  for_each_plane(x, plane_size, [&](const float* plane, int64_t p) {
    if (is_max) {
      float best = -std::numeric_limits<float>::infinity();
      for (int64_t i = 0; i < plane_size; ++i) best = nan_propagating_max(best, plane[i]);
      y.data<float>()[p] = best;
    } else {
      float sum = 0.0f;  // float32, as PyTorch's adaptive_avg_pool2d (overflow is part of a fault's effect)
      for (int64_t i = 0; i < plane_size; ++i) sum += plane[i];
      y.data<float>()[p] = sum / static_cast<float>(plane_size);
    }
  });
  return Status::ok();
}

}  // namespace faultline::reference
