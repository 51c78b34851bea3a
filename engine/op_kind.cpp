#include "engine/op_kind.h"

namespace faultline {

namespace {
constexpr std::string_view kOpNames[] = {
#define FAULTLINE_OP_NAME(name) #name,
    FAULTLINE_OPS(FAULTLINE_OP_NAME)
#undef FAULTLINE_OP_NAME
};
static_assert(sizeof(kOpNames) / sizeof(kOpNames[0]) == kOpKindCount);
}  // namespace

std::string_view op_name(OpKind op) { return kOpNames[static_cast<int>(op)]; }

std::optional<OpKind> op_from_name(std::string_view name) {
  for (int i = 0; i < kOpKindCount; ++i)
    if (kOpNames[i] == name) return static_cast<OpKind>(i);
  return std::nullopt;
}

bool is_shape_op(OpKind op) {
  switch (op) {
    case OpKind::kShape: case OpKind::kGather: case OpKind::kUnsqueeze: case OpKind::kSqueeze:
    case OpKind::kCast: case OpKind::kConstantOfShape: case OpKind::kRange:
      return true;
    default:
      return false;
  }
}

bool is_binary_elementwise(OpKind op) {
  return op == OpKind::kAdd || op == OpKind::kSub || op == OpKind::kMul || op == OpKind::kDiv;
}

bool is_neuron_op(OpKind op) {
  return op == OpKind::kLIF || op == OpKind::kCubaLIF || op == OpKind::kIF || op == OpKind::kLI ||
         op == OpKind::kCubaLI || op == OpKind::kIntegrator || op == OpKind::kThreshold;
}

NeuronLayout neuron_layout(OpKind op) {
  static constexpr std::string_view kV[] = {"v"};
  static constexpr std::string_view kIV[] = {"i", "v"};
  static constexpr std::string_view kLif[] = {"tau", "r", "v_leak", "v_threshold", "v_reset"};
  static constexpr std::string_view kCubaLif[] = {"tau_syn",     "tau_mem", "r",   "v_leak",
                                                   "v_threshold", "v_reset", "w_in"};
  static constexpr std::string_view kIf[] = {"r", "v_threshold", "v_reset"};
  static constexpr std::string_view kLi[] = {"tau", "r", "v_leak"};
  static constexpr std::string_view kCubaLi[] = {"tau_syn", "tau_mem", "r", "v_leak", "w_in"};
  static constexpr std::string_view kIntegrator[] = {"r"};
  static constexpr std::string_view kThreshold[] = {"threshold"};
  switch (op) {
    case OpKind::kLIF: return {kV, kLif, true};
    case OpKind::kCubaLIF: return {kIV, kCubaLif, true};
    case OpKind::kIF: return {kV, kIf, true};
    case OpKind::kLI: return {kV, kLi, false};
    case OpKind::kCubaLI: return {kIV, kCubaLi, false};
    case OpKind::kIntegrator: return {kV, kIntegrator, false};
    default: return {{}, kThreshold, true};
  }
}

bool is_integer_op(OpKind op) {
  return op == OpKind::kQuantizeLinear || op == OpKind::kConvInteger || op == OpKind::kMatMulInteger ||
         op == OpKind::kQLinearConv || op == OpKind::kQLinearMatMul;
}

size_t conv_weight_slot(OpKind op) { return op == OpKind::kQLinearConv ? 3 : 1; }

bool is_unary_activation(OpKind op) {
  return op == OpKind::kRelu || op == OpKind::kLeakyRelu || op == OpKind::kClip || op == OpKind::kSigmoid ||
         op == OpKind::kTanh;
}

}  // namespace faultline
