#include <cmath>
#include <cstring>

#include "frontends/datasets/dataset_readers.h"

namespace faultline::datasets {

Result<int64_t> samples_to_take(std::optional<int64_t> limit, int64_t available, const std::string& source) {
  if (!limit) return available;
  if (*limit < 1) return invalid_argument("dataset.limit: must be at least 1, got " + std::to_string(*limit));
  if (*limit > available) {
    return out_of_range("dataset.limit: " + std::to_string(*limit) + " samples asked for, but " + source +
                        " holds " + std::to_string(available));
  }
  return *limit;
}

Result<Tensor> labels_to_int64(const Tensor& labels, const std::string& source) {
  const std::string prefix = "dataset.labels: " + source + ": ";
  const Shape& shape = labels.shape();
  if (!(shape.size() == 1 || (shape.size() == 2 && shape[1] == 1))) {
    return invalid_argument(prefix + "labels must have shape [N] or [N, 1], not " + shape_to_string(shape));
  }
  const int64_t count = shape[0];
  FL_ASSIGN_OR_RETURN(Tensor out, Tensor::allocate(DType::kInt64, {count}));
  int64_t* dst = out.data<int64_t>();
  if (labels.dtype() == DType::kInt64) {
    std::memcpy(dst, labels.raw(), static_cast<size_t>(count) * sizeof(int64_t));
  } else {
    const std::vector<double> values = labels.to_doubles();
    const bool floating = is_floating(labels.dtype());
    for (int64_t i = 0; i < count; ++i) {
      const double v = values[static_cast<size_t>(i)];
      if (floating && (!std::isfinite(v) || v != std::floor(v) || std::fabs(v) > 9.0e15)) {
        return invalid_argument(prefix + "label " + std::to_string(i) + " is " + std::to_string(v) +
                                ", not an integer");
      }
      dst[i] = static_cast<int64_t>(v);
    }
  }
  for (int64_t i = 0; i < count; ++i) {
    if (dst[i] < 0) {
      return invalid_argument(prefix + "label " + std::to_string(i) + " is " + std::to_string(dst[i]) +
                              ", a class index must be >= 0");
    }
  }
  return out;
}

Tensor first_samples(const Tensor& tensor, int64_t count) {
  if (tensor.empty() || count == tensor.dim(0)) return tensor;
  Shape shape = tensor.shape();
  const size_t sample_bytes = tensor.nbytes() / static_cast<size_t>(shape[0]);
  shape[0] = count;
  Result<Tensor> out = Tensor::allocate(tensor.dtype(), shape);
  assert(out.is_ok());  // smaller than `tensor`, which exists
  std::memcpy(out->raw(), tensor.raw(), sample_bytes * static_cast<size_t>(count));
  return std::move(out).value();
}

}  // namespace faultline::datasets
