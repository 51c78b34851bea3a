#include "frontends/nir/nir_import.h"

#include <algorithm>
#include <functional>
#include <map>
#include <set>

#include "engine/shape_inference.h"
#include "frontends/nir/nir_file.h"

namespace faultline::nir {

namespace {

// A node of the flattened graph: `name` is its full name ("lif1.lif" for node "lif" of nested graph "lif1").
struct FlatNode {
  std::string name;
  const NirNode* nir = nullptr;
  bool passthrough = false;  // the Input / Output node of a nested graph: forwards its (summed) input
};

// Nested NIRGraphs into one list of nodes and edges between full names.
class Flattener {
 public:
  explicit Flattener(std::string path) : path_(std::move(path)) {}

  Status flatten(const NirNode& graph, const std::string& prefix, const std::string& where) {
    std::set<std::string> local;
    for (const NirNode& node : graph.nodes) local.insert(node.name);
    for (const NirNode& node : graph.nodes) {
      const std::string full = prefix + node.name;
      if (node.type != "NIRGraph") {
        nodes_.push_back({full, &node, !prefix.empty() && (node.type == "Input" || node.type == "Output")});
        continue;
      }
      const std::string inner_where = "nested NIRGraph node '" + full + "'";
      std::string input, output;
      for (const NirNode& inner : node.nodes) {
        std::string& slot = inner.type == "Input" ? input : output;
        if (inner.type != "Input" && inner.type != "Output") continue;
        if (!slot.empty())
          return unsupported(path_ + ": " + inner_where + " has more than one " + inner.type +
                             " node; faultline flattens nested graphs with one Input and one Output");
        slot = full + "." + inner.name;
      }
      if (input.empty() || output.empty())
        return invalid_argument(path_ + ": " + inner_where + " needs one Input and one Output node");
      entry_[full] = input;
      exit_[full] = output;
      FL_RETURN_IF_ERROR(flatten(node, full + ".", inner_where));
    }
    for (const auto& [src, dst] : graph.edges) {
      for (const std::string* end : {&src, &dst}) {
        if (local.count(*end)) continue;
        std::string known;
        for (const std::string& name : local) known += (known.empty() ? "" : ", ") + name;
        return invalid_argument(path_ + ": " + where + ": edge '" + src + "' -> '" + dst + "' names node '" + *end +
                                "', which this graph does not have (its nodes: " + known + ")");
      }
      edges_.emplace_back(resolve(exit_, prefix + src), resolve(entry_, prefix + dst));
    }
    return Status::ok();
  }

  std::vector<FlatNode>& nodes() { return nodes_; }
  std::vector<std::pair<std::string, std::string>>& edges() { return edges_; }

 private:
  // A nested graph's name resolved to its Input (entry) or Output (exit) node, through every nesting level.
  static std::string resolve(const std::map<std::string, std::string>& ends, std::string name) {
    for (auto it = ends.find(name); it != ends.end(); it = ends.find(name)) name = it->second;
    return name;
  }

  std::string path_;
  std::vector<FlatNode> nodes_;
  std::vector<std::pair<std::string, std::string>> edges_;
  std::map<std::string, std::string> entry_, exit_;
};

std::string ints_to_string(const std::vector<int64_t>& values) {
  std::string text = "[";
  for (size_t i = 0; i < values.size(); ++i) text += (i ? ", " : "") + std::to_string(values[i]);
  return text + "]";
}

Shape batched(const Shape& features) {
  Shape shape = {kDynamicDim};
  shape.insert(shape.end(), features.begin(), features.end());
  return shape;
}

Shape features_of(const Value& value) {
  return Shape(value.shape.begin() + 1, value.shape.end());
}

class Builder {
 public:
  Builder(std::string path, const NirImportOptions& options, std::vector<FlatNode> nodes,
          std::vector<std::pair<std::string, std::string>> edges)
      : path_(std::move(path)), options_(options), nodes_(std::move(nodes)), edges_(std::move(edges)) {}

