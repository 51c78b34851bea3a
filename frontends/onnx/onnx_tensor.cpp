#include "frontends/onnx/onnx_tensor.h"

#include <cstring>
#include <string>

namespace faultline {

namespace {

std::string tensor_label(const onnx::TensorProto& proto) {
  return proto.name().empty() ? std::string("tensor") : "tensor '" + proto.name() + "'";
}

// Copies a typed field's entries into `dst`, converting each to the tensor's element type.
template <typename Dst, typename Field>
void copy_field(const Field& field, Tensor& dst) {
  Dst* out = dst.data<Dst>();
  for (int i = 0; i < field.size(); ++i) out[i] = static_cast<Dst>(field.Get(i));
}

// Fills `dst` from the typed field ONNX uses for its dtype, which must hold exactly numel() entries.
Status copy_typed_data(const onnx::TensorProto& proto, Tensor& dst) {
  int64_t count = 0;
  switch (dst.dtype()) {
    case DType::kFloat32:
      count = proto.float_data_size();
      break;
    case DType::kFloat64:
      count = proto.double_data_size();
      break;
    case DType::kInt64:
      count = proto.int64_data_size();
      break;
    case DType::kInt32:
    case DType::kInt8:
    case DType::kUInt8:
    case DType::kBool:
    case DType::kFloat16:
    case DType::kBFloat16:
      count = proto.int32_data_size();
      break;
  }
  if (count != dst.numel())
    return invalid_argument(tensor_label(proto) + " has shape " + shape_to_string(dst.shape()) + " (" +
                            std::to_string(dst.numel()) + " elements) but stores " + std::to_string(count) + " values");
  switch (dst.dtype()) {
    case DType::kFloat32:
      copy_field<float>(proto.float_data(), dst);
      break;
    case DType::kFloat64:
      copy_field<double>(proto.double_data(), dst);
      break;
    case DType::kInt64:
      copy_field<int64_t>(proto.int64_data(), dst);
      break;
    case DType::kInt32:
      copy_field<int32_t>(proto.int32_data(), dst);
      break;
    case DType::kInt8:
      copy_field<int8_t>(proto.int32_data(), dst);
      break;
    case DType::kUInt8:
      copy_field<uint8_t>(proto.int32_data(), dst);
      break;
    case DType::kBool:
      for (int i = 0; i < proto.int32_data_size(); ++i) dst.data<uint8_t>()[i] = proto.int32_data(i) != 0;
      break;
    case DType::kFloat16:
    case DType::kBFloat16:  // bit patterns in the low 16 bits
      copy_field<uint16_t>(proto.int32_data(), dst);
      break;
  }
  return Status::ok();
}

}  // namespace

Result<DType> dtype_from_onnx(int32_t elem_type) {
  switch (elem_type) {
    case onnx::TensorProto::FLOAT:
      return DType::kFloat32;
    case onnx::TensorProto::DOUBLE:
      return DType::kFloat64;
    case onnx::TensorProto::FLOAT16:
      return DType::kFloat16;
    case onnx::TensorProto::BFLOAT16:
      return DType::kBFloat16;
    case onnx::TensorProto::INT8:
      return DType::kInt8;
    case onnx::TensorProto::UINT8:
      return DType::kUInt8;
    case onnx::TensorProto::INT32:
      return DType::kInt32;
    case onnx::TensorProto::INT64:
      return DType::kInt64;
    case onnx::TensorProto::BOOL:
      return DType::kBool;
    default:
      break;
  }
  std::string name = std::to_string(elem_type);
  if (onnx::TensorProto::DataType_IsValid(elem_type))
    name = onnx::TensorProto::DataType_Name(static_cast<onnx::TensorProto::DataType>(elem_type));
  return unsupported("element type " + name +
                     " is not supported (faultline runs float, double, float16, "
                     "bfloat16, int8, uint8, int32, int64 and bool tensors)");
}

Result<Tensor> tensor_from_onnx(const onnx::TensorProto& proto) {
  if (proto.data_location() == onnx::TensorProto::EXTERNAL || proto.external_data_size() > 0) {
    std::string file;
    for (const auto& entry : proto.external_data())
      if (entry.key() == "location") file = " ('" + entry.value() + "')";
    return unsupported(tensor_label(proto) + " keeps its data in an external file" + file +
                       "; faultline reads only self-contained .onnx files (save the model without "
                       "external data)");
  }
  if (proto.has_segment()) return unsupported(tensor_label(proto) + " is segmented, which faultline does not read");

  Result<DType> dtype = dtype_from_onnx(proto.data_type());
  if (!dtype.is_ok()) return dtype.status().with_context(tensor_label(proto));
  Shape shape(proto.dims().begin(), proto.dims().end());
  for (int64_t dim : shape)
    if (dim < 0)
      return invalid_argument(tensor_label(proto) + " has a negative dimension in " + shape_to_string(shape));
  Result<Tensor> allocated = Tensor::allocate(*dtype, shape);
  if (!allocated.is_ok()) return allocated.status().with_context(tensor_label(proto));
  Tensor tensor = std::move(allocated).value();

  if (proto.has_raw_data()) {
    if (proto.raw_data().size() != tensor.nbytes())
      return invalid_argument(tensor_label(proto) + " has shape " + shape_to_string(shape) + " (" +
                              std::string(dtype_name(*dtype)) + ", " + std::to_string(tensor.nbytes()) +
                              " bytes) but stores " + std::to_string(proto.raw_data().size()) + " bytes");
    if (tensor.nbytes()) std::memcpy(tensor.raw(), proto.raw_data().data(), tensor.nbytes());
    return tensor;
  }
  FL_RETURN_IF_ERROR(copy_typed_data(proto, tensor));
  return tensor;
}

Status apply_onnx_value_info(const onnx::ValueInfoProto& info, Value& value) {
  if (!info.has_type() || !info.type().has_tensor_type()) return Status::ok();
  const onnx::TypeProto::Tensor& type = info.type().tensor_type();
  if (type.elem_type() != onnx::TensorProto::UNDEFINED) {
    Result<DType> dtype = dtype_from_onnx(type.elem_type());
    if (!dtype.is_ok()) return dtype.status().with_context("value '" + info.name() + "'");
    value.dtype = *dtype;
  }
  if (type.has_shape()) {
    value.shape.clear();
    for (const auto& dim : type.shape().dim()) {
      if (dim.has_dim_value() && dim.dim_value() < 0)
        return invalid_argument("value '" + info.name() + "' declares a negative dimension");
      value.shape.push_back(dim.has_dim_value() ? dim.dim_value() : kDynamicDim);
    }
    value.shape_known = true;
  }
  return Status::ok();
}

}  // namespace faultline
