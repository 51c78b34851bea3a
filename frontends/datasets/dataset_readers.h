// The per-format readers behind load_dataset() (frontends/datasets/dataset.h). Each returns images as float32
// [N, ...] and labels as int64 [N] (empty when none), at most `limit` samples (nullopt: all), and fails when
// `limit` exceeds what the files hold. Messages are final: they start with the YAML key and name the file
// ("dataset.inputs: x.bin: ...", "dataset.labels: y.npy: ...", "dataset.limit: ...").
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "engine/status.h"
#include "engine/tensor.h"
#include "frontends/datasets/dataset.h"

namespace faultline::datasets {

// .npy images (any numeric dtype) and labels (any integer dtype, or float holding integral values).
Result<Dataset> read_npy_dataset(const DatasetSpec& spec);
// Two datasets of one or two HDF5 files, any numeric type, via the HDF5 C API.
Result<Dataset> read_hdf5_dataset(const DatasetSpec& spec);
// CIFAR-10 (`fine_labels` false: 1 label byte per record) or CIFAR-100 (2 bytes, coarse then fine; the fine
// label is kept) binary batches, each record followed by 3x32x32 channel-major bytes -> [N, 3, 32, 32] 0..255.
Result<Dataset> read_cifar_dataset(const DatasetSpec& spec, bool cifar100);
// MNIST IDX: idx3-ubyte images (magic 0x00000803, big-endian counts) -> [N, 1, rows, cols] 0..255, and
// idx1-ubyte labels (magic 0x00000801) whose count must equal the images'.
Result<Dataset> read_mnist_dataset(const DatasetSpec& spec);

// Helpers the readers share.
// The number of samples to take: `available`, or `limit` when given; fails when limit < 1 or
// limit > available ("dataset.limit: 500 samples asked for, but <source> holds 100").
Result<int64_t> samples_to_take(std::optional<int64_t> limit, int64_t available, const std::string& source);
// Labels of any numeric dtype as int64 [N]: integers as they are, floats only when integral; every label must
// be >= 0. Accepts [N] or [N, 1]. Messages start with "dataset.labels: <source>: ".
Result<Tensor> labels_to_int64(const Tensor& labels, const std::string& source);
// The first `count` entries along axis 0 (a copy).
Tensor first_samples(const Tensor& tensor, int64_t count);

}  // namespace faultline::datasets
