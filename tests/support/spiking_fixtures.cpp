#include "tests/support/spiking_fixtures.h"

#include <vector>

#include "engine/op_attrs.h"
#include "tests/support/graph_builder.h"

namespace faultline::testing {

std::shared_ptr<const Graph> lif_layer() {
  GraphBuilder b;
  const ValueId x = b.input("x", {kDynamicDim, 2});
  const ValueId v_prev = b.input("n.v@prev", {kDynamicDim, 2});
  std::vector<ValueId> inputs = {x, v_prev};
  inputs.push_back(b.constant("n.tau", Tensor::from_floats({1}, {2.0f})));
  inputs.push_back(b.constant("n.r", Tensor::from_floats({1}, {1.0f})));
  inputs.push_back(b.constant("n.v_leak", Tensor::from_floats({1}, {0.0f})));
  inputs.push_back(b.constant("n.v_threshold", Tensor::from_floats({2}, {1.0f, 1.0f})));
  inputs.push_back(b.constant("n.v_reset", Tensor::from_floats({1}, {0.0f})));
  Graph& g = b.graph();
  const std::vector<ValueId> lif =
      b.node_with_outputs(OpKind::kLIF, inputs, NeuronAttrs{0.5f, ResetMode::kToReset}, "n", {"n", "n.v"});
  const ValueId spikes = lif[0], v = lif[1];
  b.output(b.node(OpKind::kIdentity, {spikes}, {}, "out", "out"));
  b.output(v);
  g.state_links.push_back({"n.v@prev", "n.v"});
  g.source = "lif_layer";
  return std::make_shared<const Graph>(b.build());
}

Tensor lif_layer_input(int64_t samples) {
  std::vector<float> values;
  for (int64_t k = 0; k < kLifSteps * samples; ++k) values.insert(values.end(), {3.0f, 2.0f});
  return Tensor::from_floats({kLifSteps, samples, 2}, values);
}

}  // namespace faultline::testing
