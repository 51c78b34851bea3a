#include "engine/shape_inference.h"

#include <algorithm>
#include <cmath>
#include <string>

namespace faultline {

namespace {

std::string ints_to_string(const std::vector<int64_t>& values) {
  std::string text = "[";
  for (size_t i = 0; i < values.size(); ++i) text += (i ? ", " : "") + std::to_string(values[i]);
  return text + "]";
}

// ceil(numerator / denominator) for denominator > 0.
int64_t ceil_div(int64_t numerator, int64_t denominator) {
  return numerator >= 0 ? (numerator + denominator - 1) / denominator : -((-numerator) / denominator);
}

// The node being inferred: its inputs' shapes and a way to report what does not fit, naming the node.
class NodeShapes {
 public:
  NodeShapes(Graph& graph, NodeId id) : graph_(graph), id_(id), node_(graph.node(id)) {}

  const Node& node() const { return node_; }
  Status error(const std::string& what) const { return invalid_argument(graph_.describe(id_) + ": " + what); }
  Status unsupported_feature(const std::string& what) const { return unsupported(graph_.describe(id_) + ": " + what); }

  template <typename A>
  Result<const A*> attrs() const {
    const A* attrs = attrs_or_default<A>(node_.attrs);
    if (attrs == nullptr) return internal_error(graph_.describe(id_) + ": carries another op's attributes");
    return attrs;
  }

  bool has_input(size_t slot) const { return slot < node_.inputs.size() && node_.inputs[slot] != kNoValue; }
  const Value& input(size_t slot) const { return graph_.value(node_.inputs[slot]); }
  const Shape& shape(size_t slot) const { return input(slot).shape; }
  int64_t rank(size_t slot) const { return static_cast<int64_t>(shape(slot).size()); }
  DType dtype(size_t slot) const { return input(slot).dtype; }
  std::string input_name(size_t slot) const { return "input '" + input(slot).name + "'"; }

  // Every present input must have a known static shape.
  Status check_inputs_static() const {
    for (size_t slot = 0; slot < node_.inputs.size(); ++slot) {
      if (!has_input(slot)) continue;
      const Value& value = input(slot);
      if (!value.shape_known || !is_static(value.shape))
        return error(input_name(slot) + " has no static shape (" +
                     (value.shape_known ? shape_to_string(value.shape) : std::string("unknown rank")) + ")");
    }
    return Status::ok();
  }

  // The node has between `min_inputs` and `max_inputs` input slots, the first `min_inputs` present, and
  // exactly one output.
  Status expect_operands(size_t min_inputs, size_t max_inputs) const {
    if (node_.inputs.size() < min_inputs || node_.inputs.size() > max_inputs)
      return error("expects " +
                   (min_inputs == max_inputs ? std::to_string(min_inputs)
                                             : std::to_string(min_inputs) + " to " + std::to_string(max_inputs)) +
                   " inputs in specialized form, has " + std::to_string(node_.inputs.size()));
    for (size_t slot = 0; slot < min_inputs; ++slot)
      if (!has_input(slot)) return error("required input " + std::to_string(slot) + " is missing");
    if (node_.outputs.size() != 1)
      return unsupported_feature("has " + std::to_string(node_.outputs.size()) +
                                 " outputs; only the first (inference) output is supported");
    return Status::ok();
  }

  Status expect_same_dtype(size_t a, size_t b) const {
    if (dtype(a) == dtype(b)) return Status::ok();
    return error(input_name(a) + " is " + std::string(dtype_name(dtype(a))) + " but " + input_name(b) + " is " +
                 std::string(dtype_name(dtype(b))));
  }

  Status set_output(DType dtype, Shape shape) {
    FL_ASSIGN_OR_RETURN(int64_t count, checked_numel(shape));
    if (count > kMaxTensorBytes / static_cast<int64_t>(dtype_size(dtype)))
      return error("output " + shape_to_string(shape) + " would be larger than the tensor limit");
    Value& out = graph_.value(node_.outputs[0]);
    out.dtype = dtype;
    out.shape = std::move(shape);
    out.shape_known = true;
    return Status::ok();
  }

  // An output whose rank is known but whose dimensions depend on values not known yet.
  Status set_dynamic_output(DType dtype, Shape shape) {
    Value& out = graph_.value(node_.outputs[0]);
    out.dtype = dtype;
    out.shape = std::move(shape);
    out.shape_known = true;
    return Status::ok();
  }

  Status set_output_like_input(size_t slot) { return set_output(dtype(slot), shape(slot)); }

  // Every output gets input `slot`'s dtype and shape (ops with several outputs: the spiking neurons).
  Status set_all_outputs_like_input(size_t slot) {
    for (ValueId id : node_.outputs) {
      Value& out = graph_.value(id);
      out.dtype = dtype(slot);
      out.shape = shape(slot);
      out.shape_known = true;
    }
    return Status::ok();
  }

