#include "engine/weight_storage.h"

#include <algorithm>
#include <cmath>
#include <string>

namespace faultline {

namespace {

bool is_weight_slot(OpKind op, size_t slot) {
  return slot == 1 && (op == OpKind::kConv || op == OpKind::kGemm || op == OpKind::kMatMul);
}

bool is_stored_slot(OpKind op, size_t slot, DType dtype) {
  if (is_weight_slot(op, slot)) return true;
  if (dtype == DType::kInt8) return false;
  if (slot == 2 && (op == OpKind::kConv || op == OpKind::kGemm)) return true;
  return op == OpKind::kBatchNormalization && slot >= 1 && slot <= 4;
}

// True when `id` is read at least once and every read is a slot stored as `dtype`.
bool every_read_stored(const Graph& g, ValueId id, DType dtype) {
  bool read = false;
  for (const Node& node : g.nodes()) {
    for (size_t slot = 0; slot < node.inputs.size(); ++slot) {
      if (node.inputs[slot] != id) continue;
      if (!is_stored_slot(node.op, slot, dtype)) return false;
      read = true;
    }
  }
  return read;
}

Result<Tensor> to_half_words(const Tensor& w, DType dtype) {
  FL_ASSIGN_OR_RETURN(Tensor stored, Tensor::allocate(dtype, w.shape()));
  const float* src = w.data<float>();
  uint16_t* dst = stored.data<uint16_t>();
  for (int64_t i = 0; i < w.numel(); ++i)
    dst[i] = dtype == DType::kFloat16 ? float_to_half_bits(src[i]) : float_to_bfloat16_bits(src[i]);
  return stored;
}

Result<Tensor> to_int8_words(const Tensor& w, const std::string& name, float& scale) {
  const float* src = w.data<float>();
  float max_abs = 0.0f;
  for (int64_t i = 0; i < w.numel(); ++i) {
    if (!std::isfinite(src[i]))
      return invalid_argument("parameter '" + name + "' has a non-finite element " + std::to_string(i) +
                              "; it cannot be quantized to int8");
    max_abs = std::max(max_abs, std::fabs(src[i]));
  }
  scale = max_abs > 0.0f ? max_abs / static_cast<float>(kInt8WeightLimit) : 1.0f;
  FL_ASSIGN_OR_RETURN(Tensor stored, Tensor::allocate(DType::kInt8, w.shape()));
  int8_t* dst = stored.data<int8_t>();
  const float limit = static_cast<float>(kInt8WeightLimit);
  for (int64_t i = 0; i < w.numel(); ++i)  // nearbyint: the default rounding mode, round half to even
    dst[i] = static_cast<int8_t>(std::clamp(std::nearbyint(src[i] / scale), -limit, limit));
  return stored;
}

}  // namespace

bool is_weight_storage_dtype(DType dtype) {
  return dtype == DType::kFloat16 || dtype == DType::kBFloat16 || dtype == DType::kInt8;
}

Result<DType> weight_storage_dtype_from_name(std::string_view name) {
  std::optional<DType> dtype = dtype_from_name(name);
  if (!dtype || !is_weight_storage_dtype(*dtype)) {
    std::string message = std::string(name);  // built in steps: GCC 12 warns (-Wrestrict) on "'" + std::string
    message.insert(0, 1, '\'');
    message += "' is not a weight storage type (float16, bfloat16 or int8)";
    return invalid_argument(std::move(message));
  }
  return *dtype;
}

Status store_weights_as(Graph& g, DType dtype) {
  if (!is_weight_storage_dtype(dtype))
    return invalid_argument("weights cannot be stored as " + std::string(dtype_name(dtype)) +
                            " (float16, bfloat16 or int8)");
  g.relink();
  const size_t original_values = g.values().size();
  for (size_t v = 0; v < original_values; ++v) {
    const ValueId id = static_cast<ValueId>(v);
    {
      const Value& value = g.value(id);
      if (!value.is_parameter || !value.is_constant() || value.dtype != DType::kFloat32) continue;
      if (!every_read_stored(g, id, dtype)) continue;
    }
    const std::string name = g.value(id).name;
    const std::string decoded_name = name + std::string(kDecodedWeightSuffix);
    const std::string scale_name = name + std::string(kWeightScaleSuffix);
    if (g.find_value(decoded_name) || (dtype == DType::kInt8 && g.find_value(scale_name)))
      return invalid_argument("parameter '" + name + "': the model already has a value named '" + decoded_name +
                              "' or '" + scale_name + "'");

    Node decode;
    decode.name = name + std::string(kDecodeNodeSuffix);
    for (const Node& node : g.nodes()) {
      if (std::find(node.inputs.begin(), node.inputs.end(), id) != node.inputs.end()) {
        decode.layer = node.layer;  // the weight's layer, as list_fault_targets names it
        break;
      }
    }
    Tensor stored;
    float scale = 1.0f;
    if (dtype == DType::kInt8) {
      FL_ASSIGN_OR_RETURN(stored, to_int8_words(g.value(id).constant, name, scale));
    } else {
      FL_ASSIGN_OR_RETURN(stored, to_half_words(g.value(id).constant, dtype));
    }
    Value decoded;
    decoded.name = decoded_name;
    decoded.dtype = DType::kFloat32;
    decoded.shape = g.value(id).shape;
    decoded.shape_known = g.value(id).shape_known;
    const ValueId decoded_id = g.add_value(std::move(decoded));
    for (Node& node : g.nodes())
      for (ValueId& in : node.inputs)
        if (in == id) in = decoded_id;

    Value& param = g.value(id);
    param.constant = std::move(stored);
    param.dtype = dtype;
    decode.inputs = {id};
    decode.outputs = {decoded_id};
    if (dtype == DType::kInt8) {
      Value scale_value;
      scale_value.name = scale_name;
      scale_value.constant = Tensor::from_floats({}, {scale});
      scale_value.shape_known = true;
      decode.inputs.push_back(g.add_value(std::move(scale_value)));
      decode.op = OpKind::kDequantizeLinear;
      decode.attrs = DequantizeAttrs{};
    } else {
      decode.op = OpKind::kCast;
      decode.attrs = CastAttrs{DType::kFloat32};
    }
    g.add_node(std::move(decode));
  }
  g.relink();
  return Status::ok();
}

bool is_weight_decode(const Graph& g, const Node& node) {
  if (node.op == OpKind::kCast) {
    const CastAttrs* attrs = attrs_or_default<CastAttrs>(node.attrs);
    if (!attrs || attrs->to != DType::kFloat32) return false;
  } else if (node.op != OpKind::kDequantizeLinear) {
    return false;
  }
  if (node.inputs.empty() || node.inputs[0] == kNoValue) return false;
  const Value& stored = g.value(node.inputs[0]);
  const bool narrow = stored.dtype == DType::kFloat16 || stored.dtype == DType::kBFloat16 ||
                      stored.dtype == DType::kInt8 || stored.dtype == DType::kUInt8;
  if (!stored.is_parameter || !stored.is_constant() || !narrow) return false;
  for (size_t slot = 1; slot < node.inputs.size(); ++slot)
    if (node.inputs[slot] != kNoValue && !g.value(node.inputs[slot]).is_constant()) return false;
  // A decoded value that is itself a model output feeds no computation: plain constant folding.
  for (ValueId out : node.outputs)
    if (std::find(g.outputs().begin(), g.outputs().end(), out) != g.outputs().end()) return false;
  return true;
}

}  // namespace faultline
