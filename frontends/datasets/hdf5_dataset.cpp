// HDF5 test sets: an images dataset and a labels dataset (names configurable), any integer or float type,
// read through the HDF5 C API with the library's own conversion to float32 / float64.
#include <hdf5.h>

#include <filesystem>

#include "frontends/hdf5/hdf5_handles.h"
#include "frontends/datasets/dataset_readers.h"

namespace faultline::datasets {

namespace {

Status check_is_hdf5_file(const std::string& key, const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return not_found(key + ": " + path + ": no such file");
  if (std::filesystem::is_directory(path, ec)) return invalid_argument(key + ": " + path + ": is a directory");
  if (H5Fis_hdf5(path.c_str()) <= 0) return invalid_argument(key + ": " + path + ": not an HDF5 file");
  return Status::ok();
}

// The whole dataset `name` of `path` as `dtype` (kFloat32 or kFloat64); `key` starts the messages.
Result<Tensor> read_hdf5_array(const std::string& key, const std::string& path, const std::string& name,
                               DType dtype) {
  const std::string where = key + ": " + path + ": dataset '" + name + "'";
  Hdf5Handle file(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
  if (!file.valid()) return io_error(key + ": " + path + ": cannot open the HDF5 file");
  if (H5Lexists(file.get(), name.c_str(), H5P_DEFAULT) <= 0) return not_found(where + " does not exist");
  Hdf5Handle dataset(H5Dopen2(file.get(), name.c_str(), H5P_DEFAULT), H5Dclose);
  if (!dataset.valid()) return invalid_argument(where + " is not a dataset");
  Hdf5Handle type(H5Dget_type(dataset.get()), H5Tclose);
  const H5T_class_t type_class = H5Tget_class(type.get());
  if (type_class != H5T_INTEGER && type_class != H5T_FLOAT) {
    return unsupported(where + " does not hold numbers (only integer and float types are read)");
  }
  Hdf5Handle space(H5Dget_space(dataset.get()), H5Sclose);
  const int rank = H5Sget_simple_extent_ndims(space.get());
  if (rank < 0) return invalid_argument(where + ": cannot read its shape");
  std::vector<hsize_t> dims(static_cast<size_t>(rank));
  H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr);
  Shape shape(dims.begin(), dims.end());
  Result<Tensor> out = Tensor::allocate(dtype, shape);
  if (!out.is_ok()) return out.status().with_context(where);
  if (out->numel() > 0) {
    const hid_t memory_type = dtype == DType::kFloat64 ? H5T_NATIVE_DOUBLE : H5T_NATIVE_FLOAT;
    if (H5Dread(dataset.get(), memory_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, out->raw()) < 0) {
      return io_error(where + ": reading failed (corrupt file or a filter this HDF5 library lacks)");
    }
  }
  return out;
}

}  // namespace

Result<Dataset> read_hdf5_dataset(const DatasetSpec& spec) {
  QuietHdf5Errors quiet;
  FL_RETURN_IF_ERROR(check_is_hdf5_file("dataset.inputs", spec.inputs));
  FL_ASSIGN_OR_RETURN(Tensor images, read_hdf5_array("dataset.inputs", spec.inputs, spec.hdf5_images,
                                                     DType::kFloat32));
  if (images.rank() < 2) {
    return invalid_argument("dataset.inputs: " + spec.inputs + ": dataset '" + spec.hdf5_images +
                            "' must have shape [N, ...] with at least 2 axes, not " + shape_to_string(images.shape()));
  }
  const int64_t available = images.dim(0);
  Tensor labels;
  if (!spec.hdf5_labels.empty()) {
    const std::string labels_file = spec.labels.empty() ? spec.inputs : spec.labels;
    if (labels_file != spec.inputs) FL_RETURN_IF_ERROR(check_is_hdf5_file("dataset.labels", labels_file));
    FL_ASSIGN_OR_RETURN(Tensor raw, read_hdf5_array("dataset.labels", labels_file, spec.hdf5_labels,
                                                    DType::kFloat64));
    const std::string source = labels_file + ": dataset '" + spec.hdf5_labels + "'";
    FL_ASSIGN_OR_RETURN(labels, labels_to_int64(raw, source));
    if (labels.dim(0) != available) {
      return invalid_argument("dataset.labels: " + source + " holds " + std::to_string(labels.dim(0)) +
                              " labels, but dataset '" + spec.hdf5_images + "' holds " + std::to_string(available) +
                              " images");
    }
  }
  const std::string source = spec.inputs + ": dataset '" + spec.hdf5_images + "'";
  FL_ASSIGN_OR_RETURN(int64_t count, samples_to_take(spec.limit, available, source));
  Dataset dataset;
  dataset.images = first_samples(images, count);
  dataset.labels = first_samples(labels, count);
  dataset.source = spec.inputs;
  return dataset;
}

}  // namespace faultline::datasets
