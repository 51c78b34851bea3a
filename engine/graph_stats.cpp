#include "engine/graph_stats.h"

namespace faultline {

int64_t count_macs(const Graph& g) {
  int64_t macs = 0;
  for (const Node& node : g.nodes()) {
    if (node.outputs.empty() || node.inputs.size() < 2) continue;
    const Shape& out = g.value(node.outputs[0]).shape;
    const Shape& b = g.value(node.inputs[1]).shape;
    switch (node.op) {
      case OpKind::kConv:  // every output element sums Cin/group * kernel elements
        if (b.size() >= 2) macs += numel(out) * (numel(b) / b[0]);
        break;
      case OpKind::kGemm: {
        const auto& attrs = std::get<GemmAttrs>(node.attrs);
        const Shape& a = g.value(node.inputs[0]).shape;
        if (a.size() == 2) macs += numel(out) * (attrs.trans_a ? a[0] : a[1]);
        break;
      }
      case OpKind::kMatMul: {
        const Shape& a = g.value(node.inputs[0]).shape;
        if (!a.empty()) macs += numel(out) * a.back();
        break;
      }
      default:
        break;
    }
  }
  return macs;
}

}  // namespace faultline
