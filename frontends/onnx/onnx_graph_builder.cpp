#include "frontends/onnx/onnx_graph_builder.h"

#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "frontends/onnx/onnx_attributes.h"
#include "frontends/onnx/onnx_names.h"
#include "frontends/onnx/onnx_tensor.h"

namespace faultline {

namespace {

bool is_default_domain(const std::string& domain) {
  return domain.empty() || domain == "ai.onnx";
}

Value constant_value(const std::string& name, Tensor tensor, bool is_parameter) {
  Value value;
  value.name = name;
  value.dtype = tensor.dtype();
  value.shape = tensor.shape();
  value.shape_known = true;
  value.constant = std::move(tensor);
  value.is_parameter = is_parameter;
  return value;
}

class GraphBuilder {
 public:
  GraphBuilder(const onnx::GraphProto& proto, int64_t opset) : proto_(proto), opset_(opset) {}

  Result<Graph> build() {
    for (const onnx::ValueInfoProto& info : proto_.value_info()) value_info_[info.name()] = &info;
    for (const onnx::ValueInfoProto& info : proto_.output()) value_info_[info.name()] = &info;
    for (const onnx::NodeProto& node : proto_.node())
      for (const std::string& input : node.input()) read_names_.insert(input);
    for (const onnx::ValueInfoProto& info : proto_.output()) read_names_.insert(info.name());

    FL_RETURN_IF_ERROR(add_initializers());
    FL_RETURN_IF_ERROR(add_inputs());
    for (int index = 0; index < proto_.node_size(); ++index) FL_RETURN_IF_ERROR(add_node(proto_.node(index), index));
    FL_RETURN_IF_ERROR(add_outputs());
    assign_layer_names(graph_);
    return std::move(graph_);
  }

 private:
  Result<ValueId> define_value(Value value) {
    if (graph_.find_value(value.name)) return invalid_argument("value '" + value.name + "' is defined more than once");
    return graph_.add_value(std::move(value));
  }

  Status add_initializers() {
    for (const onnx::TensorProto& initializer : proto_.initializer()) {
      if (initializer.name().empty()) return invalid_argument("an initializer has no name");
      FL_ASSIGN_OR_RETURN(Tensor tensor, tensor_from_onnx(initializer));
      FL_RETURN_IF_ERROR(
          define_value(constant_value(initializer.name(), std::move(tensor), /*is_parameter=*/true)).status());
    }
    return Status::ok();
  }

  // Graph inputs that are also initializers (IR < 4) stay parameters.
  Status add_inputs() {
    for (const onnx::ValueInfoProto& info : proto_.input()) {
      if (graph_.find_value(info.name()) && graph_.value(*graph_.find_value(info.name())).is_parameter) continue;
      if (!info.has_type() || !info.type().has_tensor_type())
        return unsupported("graph input '" + info.name() + "' is not a tensor");
      Value value;
      value.name = info.name();
      FL_RETURN_IF_ERROR(apply_onnx_value_info(info, value));
      FL_ASSIGN_OR_RETURN(ValueId id, define_value(std::move(value)));
      graph_.inputs().push_back(id);
    }
    return Status::ok();
  }

  Status add_outputs() {
    for (const onnx::ValueInfoProto& info : proto_.output()) {
      std::optional<ValueId> id = graph_.find_value(info.name());
      if (!id) return invalid_argument("graph output '" + info.name() + "' is not computed by any node");
      graph_.outputs().push_back(*id);
    }
    return Status::ok();
  }

  // A node output, typed from value_info or the graph outputs when they say.
  Result<ValueId> define_output(const std::string& name) {
    Value value;
    value.name = name;
    auto info = value_info_.find(name);
    if (info != value_info_.end()) FL_RETURN_IF_ERROR(apply_onnx_value_info(*info->second, value));
    return define_value(std::move(value));
  }

