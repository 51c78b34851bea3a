// Tensor: a logical shape, a dtype and bytes in row-major (C) order of that shape.
//
// Logical order is the model's own order (NCHW / OIHW for ONNX). Backends may keep blocked layouts
// internally, but every Tensor that crosses a module boundary is logical and dense.
// A Tensor either owns its bytes (64-byte aligned, shared between copies of the handle) or is a view
// into memory someone else owns (an arena); copying the handle never copies the bytes: use clone().
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/dtype.h"
#include "engine/status.h"

namespace faultline {

using Shape = std::vector<int64_t>;
inline constexpr int64_t kDynamicDim = -1;  // a dimension not known until plan time (the batch)

// The most bytes one tensor may take; a model or input asking for more is refused, not allocated.
inline constexpr int64_t kMaxTensorBytes = int64_t{16} << 30;

// Element count, or an error if a dimension is negative/dynamic or the count overflows.
Result<int64_t> checked_numel(const Shape& shape);
// Element count of a shape known to be valid (no checks).
int64_t numel(const Shape& shape);
// "[1, 3, 32, 32]", with "N" for dynamic dimensions.
std::string shape_to_string(const Shape& shape);
bool is_static(const Shape& shape);
// Row-major strides in elements.
std::vector<int64_t> contiguous_strides(const Shape& shape);
// `axis` in [-rank, rank) mapped to [0, rank), or nullopt when outside (ONNX's negative axes).
std::optional<int64_t> normalize_axis(int64_t axis, int64_t rank);

class Tensor {
 public:
  Tensor() = default;

  // Zero-filled owning tensor; fails on an invalid shape or one over kMaxTensorBytes.
  static Result<Tensor> allocate(DType dtype, Shape shape);
  // Non-owning view of `data` (must outlive every copy of the view).
  static Tensor view(DType dtype, Shape shape, void* data);
  // Owning float32 / int64 tensors from values (for tests and constants).
  static Tensor from_floats(Shape shape, const std::vector<float>& values);
  static Tensor from_int64s(Shape shape, const std::vector<int64_t>& values);

  DType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  int rank() const { return static_cast<int>(shape_.size()); }
  int64_t dim(int axis) const { return shape_[static_cast<size_t>(axis)]; }
  int64_t numel() const { return numel_; }
  size_t nbytes() const { return static_cast<size_t>(numel_) * dtype_size(dtype_); }
  bool empty() const { return data_ == nullptr && numel_ == 0; }
  bool owns_data() const { return static_cast<bool>(holder_); }

  void* raw() { return data_; }
  const void* raw() const { return data_; }
  template <typename T> T* data() { return static_cast<T*>(data_); }
  template <typename T> const T* data() const { return static_cast<const T*>(data_); }

  // Deep copy into a new owning tensor.
  Tensor clone() const;
  // Non-owning view of rows [first, first + count) along dim 0 (valid while this tensor's bytes live).
  // Requires rank >= 1 and the rows inside the tensor.
  Tensor rows(int64_t first, int64_t count) const;
  // Copies these bytes into `dst`, made ready by prepare_destination() (same contract and error).
  Status copy_to(Tensor& dst, const std::string& what) const;
  // Makes `dst` ready to receive a `dtype` tensor of `shape`: allocated when empty, else it must have that dtype
  // and shape; otherwise "<what> (<dtype> <shape>) into a <dst dtype> <dst shape> tensor" (dst untouched).
  // Serves every read of a value into a caller's tensor (the backends' read_value, copy_to).
  static Status prepare_destination(Tensor& dst, DType dtype, const Shape& shape, const std::string& what);
  // Same bytes, another shape of equal element count (shares storage).
  Result<Tensor> reshaped(Shape shape) const;
  // Values converted to double (any dtype), for constant folding and tests.
  std::vector<double> to_doubles() const;
  std::vector<int64_t> to_int64s() const;
  // Element-wise conversion to another dtype (round-to-nearest for floats, truncation for ints as in C).
  Tensor cast(DType dtype) const;

 private:
  DType dtype_ = DType::kFloat32;
  Shape shape_;
  int64_t numel_ = 0;
  std::shared_ptr<void> holder_;
  void* data_ = nullptr;
};

}  // namespace faultline
