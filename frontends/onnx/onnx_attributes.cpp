#include "frontends/onnx/onnx_attributes.h"

#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "frontends/onnx/onnx_tensor.h"

namespace faultline {

namespace {

using AttributeType = onnx::AttributeProto::AttributeType;

// Typed, defaulted access to a node's attributes. An attribute of the wrong type is an error; an absent one
// gives the default.
class AttributeReader {
 public:
  explicit AttributeReader(const onnx::NodeProto& node) : node_(node) {}

  const onnx::AttributeProto* find(std::string_view name) const {
    for (const onnx::AttributeProto& attribute : node_.attribute())
      if (attribute.name() == name) return &attribute;
    return nullptr;
  }
  bool has(std::string_view name) const { return find(name) != nullptr; }

  Result<int64_t> get_int(std::string_view name, int64_t fallback) const {
    const onnx::AttributeProto* attribute = find(name);
    if (!attribute) return fallback;
    FL_RETURN_IF_ERROR(check_type(*attribute, onnx::AttributeProto::INT, attribute->has_i()));
    return attribute->i();
  }
  Result<float> get_float(std::string_view name, float fallback) const {
    const onnx::AttributeProto* attribute = find(name);
    if (!attribute) return fallback;
    FL_RETURN_IF_ERROR(check_type(*attribute, onnx::AttributeProto::FLOAT, attribute->has_f()));
    return attribute->f();
  }
  Result<std::string> get_string(std::string_view name, std::string fallback) const {
    const onnx::AttributeProto* attribute = find(name);
    if (!attribute) return fallback;
    FL_RETURN_IF_ERROR(check_type(*attribute, onnx::AttributeProto::STRING, attribute->has_s()));
    return attribute->s();
  }
  // Empty when absent.
  Result<std::vector<int64_t>> get_ints(std::string_view name) const {
    const onnx::AttributeProto* attribute = find(name);
    if (!attribute) return std::vector<int64_t>{};
    FL_RETURN_IF_ERROR(check_type(*attribute, onnx::AttributeProto::INTS, true));
    return std::vector<int64_t>(attribute->ints().begin(), attribute->ints().end());
  }
  Result<std::vector<float>> get_floats(std::string_view name) const {
    const onnx::AttributeProto* attribute = find(name);
    if (!attribute) return std::vector<float>{};
    FL_RETURN_IF_ERROR(check_type(*attribute, onnx::AttributeProto::FLOATS, true));
    return std::vector<float>(attribute->floats().begin(), attribute->floats().end());
  }
  Result<std::vector<int64_t>> require_ints(std::string_view name) const {
    if (!has(name)) return missing(name);
    return get_ints(name);
  }
  Result<int64_t> require_int(std::string_view name) const {
    if (!has(name)) return missing(name);
    return get_int(name, 0);
  }
  // Null when absent.
  Result<const onnx::TensorProto*> get_tensor(std::string_view name) const {
    const onnx::AttributeProto* attribute = find(name);
    if (!attribute) return static_cast<const onnx::TensorProto*>(nullptr);
    FL_RETURN_IF_ERROR(check_type(*attribute, onnx::AttributeProto::TENSOR, attribute->has_t()));
    return &attribute->t();
  }
  Result<bool> get_flag(std::string_view name, bool fallback) const {
    FL_ASSIGN_OR_RETURN(int64_t value, get_int(name, fallback ? 1 : 0));
    return value != 0;
  }