  Result<std::vector<ValueId>> resolve_inputs(const onnx::NodeProto& proto) {
    std::vector<ValueId> inputs;
    for (const std::string& name : proto.input()) {
      if (name.empty()) {
        inputs.push_back(kNoValue);
        continue;
      }
      std::optional<ValueId> id = graph_.find_value(name);
      if (!id)
        return invalid_argument("reads '" + name + "', which no earlier node, graph input or initializer defines");
      inputs.push_back(*id);
    }
    while (!inputs.empty() && inputs.back() == kNoValue) inputs.pop_back();
    return inputs;
  }

  // faultline computes only the first output of every op; a later output (Dropout mask, BatchNormalization
  // running statistics, MaxPool indices) may be declared but must not be read.
  Status check_extra_outputs(const onnx::NodeProto& proto) const {
    for (int i = 1; i < proto.output_size(); ++i) {
      const std::string& name = proto.output(i);
      if (!name.empty() && read_names_.count(name))
        return unsupported("output " + std::to_string(i) + " ('" + name + "') of " + proto.op_type() +
                           " is used, but faultline computes only the first output");
    }
    if (proto.output_size() == 0 || proto.output(0).empty()) return invalid_argument("has no output");
    return Status::ok();
  }

  Status add_constant(const onnx::NodeProto& proto) {
    if (proto.output_size() != 1) return invalid_argument("Constant must have exactly one output");
    FL_ASSIGN_OR_RETURN(Tensor tensor, onnx_constant_value(proto));
    return define_value(constant_value(proto.output(0), std::move(tensor), /*is_parameter=*/false)).status();
  }

  // Dropout runs as Identity at inference; a training_mode input must be a constant false.
  Status rewrite_dropout(const onnx::NodeProto& proto, Node& node) const {
    FL_ASSIGN_OR_RETURN(bool legacy_training, onnx_dropout_is_training(proto, opset_));
    if (legacy_training)
      return unsupported("attribute 'is_test' = 0 (training mode, the default before opset 7) is not supported");
    constexpr size_t kTrainingModeInput = 2;
    if (node.inputs.size() > kTrainingModeInput && node.inputs[kTrainingModeInput] != kNoValue) {
      const Value& training_mode = graph_.value(node.inputs[kTrainingModeInput]);
      if (!training_mode.is_constant() || training_mode.constant.numel() != 1)
        return unsupported("input 'training_mode' must be a constant (faultline runs inference)");
      if (training_mode.constant.to_doubles()[0] != 0.0)
        return unsupported("training_mode = true is not supported (faultline runs inference)");
    }
    if (node.inputs.empty() || node.inputs[0] == kNoValue) return invalid_argument("has no data input");
    node.op = OpKind::kIdentity;
    node.inputs.resize(1);
    node.attrs = OpAttrs();
    return Status::ok();
  }

  // Shape(start, end) -> Shape then Slice over the shape vector.
  Status add_shape_with_range(Node node, SliceAttrs slice, const std::string& output) {
    Value full;
    full.name = output + "/full_shape";
    full.dtype = DType::kInt64;
    FL_ASSIGN_OR_RETURN(ValueId full_id, define_value(std::move(full)));
    Node slice_node;
    slice_node.op = OpKind::kSlice;
    slice_node.name = node.name;
    slice_node.attrs = std::move(slice);
    slice_node.inputs = {full_id};
    FL_ASSIGN_OR_RETURN(ValueId output_id, define_output(output));
    slice_node.outputs = {output_id};
    node.name += "/full_shape";
    node.outputs = {full_id};
    graph_.add_node(std::move(node));
    graph_.add_node(std::move(slice_node));
    return Status::ok();
  }

