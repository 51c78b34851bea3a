// The model description of a Keras config (model_config of a legacy .h5, config.json of a .keras archive):
// which layers, with which configs, called on which tensors. Both config schemas are read:
//   tf.keras 2.x: {"class_name": "Sequential" | "Functional" | "Model", "config": {"layers": [...]}}; a
//     Functional layer's "inbound_nodes" is a list of calls, each a list of [layer, node_index, tensor_index,
//     kwargs]; "input_layers" / "output_layers" are lists of [layer, node_index, tensor_index].
//   Keras 3: the same outer form with "module" / "registered_name" keys; a call is {"args": [...], "kwargs":
//     {...}} whose args hold {"class_name": "__keras_tensor__", "config": {"keras_history": [layer, node_index,
//     tensor_index]}} (nested in a list for Add / Concatenate); "input_layers" may be one [layer, 0, 0].
// A Sequential model becomes the same form: each layer called once on the previous one. Its input is the
// InputLayer entry, or (older tf.keras) the first layer's batch_input_shape, named "<first layer>_input".
//
// Errors name the config source and the JSON path ("model.h5: model_config: config.layers[2].inbound_nodes:
// ...").
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "engine/status.h"
#include "engine/tensor.h"
#include "frontends/keras/json.h"

namespace faultline::keras {

// A tensor of the model: output `tensor` of call `node` of layer `layer`.
struct TensorRef {
  std::string layer;
  int64_t node = 0;
  int64_t tensor = 0;
};

struct LayerSpec {
  std::string class_name;                     // "Conv2D"
  std::string name;                           // "conv2d"
  JsonCursor config;                          // the layer's "config" object
  std::vector<std::vector<TensorRef>> calls;  // per call (Keras "inbound node"): the tensors it is called on
  Shape input_shape;                          // InputLayer only: the batch input shape, kDynamicDim for None
};

struct ModelSpec {
  std::string class_name;  // "Sequential" | "Functional" | "Model"
  std::string name;
  std::vector<LayerSpec> layers;  // in config order
  std::vector<TensorRef> inputs;
  std::vector<TensorRef> outputs;
};

// `root` must outlive the result (its cursors point into it).
Result<ModelSpec> parse_model_config(const JsonValue& root, const std::string& source);

}  // namespace faultline::keras
