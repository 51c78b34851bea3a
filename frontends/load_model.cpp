#include "frontends/load_model.h"

#include "frontends/keras/keras_import.h"
#include "frontends/nir/nir_import.h"
#include "frontends/onnx/onnx_import.h"

namespace faultline {

namespace {
bool ends_with(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() && text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}
}  // namespace

Result<std::shared_ptr<const Graph>> load_model(const std::string& path) {
  if (ends_with(path, ".onnx")) {
    FL_ASSIGN_OR_RETURN(Graph graph, import_onnx_file(path));
    return std::make_shared<const Graph>(std::move(graph));
  }
  if (ends_with(path, ".h5") || ends_with(path, ".hdf5") || ends_with(path, ".keras")) {
    FL_ASSIGN_OR_RETURN(Graph graph, import_keras_file(path));
    return std::make_shared<const Graph>(std::move(graph));
  }
  if (ends_with(path, ".nir")) {
    FL_ASSIGN_OR_RETURN(Graph graph, nir::import_nir_file(path));
    return std::make_shared<const Graph>(std::move(graph));
  }
  return unsupported(path + ": unknown model format (expected .onnx, .h5 / .keras (Keras) or .nir)");
}

}  // namespace faultline