  // Sum(x0, x1, ..., xk) -> ((x0 + x1) + ...) + xk: Add with broadcasting, left to right as ONNX defines it.
  // One input is Identity. The last Add carries the node's name and output.
  Status add_sum(Node node, const std::string& output) {
    if (node.inputs.empty()) return invalid_argument("Sum needs at least one input");
    if (node.inputs.size() == 1) {
      node.op = OpKind::kIdentity;
      FL_ASSIGN_OR_RETURN(ValueId output_id, define_output(output));
      node.outputs = {output_id};
      graph_.add_node(std::move(node));
      return Status::ok();
    }
    ValueId partial = node.inputs[0];
    for (size_t i = 1; i < node.inputs.size(); ++i) {
      Node add;
      add.op = OpKind::kAdd;
      const bool last = i + 1 == node.inputs.size();
      add.name = last ? node.name : node.name + "/partial_" + std::to_string(i);
      add.inputs = {partial, node.inputs[i]};
      ValueId out_id;
      if (last) {
        FL_ASSIGN_OR_RETURN(out_id, define_output(output));
      } else {
        Value v;
        v.name = output + "/partial_" + std::to_string(i);
        FL_ASSIGN_OR_RETURN(out_id, define_value(std::move(v)));
      }
      add.outputs = {out_id};
      graph_.add_node(std::move(add));
      partial = out_id;
    }
    return Status::ok();
  }

  Status add_node(const onnx::NodeProto& proto, int index) {
    std::string name = proto.name().empty() ? proto.op_type() + "_" + std::to_string(index) : proto.name();
    std::string qualified_type =
        is_default_domain(proto.domain()) ? proto.op_type() : proto.domain() + "::" + proto.op_type();
    bool is_dropout = proto.op_type() == "Dropout";
    bool is_sum = proto.op_type() == "Sum";
    std::optional<OpKind> op = op_from_name(proto.op_type());
    if (!is_default_domain(proto.domain()) || (!op && !is_dropout && !is_sum && proto.op_type() != "Constant"))
      return unsupported("unsupported op '" + qualified_type + "' at node '" + name + "'");

    std::string context = "node '" + name + "' (" + proto.op_type() + ")";
    if (proto.op_type() == "Constant") return add_constant(proto).with_context(context);

    Node node;
    node.name = name;
    node.op = op.value_or(OpKind::kIdentity);
    Result<std::vector<ValueId>> inputs = resolve_inputs(proto);
    if (!inputs.is_ok()) return inputs.status().with_context(context);
    node.inputs = std::move(inputs).value();
    FL_RETURN_IF_ERROR(check_extra_outputs(proto).with_context(context));
    if (is_sum) return add_sum(std::move(node), proto.output(0)).with_context(context);
    if (is_dropout) {
      FL_RETURN_IF_ERROR(rewrite_dropout(proto, node).with_context(context));
    } else {
      Result<OpAttrs> attrs = convert_onnx_attributes(node.op, proto, opset_);
      if (!attrs.is_ok()) return attrs.status().with_context(context);
      node.attrs = std::move(attrs).value();
    }
    if (node.op == OpKind::kShape) {
      Result<std::optional<SliceAttrs>> slice = onnx_shape_slice(proto);
      if (!slice.is_ok()) return slice.status().with_context(context);
      if (slice->has_value())
        return add_shape_with_range(std::move(node), std::move(**slice), proto.output(0)).with_context(context);
    }
    Result<ValueId> output = define_output(proto.output(0));
    if (!output.is_ok()) return output.status().with_context(context);
    node.outputs = {*output};
    graph_.add_node(std::move(node));
    return Status::ok();
  }

  const onnx::GraphProto& proto_;
  int64_t opset_;
  Graph graph_;
  std::unordered_map<std::string, const onnx::ValueInfoProto*> value_info_;
  std::unordered_set<std::string> read_names_;  // every name a node input or graph output refers to
};

}  // namespace

Result<Graph> build_graph_from_onnx(const onnx::GraphProto& proto, int64_t opset) {
  return GraphBuilder(proto, opset).build();
}

}  // namespace faultline
