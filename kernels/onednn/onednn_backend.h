// The "onednn" backend: oneDNN primitives created at compile time, blocked layouts chosen by the
// primitives (format_tag::any) and kept between layers, reorders only at the edges, fused post-ops
// (conv + folded BatchNorm + activation, conv + residual sum, activation) wherever no observable value forbids it.
//
// What compile() does with a specialized graph:
//   * Steps. Conv [-> BatchNormalization] [-> activation] [-> Add(x, same-shape other) [-> activation]] is one
//     oneDNN convolution (BN folded into weights and bias in double, eltwise and sum post-ops; the sum
//     accumulates into the other operand's buffer when nobody reads it later, else into a copy of it).
//     Add/Sub/Mul/Div [-> activation] is one binary primitive. Chains of Slice/Pad/Transpose are one gather
//     that runs on the input's own layout (kernels/onednn/onednn_gather.h), so ResNet's option-A shortcut stays
//     blocked. Reshape/Flatten/Identity (and all-zero Pads) alias their input when possible. A value is fused
//     away only if it has one reader, is no graph output and is not in PlanOptions.observable; the producer of
//     an observable value, and a node reading an observable constant (a weight fault site), run unfused.
//   * Layouts. Convolutions use the channel-blocked layout of the CPU's vector width (nChw16c on AVX-512)
//     where channels fill whole blocks, else the primitive's choice; BN, eltwise, binary, pooling and concat
//     keep their input's layout. Softmax, Gemm and MatMul run on plain order.
//   * Convolution algorithm. Direct, except Winograd (F(4x4, 3x3); F(2x2, 3x3) for very small batches) for 3x3
//     stride-1 2-D convolutions with at least 32 input and 32 output channels (ResNet20's layer2 and layer3:
//     1.25-1.8x faster there) in plans without fault machinery. Its error is about 1e-6 of the largest output
//     (direct: 3e-7). Its transforms scale a value by up to 25 before the products, so a huge faulted weight or
//     activation that direct arithmetic keeps finite could overflow (inf, then NaN): plans with propagate_nan or
//     keep_values, and convolutions with an observable input, output or weight, always run direct
//     (tests/test_onednn_winograd.cpp).
//   * Fallback. A node or attribute combination oneDNN cannot run exactly as the reference does (a non-constant
//     conv weight, AveragePool with count_include_pad where ceil_mode adds a window overhang, Sub/Div whose
//     first operand is the broadcast one, ...) runs the reference kernel on plain copies of its inputs.
//   * Memory. Activations live in one arena planned with engine/buffer_plan.h lifetimes; one user scratchpad is
//     shared by all primitives; weights are reordered once into each primitive's layout. run_step() only
//     executes. Writing a constant with write_value() (a weight fault) re-derives every prepared copy of it.
//   * Threads. Debian's oneDNN uses OpenMP: PlanOptions.threads (0 = OMP_NUM_THREADS, else every available
//     core) is applied with omp_set_num_threads() on the calling thread at compile, run, read and write.
//
// read_value()/write_value() convert between dense logical tensors and the internal layout for any value
// that exists (graph inputs and outputs, every step output); a fused-away value is an error naming its step.
//
// NaN: oneDNN's max-based kernels (eltwise relu and clip, standalone or as post-ops, max pooling) turn a NaN
// input into a number, where aten and the reference propagate it. With PlanOptions.propagate_nan (fault
// campaigns) Relu, LeakyRelu and Clip are never oneDNN eltwise primitives or post-ops: they run as our own
// NaN-preserving loops on the input's layout (in place when the input dies there), after the conv / conv+sum /
// binary step they would have fused into; MaxPool and GlobalMaxPool run the reference kernel on plain copies.
// BN folding, the sum post-op, Sigmoid, Tanh, Softmax, average pools and everything else keep NaN as they are
// (tests/test_onednn_nan.cpp). Without it (plain inference) the plan is the fused one.
//
// Environment: FAULTLINE_ONEDNN_VERBOSE=1 prints the plan (steps, kernels, layouts, arena) at compile;
// FAULTLINE_ONEDNN_CONV_LAYOUT=any lets every convolution choose its layout, FAULTLINE_ONEDNN_CONV_ALGORITHM=direct
// turns Winograd off (both for comparisons).
#pragma once

#include <memory>

#include "engine/backend.h"

namespace faultline {

std::unique_ptr<Backend> make_onednn_backend();

}  // namespace faultline
