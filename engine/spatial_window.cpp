#include "engine/spatial_window.h"

#include <algorithm>

#include "engine/op_attrs.h"
#include "engine/op_kind.h"
#include "engine/tensor.h"

namespace faultline {
namespace {

int64_t floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }
int64_t ceil_div(int64_t a, int64_t b) { return -floor_div(-a, b); }

int64_t at_or(const std::vector<int64_t>& v, size_t i, int64_t fallback) { return i < v.size() ? v[i] : fallback; }

}  // namespace

std::optional<SpatialWindow> whole_window(const Shape& shape) {
  if (shape.size() != 4) return std::nullopt;
  return SpatialWindow{0, shape[2], 0, shape[3]};
}

SpatialWindow window_hull(const SpatialWindow& a, const SpatialWindow& b) {
  if (a.empty()) return b;
  if (b.empty()) return a;
  return {std::min(a.y0, b.y0), std::max(a.y1, b.y1), std::min(a.x0, b.x0), std::max(a.x1, b.x1)};
}

std::pair<int64_t, int64_t> SlidingAxis::outputs_reading(int64_t in_begin, int64_t in_end) const {
  // Output o reads inputs o*stride - pad_begin + j*dilation, j in [0, kernel): its span meets [in_begin, in_end)
  // when o*stride - pad_begin <= in_end - 1 and o*stride - pad_begin + (kernel-1)*dilation >= in_begin.
  const int64_t span = (kernel - 1) * dilation;
  const int64_t begin = std::max<int64_t>(0, ceil_div(in_begin + pad_begin - span, stride));
  const int64_t end = std::min<int64_t>(out, floor_div(in_end - 1 + pad_begin, stride) + 1);
  return {begin, std::max(begin, end)};
}

SlidingAxis::Reads SlidingAxis::inputs_read(int64_t out_begin, int64_t out_end) const {
  const int64_t from = out_begin * stride - pad_begin;
  const int64_t to = (out_end - 1) * stride - pad_begin + (kernel - 1) * dilation + 1;
  Reads reads;
  reads.first = std::max<int64_t>(0, from);
  reads.last = std::min(in, to);
  reads.pad_before = reads.first - from;
  reads.pad_after = to - reads.last;
  return reads;
}

std::optional<std::pair<SlidingAxis, SlidingAxis>> sliding_axes(const Graph& graph, NodeId id) {
  const Node& node = graph.node(id);
  if (node.inputs.empty() || node.outputs.empty()) return std::nullopt;
  const Shape& in = graph.value(node.inputs[0]).shape;
  const Shape& out = graph.value(node.outputs[0]).shape;
  if (in.size() != 4 || out.size() != 4) return std::nullopt;
  std::vector<int64_t> kernel, strides, dilations, pads;
  if (node.op == OpKind::kConv) {
    const ConvAttrs* attrs = attrs_or_default<ConvAttrs>(node.attrs);
    if (!attrs || node.inputs.size() < 2) return std::nullopt;
    const Shape& w = graph.value(node.inputs[1]).shape;
    if (w.size() != 4) return std::nullopt;
    kernel = {w[2], w[3]};
    strides = attrs->strides, dilations = attrs->dilations, pads = attrs->pads;
  } else if (node.op == OpKind::kMaxPool || node.op == OpKind::kAveragePool) {
    const PoolAttrs* attrs = attrs_or_default<PoolAttrs>(node.attrs);
    if (!attrs || attrs->kernel_shape.size() != 2) return std::nullopt;
    kernel = attrs->kernel_shape;
    strides = attrs->strides, dilations = attrs->dilations, pads = attrs->pads;
  } else {
    return std::nullopt;
  }
  auto axis = [&](size_t i) {
    SlidingAxis a;
    a.kernel = kernel[i];
    a.stride = at_or(strides, i, 1);
    a.dilation = at_or(dilations, i, 1);
    a.pad_begin = at_or(pads, i, 0);
    a.in = in[2 + i];
    a.out = out[2 + i];
    return a;
  };
  const SlidingAxis h = axis(0), w = axis(1);
  if (h.stride < 1 || w.stride < 1 || h.dilation < 1 || w.dilation < 1 || h.kernel < 1 || w.kernel < 1)
    return std::nullopt;
  return std::make_pair(h, w);
}

std::optional<SpatialWindow> node_output_window(const Graph& graph, NodeId id,
                                                const std::function<std::optional<SpatialWindow>(ValueId)>& window_of) {
  const Node& node = graph.node(id);
  if (node.outputs.empty()) return std::nullopt;
  const Shape& out_shape = graph.value(node.outputs[0]).shape;
  std::vector<std::optional<SpatialWindow>> in(node.inputs.size());
  bool any = false;
  for (size_t i = 0; i < node.inputs.size(); ++i) {
    if (node.inputs[i] == kNoValue) continue;
    in[i] = window_of(node.inputs[i]);
    any = any || in[i].has_value();
  }
  if (!any) return std::nullopt;
  const std::optional<SpatialWindow> whole = whole_window(out_shape);
  if (!whole) return SpatialWindow{0, 1, 0, 1};
  const bool only_first = std::none_of(in.begin() + 1, in.end(), [](const auto& w) { return w.has_value(); });
  const bool first_4d = graph.value(node.inputs[0]).shape.size() == 4;

  if (node.op == OpKind::kConv || node.op == OpKind::kMaxPool || node.op == OpKind::kAveragePool) {
    const auto axes = sliding_axes(graph, id);
    if (!axes || !only_first) return whole;
    const auto [y0, y1] = axes->first.outputs_reading(in[0]->y0, in[0]->y1);
    const auto [x0, x1] = axes->second.outputs_reading(in[0]->x0, in[0]->x1);
    return SpatialWindow{y0, y1, x0, x1};
  }
  if (is_unary_activation(node.op) || node.op == OpKind::kIdentity || node.op == OpKind::kBatchNormalization) {
    if (!only_first || !first_4d || graph.value(node.inputs[0]).shape != out_shape) return whole;
    return in[0];
  }
  if (node.op == OpKind::kConcat) {
    // Along the channels, each input's window lands in its own channels at the same rows and columns.
    const ConcatAttrs* attrs = attrs_or_default<ConcatAttrs>(node.attrs);
    if (!attrs || normalize_axis(attrs->axis, 4) != 1) return whole;
    SpatialWindow hull;
    for (size_t i = 0; i < in.size(); ++i) {
      if (!in[i]) continue;
      const Shape& shape = graph.value(node.inputs[i]).shape;
      if (shape.size() != 4 || shape[2] != out_shape[2] || shape[3] != out_shape[3]) return whole;
      hull = window_hull(hull, *in[i]);
    }
    return hull;
  }
  if (is_binary_elementwise(node.op)) {
    SpatialWindow hull;
    for (size_t i = 0; i < in.size(); ++i) {
      if (!in[i]) continue;
      if (graph.value(node.inputs[i]).shape != out_shape) return whole;
      hull = window_hull(hull, *in[i]);
    }
    return hull;
  }
  return whole;
}

}  // namespace faultline
