#include <cstdint>

#include "kernels/reference/reference_internal.h"

namespace faultline::reference {

namespace {

template <typename Q>
void dequantize(const Tensor& x, const Tensor& scale, const Tensor* zero_point, int64_t axis, Tensor& dst) {
  const Shape& shape = x.shape();
  const int64_t scales = scale.numel();
  // Elements after `axis` (the stride of one index of it); a per-tensor scale ignores the axis.
  int64_t inner = 1;
  for (size_t d = static_cast<size_t>(axis) + 1; scales != 1 && d < shape.size(); ++d) inner *= shape[d];
  const Q* q = x.data<Q>();
  const float* s = scale.data<float>();
  const Q* z = zero_point ? zero_point->data<Q>() : nullptr;
  float* y = dst.data<float>();
  for (int64_t i = 0; i < x.numel(); ++i) {
    const int64_t c = scales == 1 ? 0 : (i / inner) % scales;
    const float zero = z ? static_cast<float>(z[c]) : 0.0f;
    y[i] = (static_cast<float>(q[i]) - zero) * s[c];
  }
}

}  // namespace

// ONNX DequantizeLinear: y = (float(x) - float(zero_point)) * scale, one float32 rounding per element.
Status run_dequantize_linear(const Node& node, Inputs inputs, Outputs outputs) {
  FL_RETURN_IF_ERROR(expect_operands(node, inputs, outputs, 2, 3));
  FL_ASSIGN_OR_RETURN(const DequantizeAttrs* attrs, node_attrs<DequantizeAttrs>(node));
  const Tensor& x = *inputs[0];
  const Tensor& scale = *inputs[1];
  const Tensor* zero_point = inputs.size() > 2 ? inputs[2] : nullptr;
  Tensor& dst = *outputs[0];
  if (x.dtype() != DType::kInt8 && x.dtype() != DType::kUInt8)
    return node_unsupported(node, "x must be int8 or uint8, not " + std::string(dtype_name(x.dtype())));
  if (scale.dtype() != DType::kFloat32 || dst.dtype() != DType::kFloat32 || dst.shape() != x.shape())
    return node_error(node, "x_scale and the output must be float32, the output of x's shape");
  const int64_t rank = x.rank();
  const int64_t axis = attrs->axis < 0 ? attrs->axis + rank : attrs->axis;
  if (scale.numel() != 1 && (axis < 0 || axis >= rank || scale.numel() != x.dim(static_cast<int>(axis))))
    return node_error(node, "x_scale has " + std::to_string(scale.numel()) + " elements; expected 1 or one per index "
                      "of axis " + std::to_string(attrs->axis) + " of " + shape_to_string(x.shape()));
  if (zero_point && (zero_point->dtype() != x.dtype() || zero_point->numel() != scale.numel()))
    return node_error(node, "x_zero_point must have x's dtype and x_scale's element count");
  if (x.dtype() == DType::kInt8) dequantize<int8_t>(x, scale, zero_point, axis, dst);
  else dequantize<uint8_t>(x, scale, zero_point, axis, dst);
  return Status::ok();
}

}  // namespace faultline::reference
