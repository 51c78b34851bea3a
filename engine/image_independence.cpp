#include "engine/image_independence.h"

#include <algorithm>
#include <string>
#include <vector>

namespace faultline {
namespace {

// Whether ONNX `axis` of a rank-`rank` tensor is the image axis, 0.
bool is_image_axis(int64_t axis, size_t rank) { return normalize_axis(axis, static_cast<int64_t>(rank)) == 0; }

// Empty when node `n` (some of whose inputs carry images, flagged in `carries`) acts image by image; else why not.
std::string why_images_mix(const Graph& graph, const Node& node, const std::vector<char>& carries) {
  auto carrying = [&](size_t slot) {
    return slot < node.inputs.size() && node.inputs[slot] != kNoValue && carries[static_cast<size_t>(node.inputs[slot])];
  };
  auto shape = [&](ValueId v) -> const Shape& { return graph.value(v).shape; };
  const ValueId in = node.inputs.empty() ? kNoValue : node.inputs[0];
  const ValueId out = node.outputs.empty() ? kNoValue : node.outputs[0];
  const size_t rank = in == kNoValue ? 0 : shape(in).size();
  auto same_dim0 = [&](ValueId a, ValueId b) {
    return !shape(a).empty() && !shape(b).empty() && shape(a)[0] == shape(b)[0];
  };
  if (is_unary_activation(node.op)) return carrying(1) || carrying(2) ? "a bound computed from the images" : "";
  if (is_binary_elementwise(node.op)) {
    for (size_t slot = 0; slot < node.inputs.size(); ++slot)
      if (carrying(slot) && (shape(node.inputs[slot]).size() != shape(out).size() || !same_dim0(node.inputs[slot], out)))
        return "an input broadcast along the image axis";
    return {};
  }
  switch (node.op) {
    case OpKind::kConv:
    case OpKind::kConvInteger:
    case OpKind::kQLinearConv:
    case OpKind::kBatchNormalization:
    case OpKind::kIdentity:
    case OpKind::kCast:
    case OpKind::kQuantizeLinear:
    case OpKind::kDequantizeLinear:
    case OpKind::kMaxPool:
    case OpKind::kAveragePool:
    case OpKind::kGlobalAveragePool:
    case OpKind::kGlobalMaxPool:
      for (size_t slot = 1; slot < node.inputs.size(); ++slot)
        if (carrying(slot)) return "a parameter input computed from the images";
      return {};
    case OpKind::kSoftmax:
      if (is_image_axis(attrs_or_default<SoftmaxAttrs>(node.attrs)->axis, rank)) return "softmax over the images";
      return {};
    case OpKind::kConcat:
      if (is_image_axis(attrs_or_default<ConcatAttrs>(node.attrs)->axis, shape(out).size()))
        return "a concatenation along the image axis";
      return {};
    case OpKind::kFlatten:
      // [d0 * ... * d(axis-1), rest]: the rows stay the images only when the first factor is d0 alone.
      if (!same_dim0(in, out)) return "flattened over the images";
      return {};
    case OpKind::kReshape:
      if (!same_dim0(in, out) || carrying(1)) return "a reshape that moves the image axis";
      return {};
    case OpKind::kTranspose: {
      const auto& perm = attrs_or_default<TransposeAttrs>(node.attrs)->perm;
      if (perm.empty() ? rank > 1 : perm[0] != 0) return "a transpose that moves the image axis";
      return {};
    }
    case OpKind::kPad: {
      const auto& pads = attrs_or_default<PadAttrs>(node.attrs)->pads;
      if (pads.size() != 2 * rank || pads[0] != 0 || pads[rank] != 0) return "padding along the image axis";
      return {};
    }
    case OpKind::kSlice: {
      const SliceAttrs& slice = *attrs_or_default<SliceAttrs>(node.attrs);
      if (slice.from_inputs) return "a slice whose bounds are not constant";
      for (size_t k = 0; k < slice.starts.size(); ++k) {
        if (slice.axes.empty() ? k == 0 : is_image_axis(slice.axes[k], rank)) return "a slice along the image axis";
      }
      return {};
    }
    case OpKind::kGemm:
      if (carrying(1) || carrying(2) || attrs_or_default<GemmAttrs>(node.attrs)->trans_a)
        return "a product across the images";
      return {};
    case OpKind::kMatMul:
    case OpKind::kMatMulInteger:
    case OpKind::kQLinearMatMul: {
      // The B operand: input 1 (MatMul, MatMulInteger) or 3 (QLinearMatMul: a, a_scale, a_zero, b, ...).
      const size_t b_slot = node.op == OpKind::kQLinearMatMul ? 3 : 1;
      for (size_t slot = 0; slot < node.inputs.size(); ++slot)
        if (slot != 0 && slot != b_slot && carrying(slot)) return "a parameter input computed from the images";
      if (!carrying(0) || rank < 2) return "a product across the images";
      if (!carrying(b_slot)) return {};
      const Shape& b = shape(node.inputs[b_slot]);
      if (rank >= 3 && b.size() == rank && same_dim0(in, node.inputs[b_slot])) return {};
      return "a product across the images";
    }
    default:
      return "an op that is not known to act image by image";
  }
}

}  // namespace

Status check_images_independent(const Graph& graph) {
  FL_ASSIGN_OR_RETURN(std::vector<NodeId> order, graph.topological_order());
  std::vector<char> carries(graph.values().size(), 0);
  for (ValueId v : graph.inputs())
    if (!graph.value(v).is_constant()) carries[static_cast<size_t>(v)] = 1;
  for (NodeId id : order) {
    const Node& node = graph.node(id);
    const bool any = std::any_of(node.inputs.begin(), node.inputs.end(),
                                 [&](ValueId v) { return v != kNoValue && carries[static_cast<size_t>(v)]; });
    if (!any) continue;
    const std::string why = why_images_mix(graph, node, carries);
    if (!why.empty())
      return unsupported("node '" + node.name + "' (" + std::string(op_name(node.op)) +
                         ") does not keep the images of a batch apart: " + why);
    for (ValueId v : node.outputs)
      if (v != kNoValue) carries[static_cast<size_t>(v)] = 1;
  }
  return Status::ok();
}

}  // namespace faultline
