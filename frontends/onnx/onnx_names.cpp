#include "frontends/onnx/onnx_names.h"

#include <unordered_set>
#include <vector>

namespace faultline {

namespace {

constexpr std::string_view kWeightSuffix = ".weight";

std::vector<std::string_view> split_scopes(std::string_view name) {
  std::vector<std::string_view> parts;
  size_t begin = 1;  // past the leading '/'
  while (begin <= name.size()) {
    size_t end = name.find('/', begin);
    if (end == std::string_view::npos) end = name.size();
    parts.push_back(name.substr(begin, end - begin));
    begin = end + 1;
  }
  return parts;
}

// "<path>" when the node's first parameter input is "<path>.weight", else empty.
std::string weight_path(const Graph& graph, const Node& node) {
  for (ValueId input : node.inputs) {
    if (input == kNoValue || !graph.value(input).is_parameter) continue;
    const std::string& name = graph.value(input).name;
    if (name.size() > kWeightSuffix.size() && name.ends_with(kWeightSuffix))
      return name.substr(0, name.size() - kWeightSuffix.size());
    return {};
  }
  return {};
}

}  // namespace

std::string torch_module_path(std::string_view node_name) {
  if (node_name.size() < 2 || node_name.front() != '/') return {};
  std::vector<std::string_view> scopes = split_scopes(node_name);
  scopes.pop_back();  // the op itself ("Conv", "Relu_1")
  // A scope repeats its parent's name as a prefix when the parent is a container ("layer1" then
  // "layer1.0"); only the new suffix extends the path.
  std::string path;
  std::string_view parent;
  for (std::string_view scope : scopes) {
    if (scope.empty()) return {};
    std::string_view segment = scope;
    if (!parent.empty() && scope.size() > parent.size() + 1 && scope.starts_with(parent) && scope[parent.size()] == '.')
      segment = scope.substr(parent.size() + 1);
    if (!path.empty()) path += '.';
    path += segment;
    parent = scope;
  }
  return path;
}

void assign_layer_names(Graph& graph) {
  std::unordered_set<std::string> taken;
  for (Node& node : graph.nodes()) {
    std::string base = torch_module_path(node.name);
    if (base.empty()) base = weight_path(graph, node);
    if (base.empty()) base = node.name;
    std::string name = base;
    for (int suffix = 1; taken.count(name); ++suffix) name = base + "_" + std::to_string(suffix);
    taken.insert(name);
    node.layer = std::move(name);
  }
}

}  // namespace faultline
