// Small spiking models shared by the spiking tests, with every number hand-computed.
//
// lif_layer(): x [N, 2] -> LIF "n" (dt 0.5, tau 2, r 1, v_leak 0, v_threshold [1, 1], v_reset 0, reset to
// v_reset) -> Identity "out"; graph outputs "out" (spikes) and "n.v" (the potential after reset), the state link
// n.v@prev <- n.v. With a = dt / tau = 0.25: v1 = v + 0.25 * (x - v), a spike iff v1 > 1, then v = 0. Every
// number is exact in float32. With x = (3, 2) over 6 steps:
//   neuron 0: v1 = 0.75, 1.3125 (spike), 0.75, 1.3125 (spike), 0.75, 1.3125 (spike)   -> 3 spikes (t 1, 3, 5)
//   neuron 1: v1 = 0.5, 0.875, 1.15625 (spike), 0.5, 0.875, 1.15625 (spike)            -> 2 spikes (t 2, 5)
#pragma once

#include <cstdint>
#include <memory>

#include "engine/graph.h"
#include "engine/tensor.h"

namespace faultline::testing {

std::shared_ptr<const Graph> lif_layer();

// The time steps of lif_layer_input(), and its [kLifSteps, samples, 2] input: x = (3, 2) for every sample and step.
constexpr int64_t kLifSteps = 6;
Tensor lif_layer_input(int64_t samples);

}  // namespace faultline::testing
