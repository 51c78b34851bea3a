// Weights stored in a narrower dtype than they are computed in. store_weights_as() rewrites a float32 model so
// that its weights are kept as float16, bfloat16 or int8 words and turned into float32 right before use:
//
//   W (float32 parameter) -> Conv        becomes   W (float16 parameter) -> Cast(to float32) -> W_float32 -> Conv
//                                                  W (int8 parameter), W_scale -> DequantizeLinear -> W_float32 -> Conv
//
// The stored parameter keeps its name, so fault lists and `faultline layers` address it as before, and a weight
// fault flips a bit of the stored word (bit 15 is a half's sign, bit 7 an int8's). Compute stays float32.
// specialize() folds each decode node into a float32 constant (clean inference pays nothing) unless its
// parameter is a fault site (SpecializeOptions::observable), which then stays a run-time node.
//
// Which parameters (every read must be one of these, else the parameter stays float32):
//   float16, bfloat16: Conv/Gemm/MatMul weight (slot 1), Conv/Gemm bias (slot 2), BatchNormalization's four
//                      parameters; round to nearest even (engine/dtype.h).
//   int8:              Conv/Gemm/MatMul weight (slot 1) only; biases and BatchNorm stay float32 as in int8
//                      inference. Symmetric per-tensor: scale = max|w| / 127 (float32; 1 when every w is 0),
//                      q = clamp(round_half_even(w / scale), -127, 127), and w' = q * scale.
// Names: the decoded value is "<name>_float32", the decode node "<name>_decode", the int8 scale (a float32
// scalar constant, not a parameter) "<name>_scale".
#pragma once

#include <string_view>

#include "engine/dtype.h"
#include "engine/graph.h"
#include "engine/status.h"

namespace faultline {

inline constexpr std::string_view kDecodedWeightSuffix = "_float32";
inline constexpr std::string_view kDecodeNodeSuffix = "_decode";
inline constexpr std::string_view kWeightScaleSuffix = "_scale";
inline constexpr int kInt8WeightLimit = 127;  // symmetric range [-127, 127]

// float16, bfloat16 or int8.
bool is_weight_storage_dtype(DType dtype);
// "float16" | "bfloat16" | "int8"; any other name is an error that lists these.
Result<DType> weight_storage_dtype_from_name(std::string_view name);

// Rewrites every eligible float32 parameter of `graph` (see above) to be stored as `dtype`. Parameters already
// stored in another dtype are left alone, so applying it twice changes nothing. Errors name the parameter (a
// non-finite int8 weight, a name the decoded value would take already exists).
Status store_weights_as(Graph& graph, DType dtype);

// A node that decodes a stored weight: Cast to float32 or DequantizeLinear whose data input is a constant
// parameter stored as float16, bfloat16, int8 or uint8 (other inputs constant), and whose output is not a
// graph output (a decoded model output is plain constant folding). Backends run these on
// non-float32 constant inputs; specialize() keeps them when the parameter is a fault site.
bool is_weight_decode(const Graph& graph, const Node& node);

}  // namespace faultline
