#include <cstring>
#include <type_traits>

#include "kernels/reference/reference_internal.h"

namespace faultline::reference {

Status run_shape(const Node& node, Inputs inputs, Outputs outputs) {
  FL_RETURN_IF_ERROR(expect_operands(node, inputs, outputs, 1, 1));
  Tensor& dst = *outputs[0];
  if (dst.dtype() != DType::kInt64 || dst.numel() != inputs[0]->rank())
    return node_error(node, "output must be int64 [" + std::to_string(inputs[0]->rank()) + "]");
  for (int d = 0; d < inputs[0]->rank(); ++d) dst.data<int64_t>()[d] = inputs[0]->dim(d);
  return Status::ok();
}

Status run_cast(const Node& node, Inputs inputs, Outputs outputs) {
  FL_RETURN_IF_ERROR(expect_operands(node, inputs, outputs, 1, 1));
  FL_ASSIGN_OR_RETURN(const CastAttrs* attrs, node_attrs<CastAttrs>(node));
  Tensor& dst = *outputs[0];
  if (dst.dtype() != attrs->to || dst.numel() != inputs[0]->numel())
    return node_error(node, "output must be " + std::string(dtype_name(attrs->to)) + " with the input's elements");
  const Tensor converted = inputs[0]->cast(attrs->to);
  if (converted.nbytes() > 0) std::memcpy(dst.raw(), converted.raw(), converted.nbytes());
  return Status::ok();
}

Status run_constant_of_shape(const Node& node, Inputs inputs, Outputs outputs) {
  FL_RETURN_IF_ERROR(expect_operands(node, inputs, outputs, 1, 1));
  FL_ASSIGN_OR_RETURN(const ConstantOfShapeAttrs* attrs, node_attrs<ConstantOfShapeAttrs>(node));
  const Tensor value = attrs->value.empty() ? Tensor::from_floats({}, {0.0f}) : attrs->value;
  Tensor& dst = *outputs[0];
  if (value.numel() != 1 || dst.dtype() != value.dtype())
    return node_error(node, "value must be one " + std::string(dtype_name(dst.dtype())) + " element");
  if (dst.shape() != inputs[0]->to_int64s())
    return node_error(node, "output " + shape_to_string(dst.shape()) + " is not the requested shape");
  const size_t element_bytes = dtype_size(dst.dtype());
  char* out = static_cast<char*>(dst.raw());
  for (int64_t i = 0; i < dst.numel(); ++i)
    std::memcpy(out + i * static_cast<int64_t>(element_bytes), value.raw(), element_bytes);
  return Status::ok();
}

namespace {
template <typename T>
void fill_range(const Tensor& start, const Tensor& delta, Tensor& dst) {
  const T first = start.data<T>()[0];
  const T step = delta.data<T>()[0];
  T* out = dst.data<T>();
  for (int64_t i = 0; i < dst.numel(); ++i) {
    if constexpr (std::is_floating_point_v<T>)
      out[i] = static_cast<T>(first + static_cast<double>(i) * step);
    else
      out[i] = static_cast<T>(first + static_cast<T>(i) * step);
  }
}
}  // namespace

// out[i] = start + i * delta; the length was fixed by shape inference from start, limit and delta.
Status run_range(const Node& node, Inputs inputs, Outputs outputs) {
  FL_RETURN_IF_ERROR(expect_operands(node, inputs, outputs, 3, 3));
  const Tensor& start = *inputs[0];
  const Tensor& delta = *inputs[2];
  Tensor& dst = *outputs[0];
  if (start.numel() != 1 || delta.numel() != 1 || start.dtype() != delta.dtype() || dst.dtype() != start.dtype() ||
      dst.rank() != 1)
    return node_error(node, "start and delta must be scalars of the output's dtype, the output 1-D");
  switch (dst.dtype()) {
    case DType::kFloat32:
      fill_range<float>(start, delta, dst);
      break;
    case DType::kFloat64:
      fill_range<double>(start, delta, dst);
      break;
    case DType::kInt32:
      fill_range<int32_t>(start, delta, dst);
      break;
    case DType::kInt64:
      fill_range<int64_t>(start, delta, dst);
      break;
    default:
      return node_unsupported(node,
                              "runs on float32, float64, int32 and int64, not " + std::string(dtype_name(dst.dtype())));
  }
  return Status::ok();
}

}  // namespace faultline::reference
