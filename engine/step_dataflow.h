// What each step of a compiled plan reads and writes, in the plan's own terms: the values that cross step
// boundaries. Incremental and checkpointed fault passes (engine/incremental_executor.h,
// engine/checkpoint_executor.h) decide from it which steps a fault can reach and which values a step needs.
#pragma once

#include <cstddef>
#include <vector>

#include "engine/backend.h"

namespace faultline {

struct StepDataflow {
  // Per step: the non-constant values it reads that come from outside it (graph inputs, other steps'
  // outputs), each once, in the order its nodes read them. A value produced and consumed inside one fused
  // step is not listed.
  std::vector<std::vector<ValueId>> reads;
  // Per step: the constants (weights, folded values) its nodes read, each once.
  std::vector<std::vector<ValueId>> constants;
};

StepDataflow step_dataflow(const CompiledModel& model);

// Per step: 1 when it reads one of `constants` (the faulted weights of a pass), else 0.
std::vector<char> readers_of(const StepDataflow& dataflow, std::span<const ValueId> constants);

}  // namespace faultline
