// Helpers shared by the CUDA planner's two halves: kernels/cuda/cuda_plan.cpp (what runs where, steps) and
// kernels/cuda/cuda_descriptors.cpp (each step's shapes and index maps). Not for use outside kernels/cuda.
#pragma once

#include <climits>
#include <cstdint>
#include <string>

#include "engine/graph.h"
#include "engine/status.h"

namespace faultline::cuda_plan::internal {

// A node the GPU does not run: the reason it falls back to the reference kernel.
inline Status fallback(const std::string& why) { return unsupported(why); }

inline const Shape& shape_of(const Graph& graph, ValueId v) {
  const Value& value = graph.value(v);
  return value.is_constant() ? value.constant.shape() : value.shape;
}

inline bool is_float32(const Graph& graph, ValueId v) {
  return v == kNoValue || graph.value(v).dtype == DType::kFloat32;
}

inline bool all_float32(const Graph& graph, const Node& node) {
  for (ValueId v : node.inputs)
    if (!is_float32(graph, v)) return false;
  for (ValueId v : node.outputs)
    if (!is_float32(graph, v)) return false;
  return true;
}

inline bool fits_int(int64_t x) { return x >= 0 && x <= INT_MAX; }

}  // namespace faultline::cuda_plan::internal