 private:
  Graph& graph_;
  NodeId id_;
  const Node& node_;
};

// --- windows (Conv, pools) ----------------------------------------------------------------------------

struct Window {
  std::vector<int64_t> kernel, strides, dilations, pads;
  AutoPad auto_pad = AutoPad::kNotSet;
  bool ceil_mode = false;
};

// Output spatial sizes of a window sliding over the spatial axes of `input` ([N, C, spatial...]).
Result<Shape> window_output_spatial(const NodeShapes& node, const Shape& input, Window window) {
  const size_t spatial = input.size() - 2;
  auto wrong_length = [&](const char* what, const std::vector<int64_t>& values, size_t expected) {
    return node.error(std::string(what) + " " + ints_to_string(values) + " should have " + std::to_string(expected) +
                      " entries for an input of shape " + shape_to_string(input));
  };
  if (window.kernel.size() != spatial) return wrong_length("kernel_shape", window.kernel, spatial);
  if (!window.strides.empty() && window.strides.size() != spatial)
    return wrong_length("strides", window.strides, spatial);
  if (!window.dilations.empty() && window.dilations.size() != spatial)
    return wrong_length("dilations", window.dilations, spatial);
  if (!window.pads.empty() && window.pads.size() != 2 * spatial) return wrong_length("pads", window.pads, 2 * spatial);
  const std::vector<int64_t> spatial_input(input.begin() + 2, input.end());
  resolve_window(spatial_input, window.kernel, window.auto_pad, window.strides, window.dilations, window.pads);
  Shape out(spatial);
  for (size_t i = 0; i < spatial; ++i) {
    if (window.kernel[i] < 1 || window.strides[i] < 1 || window.dilations[i] < 1 || window.pads[i] < 0 ||
        window.pads[i + spatial] < 0)
      return node.error("spatial axis " + std::to_string(i) + " has kernel " + std::to_string(window.kernel[i]) +
                        ", stride " + std::to_string(window.strides[i]) + ", dilation " +
                        std::to_string(window.dilations[i]) + ", pads " + std::to_string(window.pads[i]) + "+" +
                        std::to_string(window.pads[i + spatial]) +
                        " (kernel, stride, dilation must be >= 1, pads >= 0)");
    out[i] = window_output_size(spatial_input[i], window.kernel[i], window.strides[i], window.dilations[i],
                                window.pads[i], window.pads[i + spatial], window.ceil_mode);
    if (out[i] < 1)
      return node.error("window of kernel " + std::to_string(window.kernel[i]) + " (dilation " +
                        std::to_string(window.dilations[i]) + ") does not fit spatial axis " + std::to_string(i) +
                        " of size " + std::to_string(spatial_input[i]) + " with pads " +
                        std::to_string(window.pads[i]) + "+" + std::to_string(window.pads[i + spatial]));
  }
  return out;
}

// [N, M, spatial...] of a convolution of input slot `x_slot` by weight slot `w_slot` (Conv, ConvInteger,
// QLinearConv); the caller checks dtypes and bias.
Result<Shape> conv_output_shape(const NodeShapes& node, size_t x_slot, size_t w_slot) {
  FL_ASSIGN_OR_RETURN(const ConvAttrs* attrs, node.attrs<ConvAttrs>());
  const Shape& x = node.shape(x_slot);
  const Shape& w = node.shape(w_slot);
  if (x.size() < 3) return node.error("input X " + shape_to_string(x) + " must be [N, C, spatial...]");
  if (w.size() != x.size())
    return node.error("weight " + shape_to_string(w) + " must have the rank of input " + shape_to_string(x));
  const int64_t group = attrs->group;
  if (group < 1) return node.error("group " + std::to_string(group) + " must be >= 1");
  if (x[1] % group != 0 || w[1] * group != x[1])
    return node.error("input has " + std::to_string(x[1]) + " channels, weight " + shape_to_string(w) + " expects " +
                      std::to_string(w[1] * group) + " (group " + std::to_string(group) + ")");
  if (w[0] % group != 0)
    return node.error("weight has " + std::to_string(w[0]) + " output channels, not a multiple of group " +
                      std::to_string(group));
  const std::vector<int64_t> weight_kernel(w.begin() + 2, w.end());
  if (!attrs->kernel_shape.empty() && attrs->kernel_shape != weight_kernel)
    return node.error("kernel_shape " + ints_to_string(attrs->kernel_shape) + " differs from weight " +
                      shape_to_string(w));
  FL_ASSIGN_OR_RETURN(Shape spatial, window_output_spatial(node, x,
                                                           {weight_kernel, attrs->strides, attrs->dilations,
                                                            attrs->pads, attrs->auto_pad, false}));
  Shape out = {x[0], w[0]};
  out.insert(out.end(), spatial.begin(), spatial.end());
  return out;
}

Status infer_conv(NodeShapes& node) {
  FL_RETURN_IF_ERROR(node.expect_operands(2, 3));
  FL_ASSIGN_OR_RETURN(Shape out, conv_output_shape(node, 0, 1));
  FL_RETURN_IF_ERROR(node.expect_same_dtype(0, 1));
  if (node.has_input(2) && node.shape(2) != Shape{out[1]})
    return node.error("bias " + shape_to_string(node.shape(2)) + " should be [" + std::to_string(out[1]) + "]");
  return node.set_output(node.dtype(0), std::move(out));
}

Status infer_pool(NodeShapes& node) {
  if (node.node().outputs.size() > 1) return node.unsupported_feature("the Indices output is not supported");
  FL_RETURN_IF_ERROR(node.expect_operands(1, 1));
  FL_ASSIGN_OR_RETURN(const PoolAttrs* attrs, node.attrs<PoolAttrs>());
  const Shape& x = node.shape(0);
  if (x.size() < 3) return node.error("input X " + shape_to_string(x) + " must be [N, C, spatial...]");
  FL_ASSIGN_OR_RETURN(Shape spatial, window_output_spatial(node, x,
                                                           {attrs->kernel_shape, attrs->strides, attrs->dilations,
                                                            attrs->pads, attrs->auto_pad, attrs->ceil_mode}));
  Shape out = {x[0], x[1]};
  out.insert(out.end(), spatial.begin(), spatial.end());
  return node.set_output(node.dtype(0), std::move(out));
}

Status infer_global_pool(NodeShapes& node) {
  FL_RETURN_IF_ERROR(node.expect_operands(1, 1));
  const Shape& x = node.shape(0);
  if (x.size() < 3) return node.error("input X " + shape_to_string(x) + " must be [N, C, spatial...]");
  Shape out(x.size(), 1);
  out[0] = x[0];
  out[1] = x[1];
  return node.set_output(node.dtype(0), std::move(out));
}

// --- element-wise and normalization --------------------------------------------------------------------

Status infer_batch_norm(NodeShapes& node) {
  if (node.node().outputs.size() > 1)
    return node.unsupported_feature("training-mode outputs (running mean/var) are not supported");
  FL_RETURN_IF_ERROR(node.expect_operands(5, 5));
  const Shape& x = node.shape(0);
  if (x.size() < 2) return node.error("input X " + shape_to_string(x) + " must be [N, C, ...]");
  static const char* const kParameterNames[] = {"", "scale", "bias", "mean", "var"};
  for (size_t slot = 1; slot < 5; ++slot) {
    if (node.shape(slot) != Shape{x[1]})
      return node.error(std::string(kParameterNames[slot]) + " " + shape_to_string(node.shape(slot)) + " should be [" +
                        std::to_string(x[1]) + "] for input " + shape_to_string(x));
    FL_RETURN_IF_ERROR(node.expect_same_dtype(0, slot));
  }
  return node.set_output_like_input(0);
}

Status infer_unary(NodeShapes& node) {
  if (node.node().op == OpKind::kClip) {
    FL_ASSIGN_OR_RETURN(const ClipAttrs* attrs, node.attrs<ClipAttrs>());
    if (attrs->bounds_from_inputs) return node.error("min/max are still inputs (not in specialized form)");
  }
  FL_RETURN_IF_ERROR(node.expect_operands(1, 1));
  return node.set_output_like_input(0);
}

Status infer_softmax(NodeShapes& node) {
  FL_RETURN_IF_ERROR(node.expect_operands(1, 1));
  FL_ASSIGN_OR_RETURN(const SoftmaxAttrs* attrs, node.attrs<SoftmaxAttrs>());
  if (!normalize_axis(attrs->axis, node.rank(0)))
    return node.error("axis " + std::to_string(attrs->axis) + " is out of range for input " +
                      shape_to_string(node.shape(0)));
  return node.set_output_like_input(0);
}

Status infer_binary(NodeShapes& node) {
  FL_RETURN_IF_ERROR(node.expect_operands(2, 2));
  FL_RETURN_IF_ERROR(node.expect_same_dtype(0, 1));
  Result<Shape> out = broadcast_shapes(node.shape(0), node.shape(1));
  if (!out.is_ok()) return node.error(out.status().message());
  return node.set_output(node.dtype(0), std::move(out).value());
}

// --- matrix products -----------------------------------------------------------------------------------

Status infer_gemm(NodeShapes& node) {
  FL_RETURN_IF_ERROR(node.expect_operands(2, 3));
  FL_ASSIGN_OR_RETURN(const GemmAttrs* attrs, node.attrs<GemmAttrs>());
  const Shape& a = node.shape(0);
  const Shape& b = node.shape(1);
  if (a.size() != 2 || b.size() != 2)
    return node.error("A " + shape_to_string(a) + " and B " + shape_to_string(b) + " must both be matrices");
  FL_RETURN_IF_ERROR(node.expect_same_dtype(0, 1));
  const int64_t m = attrs->trans_a ? a[1] : a[0];
  const int64_t k = attrs->trans_a ? a[0] : a[1];
  const int64_t k_b = attrs->trans_b ? b[1] : b[0];
  const int64_t n = attrs->trans_b ? b[0] : b[1];
  if (k != k_b)
    return node.error("A " + shape_to_string(a) + (attrs->trans_a ? " (transposed)" : "") + " and B " +
                      shape_to_string(b) + (attrs->trans_b ? " (transposed)" : "") + " disagree on K (" +
                      std::to_string(k) + " vs " + std::to_string(k_b) + ")");
  const Shape out = {m, n};
  if (node.has_input(2)) {
    const Shape& c = node.shape(2);
    bool fits = c.size() <= 2;
    for (size_t i = 0; fits && i < c.size(); ++i) {
      const int64_t target = out[out.size() - c.size() + i];
      fits = c[i] == 1 || c[i] == target;
    }
    if (!fits) return node.error("C " + shape_to_string(c) + " does not broadcast to " + shape_to_string(out));
    FL_RETURN_IF_ERROR(node.expect_same_dtype(0, 2));
  }
  return node.set_output(node.dtype(0), out);
}

// NumPy matmul of input slots `a_slot` and `b_slot` (MatMul, MatMulInteger, QLinearMatMul).
Result<Shape> matmul_output_shape(const NodeShapes& node, size_t a_slot, size_t b_slot) {
  Shape a = node.shape(a_slot);
  Shape b = node.shape(b_slot);
  if (a.empty() || b.empty()) return node.error("MatMul operands must have rank >= 1");
  const bool a_is_vector = a.size() == 1;
  const bool b_is_vector = b.size() == 1;
  if (a_is_vector) a.insert(a.begin(), 1);
  if (b_is_vector) b.push_back(1);
  if (a.back() != b[b.size() - 2])
    return node.error("A " + shape_to_string(node.shape(a_slot)) + " and B " + shape_to_string(node.shape(b_slot)) +
                      " disagree on K (" + std::to_string(a.back()) + " vs " + std::to_string(b[b.size() - 2]) + ")");
  Result<Shape> batch = broadcast_shapes(Shape(a.begin(), a.end() - 2), Shape(b.begin(), b.end() - 2));
  if (!batch.is_ok()) return node.error("batch dimensions: " + batch.status().message());
  Shape out = std::move(batch).value();
  if (!a_is_vector) out.push_back(a[a.size() - 2]);
  if (!b_is_vector) out.push_back(b.back());
  return out;
}

Status infer_matmul(NodeShapes& node) {
  FL_RETURN_IF_ERROR(node.expect_operands(2, 2));
  FL_RETURN_IF_ERROR(node.expect_same_dtype(0, 1));
  FL_ASSIGN_OR_RETURN(Shape out, matmul_output_shape(node, 0, 1));
  return node.set_output(node.dtype(0), std::move(out));
}

// --- data movement -------------------------------------------------------------------------------------

Status infer_concat(NodeShapes& node) {
  const size_t count = node.node().inputs.size();
  if (count == 0) return node.error("has no inputs");
  FL_RETURN_IF_ERROR(node.expect_operands(count, count));
  FL_ASSIGN_OR_RETURN(const ConcatAttrs* attrs, node.attrs<ConcatAttrs>());
  const Shape& first = node.shape(0);
  std::optional<int64_t> axis = normalize_axis(attrs->axis, static_cast<int64_t>(first.size()));
  if (!axis)
    return node.error("axis " + std::to_string(attrs->axis) + " is out of range for " + shape_to_string(first));
  Shape out = first;
  for (size_t slot = 1; slot < count; ++slot) {
    const Shape& shape = node.shape(slot);
    bool fits = shape.size() == first.size();
    for (size_t d = 0; fits && d < shape.size(); ++d) fits = static_cast<int64_t>(d) == *axis || shape[d] == first[d];
    if (!fits)
      return node.error(node.input_name(slot) + " " + shape_to_string(shape) + " does not match " + node.input_name(0) +
                        " " + shape_to_string(first) + " outside axis " + std::to_string(*axis));
    FL_RETURN_IF_ERROR(node.expect_same_dtype(0, slot));
    out[static_cast<size_t>(*axis)] += shape[static_cast<size_t>(*axis)];
  }
  return node.set_output(node.dtype(0), std::move(out));
}

Status infer_flatten(NodeShapes& node) {
  FL_RETURN_IF_ERROR(node.expect_operands(1, 1));
  FL_ASSIGN_OR_RETURN(const FlattenAttrs* attrs, node.attrs<FlattenAttrs>());
  const Shape& x = node.shape(0);
  const int64_t rank = node.rank(0);
  if (attrs->axis < -rank || attrs->axis > rank)
    return node.error("axis " + std::to_string(attrs->axis) + " is out of range for " + shape_to_string(x));
  const auto split = x.begin() + (attrs->axis < 0 ? attrs->axis + rank : attrs->axis);
  return node.set_output(node.dtype(0), {numel(Shape(x.begin(), split)), numel(Shape(split, x.end()))});
}

Status infer_reshape(NodeShapes& node) {
  FL_ASSIGN_OR_RETURN(const ReshapeAttrs* attrs, node.attrs<ReshapeAttrs>());
  if (attrs->shape_from_input) return node.error("the target shape is still an input (not in specialized form)");
  FL_RETURN_IF_ERROR(node.expect_operands(1, 1));
  const Shape& x = node.shape(0);
  Shape out = attrs->shape;
  std::optional<size_t> inferred;
  bool has_zero = false;
  int64_t known = 1;
  for (size_t i = 0; i < out.size(); ++i) {
    if (out[i] == -1) {
      if (inferred) return node.error("shape " + ints_to_string(attrs->shape) + " has more than one -1");
      inferred = i;
      continue;
    }
    if (out[i] < -1) return node.error("shape " + ints_to_string(attrs->shape) + " has a negative dimension");
    if (out[i] == 0) {
      has_zero = true;
      if (!attrs->allowzero) {
        if (i >= x.size())
          return node.error("shape " + ints_to_string(attrs->shape) + " copies dimension " + std::to_string(i) +
                            " (0) but input " + shape_to_string(x) + " has rank " + std::to_string(x.size()));
        out[i] = x[i];
      }
    }
    known *= out[i];
  }
  if (attrs->allowzero && has_zero && inferred)
    return node.error("shape " + ints_to_string(attrs->shape) + " has both 0 and -1 with allowzero");
  const int64_t total = numel(x);
  if (inferred) {
    if (known == 0 || total % known != 0)
      return node.error("cannot infer the -1 of shape " + ints_to_string(attrs->shape) + " for input " +
                        shape_to_string(x) + " (" + std::to_string(total) + " elements)");
    out[*inferred] = total / known;
  }
  Result<int64_t> count = checked_numel(out);
  if (!count.is_ok() || *count != total)
    return node.error("cannot reshape " + shape_to_string(x) + " to " + ints_to_string(attrs->shape));
  return node.set_output(node.dtype(0), std::move(out));
}

Status infer_transpose(NodeShapes& node) {
  FL_RETURN_IF_ERROR(node.expect_operands(1, 1));
  FL_ASSIGN_OR_RETURN(const TransposeAttrs* attrs, node.attrs<TransposeAttrs>());
  const Shape& x = node.shape(0);
  std::vector<int64_t> perm = attrs->perm;
  if (perm.empty())
    for (int64_t d = node.rank(0) - 1; d >= 0; --d) perm.push_back(d);
  std::vector<bool> seen(x.size(), false);
  bool valid = perm.size() == x.size();
  for (size_t i = 0; valid && i < perm.size(); ++i) {
    valid = perm[i] >= 0 && perm[i] < node.rank(0) && !seen[static_cast<size_t>(perm[i])];
    if (valid) seen[static_cast<size_t>(perm[i])] = true;
  }
  if (!valid)
    return node.error("perm " + ints_to_string(perm) + " is not a permutation of the axes of " + shape_to_string(x));
  Shape out(x.size());
  for (size_t i = 0; i < perm.size(); ++i) out[i] = x[static_cast<size_t>(perm[i])];
  return node.set_output(node.dtype(0), std::move(out));
}

Status infer_pad(NodeShapes& node) {
  FL_ASSIGN_OR_RETURN(const PadAttrs* attrs, node.attrs<PadAttrs>());
  if (attrs->pads_from_inputs) return node.error("pads are still inputs (not in specialized form)");
  FL_RETURN_IF_ERROR(node.expect_operands(1, 1));
  const Shape& x = node.shape(0);
  const size_t rank = x.size();
  if (attrs->pads.size() != 2 * rank)
    return node.error("pads " + ints_to_string(attrs->pads) + " should have " + std::to_string(2 * rank) +
                      " entries for input " + shape_to_string(x));
  Shape out(rank);
  for (size_t d = 0; d < rank; ++d) {
    const int64_t begin = attrs->pads[d];
    const int64_t end = attrs->pads[d + rank];
    out[d] = x[d] + begin + end;
    if (out[d] < 0)
      return node.error("pads " + ints_to_string(attrs->pads) + " remove more than axis " + std::to_string(d) +
                        " of input " + shape_to_string(x) + " holds");
    if (attrs->mode != PadMode::kConstant && x[d] == 0 && (begin > 0 || end > 0))
      return node.error("cannot pad empty axis " + std::to_string(d) + " in reflect/edge mode");
  }
  return node.set_output(node.dtype(0), std::move(out));
}

Status infer_slice(NodeShapes& node) {
  FL_ASSIGN_OR_RETURN(const SliceAttrs* attrs, node.attrs<SliceAttrs>());
  if (attrs->from_inputs) return node.error("starts/ends are still inputs (not in specialized form)");
  FL_RETURN_IF_ERROR(node.expect_operands(1, 1));
  Result<std::vector<SliceAxisRange>> ranges = resolve_slice(node.shape(0), *attrs);
  if (!ranges.is_ok()) return node.error(ranges.status().message());
  Shape out;
  for (const SliceAxisRange& range : *ranges) out.push_back(range.count);
  return node.set_output(node.dtype(0), std::move(out));
}

// --- spiking neurons (engine/op_attrs.h NeuronAttrs) ---------------------------------------------------

// x is [N, features...]; every state input has x's shape; every parameter has one element or one per feature.
Status infer_neuron(NodeShapes& node) {
  const NeuronLayout layout = neuron_layout(node.node().op);
  const size_t operands = layout.inputs();
  const size_t states = layout.states.size();
  if (node.node().inputs.size() != operands)
    return node.error("expects " + std::to_string(operands) + " inputs (x, states, parameters), has " +
                      std::to_string(node.node().inputs.size()));
  for (size_t slot = 0; slot < operands; ++slot)
    if (!node.has_input(slot)) return node.error("required input " + std::to_string(slot) + " is missing");
  if (node.node().outputs.size() != layout.outputs())
    return node.error("expects " + std::to_string(layout.outputs()) + " outputs, has " +
                      std::to_string(node.node().outputs.size()));
  if (!attrs_or_default<NeuronAttrs>(node.node().attrs)) return node.error("carries another op's attributes");
  const Shape& x = node.shape(0);
  if (x.empty()) return node.error("input x must be [N, features...], got a scalar");
  const int64_t features = numel(Shape(x.begin() + 1, x.end()));
  for (size_t slot = 1; slot < operands; ++slot) {
    FL_RETURN_IF_ERROR(node.expect_same_dtype(0, slot));
    if (slot <= states) {
      if (node.shape(slot) != x)
        return node.error("state " + node.input_name(slot) + " " + shape_to_string(node.shape(slot)) +
                          " must have the shape of x " + shape_to_string(x));
      continue;
    }
    const int64_t count = numel(node.shape(slot));
    if (count != 1 && count != features)
      return node.error("parameter " + std::string(layout.params[slot - 1 - states]) + " " +
                        shape_to_string(node.shape(slot)) + " has neither one element nor one per feature of x " +
                        shape_to_string(x));
  }
  return node.set_all_outputs_like_input(0);
}

// --- shape arithmetic ----------------------------------------------------------------------------------

Status infer_shape(NodeShapes& node) {
  FL_RETURN_IF_ERROR(node.expect_operands(1, 1));
  return node.set_output(DType::kInt64, {node.rank(0)});
}

Status infer_gather(NodeShapes& node) {
  FL_RETURN_IF_ERROR(node.expect_operands(2, 2));
  FL_ASSIGN_OR_RETURN(const GatherAttrs* attrs, node.attrs<GatherAttrs>());
  const Shape& data = node.shape(0);
  const Shape& indices = node.shape(1);
  if (node.dtype(1) != DType::kInt64 && node.dtype(1) != DType::kInt32)
    return node.error("indices must be int32 or int64, not " + std::string(dtype_name(node.dtype(1))));
  std::optional<int64_t> axis = normalize_axis(attrs->axis, node.rank(0));
  if (!axis)
    return node.error("axis " + std::to_string(attrs->axis) + " is out of range for data " + shape_to_string(data));
  Shape out(data.begin(), data.begin() + *axis);
  out.insert(out.end(), indices.begin(), indices.end());
  out.insert(out.end(), data.begin() + *axis + 1, data.end());
  return node.set_output(node.dtype(0), std::move(out));
}

// Normalizes `axes` against `rank`, refusing an axis out of range or named twice.
Result<std::vector<bool>> axes_mask(const NodeShapes& node, const std::vector<int64_t>& axes, int64_t rank) {
  std::vector<bool> mask(static_cast<size_t>(rank), false);
  for (int64_t axis : axes) {
    std::optional<int64_t> normalized = normalize_axis(axis, rank);
    if (!normalized || mask[static_cast<size_t>(*normalized)])
      return node.error("axes " + ints_to_string(axes) + " name an axis out of range [" + std::to_string(-rank) + ", " +
                        std::to_string(rank) + ") or twice");
    mask[static_cast<size_t>(*normalized)] = true;
  }
  return mask;
}

Status infer_unsqueeze(NodeShapes& node) {
  FL_ASSIGN_OR_RETURN(const AxesAttrs* attrs, node.attrs<AxesAttrs>());
  if (attrs->axes_from_input) return node.error("axes are still an input (not in specialized form)");
  FL_RETURN_IF_ERROR(node.expect_operands(1, 1));
  const Shape& x = node.shape(0);
  const int64_t out_rank = node.rank(0) + static_cast<int64_t>(attrs->axes.size());
  FL_ASSIGN_OR_RETURN(std::vector<bool> inserted, axes_mask(node, attrs->axes, out_rank));
  Shape out;
  auto next = x.begin();
  for (bool is_new : inserted) out.push_back(is_new ? 1 : *next++);
  return node.set_output(node.dtype(0), std::move(out));
}

Status infer_squeeze(NodeShapes& node) {
  FL_ASSIGN_OR_RETURN(const AxesAttrs* attrs, node.attrs<AxesAttrs>());
  if (attrs->axes_from_input) return node.error("axes are still an input (not in specialized form)");
  FL_RETURN_IF_ERROR(node.expect_operands(1, 1));
  const Shape& x = node.shape(0);
  std::vector<bool> removed(x.size(), false);
  if (attrs->axes.empty()) {
    for (size_t d = 0; d < x.size(); ++d) removed[d] = x[d] == 1;
  } else {
    FL_ASSIGN_OR_RETURN(removed, axes_mask(node, attrs->axes, node.rank(0)));
  }
  Shape out;
  for (size_t d = 0; d < x.size(); ++d) {
    if (!removed[d])
      out.push_back(x[d]);
    else if (x[d] != 1)
      return node.error("cannot squeeze axis " + std::to_string(d) + " of size " + std::to_string(x[d]) + " in " +
                        shape_to_string(x));
  }
  return node.set_output(node.dtype(0), std::move(out));
}

Status infer_cast(NodeShapes& node) {
  FL_RETURN_IF_ERROR(node.expect_operands(1, 1));
  FL_ASSIGN_OR_RETURN(const CastAttrs* attrs, node.attrs<CastAttrs>());
  return node.set_output(attrs->to, node.shape(0));
}

// y = (x - zero_point) * scale: float32 of x's shape. The scale (and zero point) has one element, or one per
// index of `axis` (a 1-D tensor). x is int8, uint8 or int32 (a QDQ model's bias: no zero point).
Status infer_dequantize(NodeShapes& node) {
  FL_RETURN_IF_ERROR(node.expect_operands(2, 3));
  FL_ASSIGN_OR_RETURN(const DequantizeAttrs* attrs, node.attrs<DequantizeAttrs>());
  const Value& x = node.input(0);
  if (x.dtype != DType::kInt8 && x.dtype != DType::kUInt8 && x.dtype != DType::kInt32)
    return node.error("x must be int8, uint8 or int32, got " + std::string(dtype_name(x.dtype)));
  const Value& scale = node.input(1);
  if (scale.dtype != DType::kFloat32)
    return node.error("x_scale must be float32, got " + std::string(dtype_name(scale.dtype)));
  const int64_t scales = numel(scale.shape);
  if (scales != 1) {
    const int64_t rank = static_cast<int64_t>(x.shape.size());
    const int64_t axis = attrs->axis < 0 ? attrs->axis + rank : attrs->axis;
    if (axis < 0 || axis >= rank) return node.error("axis " + std::to_string(attrs->axis) + " is out of range");
    if (scale.shape.size() != 1 || scales != x.shape[static_cast<size_t>(axis)])
      return node.error("x_scale " + shape_to_string(scale.shape) + " is neither one element nor one per index of axis " +
                        std::to_string(axis) + " of " + shape_to_string(x.shape));
  }
  if (node.has_input(2)) {
    const Value& zero_point = node.input(2);
    if (zero_point.dtype != x.dtype) return node.error("x_zero_point must have x's dtype");
    if (x.dtype == DType::kInt32) return node.error("an int32 x has no zero point (it is 0)");
    if (zero_point.shape != scale.shape && numel(zero_point.shape) != scales)
      return node.error("x_zero_point " + shape_to_string(zero_point.shape) + " does not match x_scale " +
                        shape_to_string(scale.shape));
  }
  return node.set_output(DType::kFloat32, x.shape);
}

// --- integer ops (engine/op_attrs.h QuantizeAttrs) -------------------------------------------------------

bool is_quantized(DType dtype) { return dtype == DType::kInt8 || dtype == DType::kUInt8; }

// Input `slot` is int8 or uint8.
Status expect_quantized(const NodeShapes& node, size_t slot, const char* role) {
  if (is_quantized(node.dtype(slot))) return Status::ok();
  return node.error(std::string(role) + " must be int8 or uint8, got " + std::string(dtype_name(node.dtype(slot))));
}

// Optional input `slot` (a scale or a zero point): absent, or of `dtype` with one element or, when
// `per_index` > 0, a 1-D tensor of `per_index` elements (`what_index` says of what: "output channel").
Status expect_quantization_parameter(const NodeShapes& node, size_t slot, const char* role, DType dtype,
                                     int64_t per_index, const char* what_index) {
  if (!node.has_input(slot)) return Status::ok();
  if (node.dtype(slot) != dtype)
    return node.error(std::string(role) + " must be " + std::string(dtype_name(dtype)) + ", got " +
                      std::string(dtype_name(node.dtype(slot))));
  const Shape& shape = node.shape(slot);
  if (numel(shape) == 1 || (per_index > 0 && shape == Shape{per_index})) return Status::ok();
  std::string expected = "one element";
  if (per_index > 0) expected += " or [" + std::to_string(per_index) + "] (one per " + what_index + ")";
  return node.error(std::string(role) + " " + shape_to_string(shape) + " should have " + expected);
}

Status infer_quantize(NodeShapes& node) {
  FL_RETURN_IF_ERROR(node.expect_operands(2, 3));
  FL_ASSIGN_OR_RETURN(const QuantizeAttrs* attrs, node.attrs<QuantizeAttrs>());
  if (node.dtype(0) != DType::kFloat32)
    return node.error("x must be float32, got " + std::string(dtype_name(node.dtype(0))));
  const DType y_dtype = node.has_input(2) ? node.dtype(2) : DType::kUInt8;
  if (!is_quantized(y_dtype))
    return node.error("y_zero_point must be int8 or uint8, got " + std::string(dtype_name(y_dtype)));
  int64_t per_index = 0;
  if (numel(node.shape(1)) != 1) {
    std::optional<int64_t> axis = normalize_axis(attrs->axis, node.rank(0));
    if (!axis)
      return node.error("axis " + std::to_string(attrs->axis) + " is out of range for x " +
                        shape_to_string(node.shape(0)));
    per_index = node.shape(0)[static_cast<size_t>(*axis)];
  }
  FL_RETURN_IF_ERROR(expect_quantization_parameter(node, 1, "y_scale", DType::kFloat32, per_index, "index of axis"));
  FL_RETURN_IF_ERROR(expect_quantization_parameter(node, 2, "y_zero_point", y_dtype, per_index, "index of axis"));
  if (node.has_input(2) && node.shape(2) != node.shape(1) && numel(node.shape(2)) != numel(node.shape(1)))
    return node.error("y_zero_point " + shape_to_string(node.shape(2)) + " does not match y_scale " +
                      shape_to_string(node.shape(1)));
  return node.set_output(y_dtype, node.shape(0));
}

// ConvInteger [x, w, x_zero_point?, w_zero_point?] -> int32.
Status infer_conv_integer(NodeShapes& node) {
  FL_RETURN_IF_ERROR(node.expect_operands(2, 4));
  FL_ASSIGN_OR_RETURN(Shape out, conv_output_shape(node, 0, 1));
  FL_RETURN_IF_ERROR(expect_quantized(node, 0, "x"));
  FL_RETURN_IF_ERROR(expect_quantized(node, 1, "w"));
  FL_RETURN_IF_ERROR(expect_quantization_parameter(node, 2, "x_zero_point", node.dtype(0), 0, ""));
  FL_RETURN_IF_ERROR(expect_quantization_parameter(node, 3, "w_zero_point", node.dtype(1), out[1], "output channel"));
  return node.set_output(DType::kInt32, std::move(out));
}

// Rows of a MatMul operand A (1 for a vector) and columns of B, for per-row / per-column parameters; 0 when
// the operand is not 2-D (only one-element parameters then).
int64_t matrix_rows(const Shape& a) { return a.size() == 2 ? a[0] : 0; }
int64_t matrix_cols(const Shape& b) { return b.size() == 2 ? b[1] : 0; }

// MatMulInteger [A, B, a_zero_point?, b_zero_point?] -> int32.
Status infer_matmul_integer(NodeShapes& node) {
  FL_RETURN_IF_ERROR(node.expect_operands(2, 4));
  FL_ASSIGN_OR_RETURN(Shape out, matmul_output_shape(node, 0, 1));
  FL_RETURN_IF_ERROR(expect_quantized(node, 0, "A"));
  FL_RETURN_IF_ERROR(expect_quantized(node, 1, "B"));
  FL_RETURN_IF_ERROR(
      expect_quantization_parameter(node, 2, "a_zero_point", node.dtype(0), matrix_rows(node.shape(0)), "row of A"));
  FL_RETURN_IF_ERROR(expect_quantization_parameter(node, 3, "b_zero_point", node.dtype(1),
                                                   matrix_cols(node.shape(1)), "column of B"));
  return node.set_output(DType::kInt32, std::move(out));
}

// The scale and zero-point pairs of QLinearConv / QLinearMatMul: (x_scale, x_zero_point) at slots 1, 2 for the
// data at slot 0, (w_scale, w_zero_point) at 4, 5 for the data at 3 (one element or `w_per_index`),
// (y_scale, y_zero_point) at 6, 7. Returns y's dtype.
Result<DType> check_qlinear_parameters(const NodeShapes& node, const char* x, const char* w, int64_t w_per_index,
                                       const char* w_index) {
  const std::string x_name(x), w_name(w);
  FL_RETURN_IF_ERROR(expect_quantized(node, 0, x));
  FL_RETURN_IF_ERROR(expect_quantized(node, 3, w));
  FL_RETURN_IF_ERROR(expect_quantized(node, 7, "y_zero_point"));
  FL_RETURN_IF_ERROR(
      expect_quantization_parameter(node, 1, (x_name + "_scale").c_str(), DType::kFloat32, 0, ""));
  FL_RETURN_IF_ERROR(
      expect_quantization_parameter(node, 2, (x_name + "_zero_point").c_str(), node.dtype(0), 0, ""));
  FL_RETURN_IF_ERROR(expect_quantization_parameter(node, 4, (w_name + "_scale").c_str(), DType::kFloat32,
                                                   w_per_index, w_index));
  FL_RETURN_IF_ERROR(expect_quantization_parameter(node, 5, (w_name + "_zero_point").c_str(), node.dtype(3),
                                                   w_per_index, w_index));
  FL_RETURN_IF_ERROR(expect_quantization_parameter(node, 6, "y_scale", DType::kFloat32, 0, ""));
  FL_RETURN_IF_ERROR(expect_quantization_parameter(node, 7, "y_zero_point", node.dtype(7), 0, ""));
  return node.dtype(7);
}

// QLinearConv [x, x_scale, x_zero_point, w, w_scale, w_zero_point, y_scale, y_zero_point, B?] -> y_zero_point's
// dtype.
Status infer_qlinear_conv(NodeShapes& node) {
  FL_RETURN_IF_ERROR(node.expect_operands(8, 9));
  FL_ASSIGN_OR_RETURN(Shape out, conv_output_shape(node, 0, 3));
  FL_ASSIGN_OR_RETURN(DType y_dtype, check_qlinear_parameters(node, "x", "w", out[1], "output channel"));
  if (node.has_input(8)) {
    if (node.dtype(8) != DType::kInt32)
      return node.error("bias B must be int32, got " + std::string(dtype_name(node.dtype(8))));
    if (node.shape(8) != Shape{out[1]})
      return node.error("bias B " + shape_to_string(node.shape(8)) + " should be [" + std::to_string(out[1]) + "]");
  }
  return node.set_output(y_dtype, std::move(out));
}

// QLinearMatMul [a, a_scale, a_zero_point, b, b_scale, b_zero_point, y_scale, y_zero_point] -> y_zero_point's
// dtype.
Status infer_qlinear_matmul(NodeShapes& node) {
  FL_RETURN_IF_ERROR(node.expect_operands(8, 8));
  FL_ASSIGN_OR_RETURN(Shape out, matmul_output_shape(node, 0, 3));
  FL_ASSIGN_OR_RETURN(DType y_dtype,
                      check_qlinear_parameters(node, "a", "b", matrix_cols(node.shape(3)), "column of b"));
  return node.set_output(y_dtype, std::move(out));
}

Status infer_constant_of_shape(NodeShapes& node) {
  FL_RETURN_IF_ERROR(node.expect_operands(1, 1));
  FL_ASSIGN_OR_RETURN(const ConstantOfShapeAttrs* attrs, node.attrs<ConstantOfShapeAttrs>());
  const Value& shape_input = node.input(0);
  if (shape_input.dtype != DType::kInt64 || shape_input.shape.size() != 1)
    return node.error("the shape input must be a 1-D int64 tensor, got " + std::string(dtype_name(shape_input.dtype)) +
                      " " + shape_to_string(shape_input.shape));
  if (!attrs->value.empty() && attrs->value.numel() != 1)
    return node.error("value must hold one element, has " + std::to_string(attrs->value.numel()));
  const DType dtype = attrs->value.empty() ? DType::kFloat32 : attrs->value.dtype();
  if (!shape_input.is_constant())
    return node.set_dynamic_output(dtype, Shape(static_cast<size_t>(shape_input.shape[0]), kDynamicDim));
  const Shape out = shape_input.constant.to_int64s();
  if (!is_static(out)) return node.error("shape " + ints_to_string(out) + " has a negative dimension");
  return node.set_output(dtype, out);
}

Status infer_range(NodeShapes& node) {
  FL_RETURN_IF_ERROR(node.expect_operands(3, 3));
  static const char* const kOperandNames[] = {"start", "limit", "delta"};
  bool all_constant = true;
  for (size_t slot = 0; slot < 3; ++slot) {
    if (numel(node.shape(slot)) != 1) return node.error(std::string(kOperandNames[slot]) + " must be a scalar");
    FL_RETURN_IF_ERROR(node.expect_same_dtype(0, slot));
    all_constant = all_constant && node.input(slot).is_constant();
  }
  const DType dtype = node.dtype(0);
  if (!all_constant) return node.set_dynamic_output(dtype, {kDynamicDim});
  int64_t count = 0;
  if (is_floating(dtype)) {
    const double start = node.input(0).constant.to_doubles()[0];
    const double limit = node.input(1).constant.to_doubles()[0];
    const double delta = node.input(2).constant.to_doubles()[0];
    if (delta == 0.0 || !std::isfinite(start) || !std::isfinite(limit) || !std::isfinite(delta))
      return node.error("start, limit and delta must be finite and delta non-zero");
    const double elements = std::max(0.0, std::ceil((limit - start) / delta));
    if (elements > static_cast<double>(kMaxTensorBytes)) return node.error("the range has too many elements");
    count = static_cast<int64_t>(elements);
  } else {
    const int64_t start = node.input(0).constant.to_int64s()[0];
    const int64_t limit = node.input(1).constant.to_int64s()[0];
    const int64_t delta = node.input(2).constant.to_int64s()[0];
    if (delta == 0) return node.error("delta must be non-zero");
    count = delta > 0 ? (limit > start ? ceil_div(limit - start, delta) : 0)
                      : (start > limit ? ceil_div(start - limit, -delta) : 0);
  }
  return node.set_output(dtype, {count});
}

Status infer_by_op(NodeShapes& node) {
  switch (node.node().op) {
    case OpKind::kConv:
      return infer_conv(node);
    case OpKind::kBatchNormalization:
      return infer_batch_norm(node);
    case OpKind::kRelu:
    case OpKind::kLeakyRelu:
    case OpKind::kClip:
    case OpKind::kSigmoid:
    case OpKind::kTanh:
    case OpKind::kIdentity:
      return infer_unary(node);
    case OpKind::kSoftmax:
      return infer_softmax(node);
    case OpKind::kMaxPool:
    case OpKind::kAveragePool:
      return infer_pool(node);
    case OpKind::kGlobalAveragePool:
    case OpKind::kGlobalMaxPool:
      return infer_global_pool(node);
    case OpKind::kAdd:
    case OpKind::kSub:
    case OpKind::kMul:
    case OpKind::kDiv:
      return infer_binary(node);
    case OpKind::kConcat:
      return infer_concat(node);
    case OpKind::kFlatten:
      return infer_flatten(node);
    case OpKind::kReshape:
      return infer_reshape(node);
    case OpKind::kTranspose:
      return infer_transpose(node);
    case OpKind::kGemm:
      return infer_gemm(node);
    case OpKind::kMatMul:
      return infer_matmul(node);
    case OpKind::kPad:
      return infer_pad(node);
    case OpKind::kSlice:
      return infer_slice(node);
    case OpKind::kShape:
      return infer_shape(node);
    case OpKind::kGather:
      return infer_gather(node);
    case OpKind::kUnsqueeze:
      return infer_unsqueeze(node);
    case OpKind::kSqueeze:
      return infer_squeeze(node);
    case OpKind::kCast:
      return infer_cast(node);
    case OpKind::kDequantizeLinear:
      return infer_dequantize(node);
    case OpKind::kQuantizeLinear:
      return infer_quantize(node);
    case OpKind::kConvInteger:
      return infer_conv_integer(node);
    case OpKind::kMatMulInteger:
      return infer_matmul_integer(node);
    case OpKind::kQLinearConv:
      return infer_qlinear_conv(node);
    case OpKind::kQLinearMatMul:
      return infer_qlinear_matmul(node);
    case OpKind::kConstantOfShape:
      return infer_constant_of_shape(node);
    case OpKind::kRange:
      return infer_range(node);
    case OpKind::kLIF:
    case OpKind::kCubaLIF:
    case OpKind::kIF:
    case OpKind::kLI:
    case OpKind::kCubaLI:
    case OpKind::kIntegrator:
    case OpKind::kThreshold:
      return infer_neuron(node);
  }
  return node.error("unknown op kind");
}

}  // namespace

Status infer_output_shapes(Graph& graph, NodeId id) {
  NodeShapes node(graph, id);
  FL_RETURN_IF_ERROR(node.check_inputs_static());
  return infer_by_op(node);
}

int64_t window_output_size(int64_t input, int64_t kernel, int64_t stride, int64_t dilation, int64_t pad_begin,
                           int64_t pad_end, bool ceil_mode) {
  const int64_t span = input + pad_begin + pad_end - ((kernel - 1) * dilation + 1);
  if (span < 0) return 0;
  int64_t out = (ceil_mode ? ceil_div(span, stride) : span / stride) + 1;
  // ceil_mode never adds a window that starts in the end padding (PyTorch; ONNX since opset 19's fix).
  if (ceil_mode && (out - 1) * stride >= input + pad_begin) --out;
  return out;
}

void resolve_window(const std::vector<int64_t>& spatial_input, const std::vector<int64_t>& kernel_shape,
                    AutoPad& auto_pad, std::vector<int64_t>& strides, std::vector<int64_t>& dilations,
                    std::vector<int64_t>& pads) {
  const size_t spatial = kernel_shape.size();
  if (strides.empty()) strides.assign(spatial, 1);
  if (dilations.empty()) dilations.assign(spatial, 1);
  if (auto_pad == AutoPad::kSameUpper || auto_pad == AutoPad::kSameLower) {
    pads.assign(2 * spatial, 0);
    for (size_t i = 0; i < spatial; ++i) {
      const int64_t out = ceil_div(spatial_input[i], strides[i]);
      const int64_t effective_kernel = (kernel_shape[i] - 1) * dilations[i] + 1;
      const int64_t total = std::max<int64_t>(0, (out - 1) * strides[i] + effective_kernel - spatial_input[i]);
      const int64_t smaller = total / 2;
      const bool extra_at_end = auto_pad == AutoPad::kSameUpper;
      pads[i] = extra_at_end ? smaller : total - smaller;
      pads[i + spatial] = total - pads[i];
    }
  } else if (auto_pad == AutoPad::kValid || pads.empty()) {
    pads.assign(2 * spatial, 0);
  }
  auto_pad = AutoPad::kNotSet;
}

Result<Shape> broadcast_shapes(const Shape& a, const Shape& b) {
  const size_t rank = std::max(a.size(), b.size());
  Shape out(rank);
  for (size_t i = 0; i < rank; ++i) {
    const int64_t da = i < rank - a.size() ? 1 : a[i - (rank - a.size())];
    const int64_t db = i < rank - b.size() ? 1 : b[i - (rank - b.size())];
    if (da != db && da != 1 && db != 1)
      return invalid_argument("shapes " + shape_to_string(a) + " and " + shape_to_string(b) + " do not broadcast");
    out[i] = da == 1 ? db : da;
  }
  return out;
}

Result<std::vector<SliceAxisRange>> resolve_slice(const Shape& input, const SliceAttrs& attrs) {
  const int64_t rank = static_cast<int64_t>(input.size());
  const size_t count = attrs.starts.size();
  if (attrs.ends.size() != count || (!attrs.axes.empty() && attrs.axes.size() != count) ||
      (!attrs.steps.empty() && attrs.steps.size() != count))
    return invalid_argument("starts " + ints_to_string(attrs.starts) + ", ends " + ints_to_string(attrs.ends) +
                            ", axes " + ints_to_string(attrs.axes) + " and steps " + ints_to_string(attrs.steps) +
                            " have different lengths");
  std::vector<SliceAxisRange> ranges(input.size());
  for (size_t d = 0; d < input.size(); ++d) ranges[d] = {0, 1, input[d]};
  std::vector<bool> seen(input.size(), false);
  for (size_t j = 0; j < count; ++j) {
    const int64_t named_axis = attrs.axes.empty() ? static_cast<int64_t>(j) : attrs.axes[j];
    std::optional<int64_t> axis = normalize_axis(named_axis, rank);
    if (!axis || seen[static_cast<size_t>(*axis)])
      return invalid_argument("slice axis " + std::to_string(named_axis) + " is out of range for input " +
                              shape_to_string(input) + " or named twice");
    seen[static_cast<size_t>(*axis)] = true;
    const int64_t step = attrs.steps.empty() ? 1 : attrs.steps[j];
    if (step == 0) return invalid_argument("slice step on axis " + std::to_string(named_axis) + " is 0");
    const int64_t dim = input[static_cast<size_t>(*axis)];
    int64_t start = attrs.starts[j] < 0 ? attrs.starts[j] + dim : attrs.starts[j];
    int64_t end = attrs.ends[j] < 0 ? attrs.ends[j] + dim : attrs.ends[j];
    // Distance covered and |step|, unsigned so that INT64_MIN steps and ends cannot overflow.
    uint64_t distance = 0;
    const uint64_t stride = step > 0 ? static_cast<uint64_t>(step) : uint64_t{0} - static_cast<uint64_t>(step);
    if (step > 0) {
      start = std::clamp<int64_t>(start, 0, dim);
      end = std::clamp<int64_t>(end, 0, dim);
      if (end > start) distance = static_cast<uint64_t>(end - start);
    } else if (dim > 0) {
      start = std::clamp<int64_t>(start, 0, dim - 1);
      end = std::clamp<int64_t>(end, -1, dim - 1);
      if (start > end) distance = static_cast<uint64_t>(start - end);
    } else {
      start = 0;
    }
    const int64_t elements = distance == 0 ? 0 : static_cast<int64_t>((distance - 1) / stride + 1);
    ranges[static_cast<size_t>(*axis)] = {start, step, elements};
  }
  return ranges;
}

}  // namespace faultline
