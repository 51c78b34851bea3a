#include <algorithm>
#include <cmath>

#include "kernels/reference/batch_norm_terms.h"
#include "kernels/reference/reference_internal.h"

namespace faultline::reference {

// Inference form: y = (x - mean) / sqrt(var + epsilon) * scale + bias, per channel (axis 1), computed as PyTorch
// computes it.
Status run_batch_norm(const Node& node, Inputs inputs, Outputs outputs) {
  FL_RETURN_IF_ERROR(expect_operands(node, inputs, outputs, 5, 5));
  FL_RETURN_IF_ERROR(expect_float32(node, inputs, outputs));
  FL_ASSIGN_OR_RETURN(const BatchNormAttrs* attrs, node_attrs<BatchNormAttrs>(node));
  const Tensor& x = *inputs[0];
  Tensor& y = *outputs[0];
  FL_RETURN_IF_ERROR(expect_same_numel(node, x, y));
  if (x.rank() < 2) return node_error(node, "input " + shape_to_string(x.shape()) + " must be [N, C, ...]");
  const int64_t channels = x.dim(1);
  for (size_t slot = 1; slot < 5; ++slot)
    if (inputs[slot]->numel() != channels)
      return node_error(node, "input " + std::to_string(slot) + " " + shape_to_string(inputs[slot]->shape()) +
                                  " should hold " + std::to_string(channels) + " per-channel values");
  const float* scale = inputs[1]->data<float>();
  const float* bias = inputs[2]->data<float>();
  const float* mean = inputs[3]->data<float>();
  const float* var = inputs[4]->data<float>();
  const int64_t plane_size = channels == 0 ? 0 : x.numel() / (x.dim(0) * channels);
  const float* src = x.data<float>();
  float* dst = y.data<float>();
  // PyTorch's CPU inference form, bit for bit (kernels/reference/batch_norm_terms.h).
  for (int64_t n = 0; n < x.dim(0); ++n) {
    for (int64_t c = 0; c < channels; ++c) {
      const BatchNormTerms terms = batch_norm_terms(scale[c], bias[c], mean[c], var[c], attrs->epsilon);
      const int64_t base = (n * channels + c) * plane_size;
      for (int64_t i = 0; i < plane_size; ++i) dst[base + i] = batch_norm_apply(src[base + i], terms);
    }
  }
  return Status::ok();
}

// softmax over `axis` (or, with coerce_to_2d, over the flattened axes [axis, rank)), computed as
// exp(x - max) / sum(exp(x - max)) in double.
Status run_softmax(const Node& node, Inputs inputs, Outputs outputs) {
  FL_RETURN_IF_ERROR(expect_operands(node, inputs, outputs, 1, 1));
  FL_RETURN_IF_ERROR(expect_float32(node, inputs, outputs));
  FL_ASSIGN_OR_RETURN(const SoftmaxAttrs* attrs, node_attrs<SoftmaxAttrs>(node));
  const Tensor& x = *inputs[0];
  Tensor& y = *outputs[0];
  FL_RETURN_IF_ERROR(expect_same_numel(node, x, y));
  const int64_t rank = x.rank();
  if (attrs->axis < -rank || attrs->axis >= rank)
    return node_error(node,
                      "axis " + std::to_string(attrs->axis) + " is out of range for " + shape_to_string(x.shape()));
  const size_t axis = static_cast<size_t>(attrs->axis < 0 ? attrs->axis + rank : attrs->axis);
  const Shape& shape = x.shape();
  const int64_t outer = numel(Shape(shape.begin(), shape.begin() + static_cast<std::ptrdiff_t>(axis)));
  const int64_t length =
      attrs->coerce_to_2d ? numel(Shape(shape.begin() + static_cast<std::ptrdiff_t>(axis), shape.end())) : shape[axis];
  const int64_t inner =
      attrs->coerce_to_2d ? 1 : numel(Shape(shape.begin() + static_cast<std::ptrdiff_t>(axis) + 1, shape.end()));
  const float* src = x.data<float>();
  float* dst = y.data<float>();
  std::vector<double> exps(static_cast<size_t>(length));
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t i = 0; i < inner; ++i) {
      const int64_t base = o * length * inner + i;
      double max_value = -INFINITY;
      for (int64_t k = 0; k < length; ++k) max_value = std::max(max_value, static_cast<double>(src[base + k * inner]));
      double sum = 0.0;
      for (int64_t k = 0; k < length; ++k) {
        exps[static_cast<size_t>(k)] = std::exp(src[base + k * inner] - max_value);
        sum += exps[static_cast<size_t>(k)];
      }
      for (int64_t k = 0; k < length; ++k)
        dst[base + k * inner] = static_cast<float>(exps[static_cast<size_t>(k)] / sum);
    }
  }
  return Status::ok();
}

}  // namespace faultline::reference
