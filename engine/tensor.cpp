#include "engine/tensor.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <type_traits>
#include <cstring>
#include <limits>
#include <sstream>

namespace faultline {

Result<int64_t> checked_numel(const Shape& shape) {
  int64_t count = 1;
  for (int64_t dim : shape) {
    if (dim < 0) return invalid_argument("shape " + shape_to_string(shape) + " has a negative or unknown dimension");
    if (dim != 0 && count > std::numeric_limits<int64_t>::max() / dim)
      return invalid_argument("shape " + shape_to_string(shape) + " has more elements than can be counted");
    count *= dim;
  }
  return count;
}

std::optional<int64_t> normalize_axis(int64_t axis, int64_t rank) {
  if (axis < -rank || axis >= rank) return std::nullopt;
  return axis < 0 ? axis + rank : axis;
}

int64_t numel(const Shape& shape) {
  int64_t count = 1;
  for (int64_t dim : shape) count *= dim;
  return count;
}

std::string shape_to_string(const Shape& shape) {
  std::ostringstream out;
  out << '[';
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) out << ", ";
    if (shape[i] == kDynamicDim) out << 'N';
    else out << shape[i];
  }
  out << ']';
  return out.str();
}

bool is_static(const Shape& shape) {
  for (int64_t dim : shape)
    if (dim < 0) return false;
  return true;
}

std::vector<int64_t> contiguous_strides(const Shape& shape) {
  std::vector<int64_t> strides(shape.size(), 1);
  for (int i = static_cast<int>(shape.size()) - 2; i >= 0; --i) strides[i] = strides[i + 1] * shape[i + 1];
  return strides;
}

Result<Tensor> Tensor::allocate(DType dtype, Shape shape) {
  FL_ASSIGN_OR_RETURN(int64_t count, checked_numel(shape));
  int64_t element_size = static_cast<int64_t>(dtype_size(dtype));
  if (count > kMaxTensorBytes / element_size)
    return invalid_argument("tensor of shape " + shape_to_string(shape) + " (" + std::string(dtype_name(dtype)) +
                            ") would take more than " + std::to_string(kMaxTensorBytes >> 30) + " GiB");
  size_t bytes = static_cast<size_t>(count * element_size);
  constexpr size_t kAlignment = 64;
  size_t rounded = (bytes + kAlignment - 1) / kAlignment * kAlignment;
  void* memory = std::aligned_alloc(kAlignment, rounded == 0 ? kAlignment : rounded);
  if (!memory) return invalid_argument("out of memory allocating " + std::to_string(bytes) + " bytes");
  std::memset(memory, 0, rounded == 0 ? kAlignment : rounded);
  Tensor tensor;
  tensor.dtype_ = dtype;
  tensor.shape_ = std::move(shape);
  tensor.numel_ = count;
  tensor.holder_ = std::shared_ptr<void>(memory, std::free);
  tensor.data_ = memory;
  return tensor;
}

Tensor Tensor::rows(int64_t first, int64_t count) const {
  Shape shape = shape_;
  const size_t row_bytes = shape[0] > 0 ? nbytes() / static_cast<size_t>(shape[0]) : 0;
  shape[0] = count;
  return view(dtype_, std::move(shape), static_cast<std::byte*>(data_) + static_cast<size_t>(first) * row_bytes);
}

Tensor Tensor::view(DType dtype, Shape shape, void* data) {
  Tensor tensor;
  tensor.dtype_ = dtype;
  tensor.numel_ = faultline::numel(shape);
  tensor.shape_ = std::move(shape);
  tensor.data_ = data;
  return tensor;
}

Tensor Tensor::from_floats(Shape shape, const std::vector<float>& values) {
  Tensor tensor = allocate(DType::kFloat32, std::move(shape)).value();
  assert(static_cast<int64_t>(values.size()) == tensor.numel());
  std::memcpy(tensor.raw(), values.data(), tensor.nbytes());
  return tensor;
}

Tensor Tensor::from_int64s(Shape shape, const std::vector<int64_t>& values) {
  Tensor tensor = allocate(DType::kInt64, std::move(shape)).value();
  assert(static_cast<int64_t>(values.size()) == tensor.numel());
  std::memcpy(tensor.raw(), values.data(), tensor.nbytes());
  return tensor;
}

Tensor Tensor::clone() const {
  Tensor copy = allocate(dtype_, shape_).value();
  if (nbytes()) std::memcpy(copy.raw(), data_, nbytes());
  return copy;
}

Status Tensor::prepare_destination(Tensor& dst, DType dtype, const Shape& shape, const std::string& what) {
  if (dst.empty()) {
    FL_ASSIGN_OR_RETURN(dst, allocate(dtype, shape));
    return Status::ok();
  }
  if (dst.dtype() != dtype || dst.shape() != shape)
    return invalid_argument(what + " (" + std::string(dtype_name(dtype)) + " " + shape_to_string(shape) + ") into a " +
                            std::string(dtype_name(dst.dtype())) + " " + shape_to_string(dst.shape()) + " tensor");
  return Status::ok();
}