  Result<Graph> build() {
    graph_.source = path_;
    for (size_t i = 0; i < nodes_.size(); ++i) index_[nodes_[i].name] = i;
    succ_.resize(nodes_.size());
    pred_.resize(nodes_.size());
    for (const auto& [src, dst] : edges_) {
      const size_t s = index_.at(src), d = index_.at(dst);
      succ_[s].push_back(d);
      pred_[d].push_back(s);
    }
    auto by_name = [&](size_t a, size_t b) { return nodes_[a].name < nodes_[b].name; };
    for (auto& list : succ_) std::sort(list.begin(), list.end(), by_name);
    for (auto& list : pred_) std::sort(list.begin(), list.end(), by_name);

    FL_ASSIGN_OR_RETURN(std::vector<size_t> order, order_and_find_cycles());
    for (size_t u : order) FL_RETURN_IF_ERROR(build_node(u));
    FL_RETURN_IF_ERROR(resolve_delays());

    std::vector<ValueId>& outputs = graph_.outputs();
    outputs = model_outputs_;
    for (const StateLink& link : graph_.state_links) {
      const ValueId next = *graph_.find_value(link.next_value);
      if (std::find(outputs.begin(), outputs.end(), next) == outputs.end()) outputs.push_back(next);
    }
    graph_.inputs() = data_inputs_;
    graph_.inputs().insert(graph_.inputs().end(), state_inputs_.begin(), state_inputs_.end());
    return std::move(graph_);
  }

 private:
  // --- errors ------------------------------------------------------------------------------------------
  Status node_error(size_t u, const std::string& what) const {
    return invalid_argument(path_ + ": node '" + nodes_[u].name + "' (" + nodes_[u].nir->type + "): " + what);
  }
  Status node_unsupported(size_t u, const std::string& what) const {
    return unsupported(path_ + ": node '" + nodes_[u].name + "' (" + nodes_[u].nir->type + "): " + what);
  }

  // --- order: a depth-first walk from the Input nodes; an edge to a node on the walk's stack closes a cycle ---
  Result<std::vector<size_t>> order_and_find_cycles() {
    std::vector<size_t> roots;
    for (size_t u = 0; u < nodes_.size(); ++u) {
      if (nodes_[u].nir->type != "Input" || nodes_[u].passthrough) continue;
      if (!pred_[u].empty()) return node_error(u, "an Input node has an incoming edge");
      roots.push_back(u);
    }
    if (roots.empty()) return invalid_argument(path_ + ": the graph has no Input node");
    std::sort(roots.begin(), roots.end(), [&](size_t a, size_t b) { return nodes_[a].name < nodes_[b].name; });
    std::vector<int> state(nodes_.size(), 0);  // 0 unvisited, 1 on the stack, 2 done
    std::vector<size_t> postorder;
    std::function<void(size_t)> visit = [&](size_t u) {
      state[u] = 1;
      for (size_t v : succ_[u]) {
        if (state[v] == 1)
          delayed_.insert({u, v});
        else if (state[v] == 0)
          visit(v);
      }
      state[u] = 2;
      postorder.push_back(u);
    };
    for (size_t root : roots)
      if (state[root] == 0) visit(root);
    for (size_t u = 0; u < nodes_.size(); ++u)
      if (state[u] == 0) return node_error(u, "no path leads to it from an Input node");
    return std::vector<size_t>(postorder.rbegin(), postorder.rend());
  }

  // --- values ------------------------------------------------------------------------------------------
  Result<ValueId> new_value(size_t u, const std::string& name, const Shape& features) {
    if (graph_.find_value(name)) return node_error(u, "the value name '" + name + "' is already taken");
    Value value;
    value.name = name;
    value.shape = batched(features);
    value.shape_known = true;
    return graph_.add_value(std::move(value));
  }

  // A state input "<name>@prev" whose content at step t is value `next` of step t - 1.
  Result<ValueId> new_state_input(size_t u, const std::string& next, const Shape& features) {
    FL_ASSIGN_OR_RETURN(ValueId id, new_value(u, next + "@prev", features));
    state_inputs_.push_back(id);
    graph_.state_links.push_back({next + "@prev", next});
    return id;
  }

  Result<ValueId> parameter(size_t u, const std::string& field, const Tensor& values, bool is_parameter = true) {
    const std::string name = nodes_[u].name + "." + field;
    if (graph_.find_value(name)) return node_error(u, "the value name '" + name + "' is already taken");
    Value value;
    value.name = name;
    value.constant = values.dtype() == DType::kFloat32 ? values.clone() : values.cast(DType::kFloat32);
    value.shape = values.shape();
    value.shape_known = true;
    value.is_parameter = is_parameter;
    return graph_.add_value(std::move(value));
  }

