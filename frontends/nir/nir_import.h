// NIR spiking networks (.nir, HDF5) -> an engine Graph that computes ONE time step, plus the state links
// (engine/graph.h StateLink) that engine/spiking/spiking_session.h follows from step to step.
//
// What the graph holds:
// - Data inputs: one graph input per top-level Input node, named after it, [N, <its shape>...] (N dynamic).
// - Nodes: Affine/Linear -> Gemm (weight `<node>.weight`, bias `<node>.bias`); Scale -> Mul (`<node>.scale`);
//   Conv1d/Conv2d -> Conv (padding an int, one per axis, or "same"/"valid"); SumPool2d -> a depthwise Conv with
//   a ones kernel (exact sums; the ones are no parameter); AvgPool2d -> AveragePool (the kernel size divides,
//   padding included); Flatten -> Reshape (NIR's start_dim/end_dim count the feature axes, batch excluded);
//   LIF, CubaLIF, IF, LI, CubaLI, I (-> Integrator), Threshold -> the neuron ops of engine/op_attrs.h, every
//   NIR field a PARAMETER named `<node>.<field>` (a weight-fault target: thresholds, taus, leaks, resets, r,
//   w_in), float32; a missing v_reset is 0 and a missing w_in 1 (NIR's defaults).
// - Neuron states: a graph input `<node>.v@prev` (and `<node>.i@prev`) feeding the neuron, and the next value
//   `<node>.v` / `<node>.i` (a node output, an activation-fault site, and a graph output). A spiking neuron's
//   spikes are the value `<node>`; LI, CubaLI and I output `<node>.v`.
// - Several edges into one node are summed (Add nodes `<node>.sum<k>`). An edge that closes a cycle (found by a
//   depth-first walk from the Input nodes, in name order) is a one-step delay: the consumer reads the graph
//   input `<src value>@prev`, which holds the source's value of the previous step (zeros at step 0).
// - Outputs: one Identity per top-level Output node, its value named after the node, as the first graph
//   outputs (name order); the next-state values follow.
// - Nested NIRGraph nodes are flattened: inner nodes become `<outer>.<inner>`, edges into the outer node enter
//   its Input node, edges out of it leave its Output node.
// Parameters stored as float64 are rounded to float32. Every node's neuron attributes carry dt = `dt` and the
// reset mode `reset`; engine/spiking may override both per run.
//
// Errors name the file and the node: an unsupported type (Delay included), a missing field, an edge naming a
// node that does not exist (a nested graph's edge names the nested graph too), shapes that do not fit.
#pragma once

#include <string>

#include "engine/graph.h"
#include "engine/op_attrs.h"
#include "engine/status.h"

namespace faultline::nir {

struct NirImportOptions {
  NeuronAttrs neuron;  // dt and reset mode written into every neuron node
};

Result<Graph> import_nir_file(const std::string& path, const NirImportOptions& options = {});

}  // namespace faultline::nir
