#include "kernels/reference/neuron_kernels.h"

namespace faultline::reference {

namespace {

// A parameter's element for feature k: a one-element parameter serves every feature.
struct Param {
  const float* data;
  bool scalar;
  float operator[](int64_t k) const { return data[scalar ? 0 : k]; }
};

float li_step(float v, float x, float dt, float tau, float r, float v_leak) {
  const float a = dt / tau;
  return v + a * ((v_leak - v) + (r * x));
}

float integrator_step(float v, float x, float dt, float r) {
  return v + dt * (r * x);
}

float synapse_step(float i, float x, float dt, float tau_syn, float w_in) {
  const float a_syn = dt / tau_syn;
  return i + a_syn * ((w_in * x) - i);
}

// Spike and reset of the updated potential v1 (v: the stored potential before this step).
struct Fired {
  float spike;
  float v;
};
Fired fire(float v, float v1, float v_threshold, float v_reset, ResetMode reset) {
  if (reset == ResetMode::kSubtract) {
    const float v_next = v1 - (v > v_threshold ? v_threshold : 0.0f);
    return {v_next > v_threshold ? 1.0f : 0.0f, v_next};
  }
  const bool spike = v1 > v_threshold;
  return {spike ? 1.0f : 0.0f, spike ? v_reset : v1};
}

}  // namespace

Status run_neuron(const Node& node, Inputs inputs, Outputs outputs) {
  const NeuronLayout layout = neuron_layout(node.op);
  if (inputs.size() != layout.inputs() || outputs.size() != layout.outputs())
    return node_error(node, "expects " + std::to_string(layout.inputs()) + " inputs and " +
                                std::to_string(layout.outputs()) + " outputs, got " + std::to_string(inputs.size()) +
                                " and " + std::to_string(outputs.size()));
  for (const Tensor* input : inputs)
    if (input == nullptr) return node_error(node, "an input is missing");
  for (const Tensor* output : outputs)
    if (output == nullptr) return node_error(node, "an output is missing");
  FL_RETURN_IF_ERROR(expect_float32(node, inputs, outputs));
  FL_ASSIGN_OR_RETURN(const NeuronAttrs* attrs, node_attrs<NeuronAttrs>(node));
  const Tensor& x = *inputs[0];
  if (x.rank() < 1) return node_error(node, "input x must be [N, features...]");
  const int64_t batch = x.dim(0);
  const int64_t features = batch == 0 ? 0 : x.numel() / batch;
  const size_t states = layout.states.size();
  for (size_t slot = 1; slot <= states; ++slot)
    if (inputs[slot]->shape() != x.shape()) return node_error(node, "a state does not have the shape of x");
  for (Tensor* output : outputs)
    if (output->shape() != x.shape()) return node_error(node, "an output does not have the shape of x");
  std::vector<Param> params;
  for (size_t slot = 1 + states; slot < inputs.size(); ++slot) {
    const int64_t count = inputs[slot]->numel();
    if (count != 1 && count != features)
      return node_error(node, "parameter " + std::string(layout.params[slot - 1 - states]) + " " +
                                  shape_to_string(inputs[slot]->shape()) + " has neither one element nor " +
                                  std::to_string(features));
    params.push_back({inputs[slot]->data<float>(), count == 1});
  }
  const float dt = attrs->dt;
  const ResetMode reset = attrs->reset;
  const float* src = x.data<float>();
  const float* state0 = states > 0 ? inputs[1]->data<float>() : nullptr;
  const float* state1 = states > 1 ? inputs[2]->data<float>() : nullptr;
  float* out0 = outputs[0]->data<float>();
  float* out1 = outputs.size() > 1 ? outputs[1]->data<float>() : nullptr;
  float* out2 = outputs.size() > 2 ? outputs[2]->data<float>() : nullptr;

  for (int64_t n = 0; n < batch; ++n) {
    for (int64_t k = 0; k < features; ++k) {
      const int64_t e = n * features + k;
      switch (node.op) {
        case OpKind::kLIF: {  // [x, v | tau, r, v_leak, v_threshold, v_reset] -> [spikes, v]
          const float v1 = li_step(state0[e], src[e], dt, params[0][k], params[1][k], params[2][k]);
          const Fired f = fire(state0[e], v1, params[3][k], params[4][k], reset);
          out0[e] = f.spike;
          out1[e] = f.v;
          break;
        }
        case OpKind::kCubaLIF: {  // [x, i, v | tau_syn, tau_mem, r, v_leak, v_threshold, v_reset, w_in] -> [spikes, i,
                                  // v]
          const float i1 = synapse_step(state0[e], src[e], dt, params[0][k], params[6][k]);
          const float v1 = li_step(state1[e], i1, dt, params[1][k], params[2][k], params[3][k]);
          const Fired f = fire(state1[e], v1, params[4][k], params[5][k], reset);
          out0[e] = f.spike;
          out1[e] = i1;
          out2[e] = f.v;
          break;
        }
        case OpKind::kIF: {  // [x, v | r, v_threshold, v_reset] -> [spikes, v]
          const float v1 = integrator_step(state0[e], src[e], dt, params[0][k]);
          const Fired f = fire(state0[e], v1, params[1][k], params[2][k], reset);
          out0[e] = f.spike;
          out1[e] = f.v;
          break;
        }
        case OpKind::kLI:  // [x, v | tau, r, v_leak] -> [v]
          out0[e] = li_step(state0[e], src[e], dt, params[0][k], params[1][k], params[2][k]);
          break;
        case OpKind::kCubaLI: {  // [x, i, v | tau_syn, tau_mem, r, v_leak, w_in] -> [i, v]
          const float i1 = synapse_step(state0[e], src[e], dt, params[0][k], params[4][k]);
          out0[e] = i1;
          out1[e] = li_step(state1[e], i1, dt, params[1][k], params[2][k], params[3][k]);
          break;
        }
        case OpKind::kIntegrator:  // [x, v | r] -> [v]
          out0[e] = integrator_step(state0[e], src[e], dt, params[0][k]);
          break;
        case OpKind::kThreshold:  // [x | threshold] -> [spikes]
          out0[e] = src[e] > params[0][k] ? 1.0f : 0.0f;
          break;
        default:
          return node_error(node, "is not a spiking neuron");
      }
    }
  }
  return Status::ok();
}

}  // namespace faultline::reference
