// Turning static inputs (images [N, ...]) into the [T, N, ...] per-step inputs engine/spiking/spiking_session.h
// runs, as spiking-network tools do.
//
// Rate (Bernoulli) encoding: every element of every step spikes (1.0) with probability clamp(x, 0, 1), else 0.0.
// The random numbers are fixed by the C++ standard: one std::mt19937_64(seed) stream, one draw per element in
// [T, N, ...] row-major order, u = (draw >> 40) * 2^-24 (24 random bits in [0, 1)), spike iff u < p. The same
// seed gives the same spikes on every machine.
// Direct encoding: x itself at every step (the first layer integrates the analog value T times).
#pragma once

#include <cstdint>

#include "engine/status.h"
#include "engine/tensor.h"

namespace faultline {

Result<Tensor> rate_encode(const Tensor& images, int64_t steps, uint64_t seed);
Result<Tensor> direct_encode(const Tensor& images, int64_t steps);

}  // namespace faultline
