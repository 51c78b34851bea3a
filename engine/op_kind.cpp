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

bool is_unary_activation(OpKind op) {
  return op == OpKind::kRelu || op == OpKind::kLeakyRelu || op == OpKind::kClip || op == OpKind::kSigmoid ||
         op == OpKind::kTanh;
}

}  // namespace faultline
