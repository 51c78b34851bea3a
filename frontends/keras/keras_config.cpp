#include "frontends/keras/keras_config.h"

namespace faultline::keras {

namespace {

Result<TensorRef> tensor_ref(const JsonCursor& entry) {
  if (!entry.value().is_array() || entry.size() < 3 || !entry.item(0).value().is_string())
    return entry.error("expected [layer name, node index, tensor index]");
  TensorRef ref;
  FL_ASSIGN_OR_RETURN(ref.layer, entry.item(0).as_string());
  FL_ASSIGN_OR_RETURN(ref.node, entry.item(1).as_int());
  FL_ASSIGN_OR_RETURN(ref.tensor, entry.item(2).as_int());
  return ref;
}

// input_layers / output_layers: one [name, node, tensor] or a list (or dict) of them.
Result<std::vector<TensorRef>> tensor_refs(const JsonCursor& entry) {
  const JsonValue& v = entry.value();
  if (v.is_array() && !v.items().empty() && v.items()[0].is_string()) {
    FL_ASSIGN_OR_RETURN(TensorRef ref, tensor_ref(entry));
    return std::vector<TensorRef>{ref};
  }
  std::vector<TensorRef> refs;
  if (v.is_object()) {
    for (const auto& member : v.members()) {
      FL_ASSIGN_OR_RETURN(JsonCursor item, entry.at(member.first));
      FL_ASSIGN_OR_RETURN(std::vector<TensorRef> more, tensor_refs(item));
      refs.insert(refs.end(), more.begin(), more.end());
    }
    return refs;
  }
  FL_ASSIGN_OR_RETURN(std::vector<JsonCursor> items, entry.as_array());
  for (const JsonCursor& item : items) {
    FL_ASSIGN_OR_RETURN(std::vector<TensorRef> more, tensor_refs(item));
    refs.insert(refs.end(), more.begin(), more.end());
  }
  return refs;
}

// Keras 3 call arguments: every __keras_tensor__ in args, depth first, in order.
Status collect_keras_tensors(const JsonCursor& node, std::vector<TensorRef>& out) {
  const JsonValue& v = node.value();
  if (v.is_object()) {
    const JsonValue* class_name = v.find("class_name");
    if (class_name != nullptr && class_name->is_string() && class_name->as_string() == "__keras_tensor__") {
      FL_ASSIGN_OR_RETURN(JsonCursor config, node.at("config"));
      FL_ASSIGN_OR_RETURN(JsonCursor history, config.at("keras_history"));
      FL_ASSIGN_OR_RETURN(TensorRef ref, tensor_ref(history));
      out.push_back(std::move(ref));
      return Status::ok();
    }
    for (const auto& member : v.members()) {
      FL_ASSIGN_OR_RETURN(JsonCursor item, node.at(member.first));
      FL_RETURN_IF_ERROR(collect_keras_tensors(item, out));
    }
    return Status::ok();
  }
  if (v.is_array())
    for (size_t i = 0; i < v.items().size(); ++i) FL_RETURN_IF_ERROR(collect_keras_tensors(node.item(i), out));
  return Status::ok();
}

Result<std::vector<TensorRef>> parse_call(const JsonCursor& call) {
  std::vector<TensorRef> inputs;
  if (call.value().is_object()) {  // Keras 3
    FL_ASSIGN_OR_RETURN(JsonCursor args, call.at("args"));
    FL_RETURN_IF_ERROR(collect_keras_tensors(args, inputs));
    return inputs;
  }
  FL_ASSIGN_OR_RETURN(std::vector<JsonCursor> entries,
                      call.as_array());  // tf.keras 2: [[name, node, tensor, kwargs]...]
  for (const JsonCursor& entry : entries) {
    FL_ASSIGN_OR_RETURN(TensorRef ref, tensor_ref(entry));
    inputs.push_back(std::move(ref));
  }
  return inputs;
}

// The batch input shape of an InputLayer config (tf.keras 2: batch_input_shape; Keras 3: batch_shape).
Result<Shape> input_layer_shape(const JsonCursor& config) {
  std::optional<JsonCursor> shape = config.find("batch_input_shape");
  if (!shape) shape = config.find("batch_shape");
  if (!shape) return config.error("an InputLayer needs batch_input_shape (or batch_shape)");
  FL_ASSIGN_OR_RETURN(std::vector<JsonCursor> dims, shape->as_array());
  Shape out;
  for (const JsonCursor& dim : dims) {
    if (dim.value().is_null()) {
      out.push_back(kDynamicDim);
      continue;
    }
    FL_ASSIGN_OR_RETURN(int64_t d, dim.as_int());
    out.push_back(d);
  }
  return out;
}

Result<LayerSpec> layer_spec(const JsonCursor& entry) {
  FL_ASSIGN_OR_RETURN(JsonCursor class_name, entry.at("class_name"));
  FL_ASSIGN_OR_RETURN(JsonCursor config, entry.at("config"));
  LayerSpec layer{"", "", config, {}, {}};
  FL_ASSIGN_OR_RETURN(layer.class_name, class_name.as_string());
  if (std::optional<JsonCursor> name = entry.find("name")) {
    FL_ASSIGN_OR_RETURN(layer.name, name->as_string());
  } else {
    FL_ASSIGN_OR_RETURN(JsonCursor config_name, config.at("name"));
    FL_ASSIGN_OR_RETURN(layer.name, config_name.as_string());
  }
  if (layer.class_name == "InputLayer") {
    FL_ASSIGN_OR_RETURN(layer.input_shape, input_layer_shape(config));
  }
  return layer;
}

Status parse_functional(const JsonCursor& config, ModelSpec& model) {
  FL_ASSIGN_OR_RETURN(JsonCursor layers, config.at("layers"));
  FL_ASSIGN_OR_RETURN(std::vector<JsonCursor> entries, layers.as_array());
  for (const JsonCursor& entry : entries) {
    FL_ASSIGN_OR_RETURN(LayerSpec layer, layer_spec(entry));
    FL_ASSIGN_OR_RETURN(JsonCursor inbound, entry.at("inbound_nodes"));
    FL_ASSIGN_OR_RETURN(std::vector<JsonCursor> calls, inbound.as_array());
    for (const JsonCursor& call : calls) {
      FL_ASSIGN_OR_RETURN(std::vector<TensorRef> inputs, parse_call(call));
      layer.calls.push_back(std::move(inputs));
    }
    model.layers.push_back(std::move(layer));
  }
  FL_ASSIGN_OR_RETURN(JsonCursor inputs, config.at("input_layers"));
  FL_ASSIGN_OR_RETURN(model.inputs, tensor_refs(inputs));
  FL_ASSIGN_OR_RETURN(JsonCursor outputs, config.at("output_layers"));
  FL_ASSIGN_OR_RETURN(model.outputs, tensor_refs(outputs));
  return Status::ok();
}

Status parse_sequential(const JsonCursor& config, ModelSpec& model) {
  // tf.keras 2.0-2.1 wrote the layer list itself as the config.
  JsonCursor layers = config;
  if (!config.value().is_array()) {
    FL_ASSIGN_OR_RETURN(layers, config.at("layers"));
  }
  FL_ASSIGN_OR_RETURN(std::vector<JsonCursor> entries, layers.as_array());
  if (entries.empty()) return layers.error("a Sequential model without layers");
  for (const JsonCursor& entry : entries) {
    FL_ASSIGN_OR_RETURN(LayerSpec layer, layer_spec(entry));
    if (model.layers.empty() && layer.class_name != "InputLayer") {
      // No InputLayer entry: the first layer's batch_input_shape defines the input.
      if (!layer.config.find("batch_input_shape") && !layer.config.find("batch_shape"))
        return layer.config.error(
            "the first layer of a Sequential model needs batch_input_shape (the model "
            "was saved before it was built)");
      LayerSpec input{"InputLayer", layer.name + "_input", layer.config, {}, {}};
      FL_ASSIGN_OR_RETURN(input.input_shape, input_layer_shape(layer.config));
      model.layers.push_back(std::move(input));
    }
    if (layer.class_name != "InputLayer")
      layer.calls.push_back({TensorRef{model.layers.back().name, 0, 0}});
    else if (!model.layers.empty())
      return entry.error("an InputLayer after the first layer of a Sequential model");
    model.layers.push_back(std::move(layer));
  }
  model.inputs = {TensorRef{model.layers.front().name, 0, 0}};
  model.outputs = {TensorRef{model.layers.back().name, 0, 0}};
  return Status::ok();
}

}  // namespace

Result<ModelSpec> parse_model_config(const JsonValue& root, const std::string& source) {
  JsonCursor top(root, source);
  FL_ASSIGN_OR_RETURN(JsonCursor class_name, top.at("class_name"));
  FL_ASSIGN_OR_RETURN(JsonCursor config, top.at("config"));
  ModelSpec model;
  FL_ASSIGN_OR_RETURN(model.class_name, class_name.as_string());
  if (config.value().is_object())
    if (std::optional<JsonCursor> name = config.find("name")) {
      FL_ASSIGN_OR_RETURN(model.name, name->as_string());
    }
  if (model.class_name == "Sequential") {
    FL_RETURN_IF_ERROR(parse_sequential(config, model));
  } else if (model.class_name == "Functional" || model.class_name == "Model") {
    FL_RETURN_IF_ERROR(parse_functional(config, model));
  } else {
    return class_name.error("unsupported model class '" + model.class_name +
                            "' (faultline reads Sequential and Functional models; a subclassed model has no "
                            "config to read)");
  }
  return model;
}

}  // namespace faultline::keras
