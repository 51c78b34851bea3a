// Each CUDA step's shapes and index maps, and the convolution algorithm policy (kernels/cuda/cuda_plan.h,
// "descriptors"); what runs where and the steps are kernels/cuda/cuda_plan.cpp.
#include "kernels/cuda/cuda_plan.h"

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string_view>

#include "engine/shape_inference.h"
#include "engine/specialize.h"
#include "engine/weight_storage.h"
#include "kernels/cuda/cuda_plan_internal.h"
#include "kernels/reference/reference_internal.h"

namespace faultline::cuda_plan {

using cuda_detail::kMaxMapRank;
using internal::all_float32;
using internal::fallback;
using internal::fits_int;
using internal::shape_of;

// --- descriptors ------------------------------------------------------------------------------------------

Result<ConvShape> conv_shape(const Graph& graph, NodeId id) {
  const Node& node = graph.node(id);
  const ConvAttrs* attrs = attrs_or_default<ConvAttrs>(node.attrs);
  if (attrs == nullptr) return invalid_argument("carries another op's attributes");
  if (node.inputs.size() < 2 || node.inputs[1] == kNoValue) return invalid_argument("has no weights");
  if (!all_float32(graph, node)) return fallback("operands are not all float32");
  const Shape& x = shape_of(graph, node.inputs[0]);
  const Shape& w = shape_of(graph, node.inputs[1]);
  const Shape& y = shape_of(graph, node.outputs[0]);
  const size_t spatial = x.size() < 2 ? 0 : x.size() - 2;
  if (spatial != 1 && spatial != 2)
    return fallback(std::to_string(spatial) + "-D convolution (the CUDA backend runs 1-D and 2-D ones)");
  if (w.size() != x.size() || y.size() != x.size()) return invalid_argument("weight or output rank differs from X's");
  std::vector<int64_t> kernel = attrs->kernel_shape.empty() ? Shape(w.begin() + 2, w.end()) : attrs->kernel_shape;
  std::vector<int64_t> strides = attrs->strides, dilations = attrs->dilations, pads = attrs->pads;
  AutoPad auto_pad = attrs->auto_pad;
  resolve_window(Shape(x.begin() + 2, x.end()), kernel, auto_pad, strides, dilations, pads);
  for (size_t d = 0; d < spatial; ++d)
    if (pads[d] != pads[d + spatial])
      return fallback("asymmetric pads " + shape_to_string(pads) + " (cuDNN pads both sides alike)");
  for (int64_t dim : x) if (!fits_int(dim)) return fallback("a dimension exceeds INT_MAX");
  for (int64_t dim : w) if (!fits_int(dim)) return fallback("a dimension exceeds INT_MAX");
  ConvShape s;
  s.n = static_cast<int>(x[0]);
  s.c = static_cast<int>(x[1]);
  s.k = static_cast<int>(w[0]);
  s.groups = static_cast<int>(attrs->group);
  const size_t last = spatial - 1;  // the w axis
  s.w = static_cast<int>(x[2 + last]);
  s.s = static_cast<int>(w[2 + last]);
  s.out_w = static_cast<int>(y[2 + last]);
  s.pad_w = static_cast<int>(pads[last]);
  s.stride_w = static_cast<int>(strides[last]);
  s.dilation_w = static_cast<int>(dilations[last]);
  if (spatial == 2) {
    s.h = static_cast<int>(x[2]);
    s.r = static_cast<int>(w[2]);
    s.out_h = static_cast<int>(y[2]);
    s.pad_h = static_cast<int>(pads[0]);
    s.stride_h = static_cast<int>(strides[0]);
    s.dilation_h = static_cast<int>(dilations[0]);
  }
  if (s.groups < 1 || s.c % s.groups != 0 || s.k % s.groups != 0 || w[1] * s.groups != s.c)
    return invalid_argument("weight " + shape_to_string(w) + " does not fit input " + shape_to_string(x) + " with group " +
                            std::to_string(s.groups));
  return s;
}

Result<cuda_detail::GatherMap> gather_map(const Graph& graph, NodeId id) {
  const Node& node = graph.node(id);
  const Shape& in = shape_of(graph, node.inputs[0]);
  const Shape& out = shape_of(graph, node.outputs[0]);
  if (in.size() > static_cast<size_t>(kMaxMapRank) || out.size() != in.size())
    return fallback("rank " + std::to_string(in.size()) + " (the gather kernel takes up to " +
                    std::to_string(kMaxMapRank) + ")");
  if (graph.value(node.inputs[0]).dtype != graph.value(node.outputs[0]).dtype)
    return invalid_argument("input and output dtypes differ");
  cuda_detail::GatherMap map;
  map.rank = static_cast<int>(in.size());
  const std::vector<int64_t> strides = contiguous_strides(in);
  for (size_t d = 0; d < in.size(); ++d) {
    map.out_dims[d] = out[d];
    map.in_stride[d] = strides[d];
    map.step[d] = 1;
    map.in_size[d] = in[d];
  }
  switch (node.op) {
    case OpKind::kTranspose: {
      const TransposeAttrs* attrs = attrs_or_default<TransposeAttrs>(node.attrs);
      if (attrs == nullptr) return invalid_argument("carries another op's attributes");
      std::vector<int64_t> perm = attrs->perm;
      if (perm.empty())
        for (int64_t d = static_cast<int64_t>(in.size()) - 1; d >= 0; --d) perm.push_back(d);
      if (perm.size() != in.size()) return invalid_argument("perm does not fit the input");
      for (size_t d = 0; d < in.size(); ++d) {
        if (perm[d] < 0 || perm[d] >= static_cast<int64_t>(in.size()) || out[d] != in[static_cast<size_t>(perm[d])])
          return invalid_argument("output is not the input permuted");
        map.in_stride[d] = strides[static_cast<size_t>(perm[d])];
        map.in_size[d] = out[d];
      }
      return map;
    }
    case OpKind::kSlice: {
      const SliceAttrs* attrs = attrs_or_default<SliceAttrs>(node.attrs);
      if (attrs == nullptr) return invalid_argument("carries another op's attributes");
      FL_ASSIGN_OR_RETURN(const std::vector<SliceAxisRange> ranges, resolve_slice(in, *attrs));
      for (size_t d = 0; d < in.size(); ++d) {
        if (ranges[d].count != out[d]) return invalid_argument("output does not fit the slice");
        map.start[d] = ranges[d].start;
        map.step[d] = ranges[d].step;
        map.in_size[d] = INT64_MAX;  // a slice never leaves the input
      }
      return map;
    }
    case OpKind::kPad: {
      const PadAttrs* attrs = attrs_or_default<PadAttrs>(node.attrs);
      if (attrs == nullptr) return invalid_argument("carries another op's attributes");
      if (attrs->pads.size() != 2 * in.size()) return invalid_argument("pads do not fit the input");
      map.mode = attrs->mode == PadMode::kConstant ? cuda_detail::kGatherConstant
                 : attrs->mode == PadMode::kEdge   ? cuda_detail::kGatherEdge
                                                   : cuda_detail::kGatherReflect;
      for (size_t d = 0; d < in.size(); ++d) {
        map.start[d] = -attrs->pads[d];
        if (out[d] != in[d] + attrs->pads[d] + attrs->pads[d + in.size()])
          return invalid_argument("output does not fit the padding");
        if (in[d] == 0 && out[d] > 0 && map.mode != cuda_detail::kGatherConstant)
          return fallback("reflect/edge padding of an empty axis");
      }
      const Tensor fill = Tensor::from_floats({}, {attrs->value}).cast(graph.value(node.inputs[0]).dtype);
      std::memcpy(&map.fill_bits, fill.raw(), std::min(sizeof(map.fill_bits), fill.nbytes()));
      return map;
    }
    default:
      return invalid_argument("is not Slice, Pad or Transpose");
  }
}

Result<cuda_detail::GatherMap> broadcast_copy_map(const Shape& input, const Shape& output) {
  FL_ASSIGN_OR_RETURN(const Shape broadcast, broadcast_shapes(input, output));
  if (broadcast != output || output.size() > static_cast<size_t>(kMaxMapRank))
    return fallback(shape_to_string(input) + " does not broadcast to " + shape_to_string(output));
  const std::vector<int64_t> strides = reference::broadcast_strides(input, output);
  cuda_detail::GatherMap map;
  map.rank = static_cast<int>(output.size());
  for (size_t d = 0; d < output.size(); ++d) {
    map.out_dims[d] = output[d];
    map.in_stride[d] = strides[d];
    map.step[d] = 1;
    map.in_size[d] = INT64_MAX;
  }
  return map;
}

Result<cuda_detail::BroadcastMap> broadcast_map(const Shape& a, const Shape& b, const Shape& output) {
  FL_ASSIGN_OR_RETURN(const Shape broadcast, broadcast_shapes(a, b));
  if (broadcast != output) return invalid_argument("output is not the broadcast of the operands");
  if (output.size() > static_cast<size_t>(kMaxMapRank))
    return fallback("rank " + std::to_string(output.size()) + " (the binary kernel takes up to " +
                    std::to_string(kMaxMapRank) + ")");
  cuda_detail::BroadcastMap map;
  map.rank = static_cast<int>(output.size());
  map.same_shape = a == output && b == output;
  const std::vector<int64_t> sa = reference::broadcast_strides(a, output), sb = reference::broadcast_strides(b, output);
  for (size_t d = 0; d < output.size(); ++d) {
    map.out_dims[d] = output[d];
    map.a_stride[d] = sa[d];
    map.b_stride[d] = sb[d];
  }
  return map;
}

Result<cuda_detail::PoolWindow> pool_window(const Graph& graph, NodeId id) {
  const Node& node = graph.node(id);
  const PoolAttrs* attrs = attrs_or_default<PoolAttrs>(node.attrs);
  if (attrs == nullptr) return invalid_argument("carries another op's attributes");
  const Shape& x = shape_of(graph, node.inputs[0]);
  const Shape& y = shape_of(graph, node.outputs[0]);
  if (x.size() != 3 && x.size() != 4)
    return fallback(std::to_string(x.size() < 2 ? 0 : x.size() - 2) + "-D pooling (the CUDA kernel pools 1-D and 2-D)");
  FL_ASSIGN_OR_RETURN(const reference::WindowGeometry g,
                      reference::make_window_geometry(x, y, attrs->kernel_shape, attrs->strides, attrs->dilations,
                                                      attrs->pads, attrs->auto_pad, attrs->ceil_mode));
  cuda_detail::PoolWindow w;
  w.planes = x[0] * x[1];
  w.is_max = node.op == OpKind::kMaxPool;
  w.count_include_pad = attrs->count_include_pad;
  const size_t spatial = g.kernel.size();
  const size_t last = spatial - 1;
  w.in_w = g.input[last];
  w.out_w = g.output[last];
  w.kernel_w = g.kernel[last];
  w.stride_w = g.strides[last];
  w.dilation_w = g.dilations[last];
  w.pad_left = g.pads[last];
  w.pad_right = g.pads[last + spatial];
  if (spatial == 2) {
    w.in_h = g.input[0];
    w.out_h = g.output[0];
    w.kernel_h = g.kernel[0];
    w.stride_h = g.strides[0];
    w.dilation_h = g.dilations[0];
    w.pad_top = g.pads[0];
    w.pad_bottom = g.pads[2];
  }
  return w;
}

Result<cuda_detail::ChannelAffine> activation_of(const Node& node) {
  cuda_detail::ChannelAffine a;
  switch (node.op) {
    case OpKind::kRelu: a.activation = cuda_detail::kActRelu; break;
    case OpKind::kLeakyRelu: {
      const LeakyReluAttrs* attrs = attrs_or_default<LeakyReluAttrs>(node.attrs);
      if (attrs == nullptr) return invalid_argument("carries another op's attributes");
      a.activation = cuda_detail::kActLeakyRelu;
      a.alpha = attrs->alpha;
      break;
    }
    case OpKind::kClip: {
      const ClipAttrs* attrs = attrs_or_default<ClipAttrs>(node.attrs);
      if (attrs == nullptr) return invalid_argument("carries another op's attributes");
      if (attrs->bounds_from_inputs) return invalid_argument("min/max are still inputs");
      a.activation = cuda_detail::kActClip;
      a.low = attrs->min;
      a.high = attrs->max;
      break;
    }
    case OpKind::kSigmoid: a.activation = cuda_detail::kActSigmoid; break;
    case OpKind::kTanh: a.activation = cuda_detail::kActTanh; break;
    default: return invalid_argument("is not an activation");
  }
  return a;
}

Result<SoftmaxShape> softmax_shape(const Graph& graph, NodeId id) {
  const Node& node = graph.node(id);
  const SoftmaxAttrs* attrs = attrs_or_default<SoftmaxAttrs>(node.attrs);
  if (attrs == nullptr) return invalid_argument("carries another op's attributes");
  const Shape& x = shape_of(graph, node.inputs[0]);
  const int64_t rank = static_cast<int64_t>(x.size());
  if (attrs->axis < -rank || attrs->axis >= rank) return invalid_argument("axis out of range");
  const auto axis = static_cast<std::ptrdiff_t>(attrs->axis < 0 ? attrs->axis + rank : attrs->axis);
  SoftmaxShape s;
  s.outer = numel(Shape(x.begin(), x.begin() + axis));
  s.length = attrs->coerce_to_2d ? numel(Shape(x.begin() + axis, x.end())) : x[static_cast<size_t>(axis)];
  s.inner = attrs->coerce_to_2d ? 1 : numel(Shape(x.begin() + axis + 1, x.end()));
  return s;
}

Result<MatMulShape> matmul_shape(const Graph& graph, NodeId id) {
  const Node& node = graph.node(id);
  if (node.inputs.size() != 2) return invalid_argument("needs two operands");
  Shape a = shape_of(graph, node.inputs[0]), b = shape_of(graph, node.inputs[1]);
  if (a.empty() || b.empty()) return invalid_argument("operands must have rank >= 1");
  if (a.size() == 1) a.insert(a.begin(), 1);
  if (b.size() == 1) b.push_back(1);
  MatMulShape s;
  const int64_t m = a[a.size() - 2], k = a.back(), n = b.back();
  if (b[b.size() - 2] != k) return invalid_argument("operands disagree on K");
  const Shape a_batch(a.begin(), a.end() - 2), b_batch(b.begin(), b.end() - 2);
  FL_ASSIGN_OR_RETURN(const Shape y_batch, broadcast_shapes(a_batch, b_batch));
  const int64_t batches = numel(y_batch);
  auto operand_stride = [&](const Shape& batch, int64_t matrix) -> Result<int64_t> {
    if (numel(batch) == 1) return int64_t{0};
    if (numel(batch) == batches && batch.size() == y_batch.size()) return matrix;
    return fallback("batch axes " + shape_to_string(a_batch) + " and " + shape_to_string(b_batch) +
                    " broadcast partially (cuBLAS batches one stride per operand)");
  };
  FL_ASSIGN_OR_RETURN(s.a_stride, operand_stride(a_batch, m * k));
  FL_ASSIGN_OR_RETURN(s.b_stride, operand_stride(b_batch, k * n));
  if (!fits_int(m) || !fits_int(n) || !fits_int(k) || !fits_int(batches)) return fallback("a dimension exceeds INT_MAX");
  s.m = static_cast<int>(m);
  s.n = static_cast<int>(n);
  s.k = static_cast<int>(k);
  s.batch = static_cast<int>(batches);
  s.y_stride = m * n;
  return s;
}

Result<GemmShape> gemm_shape(const Graph& graph, NodeId id) {
  const Node& node = graph.node(id);
  const GemmAttrs* attrs = attrs_or_default<GemmAttrs>(node.attrs);
  if (attrs == nullptr) return invalid_argument("carries another op's attributes");
  if (node.inputs.size() < 2 || node.inputs[1] == kNoValue) return invalid_argument("needs two operands");
  const Shape& a = shape_of(graph, node.inputs[0]);
  const Shape& b = shape_of(graph, node.inputs[1]);
  const Shape& y = shape_of(graph, node.outputs[0]);
  if (a.size() != 2 || b.size() != 2 || y.size() != 2) return invalid_argument("operands are not matrices");
  GemmShape s;
  s.trans_a = attrs->trans_a;
  s.trans_b = attrs->trans_b;
  const int64_t m = y[0], n = y[1], k = attrs->trans_a ? a[0] : a[1];
  if ((attrs->trans_a ? a[1] : a[0]) != m || (attrs->trans_b ? b[1] : b[0]) != k || (attrs->trans_b ? b[0] : b[1]) != n)
    return invalid_argument("A and B do not multiply into Y");
  if (!fits_int(m) || !fits_int(n) || !fits_int(k) || !fits_int(a[1]) || !fits_int(b[1]))
    return fallback("a dimension exceeds INT_MAX");
  s.m = static_cast<int>(m);
  s.n = static_cast<int>(n);
  s.k = static_cast<int>(k);
  s.lda = static_cast<int>(a[1]);
  s.ldb = static_cast<int>(b[1]);
  if (node.inputs.size() > 2 && node.inputs[2] != kNoValue)
    FL_RETURN_IF_ERROR(broadcast_copy_map(shape_of(graph, node.inputs[2]), y).status());
  return s;
}

// --- convolution algorithm ----------------------------------------------------------------------------

int choose_conv_algorithm(std::span<const ConvAlgorithm> candidates, bool allow_tf32, bool direct_only,
                          size_t workspace_limit) {
  // cudnnConvolutionFwdAlgo_t: 0 IMPLICIT_GEMM, 1 IMPLICIT_PRECOMP_GEMM, 2 GEMM, 3 DIRECT, 4 FFT, 5 FFT_TILING,
  // 6 WINOGRAD, 7 WINOGRAD_NONFUSED (checked against cudnn.h in cuda_backend.cpp).
  constexpr int kLastDirectAlgorithm = 3;
  for (size_t i = 0; i < candidates.size(); ++i) {
    const ConvAlgorithm& c = candidates[i];
    if (!c.ok || c.workspace > workspace_limit || !c.deterministic) continue;
    if (c.tensor_op && !allow_tf32) continue;
    if (direct_only && c.algo > kLastDirectAlgorithm) continue;
    return static_cast<int>(i);
  }
  return -1;
}

bool tf32_allowed_by_environment() {
  const char* value = std::getenv("FAULTLINE_CUDA_TF32");
  return value != nullptr && std::string_view(value) != "" && std::string_view(value) != "0";
}

}  // namespace faultline::cuda_plan
