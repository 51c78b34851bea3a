// Whether the images of a batch go through a graph independently: row i (dim 0) of every graph output depends
// only on row i of the graph inputs, whatever the other rows hold. Incremental campaigns rely on it to run
// several single-image (inference) activation faults in one pass, one fault per image
// (faults/fault_replay.h, FaultReplayer::run_group).
//
// A value "carries images" when it depends on a graph input (constants and values computed from constants
// only do not). The check is conservative: it accepts a node carrying images only when its op is known to act
// image by image, and refuses anything else with the node's name and why. Accepted:
//   - ops that act per element, per channel or per image: Conv, ConvInteger, QLinearConv, BatchNormalization,
//     Relu, LeakyRelu, Clip, Sigmoid, Tanh, Identity, Cast, QuantizeLinear, DequantizeLinear, MaxPool,
//     AveragePool, GlobalAveragePool, GlobalMaxPool;
//   - Add, Sub, Mul, Div whose image-carrying inputs have the output's dim 0;
//   - Softmax and Concat on an axis other than 0, Flatten and Reshape that keep dim 0 (the same
//     size in and out), Transpose with perm[0] == 0, Pad and Slice that leave axis 0 alone;
//   - Gemm whose image-carrying input is A, untransposed; MatMul, MatMulInteger and QLinearMatMul whose
//     image-carrying input is A of rank >= 2 (B constant), or both inputs of the same rank >= 3 (one product
//     per image).
// Everything else (the spiking neurons with their state, Gather, Squeeze, Unsqueeze on images, ...) is refused.
// Needs static shapes (a specialized graph, engine/specialize.h).
#pragma once

#include "engine/graph.h"
#include "engine/status.h"

namespace faultline {

Status check_images_independent(const Graph& graph);

}  // namespace faultline
