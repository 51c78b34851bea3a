// The Keras layers as engine nodes (see keras_graph_builder.h for the layouts and names).
#include <cmath>
#include <limits>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "frontends/keras/keras_builder.h"

namespace faultline::keras {

namespace {

constexpr int kImageRank = 4;
const std::vector<int> kHwioModelAxes = {2, 3, 1, 0};      // an OIHW kernel seen as Keras' HWIO
const std::vector<int> kHwioToOihw = {3, 2, 0, 1};         // permute_axes: OIHW from HWIO
const std::vector<int> kDepthwiseToEngine = {2, 3, 0, 1};  // [kh, kw, in, m] -> [in, m, kh, kw]
const std::vector<int64_t> kToNchw = {0, 3, 1, 2};
const std::vector<int64_t> kToNhwc = {0, 2, 3, 1};

// --- config reading ---

Result<std::string> string_or(const JsonCursor& config, std::string_view key, const std::string& fallback) {
  std::optional<JsonCursor> v = config.find(key);
  if (!v) return fallback;
  return v->as_string();
}

Result<bool> bool_or(const JsonCursor& config, std::string_view key, bool fallback) {
  std::optional<JsonCursor> v = config.find(key);
  if (!v) return fallback;
  return v->as_bool();
}

Result<double> number_or(const JsonCursor& config, std::string_view key, double fallback) {
  std::optional<JsonCursor> v = config.find(key);
  if (!v) return fallback;
  return v->as_number();
}

Result<int64_t> int_at(const JsonCursor& config, std::string_view key) {
  FL_ASSIGN_OR_RETURN(JsonCursor v, config.at(key));
  return v.as_int();
}

Result<std::vector<int64_t>> pair_or(const JsonCursor& config, std::string_view key, std::vector<int64_t> fallback) {
  std::optional<JsonCursor> v = config.find(key);
  if (!v) return fallback;
  return v->as_int_tuple(2);
}

Status check_channels_last(const JsonCursor& config) {
  FL_ASSIGN_OR_RETURN(std::string format, string_or(config, "data_format", "channels_last"));
  if (format != "channels_last")
    return unsupported("data_format '" + format + "' is not supported (faultline reads channels_last models)");
  return Status::ok();
}

Status check_rank(const KerasTensor& x, int rank, const std::string& what) {
  if (x.rank != rank)
    return unsupported(what + " needs a rank-" + std::to_string(rank) + " input (batch included), got rank " +
                       std::to_string(x.rank));
  return Status::ok();
}

Result<AutoPad> padding_of(const JsonCursor& config) {
  FL_ASSIGN_OR_RETURN(std::string padding, string_or(config, "padding", "valid"));
  if (padding == "valid") return AutoPad::kValid;
  if (padding == "same") return AutoPad::kSameUpper;  // TensorFlow's SAME puts the odd pixel at the end
  return unsupported("padding '" + padding + "' is not supported (valid, same)");
}

// The Keras axis `axis` (negative from the end) of a rank-`rank` tensor as an axis of the graph's value.
Result<int64_t> graph_axis(int64_t axis, int rank) {
  const int64_t normalized = axis < 0 ? axis + rank : axis;
  if (normalized < 0 || normalized >= rank)
    return out_of_range("axis " + std::to_string(axis) + " is out of range for a rank-" + std::to_string(rank) +
                        " tensor");
  if (rank != kImageRank) return normalized;
  constexpr int64_t kNhwcToNchwAxis[kImageRank] = {0, 2, 3, 1};
  return kNhwcToNchwAxis[normalized];
}

// The activation named by a layer config value: a string, or Keras 3's serialized function object.
Result<std::string> activation_name(const JsonCursor& value) {
  if (value.value().is_null()) return std::string("linear");
  if (value.value().is_string()) return value.as_string();
  if (std::optional<JsonCursor> config = value.find("config"); config && config->value().is_string())
    return config->as_string();
  if (std::optional<JsonCursor> name = value.find("registered_name"); name && name->value().is_string())
    return name->as_string();
  return value.error("expected an activation name");
}

// --- checks of weights against the config ---

Status check_shape(const LayerWeight& w, const Shape& expected) {
  if (w.value->shape() != expected)
    return invalid_argument("weight '" + w.name + "' has shape " + shape_to_string(w.value->shape()) +
                            ", the layer config implies " + shape_to_string(expected));
  return Status::ok();
}

Status check_rank4(const LayerWeight& w) {
  if (w.value->rank() != kImageRank)
    return invalid_argument("weight '" + w.name + "' has shape " + shape_to_string(w.value->shape()) +
                            ", expected a 4-D kernel");
  return Status::ok();
}

// --- the translations ---

class Translator {
 public:
  Translator(KerasGraphBuilder& builder, const LayerCall& call)
      : b_(builder), call_(call), config_(call.layer->config) {}

