// What a fault can target in a model: every trained parameter (weights, biases, BatchNorm statistics), every
// activation (the output of a node) and every input of a node (one consumer's copy of a value), with the
// names a user may use for it. This is the list `faultline layers` prints and the namespace fault sites are
// resolved in.
//
// Input sites. A value read by several nodes (a residual branch, a Concat operand) has one activation site
// (the value itself: every consumer sees a fault there) and one input site per reading (node, slot): a fault
// there is seen by that one node alone. An input site is named after its consumer: "<consumer layer>" for
// input slot 0 (also accepted as "<consumer layer>:0"), "<consumer layer>:<slot>" for the others
// ("layer1.0.add:1" is the residual operand of that Add). Constants (weights, folded shapes) have no input
// site; they are weight sites.
//
// Layers of several nodes. A frontend may express one model layer with several nodes that share its canonical
// layer name (a Keras Conv2D with a fused ReLU is Conv then Relu; a Keras Flatten is a Transpose to NHWC then
// Flatten). Values passed between nodes of one layer are not sites: a layer's activation site is the first
// value (in execution order) it hands to another layer or to the graph outputs, and its input sites are its
// readings of values made outside it, numbered ":<slot>" in the order the layer's nodes read them (slot by
// slot, constants counted, so that a one-node layer's numbering is its node's input slots). Weight decodes
// (engine/weight_storage.h) are not part of their weight's layer here: they keep their own sites. ONNX nodes
// have one node per canonical name, so nothing changes for them.
//
// Model order. A value whose Value::model_axes is set (a Keras HWIO kernel, an NHWC activation; engine/graph.h)
// is a site in the model's own order: its shape is the model's and its element indexes are logical indexes in
// that order, as the model's own tools list them. engine_element() maps such an index to the offset in the
// engine's tensor, once, when a fault is armed.
// Spiking sites (SpikingJET's names). A neuron node's parameters are weight sites whose layer is
// "<layer>.<field>" with SpikingJET's field names: threshold (v_threshold, or a Threshold node's threshold),
// tau (tau, or CubaLIF's tau_mem), leak (v_leak), reset (v_reset), r, tau_syn, w_in; the parameter's own name
// stays "<node>.<nir field>" ("lif1.v_threshold"). Its outputs are activation sites: the spikes under the
// node's layer ("lif1"), the next states under "<layer>.potential" (v) and "<layer>.current" (i, CubaLIF and
// CubaLI), the value after that step's update, which the state link carries to the next step. Fault lists
// may also write "<layer>.beta" (the tau parameter: beta = 1 - dt/tau is not a parameter of a NIR model) and
// "<layer>.dead" / "<layer>.saturated" (the spike output, forced to 0 / 1: faults/fault_list.h).
#pragma once

#include <string>
#include <vector>

#include "engine/graph.h"
#include "engine/status.h"

namespace faultline {

// kKernel: a Conv / Gemm / MatMul node whose arithmetic kernel-level sites (accumulator, product, pe, pattern;
// faults/kernel_sites.h) fault. Listed after the inputs, one per such node.
enum class TargetKind { kWeight, kActivation, kInput, kKernel };

struct FaultTarget {
  TargetKind kind;
  // Canonical layer name of the node that reads (weight, input) or produces (activation) it; input sites
  // add ":<slot>" for slots above 0.
  std::string layer;
  std::string name;   // the model's own value name (ONNX initializer / value name)
  std::string op;     // the op of that node ("Conv")
  Shape shape;        // weights: full shape; activations and inputs: per image (batch dimension dropped); in the
                      // model's order (see "Model order" above)
  DType dtype;
  int64_t elements;
  // The model's own name of the node that reads (weight, input) or produces (activation) it, e.g. the
  // ONNX node "/layer1/layer1.0/conv1/Conv": fault lists may name a site by it as well.
  std::string node = {};
  // Input sites only: the consumer node's name, the input slot it reads the value in, and its output value
  // names (made observable with the value, so that the consumer runs as a step of its own: see
  // faults/fault_injector.h).
  std::string consumer = {};
  int slot = -1;
  std::vector<std::string> consumer_outputs = {};
  // The model's axis order over the engine's tensor (per image for activations and inputs): the model's axis k
  // is the engine tensor's axis model_axes[k]; empty when they are the same.
  std::vector<int> model_axes = {};
  // Kernel targets only: the node's GEMM view per image (kernels/reference/fault_aware_mac.h): rows, columns and
  // MACs per output element. `name` is the node's output value and `shape` its per-image shape.
  int64_t gemm_rows = 0;
  int64_t gemm_cols = 0;
  int64_t macs = 0;
  std::vector<std::string> kernel_inputs = {};  // the node's non-constant input values (kept observable)
};

// The row-major offset, in the engine's tensor (per image for activations and inputs), of the element at
// row-major index `element` of `target.shape` (the model's order). The identity when target.model_axes is empty;
// `element` must be in [0, target.elements).
int64_t engine_element(const FaultTarget& target, int64_t element);

// Weights first (in the order the nodes use them), then activations in execution order, then inputs in
// execution order (node by node, slot by slot), then the kernel targets in execution order. Activation and input shapes come from specializing the
// model for one image.
Result<std::vector<FaultTarget>> list_fault_targets(const Graph& model);

}  // namespace faultline