  Result<const Tensor*> field(size_t u, const std::string& name) const {
    const auto& arrays = nodes_[u].nir->arrays;
    auto it = arrays.find(name);
    if (it == arrays.end()) {
      if (nodes_[u].nir->strings.count(name)) return node_error(u, "field '" + name + "' holds text, not numbers");
      return node_error(u, "missing field '" + name + "'");
    }
    return &it->second;
  }
  const Tensor* optional_field(size_t u, const std::string& name) const {
    const auto& arrays = nodes_[u].nir->arrays;
    auto it = arrays.find(name);
    return it == arrays.end() ? nullptr : &it->second;
  }

  // An integer field as one entry per spatial axis (a scalar repeats), `fallback` when absent.
  Result<std::vector<int64_t>> per_axis(size_t u, const std::string& name, size_t axes,
                                        std::vector<int64_t> fallback) const {
    const Tensor* t = optional_field(u, name);
    if (t == nullptr) return fallback;
    std::vector<int64_t> values = t->to_int64s();
    if (values.size() == 1) values.assign(axes, values[0]);
    if (values.size() != axes)
      return node_error(
          u, "field '" + name + "' " + ints_to_string(values) + " should have " + std::to_string(axes) + " entries");
    return values;
  }

  NodeId add_node(size_t u, OpKind op, const std::string& name, std::vector<ValueId> inputs,
                  std::vector<ValueId> outputs, OpAttrs attrs = {}) {
    Node node;
    node.op = op;
    node.name = name;
    node.layer = name;
    node.inputs = std::move(inputs);
    node.outputs = std::move(outputs);
    node.attrs = std::move(attrs);
    return graph_.add_node(std::move(node));
  }

  // --- one NIR node ------------------------------------------------------------------------------------
  // The node's input: its predecessors' values, summed when there are several. A delayed (cycle-closing) edge
  // reads "<src>@prev".
  Result<ValueId> input_of(size_t u) {
    std::vector<ValueId> terms;
    for (size_t s : pred_[u]) {
      if (!delayed_.count({s, u})) {
        terms.push_back(output_[s]);
        continue;
      }
      auto it = delay_input_.find(s);
      if (it == delay_input_.end()) {
        Value value;  // shape known once the source is built (resolve_delays)
        value.name = nodes_[s].name + "@prev";
        if (graph_.find_value(value.name)) return node_error(u, "the value name '" + value.name + "' is already taken");
        const ValueId id = graph_.add_value(std::move(value));
        state_inputs_.push_back(id);
        it = delay_input_.emplace(s, id).first;
      }
      terms.push_back(it->second);
    }
    if (terms.empty()) return node_error(u, "has no incoming edge");
    // A delayed term takes the shape of the first direct one (checked against its source in resolve_delays).
    const Shape* shape = nullptr;
    for (ValueId t : terms)
      if (graph_.value(t).shape_known) shape = &graph_.value(t).shape;
    if (shape == nullptr) return node_error(u, "every incoming edge is a delayed (recurrent) one");
    const Shape common = *shape;
    for (ValueId t : terms) {
      Value& v = graph_.value(t);
      if (!v.shape_known) {
        v.shape = common;
        v.shape_known = true;
      } else if (v.shape != common) {
        return node_error(u, "its incoming edges carry different shapes (" + shape_to_string(features_of(v)) + " and " +
                                 shape_to_string(Shape(common.begin() + 1, common.end())) + ")");
      }
    }
    ValueId sum = terms[0];
    for (size_t k = 1; k < terms.size(); ++k) {
      const std::string name = nodes_[u].name + ".sum" + (terms.size() > 2 ? std::to_string(k) : "");
      FL_ASSIGN_OR_RETURN(ValueId out, new_value(u, name, Shape(common.begin() + 1, common.end())));
      add_node(u, OpKind::kAdd, name, {sum, terms[k]}, {out});
      sum = out;
    }
    return sum;
  }

