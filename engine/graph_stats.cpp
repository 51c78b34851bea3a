#include "engine/graph_stats.h"

namespace faultline {

namespace {

// The shape of node input `slot`, or null where the node has no such input (or it is omitted).
const Shape* input_shape(const Graph& g, const Node& node, size_t slot) {
  if (slot >= node.inputs.size() || node.inputs[slot] == kNoValue) return nullptr;
  return &g.value(node.inputs[slot]).shape;
}

// Every output element of a convolution sums Cin/group * kernel elements: the weight's elements per output channel.
int64_t conv_macs_per_output(const Shape* w) {
  return w != nullptr && w->size() >= 2 && (*w)[0] > 0 ? numel(*w) / (*w)[0] : 0;
}

// Every output element of a NumPy matmul sums K, the last axis of A.
int64_t matmul_macs_per_output(const Shape* a) {
  return a != nullptr && !a->empty() ? a->back() : 0;
}

int64_t macs_per_output(const Graph& g, const Node& node) {
  switch (node.op) {
    case OpKind::kConv:
    case OpKind::kConvInteger:
    case OpKind::kQLinearConv:
      return conv_macs_per_output(input_shape(g, node, conv_weight_slot(node.op)));
    case OpKind::kGemm: {
      const Shape* a = input_shape(g, node, 0);
      const auto& attrs = std::get<GemmAttrs>(node.attrs);
      return a != nullptr && a->size() == 2 ? (attrs.trans_a ? (*a)[0] : (*a)[1]) : 0;
    }
    case OpKind::kMatMul:
    case OpKind::kMatMulInteger:
    case OpKind::kQLinearMatMul:  // A at slot 0 in all three
      return matmul_macs_per_output(input_shape(g, node, 0));
    default:
      return 0;
  }
}

}  // namespace

int64_t count_macs(const Graph& g) {
  int64_t macs = 0;
  for (const Node& node : g.nodes()) {
    if (node.outputs.empty()) continue;
    macs += numel(g.value(node.outputs[0]).shape) * macs_per_output(g, node);
  }
  return macs;
}

}  // namespace faultline
