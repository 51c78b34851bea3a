// Loads a model file by its extension: .onnx today; Keras .h5/.keras and NIR .nir join with the HDF5
// frontends. Errors name the file.
#pragma once

#include <memory>
#include <string>

#include "engine/graph.h"
#include "engine/status.h"

namespace faultline {

Result<std::shared_ptr<const Graph>> load_model(const std::string& path);

}  // namespace faultline