  Result<KerasTensor> run() {
    using Handler = Result<KerasTensor> (Translator::*)();
    static const std::unordered_map<std::string, Handler> kHandlers = {
        {"Conv2D", &Translator::conv2d},
        {"Convolution2D", &Translator::conv2d},
        {"DepthwiseConv2D", &Translator::depthwise_conv2d},
        {"SeparableConv2D", &Translator::separable_conv2d},
        {"SeparableConvolution2D", &Translator::separable_conv2d},
        {"Dense", &Translator::dense},
        {"BatchNormalization", &Translator::batch_normalization},
        {"Activation", &Translator::activation_layer},
        {"ReLU", &Translator::relu_layer},
        {"LeakyReLU", &Translator::leaky_relu_layer},
        {"Softmax", &Translator::softmax_layer},
        {"MaxPooling2D", &Translator::max_pool},
        {"MaxPool2D", &Translator::max_pool},
        {"AveragePooling2D", &Translator::average_pool},
        {"AvgPool2D", &Translator::average_pool},
        {"GlobalAveragePooling2D", &Translator::global_average_pool},
        {"GlobalAvgPool2D", &Translator::global_average_pool},
        {"GlobalMaxPooling2D", &Translator::global_max_pool},
        {"GlobalMaxPool2D", &Translator::global_max_pool},
        {"Flatten", &Translator::flatten},
        {"Dropout", &Translator::pass_through},
        {"SpatialDropout2D", &Translator::pass_through},
        {"ZeroPadding2D", &Translator::zero_padding},
        {"Reshape", &Translator::reshape},
        {"Add", &Translator::add},
        {"Subtract", &Translator::subtract},
        {"Multiply", &Translator::multiply},
        {"Concatenate", &Translator::concatenate},
    };
    auto handler = kHandlers.find(call_.layer->class_name);
    if (handler == kHandlers.end()) return unsupported("unsupported layer class '" + call_.layer->class_name + "'");
    const bool merge = call_.layer->class_name == "Add" || call_.layer->class_name == "Subtract" ||
                       call_.layer->class_name == "Multiply" || call_.layer->class_name == "Concatenate";
    if (!merge && call_.inputs.size() != 1)
      return unsupported("called on " + std::to_string(call_.inputs.size()) + " tensors; this layer takes one");
    return (this->*handler->second)();
  }

 private:
  const KerasTensor& x() const { return call_.inputs.front(); }

  // The fused activation of a layer (config key "activation") after `y`.
  Result<KerasTensor> fused_activation(KerasTensor y) {
    std::optional<JsonCursor> spec = config_.find("activation");
    if (!spec) return y;
    FL_ASSIGN_OR_RETURN(std::string name, activation_name(*spec));
    return activation(y, name, /*standalone=*/false);
  }

