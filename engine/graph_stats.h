// Arithmetic cost of a specialized graph, for throughput reports.
#pragma once

#include <cstdint>

#include "engine/graph.h"

namespace faultline {

// Multiply-accumulates of Conv, Gemm and MatMul nodes and of their integer forms (ConvInteger, QLinearConv,
// MatMulInteger, QLinearMatMul), for the whole batch the graph was specialized for: per output element, the
// weight's elements per output channel (convolutions) or A's last axis (Gemm: K; matmuls), padded taps included.
int64_t count_macs(const Graph& specialized);

}  // namespace faultline
