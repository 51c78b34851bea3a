#include "engine/step_dataflow.h"

#include <algorithm>

namespace faultline {

StepDataflow step_dataflow(const CompiledModel& model) {
  const Graph& graph = model.graph();
  const size_t steps = model.num_steps();
  StepDataflow dataflow;
  dataflow.reads.resize(steps);
  dataflow.constants.resize(steps);
  for (size_t s = 0; s < steps; ++s) {
    const StepInfo& info = model.step(s);
    for (NodeId n : info.nodes) {
      for (ValueId v : graph.node(n).inputs) {
        if (v == kNoValue) continue;
        const Value& value = graph.value(v);
        auto& list = value.is_constant() ? dataflow.constants[s] : dataflow.reads[s];
        const bool inside = !value.is_constant() && value.producer != kNoNode &&
                            std::find(info.nodes.begin(), info.nodes.end(), value.producer) != info.nodes.end();
        if (inside || std::find(list.begin(), list.end(), v) != list.end()) continue;
        list.push_back(v);
      }
    }
  }
  return dataflow;
}

std::vector<char> readers_of(const StepDataflow& dataflow, std::span<const ValueId> constants) {
  std::vector<char> reads(dataflow.constants.size(), 0);
  for (size_t s = 0; s < reads.size(); ++s)
    for (ValueId v : dataflow.constants[s])
      if (std::find(constants.begin(), constants.end(), v) != constants.end()) reads[s] = 1;
  return reads;
}

}  // namespace faultline