  // `name` applied to `y`. A standalone Activation layer names its last node as the layer; a fused one
  // names it "<layer>/<Op>".
  Result<KerasTensor> activation(KerasTensor y, const std::string& name, bool standalone) {
    auto role = [&](const std::string& op) { return standalone ? std::string() : op; };
    if (name == "linear") {
      if (!standalone) return y;
      return unsupported("a standalone 'linear' activation computes nothing; leave the layer out");
    }
    if (name == "relu") return b_.emit(call_, OpKind::kRelu, {y.id}, {}, y.rank, role("Relu"));
    if (name == "relu6") {
      ClipAttrs clip;
      clip.min = 0.0f;
      clip.max = 6.0f;
      return b_.emit(call_, OpKind::kClip, {y.id}, clip, y.rank, role("Relu6"));
    }
    if (name == "tanh") return b_.emit(call_, OpKind::kTanh, {y.id}, {}, y.rank, role("Tanh"));
    if (name == "sigmoid") return b_.emit(call_, OpKind::kSigmoid, {y.id}, {}, y.rank, role("Sigmoid"));
    if (name == "softmax") return softmax(y, -1, role("Softmax"));
    if (name == "swish" || name == "silu") {
      FL_ASSIGN_OR_RETURN(KerasTensor s, b_.emit(call_, OpKind::kSigmoid, {y.id}, {}, y.rank, "Sigmoid"));
      return b_.emit(call_, OpKind::kMul, {y.id, s.id}, {}, y.rank, role("swish"));
    }
    return unsupported("unsupported activation '" + name +
                       "' (faultline supports linear, relu, relu6, tanh, sigmoid, softmax, swish / silu)");
  }

  Result<KerasTensor> softmax(KerasTensor y, int64_t axis, const std::string& role) {
    SoftmaxAttrs attrs;
    FL_ASSIGN_OR_RETURN(attrs.axis, graph_axis(axis, y.rank));
    return b_.emit(call_, OpKind::kSoftmax, {y.id}, attrs, y.rank, role);
  }

  // A Conv node on `input` with an OIHW kernel value, and the common Keras conv options.
  Result<KerasTensor> conv_node(ValueId input, ValueId kernel, ValueId bias, const std::vector<int64_t>& kernel_size,
                                int64_t group, const std::string& role, bool with_options = true) {
    ConvAttrs attrs;
    attrs.kernel_shape = kernel_size;
    attrs.group = group;
    if (with_options) {
      FL_ASSIGN_OR_RETURN(attrs.strides, pair_or(config_, "strides", {1, 1}));
      FL_ASSIGN_OR_RETURN(attrs.dilations, pair_or(config_, "dilation_rate", {1, 1}));
      FL_ASSIGN_OR_RETURN(attrs.auto_pad, padding_of(config_));
    } else {
      attrs.auto_pad = AutoPad::kValid;
    }
    std::vector<ValueId> inputs = {input, kernel};
    if (bias != kNoValue) inputs.push_back(bias);
    return b_.emit(call_, OpKind::kConv, std::move(inputs), attrs, kImageRank, role);
  }

  Result<KerasTensor> conv2d() {
    FL_RETURN_IF_ERROR(check_rank(x(), kImageRank, "Conv2D"));
    FL_RETURN_IF_ERROR(check_channels_last(config_));
    FL_ASSIGN_OR_RETURN(JsonCursor size, config_.at("kernel_size"));
    FL_ASSIGN_OR_RETURN(std::vector<int64_t> kernel_size, size.as_int_tuple(2));
    FL_ASSIGN_OR_RETURN(int64_t filters, int_at(config_, "filters"));
    FL_ASSIGN_OR_RETURN(bool use_bias, bool_or(config_, "use_bias", true));
    std::optional<JsonCursor> groups_value = config_.find("groups");
    int64_t groups = 1;
    if (groups_value) {
      FL_ASSIGN_OR_RETURN(groups, groups_value->as_int());
    }
    FL_ASSIGN_OR_RETURN(
        std::vector<LayerWeight> w,
        b_.weights(call_, use_bias ? std::vector<std::string>{"kernel", "bias"} : std::vector<std::string>{"kernel"}));
    FL_RETURN_IF_ERROR(check_rank4(w[0]));
    FL_RETURN_IF_ERROR(check_shape(w[0], {kernel_size[0], kernel_size[1], w[0].value->dim(2), filters}));
    const ValueId kernel = b_.parameter(w[0], permute_axes(*w[0].value, kHwioToOihw), kHwioModelAxes);
    ValueId bias = kNoValue;
    if (use_bias) {
      FL_RETURN_IF_ERROR(check_shape(w[1], {filters}));
      bias = b_.parameter(w[1], w[1].value->clone());
    }
    FL_ASSIGN_OR_RETURN(KerasTensor y, conv_node(x().id, kernel, bias, kernel_size, groups, ""));
    return fused_activation(y);
  }