Status Tensor::copy_to(Tensor& dst, const std::string& what) const {
  FL_RETURN_IF_ERROR(prepare_destination(dst, dtype_, shape_, what));
  if (nbytes()) std::memcpy(dst.raw(), data_, nbytes());
  return Status::ok();
}

Result<Tensor> Tensor::reshaped(Shape shape) const {
  FL_ASSIGN_OR_RETURN(int64_t count, checked_numel(shape));
  if (count != numel_)
    return invalid_argument("cannot reshape " + shape_to_string(shape_) + " to " + shape_to_string(shape));
  Tensor copy = *this;
  copy.shape_ = std::move(shape);
  return copy;
}

namespace {
template <typename T>
void read_as_doubles(const void* data, int64_t count, std::vector<double>& out) {
  const T* values = static_cast<const T*>(data);
  for (int64_t i = 0; i < count; ++i) out[static_cast<size_t>(i)] = static_cast<double>(values[i]);
}
// Floating types convert as C does; integer types truncate toward zero, saturate at their range, and take
// NaN as 0 (a plain static_cast of NaN or an out-of-range value to an integer is undefined behaviour).
template <typename T>
void write_from_doubles(const std::vector<double>& values, void* data) {
  T* out = static_cast<T*>(data);
  for (size_t i = 0; i < values.size(); ++i) {
    double v = values[i];
    if constexpr (std::is_integral_v<T>) {
      if (std::isnan(v)) v = 0;
      v = std::clamp(v, static_cast<double>(std::numeric_limits<T>::lowest()),
                     static_cast<double>(std::numeric_limits<T>::max()));
      if (v >= static_cast<double>(std::numeric_limits<T>::max())) {
        out[i] = std::numeric_limits<T>::max();
        continue;
      }
    }
    out[i] = static_cast<T>(v);
  }
}
}  // namespace

std::vector<double> Tensor::to_doubles() const {
  std::vector<double> out(static_cast<size_t>(numel_));
  switch (dtype_) {
    case DType::kFloat32: read_as_doubles<float>(data_, numel_, out); break;
    case DType::kFloat64: read_as_doubles<double>(data_, numel_, out); break;
    case DType::kInt8: read_as_doubles<int8_t>(data_, numel_, out); break;
    case DType::kUInt8: read_as_doubles<uint8_t>(data_, numel_, out); break;
    case DType::kBool: read_as_doubles<uint8_t>(data_, numel_, out); break;
    case DType::kInt32: read_as_doubles<int32_t>(data_, numel_, out); break;
    case DType::kInt64: read_as_doubles<int64_t>(data_, numel_, out); break;
    case DType::kFloat16:
      for (int64_t i = 0; i < numel_; ++i) out[i] = half_bits_to_float(data<uint16_t>()[i]);
      break;
    case DType::kBFloat16:
      for (int64_t i = 0; i < numel_; ++i) out[i] = bfloat16_bits_to_float(data<uint16_t>()[i]);
      break;
  }
  return out;
}

std::vector<int64_t> Tensor::to_int64s() const {
  if (dtype_ == DType::kInt64) return std::vector<int64_t>(data<int64_t>(), data<int64_t>() + numel_);
  std::vector<double> values = to_doubles();
  return std::vector<int64_t>(values.begin(), values.end());
}

Tensor Tensor::cast(DType dtype) const {
  if (dtype == dtype_) return clone();
  Tensor out = allocate(dtype, shape_).value();
  std::vector<double> values = to_doubles();
  switch (dtype) {
    case DType::kFloat32: write_from_doubles<float>(values, out.raw()); break;
    case DType::kFloat64: write_from_doubles<double>(values, out.raw()); break;
    case DType::kInt8: write_from_doubles<int8_t>(values, out.raw()); break;
    case DType::kUInt8: write_from_doubles<uint8_t>(values, out.raw()); break;
    case DType::kInt32: write_from_doubles<int32_t>(values, out.raw()); break;
    case DType::kInt64: write_from_doubles<int64_t>(values, out.raw()); break;
    case DType::kBool:
      for (size_t i = 0; i < values.size(); ++i) out.data<uint8_t>()[i] = values[i] != 0.0;
      break;
    case DType::kFloat16:
      for (size_t i = 0; i < values.size(); ++i) out.data<uint16_t>()[i] = float_to_half_bits(static_cast<float>(values[i]));
      break;
    case DType::kBFloat16:
      for (size_t i = 0; i < values.size(); ++i)
        out.data<uint16_t>()[i] = float_to_bfloat16_bits(static_cast<float>(values[i]));
      break;
  }
  return out;
}

}  // namespace faultline
