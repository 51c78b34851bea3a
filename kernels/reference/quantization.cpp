#include "kernels/reference/quantized.h"

namespace faultline::reference {

PerIndex per_axis(const Shape& shape, int64_t axis, int64_t count) {
  PerIndex index;
  index.count = count;
  for (size_t d = static_cast<size_t>(axis) + 1; count != 1 && d < shape.size(); ++d) index.inner *= shape[d];
  return index;
}

bool is_quantized_dtype(DType dtype) {
  return dtype == DType::kInt8 || dtype == DType::kUInt8;
}

int32_t quantized_at(const Tensor* t, int64_t i) {
  if (t == nullptr) return 0;
  return t->dtype() == DType::kInt8 ? t->data<int8_t>()[i] : t->data<uint8_t>()[i];
}

std::vector<int32_t> centered(const Tensor& q, const Tensor* zero_point, PerIndex index) {
  std::vector<int32_t> out(static_cast<size_t>(q.numel()));
  with_quantized_type(q.dtype(), [&](auto word) {
    using Q = decltype(word);
    const Q* data = q.data<Q>();
    for (int64_t i = 0; i < q.numel(); ++i)
      out[static_cast<size_t>(i)] = int32_t{data[i]} - quantized_at(zero_point, index.of(i));
  });
  return out;
}

Result<int64_t> parameter_count(const Node& node, const Tensor* tensor, const char* role, DType dtype, int64_t count) {
  if (tensor == nullptr) return int64_t{1};
  if (tensor->dtype() != dtype)
    return node_error(node, std::string(role) + " must be " + std::string(dtype_name(dtype)) + ", got " +
                                std::string(dtype_name(tensor->dtype())));
  if (tensor->numel() != 1 && (count < 1 || tensor->numel() != count))
    return node_error(node, std::string(role) + " has " + std::to_string(tensor->numel()) + " elements; expected 1" +
                                (count > 0 ? " or " + std::to_string(count) : std::string()));
  return tensor->numel();
}

namespace {

// The axis a per-axis scale runs along, or an error; any axis for a per-tensor scale.
Result<int64_t> quantization_axis(const Node& node, int64_t axis, int64_t rank, int64_t scales) {
  const int64_t normalized = axis < 0 ? axis + rank : axis;
  if (scales != 1 && (normalized < 0 || normalized >= rank))
    return node_error(node, "axis " + std::to_string(axis) + " is out of range for rank " + std::to_string(rank));
  return normalized;
}

}  // namespace

// ONNX QuantizeLinear: y = saturate(round(x / y_scale) + y_zero_point), one float32 division per element.
Status run_quantize_linear(const Node& node, Inputs inputs, Outputs outputs) {
  FL_RETURN_IF_ERROR(expect_operands(node, inputs, outputs, 2, 3));
  FL_ASSIGN_OR_RETURN(const QuantizeAttrs* attrs, node_attrs<QuantizeAttrs>(node));
  const Tensor& x = *inputs[0];
  const Tensor& scale = *inputs[1];
  const Tensor* zero_point = inputs.size() > 2 ? inputs[2] : nullptr;
  Tensor& y = *outputs[0];
  if (x.dtype() != DType::kFloat32)
    return node_unsupported(node, "x must be float32, not " + std::string(dtype_name(x.dtype())));
  const DType y_dtype = zero_point ? zero_point->dtype() : DType::kUInt8;
  if (!is_quantized_dtype(y.dtype()) || y.dtype() != y_dtype || y.shape() != x.shape())
    return node_error(node, "the output must be " + std::string(dtype_name(y_dtype)) + " of x's shape");
  FL_ASSIGN_OR_RETURN(const int64_t axis, quantization_axis(node, attrs->axis, x.rank(), scale.numel()));
  const int64_t per_axis_count = scale.numel() == 1 ? 1 : x.dim(static_cast<int>(axis));
  FL_ASSIGN_OR_RETURN(const int64_t scales, parameter_count(node, &scale, "y_scale", DType::kFloat32, per_axis_count));
  FL_ASSIGN_OR_RETURN(const int64_t zero_points, parameter_count(node, zero_point, "y_zero_point", y_dtype, scales));
  if (zero_point && zero_points != scales) return node_error(node, "y_zero_point and y_scale differ in length");
  const PerIndex index = per_axis(x.shape(), axis, scales);
  const float* src = x.data<float>();
  const float* s = scale.data<float>();
  with_quantized_type(y_dtype, [&](auto word) {
    using Q = decltype(word);
    Q* dst = y.data<Q>();
    for (int64_t i = 0; i < x.numel(); ++i) {
      const int64_t c = index.of(i);
      dst[i] = saturate_round<Q>(src[i] / s[c], quantized_at(zero_point, c));
    }
  });
  return Status::ok();
}

// ONNX DequantizeLinear: y = (float(x) - float(zero_point)) * scale, one float32 rounding per element (two for an
// int32 x beyond 2^24).
Status run_dequantize_linear(const Node& node, Inputs inputs, Outputs outputs) {
  FL_RETURN_IF_ERROR(expect_operands(node, inputs, outputs, 2, 3));
  FL_ASSIGN_OR_RETURN(const DequantizeAttrs* attrs, node_attrs<DequantizeAttrs>(node));
  const Tensor& x = *inputs[0];
  const Tensor& scale = *inputs[1];
  const Tensor* zero_point = inputs.size() > 2 ? inputs[2] : nullptr;
  Tensor& dst = *outputs[0];
  if (!is_quantized_dtype(x.dtype()) && x.dtype() != DType::kInt32)
    return node_unsupported(node, "x must be int8, uint8 or int32, not " + std::string(dtype_name(x.dtype())));
  if (scale.dtype() != DType::kFloat32 || dst.dtype() != DType::kFloat32 || dst.shape() != x.shape())
    return node_error(node, "x_scale and the output must be float32, the output of x's shape");
  FL_ASSIGN_OR_RETURN(const int64_t axis, quantization_axis(node, attrs->axis, x.rank(), scale.numel()));
  if (scale.numel() != 1 && scale.numel() != x.dim(static_cast<int>(axis)))
    return node_error(node, "x_scale has " + std::to_string(scale.numel()) +
                                " elements; expected 1 or one per index "
                                "of axis " +
                                std::to_string(attrs->axis) + " of " + shape_to_string(x.shape()));
  if (zero_point && (zero_point->dtype() != x.dtype() || zero_point->numel() != scale.numel() ||
                     x.dtype() == DType::kInt32))
    return node_error(node, "x_zero_point must have x's dtype (int8 or uint8) and x_scale's element count");
  const PerIndex index = per_axis(x.shape(), axis, scale.numel());
  const float* s = scale.data<float>();
  float* y = dst.data<float>();
  auto dequantize = [&](auto word) {
    using Q = decltype(word);
    const Q* q = x.data<Q>();
    for (int64_t i = 0; i < x.numel(); ++i) {
      const int64_t c = index.of(i);
      const float zero = static_cast<float>(quantized_at(zero_point, c));
      y[i] = (static_cast<float>(q[i]) - zero) * s[c];
    }
  };
  if (x.dtype() == DType::kInt32) dequantize(int32_t{});  // float(x) rounds above 2^24, as the spec's float cast
  else with_quantized_type(x.dtype(), dequantize);
  return Status::ok();
}

}  // namespace faultline::reference