  // A depthwise kernel [kh, kw, in, m] as the engine's grouped-conv weight [in*m, 1, kh, kw] (output channel
  // c*m + j, as TensorFlow orders them). Its fault-site shape is [kh, kw, in*m, 1]: the same flat order as Keras'
  // [kh, kw, in, m], so a flat index or, for m = 1, a 4-D index names the same weight.
  Result<ValueId> depthwise_kernel(const LayerWeight& w, const std::vector<int64_t>& kernel_size, int64_t multiplier) {
    FL_RETURN_IF_ERROR(check_rank4(w));
    FL_RETURN_IF_ERROR(check_shape(w, {kernel_size[0], kernel_size[1], w.value->dim(2), multiplier}));
    Tensor engine = permute_axes(*w.value, kDepthwiseToEngine);
    const int64_t channels = w.value->dim(2);
    FL_ASSIGN_OR_RETURN(engine, engine.reshaped({channels * multiplier, 1, kernel_size[0], kernel_size[1]}));
    return b_.parameter(w, std::move(engine), kHwioModelAxes);
  }

  Result<KerasTensor> depthwise_conv2d() {
    FL_RETURN_IF_ERROR(check_rank(x(), kImageRank, "DepthwiseConv2D"));
    FL_RETURN_IF_ERROR(check_channels_last(config_));
    FL_ASSIGN_OR_RETURN(JsonCursor size, config_.at("kernel_size"));
    FL_ASSIGN_OR_RETURN(std::vector<int64_t> kernel_size, size.as_int_tuple(2));
    FL_ASSIGN_OR_RETURN(double multiplier_value, number_or(config_, "depth_multiplier", 1));
    const auto multiplier = static_cast<int64_t>(multiplier_value);
    FL_ASSIGN_OR_RETURN(bool use_bias, bool_or(config_, "use_bias", true));
    // tf.keras names the kernel depthwise_kernel, Keras 3 kernel.
    const std::string kernel_name = b_.keras3() ? "kernel" : "depthwise_kernel";
    FL_ASSIGN_OR_RETURN(std::vector<LayerWeight> w,
                        b_.weights(call_, use_bias ? std::vector<std::string>{kernel_name, "bias"}
                                                   : std::vector<std::string>{kernel_name}));
    FL_ASSIGN_OR_RETURN(ValueId kernel, depthwise_kernel(w[0], kernel_size, multiplier));
    const int64_t channels = w[0].value->dim(2);
    ValueId bias = kNoValue;
    if (use_bias) {
      FL_RETURN_IF_ERROR(check_shape(w[1], {channels * multiplier}));
      bias = b_.parameter(w[1], w[1].value->clone());
    }
    FL_ASSIGN_OR_RETURN(KerasTensor y, conv_node(x().id, kernel, bias, kernel_size, channels, ""));
    return fused_activation(y);
  }

