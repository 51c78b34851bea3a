#include "frontends/load_model.h"

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
  return unsupported(path + ": unknown model format (expected a .onnx file)");
}

}  // namespace faultline
