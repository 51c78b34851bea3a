// Loads a model file by its extension: .onnx (ONNX), .h5 / .hdf5 / .keras (Keras: frontends/keras/keras_import.h)
// and .nir (NIR). Errors name the file.
#pragma once

#include <memory>
#include <string>

#include "engine/graph.h"
#include "engine/status.h"

namespace faultline {

Result<std::shared_ptr<const Graph>> load_model(const std::string& path);

}  // namespace faultline