  Result<KerasTensor> separable_conv2d() {
    FL_RETURN_IF_ERROR(check_rank(x(), kImageRank, "SeparableConv2D"));
    FL_RETURN_IF_ERROR(check_channels_last(config_));
    FL_ASSIGN_OR_RETURN(JsonCursor size, config_.at("kernel_size"));
    FL_ASSIGN_OR_RETURN(std::vector<int64_t> kernel_size, size.as_int_tuple(2));
    FL_ASSIGN_OR_RETURN(int64_t filters, int_at(config_, "filters"));
    FL_ASSIGN_OR_RETURN(double multiplier_value, number_or(config_, "depth_multiplier", 1));
    const auto multiplier = static_cast<int64_t>(multiplier_value);
    FL_ASSIGN_OR_RETURN(bool use_bias, bool_or(config_, "use_bias", true));
    std::vector<std::string> names = {"depthwise_kernel", "pointwise_kernel"};
    if (use_bias) names.push_back("bias");
    FL_ASSIGN_OR_RETURN(std::vector<LayerWeight> w, b_.weights(call_, names));
    FL_ASSIGN_OR_RETURN(ValueId depthwise, depthwise_kernel(w[0], kernel_size, multiplier));
    const int64_t channels = w[0].value->dim(2);
    FL_RETURN_IF_ERROR(check_shape(w[1], {1, 1, channels * multiplier, filters}));
    const ValueId pointwise = b_.parameter(w[1], permute_axes(*w[1].value, kHwioToOihw), kHwioModelAxes);
    ValueId bias = kNoValue;
    if (use_bias) {
      FL_RETURN_IF_ERROR(check_shape(w[2], {filters}));
      bias = b_.parameter(w[2], w[2].value->clone());
    }
    FL_ASSIGN_OR_RETURN(KerasTensor d, conv_node(x().id, depthwise, kNoValue, kernel_size, channels, "depthwise"));
    FL_ASSIGN_OR_RETURN(KerasTensor y, conv_node(d.id, pointwise, bias, {1, 1}, 1, "", /*with_options=*/false));
    return fused_activation(y);
  }

  Result<KerasTensor> dense() {
    FL_RETURN_IF_ERROR(check_rank(x(), 2, "Dense"));
    FL_ASSIGN_OR_RETURN(int64_t units, int_at(config_, "units"));
    FL_ASSIGN_OR_RETURN(bool use_bias, bool_or(config_, "use_bias", true));
    FL_ASSIGN_OR_RETURN(
        std::vector<LayerWeight> w,
        b_.weights(call_, use_bias ? std::vector<std::string>{"kernel", "bias"} : std::vector<std::string>{"kernel"}));
    if (w[0].value->rank() != 2 || w[0].value->dim(1) != units)
      return invalid_argument("weight '" + w[0].name + "' has shape " + shape_to_string(w[0].value->shape()) +
                              ", expected [inputs, " + std::to_string(units) + "]");
    std::vector<ValueId> inputs = {x().id, b_.parameter(w[0], w[0].value->clone())};
    if (use_bias) {
      FL_RETURN_IF_ERROR(check_shape(w[1], {units}));
      inputs.push_back(b_.parameter(w[1], w[1].value->clone()));
    }
    FL_ASSIGN_OR_RETURN(KerasTensor y, b_.emit(call_, OpKind::kGemm, std::move(inputs), GemmAttrs{}, 2));
    return fused_activation(y);
  }