  Status build_node(size_t u) {
    const FlatNode& flat = nodes_[u];
    const std::string& type = flat.nir->type;
    if (type == "Input" && !flat.passthrough) {
      FL_ASSIGN_OR_RETURN(Shape shape, io_shape(u, {"shape", "input_type/input", "input_type"}));
      FL_ASSIGN_OR_RETURN(ValueId id, new_value(u, flat.name, shape));
      data_inputs_.push_back(id);
      output_[u] = id;
      return Status::ok();
    }
    FL_ASSIGN_OR_RETURN(ValueId x, input_of(u));
    if (flat.passthrough) {
      output_[u] = x;
      return Status::ok();
    }
    if (type == "Output") {
      FL_ASSIGN_OR_RETURN(ValueId out, new_value(u, flat.name, features_of(graph_.value(x))));
      add_node(u, OpKind::kIdentity, flat.name, {x}, {out});
      model_outputs_.push_back(out);
      output_[u] = out;
      return Status::ok();
    }
    if (type == "Affine" || type == "Linear") return build_affine(u, x, type == "Affine");
    if (type == "Scale") return build_scale(u, x);
    if (type == "Conv1d" || type == "Conv2d") return build_conv(u, x, type == "Conv1d" ? 1 : 2);
    if (type == "SumPool2d" || type == "AvgPool2d") return build_pool(u, x, type == "SumPool2d");
    if (type == "Flatten") return build_flatten(u, x);
    static const std::map<std::string, OpKind> kNeurons = {{"LIF", OpKind::kLIF},
                                                           {"CubaLIF", OpKind::kCubaLIF},
                                                           {"IF", OpKind::kIF},
                                                           {"LI", OpKind::kLI},
                                                           {"CubaLI", OpKind::kCubaLI},
                                                           {"I", OpKind::kIntegrator},
                                                           {"Threshold", OpKind::kThreshold}};
    if (auto it = kNeurons.find(type); it != kNeurons.end()) return build_neuron(u, x, it->second);
    if (type == "Delay")
      return node_unsupported(u,
                              "Delay nodes are not supported (faultline delays only the edges that close a "
                              "cycle, by one time step)");
    return node_unsupported(u, "node type '" + type + "' is not supported");
  }

  Result<Shape> io_shape(size_t u, std::initializer_list<const char*> names) const {
    for (const char* name : names)
      if (const Tensor* t = optional_field(u, name)) return Shape(t->to_int64s());
    return node_error(u, "has no 'shape' field");
  }

  Status build_affine(size_t u, ValueId x, bool has_bias) {
    FL_ASSIGN_OR_RETURN(const Tensor* weight, field(u, "weight"));
    const Shape in = features_of(graph_.value(x));
    if (weight->rank() != 2) return node_error(u, "weight " + shape_to_string(weight->shape()) + " must be a matrix");
    if (in != Shape{weight->dim(1)})
      return node_error(u, "weight " + shape_to_string(weight->shape()) + " expects a flat input of " +
                               std::to_string(weight->dim(1)) + " features, its input has shape " +
                               shape_to_string(in) + (in.size() > 1 ? " (insert a Flatten)" : ""));
    std::vector<ValueId> inputs = {x};
    FL_ASSIGN_OR_RETURN(ValueId w, parameter(u, "weight", *weight));
    inputs.push_back(w);
    if (has_bias) {
      FL_ASSIGN_OR_RETURN(const Tensor* bias, field(u, "bias"));
      if (bias->numel() != weight->dim(0))
        return node_error(u, "bias " + shape_to_string(bias->shape()) + " should have " +
                                 std::to_string(weight->dim(0)) + " elements");
      FL_ASSIGN_OR_RETURN(Tensor flat, bias->reshaped({weight->dim(0)}));
      FL_ASSIGN_OR_RETURN(ValueId b, parameter(u, "bias", flat));
      inputs.push_back(b);
    }
    FL_ASSIGN_OR_RETURN(ValueId out, new_value(u, nodes_[u].name, {weight->dim(0)}));
    GemmAttrs attrs;
    attrs.trans_b = true;
    add_node(u, OpKind::kGemm, nodes_[u].name, std::move(inputs), {out}, attrs);
    output_[u] = out;
    return Status::ok();
  }

  Status build_scale(size_t u, ValueId x) {
    FL_ASSIGN_OR_RETURN(const Tensor* scale, field(u, "scale"));
    const Shape in = features_of(graph_.value(x));
    if (scale->numel() != 1 && scale->shape() != in)
      return node_error(u, "scale " + shape_to_string(scale->shape()) + " has neither one element nor the input's " +
                               "shape " + shape_to_string(in));
    FL_ASSIGN_OR_RETURN(ValueId s, parameter(u, "scale", *scale));
    FL_ASSIGN_OR_RETURN(ValueId out, new_value(u, nodes_[u].name, in));
    add_node(u, OpKind::kMul, nodes_[u].name, {x, s}, {out});
    output_[u] = out;
    return Status::ok();
  }

