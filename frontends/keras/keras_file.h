// The two Keras file formats, read into one form: the model's JSON config and its weights per layer.
//
//   legacy .h5 (tf.keras 2.x, also Keras 3's legacy writer): the root attribute `model_config` (JSON), weights
//     under model_weights/<layer>/<weight name> for each layer named in model_weights' `layer_names`
//     attribute, in the order of that layer's `weight_names` attribute ("conv2d/kernel:0", "conv2d/bias:0").
//     optimizer_weights and top_level_model_weights (the model's own variables, none for the layers faultline
//     reads) are not read.
//   Keras 3 .keras: a zip archive with config.json and model.weights.h5, whose weights are
//     layers/<layer>/vars/<i> (i = 0, 1, ... in the layer's variable order; no names). model.weights.h5 is
//     opened from memory.
#pragma once

#include <string>
#include <unordered_map>
#include <vector>

#include "engine/status.h"
#include "engine/tensor.h"

namespace faultline::keras {

struct KerasWeight {
  std::string name;  // the file's weight name ("conv2d/kernel:0"); empty in .keras files (variables are numbered)
  Tensor value;      // float32, in the file's (Keras) order
};

struct KerasFile {
  std::string path;           // the model file, for messages
  std::string config_json;    // model_config / config.json
  std::string config_source;  // "model_config" or "config.json" (messages add the path in front)
  bool keras3 = false;        // a .keras archive
  std::unordered_map<std::string, std::vector<KerasWeight>> weights;  // by layer name
};

// Reads `path` by its extension (.h5 / .hdf5 or .keras). Errors name the file and the object inside it.
Result<KerasFile> read_keras_file(const std::string& path);

}  // namespace faultline::keras
