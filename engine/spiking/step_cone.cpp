#include "engine/spiking/step_cone.h"

#include <algorithm>

#include "engine/step_dataflow.h"

namespace faultline {

Result<StepCone> step_cone(const CompiledModel& model, std::span<const size_t> seed_steps,
                           std::span<const ValueId> changed_constants) {
  const Graph& graph = model.graph();
  const size_t steps = model.num_steps();
  const StepDataflow dataflow = step_dataflow(model);
  const std::vector<std::vector<ValueId>>& reads = dataflow.reads;
  StepCone cone;
  cone.reached = readers_of(dataflow, changed_constants);
  for (size_t s : seed_steps)
    if (s < steps) cone.reached[s] = 1;
  // The state input each link feeds, by the ValueId of its next value.
  std::vector<std::pair<ValueId, ValueId>> links;  // (next value, state input)
  for (const StateLink& link : graph.state_links) {
    const std::optional<ValueId> state = graph.find_value(link.state_input);
    const std::optional<ValueId> next = graph.find_value(link.next_value);
    if (!state || !next)
      return internal_error(graph.source + ": state link '" + link.state_input + "' <- '" + link.next_value +
                            "' names a value the compiled model lacks");
    links.emplace_back(*next, *state);
  }
  std::vector<char>& differs = cone.differs;
  differs.assign(graph.values().size(), 0);
  for (bool grew = true; grew;) {
    grew = false;
    for (size_t s = 0; s < steps; ++s) {
      if (!cone.reached[s])
        for (ValueId v : reads[s]) cone.reached[s] |= differs[static_cast<size_t>(v)];
      if (!cone.reached[s]) continue;
      for (ValueId v : model.step(s).outputs) {
        if (differs[static_cast<size_t>(v)]) continue;
        differs[static_cast<size_t>(v)] = 1;
        grew = true;
        for (const auto& [next, state] : links)
          if (next == v) differs[static_cast<size_t>(state)] = 1;
      }
    }
  }
  cone.frontier.resize(steps);
  cone.links.assign(links.size(), 0);
  for (size_t l = 0; l < links.size(); ++l) {
    cone.links[l] = differs[static_cast<size_t>(links[l].first)];
    cone.next_values.push_back(links[l].first);
  }
  for (size_t s = 0; s < steps; ++s) {
    if (!cone.reached[s]) continue;
    ++cone.reached_steps;
    for (ValueId v : reads[s])
      if (!differs[static_cast<size_t>(v)] && graph.value(v).producer != kNoNode) cone.frontier[s].push_back(v);
  }
  return cone;
}

}  // namespace faultline
