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
#pragma once

#include <string>
#include <vector>

#include "engine/graph.h"
#include "engine/status.h"

namespace faultline {

enum class TargetKind { kWeight, kActivation, kInput };

struct FaultTarget {
  TargetKind kind;
  // Canonical layer name of the node that reads (weight, input) or produces (activation) it; input sites
  // add ":<slot>" for slots above 0.
  std::string layer;
  std::string name;   // the model's own value name (ONNX initializer / value name)
  std::string op;     // the op of that node ("Conv")
  Shape shape;        // weights: full shape; activations and inputs: per image (batch dimension dropped)
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
};

// Weights first (in the order the nodes use them), then activations in execution order, then inputs in
// execution order (node by node, slot by slot). Activation and input shapes come from specializing the
// model for one image.
Result<std::vector<FaultTarget>> list_fault_targets(const Graph& model);

}  // namespace faultline