 private:
  // Old exporters leave `type` unset; then the presence of the field decides.
  static Status check_type(const onnx::AttributeProto& attribute, AttributeType expected, bool field_present) {
    if (attribute.type() == expected || (attribute.type() == onnx::AttributeProto::UNDEFINED && field_present))
      return Status::ok();
    return invalid_argument("attribute '" + attribute.name() + "' should be of type " +
                            onnx::AttributeProto::AttributeType_Name(expected) + ", not " +
                            onnx::AttributeProto::AttributeType_Name(attribute.type()));
  }
  static Status missing(std::string_view name) {
    return invalid_argument("required attribute '" + std::string(name) + "' is missing");
  }
  const onnx::NodeProto& node_;
};

Result<AutoPad> read_auto_pad(const AttributeReader& reader) {
  FL_ASSIGN_OR_RETURN(std::string text, reader.get_string("auto_pad", "NOTSET"));
  if (text == "NOTSET" || text.empty()) return AutoPad::kNotSet;
  if (text == "SAME_UPPER") return AutoPad::kSameUpper;
  if (text == "SAME_LOWER") return AutoPad::kSameLower;
  if (text == "VALID") return AutoPad::kValid;
  return invalid_argument("attribute 'auto_pad' is '" + text + "', not one of NOTSET, SAME_UPPER, SAME_LOWER, VALID");
}

// kernel_shape / strides / dilations / pads must agree on the number of spatial axes.
Status check_window(const std::vector<int64_t>& kernel_shape, const std::vector<int64_t>& strides,
                    const std::vector<int64_t>& dilations, const std::vector<int64_t>& pads) {
  for (int64_t value : kernel_shape)
    if (value <= 0) return invalid_argument("attribute 'kernel_shape' has a non-positive entry");
  for (int64_t value : strides)
    if (value <= 0) return invalid_argument("attribute 'strides' has a non-positive entry");
  for (int64_t value : dilations)
    if (value <= 0) return invalid_argument("attribute 'dilations' has a non-positive entry");
  for (int64_t value : pads)
    if (value < 0) return invalid_argument("attribute 'pads' has a negative entry");
  size_t axes = kernel_shape.size();
  if (axes == 0) axes = !strides.empty() ? strides.size() : !dilations.empty() ? dilations.size() : pads.size() / 2;
  if ((!strides.empty() && strides.size() != axes) || (!dilations.empty() && dilations.size() != axes) ||
      (!pads.empty() && pads.size() != 2 * axes))
    return invalid_argument(
        "attributes kernel_shape, strides, dilations and pads disagree on the number of "
        "spatial axes");
  return Status::ok();
}

Result<OpAttrs> convert_conv(const AttributeReader& reader) {
  ConvAttrs attrs;
  FL_ASSIGN_OR_RETURN(attrs.kernel_shape, reader.get_ints("kernel_shape"));
  FL_ASSIGN_OR_RETURN(attrs.strides, reader.get_ints("strides"));
  FL_ASSIGN_OR_RETURN(attrs.dilations, reader.get_ints("dilations"));
  FL_ASSIGN_OR_RETURN(attrs.pads, reader.get_ints("pads"));
  FL_ASSIGN_OR_RETURN(attrs.group, reader.get_int("group", 1));
  FL_ASSIGN_OR_RETURN(attrs.auto_pad, read_auto_pad(reader));
  if (attrs.group < 1) return invalid_argument("attribute 'group' must be at least 1");
  FL_RETURN_IF_ERROR(check_window(attrs.kernel_shape, attrs.strides, attrs.dilations, attrs.pads));
  return OpAttrs(std::move(attrs));
}

Result<OpAttrs> convert_pool(OpKind op, const AttributeReader& reader, int64_t opset) {
  PoolAttrs attrs;
  FL_ASSIGN_OR_RETURN(attrs.kernel_shape, reader.require_ints("kernel_shape"));
  if (attrs.kernel_shape.empty()) return invalid_argument("attribute 'kernel_shape' is empty");
  FL_ASSIGN_OR_RETURN(attrs.strides, reader.get_ints("strides"));
  FL_ASSIGN_OR_RETURN(attrs.pads, reader.get_ints("pads"));
  FL_ASSIGN_OR_RETURN(attrs.auto_pad, read_auto_pad(reader));
  if (opset >= 10) {
    FL_ASSIGN_OR_RETURN(attrs.ceil_mode, reader.get_flag("ceil_mode", false));
  }
  if (op == OpKind::kMaxPool) {
    if (opset >= 10) {
      FL_ASSIGN_OR_RETURN(attrs.dilations, reader.get_ints("dilations"));
    }
    FL_ASSIGN_OR_RETURN(int64_t storage_order, reader.get_int("storage_order", 0));
    if (storage_order != 0)
      return unsupported("attribute 'storage_order' = " + std::to_string(storage_order) +
                         " (column-major indices) is not supported; only 0");
  } else {
    FL_ASSIGN_OR_RETURN(attrs.count_include_pad, reader.get_flag("count_include_pad", false));
  }
  FL_RETURN_IF_ERROR(check_window(attrs.kernel_shape, attrs.strides, attrs.dilations, attrs.pads));
  return OpAttrs(std::move(attrs));
}

Result<OpAttrs> convert_batch_norm(const AttributeReader& reader, int64_t opset) {
  BatchNormAttrs attrs;
  FL_ASSIGN_OR_RETURN(attrs.epsilon, reader.get_float("epsilon", 1e-5f));
  if (opset < 7) {
    FL_ASSIGN_OR_RETURN(bool is_test, reader.get_flag("is_test", false));
    if (!is_test)
      return unsupported("attribute 'is_test' = 0 (training mode, the default before opset 7) is not supported");
  }
  if (opset < 9) {
    FL_ASSIGN_OR_RETURN(bool spatial, reader.get_flag("spatial", true));
    if (!spatial) return unsupported("attribute 'spatial' = 0 (per-activation statistics) is not supported");
  }
  if (opset >= 14) {
    FL_ASSIGN_OR_RETURN(bool training, reader.get_flag("training_mode", false));
    if (training) return unsupported("attribute 'training_mode' = 1 is not supported (faultline runs inference)");
  }
  return OpAttrs(attrs);
}

Result<OpAttrs> convert_clip(const AttributeReader& reader, int64_t opset) {
  ClipAttrs attrs;
  if (opset >= 11) {
    attrs.bounds_from_inputs = true;
    return OpAttrs(attrs);
  }
  FL_ASSIGN_OR_RETURN(attrs.min, reader.get_float("min", std::numeric_limits<float>::lowest()));
  FL_ASSIGN_OR_RETURN(attrs.max, reader.get_float("max", std::numeric_limits<float>::max()));
  return OpAttrs(attrs);
}

Result<OpAttrs> convert_softmax(const AttributeReader& reader, int64_t opset) {
  SoftmaxAttrs attrs;
  attrs.coerce_to_2d = opset < 13;
  FL_ASSIGN_OR_RETURN(attrs.axis, reader.get_int("axis", attrs.coerce_to_2d ? 1 : -1));
  return OpAttrs(attrs);
}

Result<PadMode> read_pad_mode(const AttributeReader& reader) {
  FL_ASSIGN_OR_RETURN(std::string mode, reader.get_string("mode", "constant"));
  if (mode == "constant") return PadMode::kConstant;
  if (mode == "reflect") return PadMode::kReflect;
  if (mode == "edge") return PadMode::kEdge;
  return unsupported("attribute 'mode' = '" + mode + "' is not supported (constant, reflect or edge)");
}

Result<OpAttrs> convert_pad(const AttributeReader& reader, int64_t opset) {
  PadAttrs attrs;
  FL_ASSIGN_OR_RETURN(attrs.mode, read_pad_mode(reader));
  if (opset >= 11) {
    attrs.pads_from_inputs = true;
    return OpAttrs(std::move(attrs));
  }
  const char* pads_name = reader.has("pads") ? "pads" : "paddings";  // `paddings` before opset 2
  FL_ASSIGN_OR_RETURN(attrs.pads, reader.require_ints(pads_name));
  FL_ASSIGN_OR_RETURN(attrs.value, reader.get_float("value", 0.0f));
  if (attrs.pads.size() % 2 != 0) return invalid_argument("attribute 'pads' has an odd number of entries");
  return OpAttrs(std::move(attrs));
}

Result<OpAttrs> convert_slice(const AttributeReader& reader, int64_t opset) {
  SliceAttrs attrs;
  if (opset >= 10) {
    attrs.from_inputs = true;
    return OpAttrs(std::move(attrs));
  }
  FL_ASSIGN_OR_RETURN(attrs.starts, reader.require_ints("starts"));
  FL_ASSIGN_OR_RETURN(attrs.ends, reader.require_ints("ends"));
  FL_ASSIGN_OR_RETURN(attrs.axes, reader.get_ints("axes"));
  if (attrs.starts.size() != attrs.ends.size() || (!attrs.axes.empty() && attrs.axes.size() != attrs.starts.size()))
    return invalid_argument("attributes 'starts', 'ends' and 'axes' differ in length");
  return OpAttrs(std::move(attrs));
}

Result<OpAttrs> convert_axes(OpKind op, const AttributeReader& reader, int64_t opset) {
  AxesAttrs attrs;
  if (opset >= 13) {
    attrs.axes_from_input = true;
    return OpAttrs(std::move(attrs));
  }
  FL_ASSIGN_OR_RETURN(attrs.axes, op == OpKind::kUnsqueeze ? reader.require_ints("axes") : reader.get_ints("axes"));
  return OpAttrs(std::move(attrs));
}

Result<OpAttrs> convert_gemm(const AttributeReader& reader) {
  GemmAttrs attrs;
  FL_ASSIGN_OR_RETURN(attrs.alpha, reader.get_float("alpha", 1.0f));
  FL_ASSIGN_OR_RETURN(attrs.beta, reader.get_float("beta", 1.0f));
  FL_ASSIGN_OR_RETURN(attrs.trans_a, reader.get_flag("transA", false));
  FL_ASSIGN_OR_RETURN(attrs.trans_b, reader.get_flag("transB", false));
  return OpAttrs(attrs);
}

Result<OpAttrs> convert_reshape(const AttributeReader& reader, int64_t opset) {
  ReshapeAttrs attrs;
  if (opset < 5) {  // shape was an attribute before opset 5
    attrs.shape_from_input = false;
    FL_ASSIGN_OR_RETURN(attrs.shape, reader.require_ints("shape"));
  }
  if (opset >= 14) {
    FL_ASSIGN_OR_RETURN(attrs.allowzero, reader.get_flag("allowzero", false));
  }
  return OpAttrs(std::move(attrs));
}

Result<OpAttrs> convert_cast(const AttributeReader& reader, int64_t opset) {
  int64_t to = 0;
  if (opset < 6) {  // `to` was the type's name
    FL_ASSIGN_OR_RETURN(std::string name, reader.get_string("to", ""));
    onnx::TensorProto::DataType parsed;
    if (!onnx::TensorProto::DataType_Parse(name, &parsed))
      return invalid_argument("attribute 'to' = '" + name + "' is not a data type");
    to = parsed;
  } else {
    FL_ASSIGN_OR_RETURN(to, reader.require_int("to"));
  }
  Result<DType> dtype = dtype_from_onnx(static_cast<int32_t>(to));
  if (!dtype.is_ok()) return dtype.status().with_context("attribute 'to'");
  return OpAttrs(CastAttrs{*dtype});
}

Result<OpAttrs> convert_constant_of_shape(const AttributeReader& reader) {
  ConstantOfShapeAttrs attrs;
  FL_ASSIGN_OR_RETURN(const onnx::TensorProto* proto, reader.get_tensor("value"));
  if (proto) {
    Result<Tensor> value = tensor_from_onnx(*proto);
    if (!value.is_ok()) return value.status().with_context("attribute 'value'");
    if (value->numel() != 1) return invalid_argument("attribute 'value' must hold exactly one element");
    attrs.value = std::move(value).value();
  }
  return OpAttrs(std::move(attrs));
}

// Opset 10-12: per tensor, no attribute; 13: `axis`; 19: `saturate` (float8 outputs only, which faultline does not
// have, so it changes nothing); 21: `block_size` and `output_dtype`, refused.
Result<OpAttrs> convert_quantize(const AttributeReader& reader) {
  QuantizeAttrs attrs;
  FL_ASSIGN_OR_RETURN(attrs.axis, reader.get_int("axis", 1));
  FL_ASSIGN_OR_RETURN(attrs.saturate, reader.get_flag("saturate", true));
  for (const char* name : {"block_size", "output_dtype"}) {
    FL_ASSIGN_OR_RETURN(int64_t value, reader.get_int(name, 0));
    if (value != 0) return unsupported("attribute '" + std::string(name) + "' (opset 21) is not supported");
  }
  return OpAttrs(attrs);
}

// Before opset 7, `broadcast` = 1 aligned B with A's trailing axes (NumPy's rule) unless `axis` moved it.
Result<OpAttrs> convert_binary(const AttributeReader& reader, int64_t opset) {
  if (opset < 7 && reader.has("axis"))
    return unsupported("legacy broadcasting with attribute 'axis' (opset " + std::to_string(opset) +
                       ") is not supported");
  return OpAttrs();
}

}  // namespace

Result<OpAttrs> convert_onnx_attributes(OpKind op, const onnx::NodeProto& node, int64_t opset) {
  AttributeReader reader(node);
  switch (op) {
    case OpKind::kConv:
      return convert_conv(reader);
    case OpKind::kMaxPool:
    case OpKind::kAveragePool:
      return convert_pool(op, reader, opset);
    case OpKind::kBatchNormalization:
      return convert_batch_norm(reader, opset);
    case OpKind::kLeakyRelu: {
      FL_ASSIGN_OR_RETURN(float alpha, reader.get_float("alpha", 0.01f));
      return OpAttrs(LeakyReluAttrs{alpha});
    }
    case OpKind::kClip:
      return convert_clip(reader, opset);
    case OpKind::kSoftmax:
      return convert_softmax(reader, opset);
    case OpKind::kConcat: {
      constexpr int64_t kLegacyConcatAxis = 1;  // before opset 4 `axis` was optional
      FL_ASSIGN_OR_RETURN(int64_t axis,
                          opset < 4 ? reader.get_int("axis", kLegacyConcatAxis) : reader.require_int("axis"));
      return OpAttrs(ConcatAttrs{axis});
    }
    case OpKind::kFlatten: {
      FL_ASSIGN_OR_RETURN(int64_t axis, reader.get_int("axis", 1));
      return OpAttrs(FlattenAttrs{axis});
    }
    case OpKind::kReshape:
      return convert_reshape(reader, opset);
    case OpKind::kTranspose: {
      FL_ASSIGN_OR_RETURN(std::vector<int64_t> perm, reader.get_ints("perm"));
      return OpAttrs(TransposeAttrs{std::move(perm)});
    }
    case OpKind::kGemm:
      return convert_gemm(reader);
    case OpKind::kPad:
      return convert_pad(reader, opset);
    case OpKind::kSlice:
      return convert_slice(reader, opset);
    case OpKind::kGather: {
      FL_ASSIGN_OR_RETURN(int64_t axis, reader.get_int("axis", 0));
      return OpAttrs(GatherAttrs{axis});
    }
    case OpKind::kUnsqueeze:
    case OpKind::kSqueeze:
      return convert_axes(op, reader, opset);
    case OpKind::kCast:
      return convert_cast(reader, opset);
    case OpKind::kConstantOfShape:
      return convert_constant_of_shape(reader);
    case OpKind::kDequantizeLinear: {  // opset 10-12: per-tensor only, no attribute
      FL_ASSIGN_OR_RETURN(int64_t axis, reader.get_int("axis", 1));
      return OpAttrs(DequantizeAttrs{axis});
    }
    case OpKind::kQuantizeLinear:
      return convert_quantize(reader);
    case OpKind::kConvInteger:
    case OpKind::kQLinearConv:
      return convert_conv(reader);
    case OpKind::kMatMulInteger:
    case OpKind::kQLinearMatMul:
      return OpAttrs();
    case OpKind::kAdd:
    case OpKind::kSub:
    case OpKind::kMul:
    case OpKind::kDiv:
      return convert_binary(reader, opset);
    case OpKind::kRelu:
    case OpKind::kSigmoid:
    case OpKind::kTanh:
    case OpKind::kGlobalAveragePool:
    case OpKind::kGlobalMaxPool:
    case OpKind::kMatMul:
    case OpKind::kIdentity:
    case OpKind::kShape:
    case OpKind::kRange:
      return OpAttrs();
    case OpKind::kLIF:
    case OpKind::kCubaLIF:
    case OpKind::kIF:
    case OpKind::kLI:
    case OpKind::kCubaLI:
    case OpKind::kIntegrator:
    case OpKind::kThreshold:
      return unsupported("'" + std::string(op_name(op)) + "' is a NIR spiking neuron, not an ONNX op");
  }
  return internal_error("unhandled op kind");
}

Result<Tensor> onnx_constant_value(const onnx::NodeProto& node) {
  AttributeReader reader(node);
  for (const char* name : {"sparse_value", "value_string", "value_strings"})
    if (reader.has(name)) return unsupported("Constant attribute '" + std::string(name) + "' is not supported");
  if (reader.has("value")) {
    FL_ASSIGN_OR_RETURN(const onnx::TensorProto* proto, reader.get_tensor("value"));
    Result<Tensor> value = tensor_from_onnx(*proto);
    if (!value.is_ok()) return value.status().with_context("attribute 'value'");
    return value;
  }
  if (reader.has("value_float")) {
    FL_ASSIGN_OR_RETURN(float value, reader.get_float("value_float", 0.0f));
    return Tensor::from_floats({}, {value});
  }
  if (reader.has("value_floats")) {
    FL_ASSIGN_OR_RETURN(std::vector<float> values, reader.get_floats("value_floats"));
    return Tensor::from_floats({static_cast<int64_t>(values.size())}, values);
  }
  if (reader.has("value_int")) {
    FL_ASSIGN_OR_RETURN(int64_t value, reader.get_int("value_int", 0));
    return Tensor::from_int64s({}, {value});
  }
  if (reader.has("value_ints")) {
    FL_ASSIGN_OR_RETURN(std::vector<int64_t> values, reader.get_ints("value_ints"));
    return Tensor::from_int64s({static_cast<int64_t>(values.size())}, values);
  }
  return invalid_argument("Constant has none of the attributes value, value_float(s), value_int(s)");
}

Result<bool> onnx_dropout_is_training(const onnx::NodeProto& node, int64_t opset) {
  if (opset >= 7) return false;  // from opset 7 on, only a training_mode input (opset 12) asks for training
  FL_ASSIGN_OR_RETURN(bool is_test, AttributeReader(node).get_flag("is_test", false));
  return !is_test;
}

Result<std::optional<SliceAttrs>> onnx_shape_slice(const onnx::NodeProto& node) {
  AttributeReader reader(node);
  if (!reader.has("start") && !reader.has("end")) return std::optional<SliceAttrs>();
  SliceAttrs slice;
  FL_ASSIGN_OR_RETURN(int64_t start, reader.get_int("start", 0));
  FL_ASSIGN_OR_RETURN(int64_t end, reader.get_int("end", std::numeric_limits<int64_t>::max()));
  slice.starts = {start};
  slice.ends = {end};
  slice.axes = {0};
  return std::optional<SliceAttrs>(std::move(slice));
}

}  // namespace faultline
