// Internal to the Keras frontend: the state of build_keras_graph (frontends/keras/keras_graph_builder.h) and
// the helpers the layer translations (keras_layers.cpp) use to add nodes, parameters and constants.
#pragma once

#include <map>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "engine/graph.h"
#include "engine/status.h"
#include "frontends/keras/keras_config.h"
#include "frontends/keras/keras_file.h"

namespace faultline::keras {

// A Keras tensor inside the graph: its value and its Keras rank (batch included). A rank-4 tensor is NCHW in
// the graph (Keras NHWC); any other rank is in Keras order.
struct KerasTensor {
  ValueId id = kNoValue;
  int rank = 0;
};

// One call of a layer.
struct LayerCall {
  const LayerSpec* layer = nullptr;
  size_t index = 0;  // the call (Keras node index)
  std::string name;  // layer name, "<name>@<k>" for call k >= 1
  std::vector<KerasTensor> inputs;
};

// A weight of the file, with the name its parameter gets.
struct LayerWeight {
  std::string name;
  const Tensor* value = nullptr;
};

class KerasGraphBuilder {
 public:
  KerasGraphBuilder(const ModelSpec& model, const KerasFile& file) : model_(model), file_(file) {}
  Result<Graph> build();

  // --- used by the layer translations ---
  // Adds a node of `call` ("<call>" when role is empty, else "<call>/<role>") with one output of Keras rank
  // `rank`; `channels_first` marks a rank-4 output as NCHW (model_axes NHWC).
  Result<KerasTensor> emit(const LayerCall& call, OpKind op, std::vector<ValueId> inputs, OpAttrs attrs, int rank,
                           const std::string& role = "", bool channels_first = true);
  // The layer's weights, which must be exactly `variables` (Keras variable names, in order; "kernel", "bias").
  Result<std::vector<LayerWeight>> weights(const LayerCall& call, const std::vector<std::string>& variables) const;
  // A parameter (a weight-fault target) holding `engine_value`; created once per weight name, so that every
  // call of a shared layer reads the same parameter.
  ValueId parameter(const LayerWeight& weight, Tensor engine_value, std::vector<int> model_axes = {});
  // A constant that is not a parameter (BatchNormalization's scale when scale=False).
  ValueId constant(const std::string& name, Tensor value);
  // Whether the weights come from a Keras 3 .keras archive (variable names differ in a few layers).
  bool keras3() const { return file_.keras3; }

 private:
  Status add_input(const LayerSpec& layer);
  Result<bool> try_call(const LayerSpec& layer, size_t index);
  Status add_outputs();

  const ModelSpec& model_;
  const KerasFile& file_;
  Graph graph_;
  std::map<std::pair<std::string, int64_t>, KerasTensor> produced_;  // (layer, call) -> its output
  std::unordered_map<std::string, ValueId> parameters_;              // by weight name
};

// Adds the nodes of one layer call and returns its output (keras_layers.cpp). Errors have no layer prefix.
Result<KerasTensor> translate_layer(KerasGraphBuilder& builder, const LayerCall& call);

// `in` permuted: output axis k is input axis perm[k] (float32).
Tensor permute_axes(const Tensor& in, const std::vector<int>& perm);

}  // namespace faultline::keras
