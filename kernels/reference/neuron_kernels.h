// Reference kernels of the spiking neurons (engine/op_attrs.h NeuronAttrs): one forward-Euler time step of
// NIR's equations (neuromorphs/NIR nir/ir/neuron.py, threshold.py), element by element, in float32. The exact
// operation order below is a contract: scripts/nir_reference.py (NumPy, float32) repeats it and the tests
// require bit-identical spike trains. `p[k]` is a parameter's element for feature k (a one-element parameter
// serves every feature); x, states and outputs are [N, features...]; dt comes from the node's attributes.
//
//   LI step   (tau dv/dt = (v_leak - v) + r x):
//               a  = dt / tau
//               v1 = v + a * ((v_leak - v) + (r * x))
//   I step    (dv/dt = r x):
//               v1 = v + dt * (r * x)
//   Cuba step (tau_syn di/dt = -i + w_in x, then LI driven by the NEW current: NIR defines CubaLIF as
//              LI; Linear; LIF, so the membrane reads the synapse's output of the same step, as snnTorch's
//              Synaptic does):
//               a_syn = dt / tau_syn
//               i1 = i + a_syn * ((w_in * x) - i)
//               v1 = LI step of v with input i1 (tau = tau_mem)
//   Spike     z = v1 > v_threshold ? 1 : 0                    (strictly greater, NIR's Heaviside)
//   Reset     kToReset:  v_next = z ? v_reset : v1           (spike from the updated v, then reset)
//             kSubtract: snnTorch's order: the spike of step t is subtracted at step t + 1, after the decay
//                        (mem = beta * mem + input - spk_prev * threshold). The stored v is never reset, so the
//                        previous spike is (v > v_threshold), and
//                          v_next = v1 - (v > v_threshold ? v_threshold : 0);  z = v_next > v_threshold
//
//   LIF = LI step, spike, reset.  IF = I step, spike, reset.  CubaLIF = Cuba step, spike, reset.
//   LI, Integrator, CubaLI: the step alone (outputs the next states).  Threshold: z = x > threshold.
//
// Every operation is one IEEE float32 operation (no fused multiply-add, no reassociation). A NaN state never
// spikes (a comparison with NaN is false) and stays NaN.
#pragma once

#include "kernels/reference/reference_internal.h"

namespace faultline::reference {

// LIF, CubaLIF, IF, LI, CubaLI, Integrator, Threshold (operands: engine/op_kind.h neuron_layout).
Status run_neuron(const Node& node, Inputs inputs, Outputs outputs);

}  // namespace faultline::reference
