// The steps of a compiled one-step spiking graph that a fault can reach (layer skipping in
// faults/spiking_replay.h): a fault acting at some steps (the steps that produce a faulted value or run a
// faulted input's consumer) or on some constants (faulted parameters) can change the outputs of
//   - those steps and the readers of those constants (the seeds),
//   - every step that reads a value a reached step produces, within the time step,
//   - and, across time steps, every step that reads a state input whose link (Graph::state_links) carries a
//     value a reached step produces,
// transitively, at some time step. Every other step computes its golden outputs at every time step, however
// long the fault lasts, so a faulty run may skip it and give the reached steps its golden outputs instead
// (SpikingSession::run_steps with a StepSelection).
#pragma once

#include <cstddef>
#include <span>
#include <vector>

#include "engine/backend.h"
#include "engine/status.h"

namespace faultline {

struct StepCone {
  std::vector<char> reached;  // by step index
  // By step index, for reached steps: the values it reads that skipped steps produce (neither graph inputs
  // nor constants): what must hold their golden bytes before it runs.
  std::vector<std::vector<ValueId>> frontier;
  std::vector<char> differs;         // by ValueId: a reached step produces it, or it is a state input fed by one
  std::vector<char> links;           // by state link: a reached step produces its next value (the state can differ)
  std::vector<ValueId> next_values;  // by state link: its next value
  size_t reached_steps = 0;
};

// Errors name a state link whose values the model lacks.
Result<StepCone> step_cone(const CompiledModel& model, std::span<const size_t> seed_steps,
                           std::span<const ValueId> changed_constants);

}  // namespace faultline
