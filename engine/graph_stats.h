// Arithmetic cost of a specialized graph, for throughput reports.
#pragma once

#include <cstdint>

#include "engine/graph.h"

namespace faultline {

// Multiply-accumulates of Conv, Gemm and MatMul nodes (the whole batch the graph was specialized for).
int64_t count_macs(const Graph& specialized);

}  // namespace faultline