  Result<KerasTensor> batch_normalization() {
    int64_t axis = -1;
    if (std::optional<JsonCursor> axis_value = config_.find("axis")) {
      if (axis_value->value().is_array()) {
        if (axis_value->size() != 1) return axis_value->error("normalization over several axes is not supported");
        FL_ASSIGN_OR_RETURN(axis, axis_value->item(0).as_int());
      } else {
        FL_ASSIGN_OR_RETURN(axis, axis_value->as_int());
      }
    }
    if ((axis < 0 ? axis + x().rank : axis) != x().rank - 1)
      return unsupported("normalization over axis " + std::to_string(axis) + " (faultline normalizes the last axis)");
    FL_ASSIGN_OR_RETURN(bool center, bool_or(config_, "center", true));
    FL_ASSIGN_OR_RETURN(bool scale, bool_or(config_, "scale", true));
    FL_ASSIGN_OR_RETURN(double epsilon, number_or(config_, "epsilon", 1e-3));
    std::vector<std::string> names;
    if (scale) names.push_back("gamma");
    if (center) names.push_back("beta");
    names.push_back("moving_mean");
    names.push_back("moving_variance");
    FL_ASSIGN_OR_RETURN(std::vector<LayerWeight> w, b_.weights(call_, names));
    const LayerWeight& mean = w[w.size() - 2];
    const int64_t channels = mean.value->numel();
    for (const LayerWeight& each : w) FL_RETURN_IF_ERROR(check_shape(each, {channels}));
    size_t next = 0;
    const ValueId gamma = scale ? b_.parameter(w[next++], w[0].value->clone())  // gamma is first when present
                                : b_.constant(call_.layer->name + "/gamma_ones",
                                              Tensor::from_floats({channels}, std::vector<float>(channels, 1.0f)));
    const ValueId beta = center ? b_.parameter(w[next], w[next].value->clone())
                                : b_.constant(call_.layer->name + "/beta_zeros",
                                              Tensor::from_floats({channels}, std::vector<float>(channels, 0.0f)));
    if (center) ++next;
    const ValueId mean_id = b_.parameter(w[next], w[next].value->clone());
    const ValueId variance = b_.parameter(w[next + 1], w[next + 1].value->clone());
    BatchNormAttrs attrs;
    attrs.epsilon = static_cast<float>(epsilon);
    return b_.emit(call_, OpKind::kBatchNormalization, {x().id, gamma, beta, mean_id, variance}, attrs, x().rank);
  }

  Result<KerasTensor> activation_layer() {
    FL_ASSIGN_OR_RETURN(JsonCursor spec, config_.at("activation"));
    FL_ASSIGN_OR_RETURN(std::string name, activation_name(spec));
    return activation(x(), name, /*standalone=*/true);
  }

  Result<KerasTensor> relu_layer() {
    double max_value = std::numeric_limits<double>::infinity();
    if (std::optional<JsonCursor> v = config_.find("max_value")) {
      FL_ASSIGN_OR_RETURN(max_value, v->as_number());
    }
    FL_ASSIGN_OR_RETURN(double slope, number_or(config_, "negative_slope", 0.0));
    FL_ASSIGN_OR_RETURN(double threshold, number_or(config_, "threshold", 0.0));
    if (threshold != 0.0) return unsupported("ReLU with threshold != 0 is not supported");
    if (slope != 0.0) {
      if (std::isfinite(max_value)) return unsupported("ReLU with both max_value and negative_slope is not supported");
      LeakyReluAttrs attrs;
      attrs.alpha = static_cast<float>(slope);
      return b_.emit(call_, OpKind::kLeakyRelu, {x().id}, attrs, x().rank);
    }
    if (!std::isfinite(max_value)) return b_.emit(call_, OpKind::kRelu, {x().id}, {}, x().rank);
    ClipAttrs clip;
    clip.min = 0.0f;
    clip.max = static_cast<float>(max_value);
    return b_.emit(call_, OpKind::kClip, {x().id}, clip, x().rank);
  }

  Result<KerasTensor> leaky_relu_layer() {
    // tf.keras: alpha (default 0.3); Keras 3: negative_slope (default 0.3).
    FL_ASSIGN_OR_RETURN(double alpha, number_or(config_, "alpha", 0.3));
    FL_ASSIGN_OR_RETURN(alpha, number_or(config_, "negative_slope", alpha));
    LeakyReluAttrs attrs;
    attrs.alpha = static_cast<float>(alpha);
    return b_.emit(call_, OpKind::kLeakyRelu, {x().id}, attrs, x().rank);
  }

  Result<KerasTensor> softmax_layer() {
    int64_t axis = -1;
    if (std::optional<JsonCursor> v = config_.find("axis")) {
      FL_ASSIGN_OR_RETURN(axis, v->as_int());
    }
    return softmax(x(), axis, "");
  }

