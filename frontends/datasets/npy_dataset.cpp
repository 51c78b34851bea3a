// .npy test sets: one file of images, one (optional) file of labels.
#include "engine/npy.h"
#include "frontends/datasets/dataset_readers.h"

namespace faultline::datasets {

Result<Dataset> read_npy_dataset(const DatasetSpec& spec) {
  Result<Tensor> images = read_npy(spec.inputs);
  if (!images.is_ok()) return images.status().with_context("dataset.inputs");
  if (images->rank() < 2) {
    return invalid_argument("dataset.inputs: " + spec.inputs + ": images must have shape [N, ...] with at least " +
                            "2 axes, not " + shape_to_string(images->shape()));
  }
  const int64_t available = images->dim(0);
  Tensor labels;
  if (!spec.labels.empty()) {
    Result<Tensor> raw = read_npy(spec.labels);
    if (!raw.is_ok()) return raw.status().with_context("dataset.labels");
    FL_ASSIGN_OR_RETURN(labels, labels_to_int64(*raw, spec.labels));
    if (labels.dim(0) != available) {
      return invalid_argument("dataset.labels: " + spec.labels + ": holds " + std::to_string(labels.dim(0)) +
                              " labels, but " + spec.inputs + " holds " + std::to_string(available) + " images");
    }
  }
  FL_ASSIGN_OR_RETURN(int64_t count, samples_to_take(spec.limit, available, spec.inputs));
  Dataset dataset;
  Tensor taken = first_samples(*images, count);
  dataset.images = taken.dtype() == DType::kFloat32 ? taken : taken.cast(DType::kFloat32);
  dataset.labels = first_samples(labels, count);
  dataset.source = spec.inputs;
  return dataset;
}

}  // namespace faultline::datasets