  // Explicit pads and the output spatial size of a window over `spatial_in`; padding from field "padding"
  // (ints, or "same" / "valid").
  struct WindowPlan {
    std::vector<int64_t> strides, dilations, pads;
    Shape out;
  };
  Result<WindowPlan> plan_window(size_t u, const Shape& spatial_in, const std::vector<int64_t>& kernel,
                                 std::vector<int64_t> strides, std::vector<int64_t> dilations) {
    const size_t axes = kernel.size();
    AutoPad auto_pad = AutoPad::kNotSet;
    std::vector<int64_t> pads;
    if (auto it = nodes_[u].nir->strings.find("padding"); it != nodes_[u].nir->strings.end()) {
      if (it->second == "same")
        auto_pad = AutoPad::kSameUpper;
      else if (it->second == "valid")
        auto_pad = AutoPad::kValid;
      else
        return node_error(u, "padding '" + it->second + "' is neither a number, \"same\" nor \"valid\"");
    } else {
      FL_ASSIGN_OR_RETURN(std::vector<int64_t> per, per_axis(u, "padding", axes, std::vector<int64_t>(axes, 0)));
      pads = per;
      pads.insert(pads.end(), per.begin(), per.end());
    }
    WindowPlan plan;
    resolve_window(spatial_in, kernel, auto_pad, strides, dilations, pads);
    for (size_t d = 0; d < axes; ++d) {
      if (kernel[d] < 1 || strides[d] < 1 || dilations[d] < 1 || pads[d] < 0 || pads[d + axes] < 0)
        return node_error(u, "kernel " + ints_to_string(kernel) + ", stride " + ints_to_string(strides) +
                                 ", dilation " + ints_to_string(dilations) + " and padding " + ints_to_string(pads) +
                                 " must be positive (padding non-negative)");
      const int64_t size = window_output_size(spatial_in[d], kernel[d], strides[d], dilations[d], pads[d],
                                              pads[d + axes], /*ceil_mode=*/false);
      if (size < 1)
        return node_error(
            u, "the kernel " + ints_to_string(kernel) + " does not fit the input " + shape_to_string(spatial_in));
      plan.out.push_back(size);
    }
    plan.strides = std::move(strides);
    plan.dilations = std::move(dilations);
    plan.pads = std::move(pads);
    return plan;
  }

  Status build_conv(size_t u, ValueId x, size_t axes) {
    FL_ASSIGN_OR_RETURN(const Tensor* weight, field(u, "weight"));
    const Shape in = features_of(graph_.value(x));
    if (weight->rank() != static_cast<int>(axes) + 2)
      return node_error(u,
                        "weight " + shape_to_string(weight->shape()) + " should have rank " + std::to_string(axes + 2));
    if (in.size() != axes + 1)
      return node_error(u, "its input " + shape_to_string(in) + " should be [channels, " +
                               (axes == 1 ? "length]" : "height, width]"));
    const int64_t out_channels = weight->dim(0);
    int64_t groups = 1;
    if (const Tensor* g = optional_field(u, "groups")) groups = g->to_int64s().at(0);
    if (groups < 1 || in[0] != weight->dim(1) * groups || out_channels % groups != 0)
      return node_error(u, "weight " + shape_to_string(weight->shape()) + " with groups " + std::to_string(groups) +
                               " does not fit an input of " + std::to_string(in[0]) + " channels");
    const std::vector<int64_t> kernel(weight->shape().begin() + 2, weight->shape().end());
    FL_ASSIGN_OR_RETURN(std::vector<int64_t> strides, per_axis(u, "stride", axes, std::vector<int64_t>(axes, 1)));
    FL_ASSIGN_OR_RETURN(std::vector<int64_t> dilations, per_axis(u, "dilation", axes, std::vector<int64_t>(axes, 1)));
    FL_ASSIGN_OR_RETURN(WindowPlan window, plan_window(u, Shape(in.begin() + 1, in.end()), kernel, strides, dilations));
    std::vector<ValueId> inputs = {x};
    FL_ASSIGN_OR_RETURN(ValueId w, parameter(u, "weight", *weight));
    inputs.push_back(w);
    if (const Tensor* bias = optional_field(u, "bias")) {
      Tensor values;
      if (bias->numel() == out_channels) {
        FL_ASSIGN_OR_RETURN(values, bias->reshaped({out_channels}));
      } else if (bias->numel() == 1) {
        values = Tensor::from_floats({out_channels}, std::vector<float>(static_cast<size_t>(out_channels),
                                                                        static_cast<float>(bias->to_doubles()[0])));
      } else {
        return node_error(
            u, "bias " + shape_to_string(bias->shape()) + " should have " + std::to_string(out_channels) + " elements");
      }
      FL_ASSIGN_OR_RETURN(ValueId b, parameter(u, "bias", values));
      inputs.push_back(b);
    }
    ConvAttrs attrs;
    attrs.kernel_shape = kernel;
    attrs.strides = window.strides;
    attrs.dilations = window.dilations;
    attrs.pads = window.pads;
    attrs.group = groups;
    Shape out = {out_channels};
    out.insert(out.end(), window.out.begin(), window.out.end());
    FL_ASSIGN_OR_RETURN(ValueId y, new_value(u, nodes_[u].name, out));
    add_node(u, OpKind::kConv, nodes_[u].name, std::move(inputs), {y}, attrs);
    output_[u] = y;
    return Status::ok();
  }