  Result<KerasTensor> pool(OpKind op, const char* what) {
    FL_RETURN_IF_ERROR(check_rank(x(), kImageRank, what));
    FL_RETURN_IF_ERROR(check_channels_last(config_));
    PoolAttrs attrs;
    FL_ASSIGN_OR_RETURN(attrs.kernel_shape, pair_or(config_, "pool_size", {2, 2}));
    FL_ASSIGN_OR_RETURN(attrs.strides, pair_or(config_, "strides", attrs.kernel_shape));
    FL_ASSIGN_OR_RETURN(attrs.auto_pad, padding_of(config_));
    attrs.count_include_pad = false;  // TensorFlow averages over the pixels inside the image
    return b_.emit(call_, op, {x().id}, attrs, kImageRank);
  }
  Result<KerasTensor> max_pool() { return pool(OpKind::kMaxPool, "MaxPooling2D"); }
  Result<KerasTensor> average_pool() { return pool(OpKind::kAveragePool, "AveragePooling2D"); }

  Result<KerasTensor> global_pool(OpKind op, const char* what) {
    FL_RETURN_IF_ERROR(check_rank(x(), kImageRank, what));
    FL_RETURN_IF_ERROR(check_channels_last(config_));
    FL_ASSIGN_OR_RETURN(bool keepdims, bool_or(config_, "keepdims", false));
    if (keepdims) return b_.emit(call_, op, {x().id}, {}, kImageRank);
    FL_ASSIGN_OR_RETURN(KerasTensor pooled, b_.emit(call_, op, {x().id}, {}, kImageRank, "pool"));
    return b_.emit(call_, OpKind::kFlatten, {pooled.id}, FlattenAttrs{1}, 2);
  }
  Result<KerasTensor> global_average_pool() {
    return global_pool(OpKind::kGlobalAveragePool, "GlobalAveragePooling2D");
  }
  Result<KerasTensor> global_max_pool() { return global_pool(OpKind::kGlobalMaxPool, "GlobalMaxPooling2D"); }

  // A rank-4 tensor in Keras' NHWC order (a Transpose node); others as they are.
  Result<ValueId> channels_last(const KerasTensor& t) {
    if (t.rank != kImageRank) return t.id;
    FL_ASSIGN_OR_RETURN(KerasTensor nhwc, b_.emit(call_, OpKind::kTranspose, {t.id}, TransposeAttrs{kToNhwc},
                                                  kImageRank, "to_nhwc", /*channels_first=*/false));
    return nhwc.id;
  }

  Result<KerasTensor> flatten() {
    FL_RETURN_IF_ERROR(check_channels_last(config_));
    FL_ASSIGN_OR_RETURN(ValueId input, channels_last(x()));
    return b_.emit(call_, OpKind::kFlatten, {input}, FlattenAttrs{1}, 2);
  }

  Result<KerasTensor> reshape() {
    FL_ASSIGN_OR_RETURN(JsonCursor target, config_.at("target_shape"));
    FL_ASSIGN_OR_RETURN(std::vector<JsonCursor> dims, target.as_array());
    ReshapeAttrs attrs;
    attrs.shape_from_input = false;
    attrs.shape.push_back(0);  // the batch, copied
    for (const JsonCursor& dim : dims) {
      FL_ASSIGN_OR_RETURN(int64_t d, dim.as_int());
      if (d == 0 || d < -1) return dim.error("expected a positive size or -1");
      attrs.shape.push_back(d);
    }
    const int rank = static_cast<int>(attrs.shape.size());
    FL_ASSIGN_OR_RETURN(ValueId input, channels_last(x()));
    if (rank != kImageRank) return b_.emit(call_, OpKind::kReshape, {input}, attrs, rank);
    FL_ASSIGN_OR_RETURN(KerasTensor nhwc, b_.emit(call_, OpKind::kReshape, {input}, attrs, rank, "reshape",
                                                  /*channels_first=*/false));
    return b_.emit(call_, OpKind::kTranspose, {nhwc.id}, TransposeAttrs{kToNchw}, kImageRank);
  }

