#include "frontends/keras/keras_import.h"

#include "engine/specialize.h"
#include "frontends/keras/json.h"
#include "frontends/keras/keras_config.h"
#include "frontends/keras/keras_file.h"
#include "frontends/keras/keras_graph_builder.h"

namespace faultline {

namespace {

Result<Graph> build(const keras::KerasFile& file) {
  FL_ASSIGN_OR_RETURN(keras::JsonValue root, keras::parse_json(file.config_json, file.config_source));
  FL_ASSIGN_OR_RETURN(keras::ModelSpec model, keras::parse_model_config(root, file.config_source));
  FL_ASSIGN_OR_RETURN(Graph graph, keras::build_keras_graph(model, file));
  graph.source = file.path;
  SpecializeOptions options;
  options.batch = 1;
  FL_RETURN_IF_ERROR(specialize(graph, options).status());  // shapes that do not fit, named by layer
  return graph;
}

}  // namespace

Result<Graph> import_keras_file(const std::string& path) {
  FL_ASSIGN_OR_RETURN(keras::KerasFile file, keras::read_keras_file(path));  // errors name the file
  Result<Graph> graph = build(file);
  if (!graph.is_ok()) return graph.status().with_context(path);
  return graph;
}

}  // namespace faultline