  // SumPool2d: a depthwise Conv over a ones kernel (x * 1 is exact, so the sums are the window's sums in
  // row-major order). AvgPool2d: AveragePool dividing by the kernel size, padding included.
  Status build_pool(size_t u, ValueId x, bool sum) {
    const Shape in = features_of(graph_.value(x));
    if (in.size() != 3)
      return node_error(u, "its input " + shape_to_string(in) + " should be [channels, height, width]");
    FL_ASSIGN_OR_RETURN(const Tensor* kernel_field, field(u, "kernel_size"));
    std::vector<int64_t> kernel = kernel_field->to_int64s();
    if (kernel.size() == 1) kernel.assign(2, kernel[0]);
    if (kernel.size() != 2) return node_error(u, "kernel_size " + ints_to_string(kernel) + " should have 2 entries");
    FL_ASSIGN_OR_RETURN(std::vector<int64_t> strides, per_axis(u, "stride", 2, kernel));
    FL_ASSIGN_OR_RETURN(WindowPlan window, plan_window(u, Shape(in.begin() + 1, in.end()), kernel, strides, {1, 1}));
    Shape out = {in[0], window.out[0], window.out[1]};
    FL_ASSIGN_OR_RETURN(ValueId y, new_value(u, nodes_[u].name, out));
    if (sum) {
      const Shape ones_shape = {in[0], 1, kernel[0], kernel[1]};
      const Tensor ones =
          Tensor::from_floats(ones_shape, std::vector<float>(static_cast<size_t>(numel(ones_shape)), 1.0f));
      FL_ASSIGN_OR_RETURN(ValueId w, parameter(u, "ones", ones, /*is_parameter=*/false));
      ConvAttrs attrs;
      attrs.kernel_shape = kernel;
      attrs.strides = window.strides;
      attrs.dilations = {1, 1};
      attrs.pads = window.pads;
      attrs.group = in[0];
      add_node(u, OpKind::kConv, nodes_[u].name, {x, w}, {y}, attrs);
    } else {
      PoolAttrs attrs;
      attrs.kernel_shape = kernel;
      attrs.strides = window.strides;
      attrs.pads = window.pads;
      attrs.count_include_pad = true;
      add_node(u, OpKind::kAveragePool, nodes_[u].name, {x}, {y}, attrs);
    }
    output_[u] = y;
    return Status::ok();
  }

  Status build_flatten(size_t u, ValueId x) {
    const Shape in = features_of(graph_.value(x));
    const int64_t rank = static_cast<int64_t>(in.size());
    int64_t start = 0, end = -1;
    if (const Tensor* t = optional_field(u, "start_dim")) start = t->to_int64s().at(0);
    if (const Tensor* t = optional_field(u, "end_dim")) end = t->to_int64s().at(0);
    const int64_t first = start < 0 ? start + rank : start;
    const int64_t last = end < 0 ? end + rank : end;
    if (rank == 0 || first < 0 || last >= rank || first > last)
      return node_error(u, "start_dim " + std::to_string(start) + " and end_dim " + std::to_string(end) +
                               " do not select axes of its input " + shape_to_string(in) +
                               " (NIR counts the axes without the batch)");
    Shape out(in.begin(), in.begin() + first);
    out.push_back(numel(Shape(in.begin() + first, in.begin() + last + 1)));
    out.insert(out.end(), in.begin() + last + 1, in.end());
    FL_ASSIGN_OR_RETURN(ValueId y, new_value(u, nodes_[u].name, out));
    ReshapeAttrs attrs;
    attrs.shape = {0};  // the batch axis, copied
    attrs.shape.insert(attrs.shape.end(), out.begin(), out.end());
    attrs.shape_from_input = false;
    add_node(u, OpKind::kReshape, nodes_[u].name, {x}, {y}, attrs);
    output_[u] = y;
    return Status::ok();
  }

