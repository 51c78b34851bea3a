// Test sets for campaigns: images (and labels) from .npy, HDF5, CIFAR-10/100 binary and MNIST IDX files.
//
// Every reader returns images as float32 [N, ...] in NCHW order and labels as int64 [N] (empty when the spec
// names none). load_dataset() then applies, in this order:
//   1. limit:      the first `limit` samples; asking for more than the files hold is an error that names
//                  both counts ("dataset.limit: 500 samples asked for, but x.npy holds 100").
//   2. layout:     "nhwc" moves the last axis to axis 1 (npy and hdf5 only; CIFAR and MNIST have a fixed order).
//   3. preprocess: x * scale, then (x - mean[c]) / std[c] with c the index on axis 1.
//
// Error messages start with the YAML key they concern ("dataset.format: ...", "dataset.inputs: <file>: ...",
// "dataset.labels: <file>: ...", "dataset.limit: ...", "dataset.preprocess.mean: ..."), so the YAML layer can
// pass them on as they are. File errors name the file (and, for HDF5, the dataset inside it).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "engine/status.h"
#include "engine/tensor.h"

namespace faultline {

struct Dataset {
  Tensor images;       // float32 [N, ...], NCHW for images
  Tensor labels;       // int64 [N]; empty when the dataset has no labels
  std::string source;  // the file (or folder) the images came from
};

struct DatasetSpec {
  // "npy" | "hdf5" | "cifar10" | "cifar100" | "mnist-idx"
  std::string format;
  // npy:       the images .npy file.
  // hdf5:      the .h5 file holding the `hdf5_images` dataset.
  // cifar*:    one .bin file, or a folder: CIFAR-10 reads test_batch.bin if present, else every
  //            data_batch_<k>.bin in increasing k; CIFAR-100 reads test.bin if present, else train.bin.
  // mnist-idx: the idx3-ubyte images file.
  std::string inputs;
  // npy:       the labels .npy file (int of any width, or float holding integral values); "" for none.
  // hdf5:      the file holding `hdf5_labels`; "" means the `inputs` file.
  // cifar*:    unused (the labels are inside the records).
  // mnist-idx: the idx1-ubyte labels file; "" for none.
  std::string labels;
  std::optional<int64_t> limit;  // keep the first `limit` samples (>= 1)
  std::optional<float> scale;    // x * scale
  std::vector<float> mean, std;  // per channel (axis 1); either may be given alone (mean 0 / std 1)
  std::string layout;            // stored order of npy / hdf5 images: "nchw" (default, also "") or "nhwc"
  std::string hdf5_images = "images";
  std::string hdf5_labels = "labels";  // "" to read no labels
};

Result<Dataset> load_dataset(const DatasetSpec& spec);

// Ok when one sample (images without axis 0) has the model input's shape without its axis 0; a dimension of
// kDynamicDim in `model_input` matches anything. Else "dataset.inputs: <source>: samples of shape [3, 32, 32]
// do not fit the model input <input_name> [N, 1, 28, 28]".
Status check_dataset_fits(const Dataset& dataset, const std::string& input_name, const Shape& model_input);

}  // namespace faultline
