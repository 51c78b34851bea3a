#include "frontends/keras/keras_builder.h"

#include <cstring>

#include "frontends/keras/keras_graph_builder.h"

namespace faultline::keras {

namespace {

const std::vector<int> kNhwcModelAxes = {0, 2, 3, 1};  // a 4-D activation: NCHW in the graph, NHWC in Keras
const std::vector<int64_t> kToNchw = {0, 3, 1, 2};
const std::vector<int64_t> kToNhwc = {0, 2, 3, 1};
constexpr int kImageRank = 4;

std::string describe(const LayerSpec& layer) {
  return "layer '" + layer.name + "' (" + layer.class_name + ")";
}

std::string join(const std::vector<std::string>& names) {
  std::string out;
  for (const std::string& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

}  // namespace

Tensor permute_axes(const Tensor& in, const std::vector<int>& perm) {
  Shape out_shape;
  for (int axis : perm) out_shape.push_back(in.dim(axis));
  Tensor out = Tensor::allocate(DType::kFloat32, out_shape).value();
  const std::vector<int64_t> in_strides = contiguous_strides(in.shape());
  const size_t rank = perm.size();
  std::vector<int64_t> index(rank, 0);
  const float* src = in.data<float>();
  float* dst = out.data<float>();
  for (int64_t flat = 0; flat < out.numel(); ++flat) {
    int64_t offset = 0;
    for (size_t k = 0; k < rank; ++k) offset += index[k] * in_strides[static_cast<size_t>(perm[k])];
    dst[flat] = src[offset];
    for (size_t k = rank; k-- > 0;) {  // next output index, row-major
      if (++index[k] < out_shape[k]) break;
      index[k] = 0;
    }
  }
  return out;
}

Result<KerasTensor> KerasGraphBuilder::emit(const LayerCall& call, OpKind op, std::vector<ValueId> inputs,
                                            OpAttrs attrs, int rank, const std::string& role, bool channels_first) {
  Node node;
  node.op = op;
  node.name = role.empty() ? call.name : call.name + "/" + role;
  node.layer = call.name;
  node.inputs = std::move(inputs);
  node.attrs = std::move(attrs);
  if (graph_.find_node(node.name) || graph_.find_value(node.name + ":0"))
    return invalid_argument("the name '" + node.name + "' is used twice (two layers with clashing names?)");
  Value value;
  value.name = node.name + ":0";
  if (rank == kImageRank && channels_first) value.model_axes = kNhwcModelAxes;
  node.outputs = {graph_.add_value(std::move(value))};
  const ValueId out = node.outputs.front();
  graph_.add_node(std::move(node));
  return KerasTensor{out, rank};
}

Result<std::vector<LayerWeight>> KerasGraphBuilder::weights(const LayerCall& call,
                                                            const std::vector<std::string>& variables) const {
  const std::string& layer = call.layer->name;
  auto found = file_.weights.find(layer);
  const size_t count = found == file_.weights.end() ? 0 : found->second.size();
  if (count != variables.size())
    return invalid_argument("expects " + std::to_string(variables.size()) + " weights (" + join(variables) +
                            "), the file has " + std::to_string(count) + " for it");
  std::vector<LayerWeight> out;
  for (size_t i = 0; i < count; ++i) {
    const KerasWeight& w = found->second[i];
    out.push_back({w.name.empty() ? layer + "/" + variables[i] + ":0" : w.name, &w.value});
  }
  return out;
}

ValueId KerasGraphBuilder::parameter(const LayerWeight& weight, Tensor engine_value, std::vector<int> model_axes) {
  if (auto it = parameters_.find(weight.name); it != parameters_.end()) return it->second;
  Value value;
  value.name = weight.name;
  value.dtype = DType::kFloat32;
  value.shape = engine_value.shape();
  value.shape_known = true;
  value.constant = std::move(engine_value);
  value.is_parameter = true;
  value.model_axes = std::move(model_axes);
  const ValueId id = graph_.add_value(std::move(value));
  parameters_.emplace(weight.name, id);
  return id;
}

ValueId KerasGraphBuilder::constant(const std::string& name, Tensor tensor) {
  if (auto existing = graph_.find_value(name)) return *existing;  // a shared layer's second call
  Value value;
  value.name = name;
  value.dtype = tensor.dtype();
  value.shape = tensor.shape();
  value.shape_known = true;
  value.constant = std::move(tensor);
  return graph_.add_value(std::move(value));
}

Status KerasGraphBuilder::add_input(const LayerSpec& layer) {
  const Shape& shape = layer.input_shape;
  if (shape.size() < 2)
    return invalid_argument("an input of rank " + std::to_string(shape.size()) + " (expected >= 2)");
  for (size_t d = 1; d < shape.size(); ++d)
    if (shape[d] <= 0)
      return unsupported("dimension " + std::to_string(d) +
                         " of the input shape is None: faultline needs a fixed "
                         "input size");
  if (graph_.find_value(layer.name)) return invalid_argument("the name '" + layer.name + "' is used twice");
  Value value;
  value.name = layer.name;
  value.shape = shape;
  value.shape_known = true;
  const ValueId id = graph_.add_value(std::move(value));
  graph_.inputs().push_back(id);
  KerasTensor input{id, static_cast<int>(shape.size())};
  if (input.rank == kImageRank) {
    LayerCall call{&layer, 0, layer.name, {}};
    FL_ASSIGN_OR_RETURN(input, emit(call, OpKind::kTranspose, {id}, TransposeAttrs{kToNchw}, kImageRank, "to_nchw"));
  }
  produced_[{layer.name, 0}] = input;
  return Status::ok();
}

// Translates call `index` of `layer` when its inputs exist; false when one does not exist yet.
Result<bool> KerasGraphBuilder::try_call(const LayerSpec& layer, size_t index) {
  LayerCall call{&layer, index, index == 0 ? layer.name : layer.name + "@" + std::to_string(index), {}};
  for (const TensorRef& ref : layer.calls[index]) {
    if (ref.tensor != 0)
      return unsupported("reads output " + std::to_string(ref.tensor) + " of layer '" + ref.layer +
                         "'; faultline's layers have one output");
    auto found = produced_.find({ref.layer, ref.node});
    if (found == produced_.end()) return false;
    call.inputs.push_back(found->second);
  }
  if (call.inputs.empty()) return invalid_argument("a call without inputs");
  FL_ASSIGN_OR_RETURN(KerasTensor out, translate_layer(*this, call));
  produced_[{layer.name, static_cast<int64_t>(index)}] = out;
  return true;
}

Status KerasGraphBuilder::add_outputs() {
  for (const TensorRef& ref : model_.outputs) {
    auto found = produced_.find({ref.layer, ref.node});
    if (found == produced_.end() || ref.tensor != 0)
      return invalid_argument("the model output [" + ref.layer + ", " + std::to_string(ref.node) + ", " +
                              std::to_string(ref.tensor) + "] is not computed by any layer");
    KerasTensor out = found->second;
    const Value& value = graph_.value(out.id);
    if (out.rank == kImageRank && !value.model_axes.empty()) {  // back to Keras' NHWC
      const LayerSpec* layer = nullptr;
      for (const LayerSpec& l : model_.layers)
        if (l.name == ref.layer) layer = &l;
      LayerCall call{layer,
                     static_cast<size_t>(ref.node),
                     ref.node == 0 ? ref.layer : ref.layer + "@" + std::to_string(ref.node),
                     {}};
      const std::string role = "output_nhwc";
      if (auto existing = graph_.find_value(call.name + "/" + role + ":0")) {
        out.id = *existing;
      } else {
        FL_ASSIGN_OR_RETURN(out, emit(call, OpKind::kTranspose, {out.id}, TransposeAttrs{kToNhwc}, kImageRank, role,
                                      /*channels_first=*/false));
      }
    }
    graph_.outputs().push_back(out.id);
  }
  return Status::ok();
}

Result<Graph> KerasGraphBuilder::build() {
  // Inputs, in the model's input order.
  for (const TensorRef& ref : model_.inputs) {
    const LayerSpec* input = nullptr;
    for (const LayerSpec& layer : model_.layers)
      if (layer.name == ref.layer && layer.class_name == "InputLayer") input = &layer;
    if (input == nullptr) return invalid_argument("the model input '" + ref.layer + "' is not an InputLayer");
    FL_RETURN_IF_ERROR(add_input(*input).with_context(describe(*input)));
  }
  // Layer calls, in passes over the layers in config order (as Keras rebuilds a model): a call runs once
  // every tensor it reads exists, and the calls of one layer run in order.
  std::vector<size_t> next_call(model_.layers.size(), 0);
  for (bool progress = true; progress;) {
    progress = false;
    for (size_t l = 0; l < model_.layers.size(); ++l) {
      const LayerSpec& layer = model_.layers[l];
      if (layer.class_name == "InputLayer") continue;
      while (next_call[l] < layer.calls.size()) {
        Result<bool> done = try_call(layer, next_call[l]);
        if (!done.is_ok()) return done.status().with_context(describe(layer));
        if (!*done) break;
        ++next_call[l];
        progress = true;
      }
    }
  }
  for (size_t l = 0; l < model_.layers.size(); ++l) {
    const LayerSpec& layer = model_.layers[l];
    if (layer.class_name == "InputLayer" || next_call[l] == layer.calls.size()) continue;
    const TensorRef* missing = nullptr;
    for (const TensorRef& ref : layer.calls[next_call[l]])
      if (!produced_.count({ref.layer, ref.node})) missing = &ref;
    return invalid_argument(describe(layer) + ": its input [" + (missing ? missing->layer : "?") + ", " +
                            std::to_string(missing ? missing->node : 0) + "] is never computed");
  }
  FL_RETURN_IF_ERROR(add_outputs());
  return std::move(graph_);
}

Result<Graph> build_keras_graph(const ModelSpec& model, const KerasFile& file) {
  return KerasGraphBuilder(model, file).build();
}

}  // namespace faultline::keras