  Status build_neuron(size_t u, ValueId x, OpKind op) {
    const std::string& name = nodes_[u].name;
    const NeuronLayout layout = neuron_layout(op);
    const Shape features = features_of(graph_.value(x));
    const int64_t count = numel(features);
    std::vector<ValueId> inputs = {x};
    std::vector<ValueId> outputs;
    if (layout.fires) {
      FL_ASSIGN_OR_RETURN(ValueId spikes, new_value(u, name, features));
      outputs.push_back(spikes);
    }
    for (std::string_view state : layout.states) {
      const std::string next = name + "." + std::string(state);
      FL_ASSIGN_OR_RETURN(ValueId prev, new_state_input(u, next, features));
      inputs.push_back(prev);
      FL_ASSIGN_OR_RETURN(ValueId out, new_value(u, next, features));
      outputs.push_back(out);
    }
    for (std::string_view param_name : layout.params) {
      const std::string field_name(param_name);
      const Tensor* values = optional_field(u, field_name);
      Tensor fallback;
      if (values == nullptr && (field_name == "v_reset" || field_name == "w_in")) {
        // NIR's defaults (nir/ir/neuron.py): zeros / ones shaped like v_threshold (r for CubaLI), one per neuron.
        const Tensor* like = optional_field(u, "v_threshold");
        if (like == nullptr) like = optional_field(u, "r");
        const Shape shape = like != nullptr ? like->shape() : Shape{1};
        fallback = Tensor::from_floats(
            shape, std::vector<float>(static_cast<size_t>(numel(shape)), field_name == "w_in" ? 1.0f : 0.0f));
        values = &fallback;
      }
      if (values == nullptr) return node_error(u, "missing field '" + field_name + "'");
      if (values->numel() != 1 && values->numel() != count)
        return node_error(u, field_name + " " + shape_to_string(values->shape()) + " has neither one element nor one " +
                                 "per neuron of its input " + shape_to_string(features));
      FL_ASSIGN_OR_RETURN(ValueId p, parameter(u, field_name, *values));
      inputs.push_back(p);
    }
    add_node(u, op, name, std::move(inputs), outputs, options_.neuron);
    output_[u] = layout.fires ? outputs.front() : outputs.back();
    return Status::ok();
  }

  // Every delayed edge's "<src>@prev" takes its source's value of the previous step: link it, check shapes.
  Status resolve_delays() {
    for (const auto& [s, id] : delay_input_) {
      const Value& source = graph_.value(output_[s]);
      Value& prev = graph_.value(id);
      if (prev.shape != source.shape)
        return node_error(s, "its recurrent edge carries shape " + shape_to_string(features_of(source)) +
                                 " where the consumer sums shape " + shape_to_string(features_of(prev)));
      graph_.state_links.push_back({prev.name, source.name});
    }
    return Status::ok();
  }

  std::string path_;
  NirImportOptions options_;
  std::vector<FlatNode> nodes_;
  std::vector<std::pair<std::string, std::string>> edges_;
  std::map<std::string, size_t> index_;
  std::vector<std::vector<size_t>> succ_, pred_;
  std::set<std::pair<size_t, size_t>> delayed_;  // (src, dst) edges that close a cycle
  std::map<size_t, ValueId> delay_input_;        // src -> its "<src>@prev" graph input
  std::map<size_t, ValueId> output_;             // node -> the value its successors read
  std::vector<ValueId> data_inputs_, state_inputs_, model_outputs_;
  Graph graph_;
};

}  // namespace

Result<Graph> import_nir_file(const std::string& path, const NirImportOptions& options) {
  FL_ASSIGN_OR_RETURN(NirNode root, read_nir_file(path));
  Flattener flattener(path);
  FL_RETURN_IF_ERROR(flattener.flatten(root, "", "the top-level graph"));
  return Builder(path, options, std::move(flattener.nodes()), std::move(flattener.edges())).build();
}

}  // namespace faultline::nir