  Result<KerasTensor> pass_through() { return x(); }

  Result<KerasTensor> zero_padding() {
    FL_RETURN_IF_ERROR(check_rank(x(), kImageRank, "ZeroPadding2D"));
    FL_RETURN_IF_ERROR(check_channels_last(config_));
    int64_t top = 1, bottom = 1, left = 1, right = 1;
    if (std::optional<JsonCursor> padding = config_.find("padding")) {
      const JsonValue& v = padding->value();
      if (v.is_array() && v.items().size() == 2 && v.items()[0].is_array()) {
        FL_ASSIGN_OR_RETURN(std::vector<int64_t> rows, padding->item(0).as_int_tuple(2));
        FL_ASSIGN_OR_RETURN(std::vector<int64_t> cols, padding->item(1).as_int_tuple(2));
        top = rows[0], bottom = rows[1], left = cols[0], right = cols[1];
      } else {
        FL_ASSIGN_OR_RETURN(std::vector<int64_t> sym, padding->as_int_tuple(2));
        top = bottom = sym[0];
        left = right = sym[1];
      }
    }
    PadAttrs attrs;
    attrs.pads = {0, 0, top, left, 0, 0, bottom, right};
    return b_.emit(call_, OpKind::kPad, {x().id}, attrs, kImageRank);
  }

  Status check_same_ranks() const {
    if (call_.inputs.size() < 2)
      return invalid_argument("a merge layer needs at least 2 inputs, got " + std::to_string(call_.inputs.size()));
    for (const KerasTensor& t : call_.inputs)
      if (t.rank != x().rank) return unsupported("inputs of different ranks");
    return Status::ok();
  }

  // ((x0 op x1) op x2) ...: the last node is named as the layer.
  Result<KerasTensor> chain(OpKind op) {
    FL_RETURN_IF_ERROR(check_same_ranks());
    KerasTensor acc = call_.inputs[0];
    for (size_t i = 1; i < call_.inputs.size(); ++i) {
      const bool last = i + 1 == call_.inputs.size();
      FL_ASSIGN_OR_RETURN(acc, b_.emit(call_, op, {acc.id, call_.inputs[i].id}, {}, acc.rank,
                                       last ? "" : "partial_" + std::to_string(i)));
    }
    return acc;
  }
  Result<KerasTensor> add() { return chain(OpKind::kAdd); }
  Result<KerasTensor> multiply() { return chain(OpKind::kMul); }
  Result<KerasTensor> subtract() {
    if (call_.inputs.size() != 2) return invalid_argument("Subtract takes exactly 2 inputs");
    return chain(OpKind::kSub);
  }

  Result<KerasTensor> concatenate() {
    FL_RETURN_IF_ERROR(check_same_ranks());
    int64_t axis = -1;
    if (std::optional<JsonCursor> v = config_.find("axis")) {
      FL_ASSIGN_OR_RETURN(axis, v->as_int());
    }
    ConcatAttrs attrs;
    FL_ASSIGN_OR_RETURN(attrs.axis, graph_axis(axis, x().rank));
    if (attrs.axis == 0) return unsupported("concatenation over the batch axis");
    std::vector<ValueId> inputs;
    for (const KerasTensor& t : call_.inputs) inputs.push_back(t.id);
    return b_.emit(call_, OpKind::kConcat, std::move(inputs), attrs, x().rank);
  }

  KerasGraphBuilder& b_;
  const LayerCall& call_;
  const JsonCursor& config_;
};

}  // namespace

Result<KerasTensor> translate_layer(KerasGraphBuilder& builder, const LayerCall& call) {
  return Translator(builder, call).run();
}

}  // namespace faultline::keras
