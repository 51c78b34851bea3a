// What a fault can target in a model: every trained parameter (weights, biases, BatchNorm statistics) and
// every activation (the output of a node), with the names a user may use for it. This is the list
// `faultline layers` prints and the namespace fault sites are resolved in.
#pragma once

#include <string>
#include <vector>

#include "engine/graph.h"
#include "engine/status.h"

namespace faultline {

enum class TargetKind { kWeight, kActivation };

struct FaultTarget {
  TargetKind kind;
  std::string layer;  // canonical layer name of the node that reads (weight) or produces (activation) it
  std::string name;   // the model's own value name (ONNX initializer / value name)
  std::string op;     // the op of that node ("Conv")
  Shape shape;        // weights: full shape; activations: per image (batch dimension dropped)
  DType dtype;
  int64_t elements;
};

// Weights first (in the order the nodes use them), then activations in execution order. Activation shapes
// come from specializing the model for one image.
Result<std::vector<FaultTarget>> list_fault_targets(const Graph& model);

}  // namespace faultline
