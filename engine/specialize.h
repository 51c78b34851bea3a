// specialize(): from an imported graph (symbolic batch, shape subgraphs, ONNX operand conventions) to the
// graph a backend compiles: every shape static, every constant subgraph folded, every node in the operand
// convention of engine/op_attrs.h, auto_pad resolved, Identity removed. Run once per batch size.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "engine/graph.h"
#include "engine/status.h"

namespace faultline {

struct SpecializeOptions {
  // Concrete shape of each graph input, in graph().inputs() order. An empty vector means: the declared
  // shape with every dynamic dimension set to `batch`.
  std::vector<Shape> input_shapes;
  int64_t batch = 1;
  // Nodes that decode a stored weight (a float16/bfloat16/int8 parameter read through Cast/DequantizeLinear,
  // engine/weight_storage.h) stay run-time nodes by default, so the stored parameter remains a listed fault
  // target. With fold_weight_decodes they fold into float32 constants, except those with an input named in
  // `observable` (a fault site: the fault must reach the stored word, or a QDQ model's scale, at run time).
  bool fold_weight_decodes = false;
  std::vector<std::string> observable;
};

// Returns the specialized copy. Errors name the node (shape mismatch, unresolvable reshape, an op that
// needs a runtime value, ...).
Result<Graph> specialize(const Graph& graph, const SpecializeOptions& options);

// The operand a node still takes as an input where the specialized form wants an attribute (Clip "min/max",
// Pad "pads", Slice "starts/ends", Reshape "shape"), or nullopt when the node is in specialized form. Backends
// refuse such a node (its operand was not a constant specialize() could absorb), naming that operand.
std::optional<std::string> operand_still_an_input(const Node& node);

// Folding only (no input shapes): evaluates every node whose inputs are all constants, so the imported
// graph keeps no Constant/shape arithmetic it can compute already. Used by frontends at import. Weight
// decodes (see SpecializeOptions::fold_weight_decodes) are kept.
Status fold_constants(Graph& graph);

}  // namespace faultline
