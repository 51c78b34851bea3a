#include "frontends/datasets/dataset.h"

#include <cstring>

#include "frontends/datasets/dataset_readers.h"

namespace faultline {

namespace {

// [N, d1, ..., dk, C] -> [N, C, d1, ..., dk].
Result<Tensor> channels_last_to_first(const Tensor& src, const std::string& source) {
  if (src.rank() < 3) {
    return invalid_argument("dataset.layout: nhwc needs images of rank 3 or more, but " + source +
                            " holds " + shape_to_string(src.shape()));
  }
  const Shape& s = src.shape();
  const int64_t n = s[0];
  const int64_t c = s.back();
  const int64_t spatial = src.numel() / (n * c);
  Shape dst_shape{n, c};
  dst_shape.insert(dst_shape.end(), s.begin() + 1, s.end() - 1);
  FL_ASSIGN_OR_RETURN(Tensor dst, Tensor::allocate(DType::kFloat32, dst_shape));
  const float* in = src.data<float>();
  float* out = dst.data<float>();
  for (int64_t i = 0; i < n; ++i) {
    const float* sample_in = in + i * spatial * c;
    float* sample_out = out + i * spatial * c;
    for (int64_t p = 0; p < spatial; ++p) {
      for (int64_t ch = 0; ch < c; ++ch) sample_out[ch * spatial + p] = sample_in[p * c + ch];
    }
  }
  return dst;
}

Status check_channel_vector(const std::vector<float>& values, const char* key, int64_t channels,
                            const Shape& shape) {
  if (values.empty()) return Status::ok();
  if (static_cast<int64_t>(values.size()) != channels) {
    return invalid_argument(std::string(key) + ": has " + std::to_string(values.size()) +
                            " entries, but the images " + shape_to_string(shape) + " have " +
                            std::to_string(channels) + " channels (axis 1)");
  }
  return Status::ok();
}

Status preprocess(const DatasetSpec& spec, Tensor& images) {
  if (!spec.scale && spec.mean.empty() && spec.std.empty()) return Status::ok();
  if (images.rank() < 2 && (!spec.mean.empty() || !spec.std.empty())) {
    return invalid_argument("dataset.preprocess.mean: images " + shape_to_string(images.shape()) +
                            " have no channel axis (axis 1)");
  }
  const int64_t channels = images.rank() >= 2 ? images.dim(1) : 1;
  FL_RETURN_IF_ERROR(check_channel_vector(spec.mean, "dataset.preprocess.mean", channels, images.shape()));
  FL_RETURN_IF_ERROR(check_channel_vector(spec.std, "dataset.preprocess.std", channels, images.shape()));
  for (size_t c = 0; c < spec.std.size(); ++c) {
    if (spec.std[c] == 0.0f) {
      return invalid_argument("dataset.preprocess.std: entry " + std::to_string(c) + " is 0");
    }
  }
  const float scale = spec.scale.value_or(1.0f);
  const int64_t n = images.rank() >= 1 ? images.dim(0) : 1;
  const int64_t inner = n * channels == 0 ? 0 : images.numel() / (n * channels);
  float* x = images.data<float>();
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t c = 0; c < channels; ++c) {
      const float mean = spec.mean.empty() ? 0.0f : spec.mean[static_cast<size_t>(c)];
      const float deviation = spec.std.empty() ? 1.0f : spec.std[static_cast<size_t>(c)];
      float* plane = x + (i * channels + c) * inner;
      for (int64_t j = 0; j < inner; ++j) plane[j] = (plane[j] * scale - mean) / deviation;
    }
  }
  return Status::ok();
}

}  // namespace

Result<Dataset> load_dataset(const DatasetSpec& spec) {
  if (spec.inputs.empty()) return invalid_argument("dataset.inputs: missing (the file the images are in)");
  const std::string layout = spec.layout.empty() ? "nchw" : spec.layout;
  if (layout != "nchw" && layout != "nhwc") {
    return invalid_argument("dataset.layout: '" + spec.layout + "' is not one of nchw, nhwc");
  }
  const bool fixed_layout = spec.format == "cifar10" || spec.format == "cifar100" || spec.format == "mnist-idx";
  if (fixed_layout && layout != "nchw") {
    return invalid_argument("dataset.layout: " + spec.format + " files have a fixed order (NCHW); layout '" +
                            spec.layout + "' applies to npy and hdf5 only");
  }

  Result<Dataset> read = invalid_argument("dataset.format: '" + spec.format +
                                          "' is not one of npy, hdf5, cifar10, cifar100, mnist-idx");
  if (spec.format == "npy") {
    read = datasets::read_npy_dataset(spec);
  } else if (spec.format == "hdf5") {
    read = datasets::read_hdf5_dataset(spec);
  } else if (spec.format == "cifar10" || spec.format == "cifar100") {
    read = datasets::read_cifar_dataset(spec, spec.format == "cifar100");
  } else if (spec.format == "mnist-idx") {
    read = datasets::read_mnist_dataset(spec);
  }
  if (!read.is_ok()) return read.status();
  Dataset dataset = std::move(read).value();

  if (layout == "nhwc") {
    FL_ASSIGN_OR_RETURN(dataset.images, channels_last_to_first(dataset.images, dataset.source));
  }
  FL_RETURN_IF_ERROR(preprocess(spec, dataset.images));
  return dataset;
}

Status check_dataset_fits(const Dataset& dataset, const std::string& input_name, const Shape& model_input) {
  const Shape& images = dataset.images.shape();
  const Shape sample(images.begin() + (images.empty() ? 0 : 1), images.end());
  bool fits = model_input.size() == images.size();
  for (size_t i = 1; fits && i < model_input.size(); ++i) {
    fits = model_input[i] == kDynamicDim || model_input[i] == images[i];
  }
  if (fits) return Status::ok();
  return invalid_argument("dataset.inputs: " + dataset.source + ": samples of shape " + shape_to_string(sample) +
                          " do not fit the model input " + input_name + " " + shape_to_string(model_input));
}

}  // namespace faultline
