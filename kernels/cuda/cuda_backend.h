// The "cuda" backend: cuDNN convolutions, cuBLAS GEMMs and small kernels of our own (kernels/cuda/cuda_*.cu),
// NCHW float32 throughout (plain row-major layout: read_value/write_value are plain copies).
//
// What compile() does with a specialized graph (planning logic: kernels/cuda/cuda_plan.h):
//   * Steps. Conv [-> folded BatchNormalization] [-> activation epilogue] is one step (BN folded into weights and
//     bias in double, as the oneDNN backend folds it); every other node is a step of its own. Observable values
//     (fault sites) and graph inputs/outputs are never fused away; a node reading or writing one is a barrier.
//   * Kernels. Conv: cudnnConvolutionForward (1-D and 2-D, groups, dilation, strides, symmetric pads), algorithm
//     chosen once by cudnnGetConvolutionForwardAlgorithm_v7 (deterministic; in fault plans, i.e. propagate_nan,
//     keep_values or a fault site at the conv, implicit-GEMM/GEMM/direct only, no FFT/Winograd), one workspace
//     shared by every convolution; bias, folded BN and activation run as our epilogue kernel, or inside
//     cudnnConvolutionBiasActivationForward for conv(+BN)+Relu when propagate_nan is off. Gemm: C broadcast into
//     Y, then cublasSgemm (row-major via the transposed product). MatMul: cublasSgemmStridedBatched.
//     BatchNormalization, Relu, LeakyRelu, Clip, Sigmoid, Tanh, Add/Sub/Mul/Div (broadcasting), MaxPool and
//     AveragePool (1-D/2-D, ceil_mode, count_include_pad, dilations), GlobalAverage/MaxPool, Softmax, Slice,
//     Pad (constant/edge/reflect, negative pads), Transpose: our kernels, with the reference's arithmetic and
//     NaN semantics (kernels/cuda/cuda_index_maps.h). Concat: cudaMemcpy2DAsync per input. Reshape, Flatten,
//     Identity, Squeeze, Unsqueeze: a device-to-device copy (no aliasing yet).
//   * Fallback. Everything else the reference backend runs (spiking neurons, integer and quantization ops, weight
//     decodes, 3-D conv/pools, asymmetric conv pads, MatMul batch axes that broadcast partially) runs the
//     reference kernel on host copies of the node's inputs (copied down, the stream synchronised, the outputs
//     copied up): correct but slow, and it synchronises the host once per such node. What the reference backend
//     refuses too (int64 arithmetic, unfolded shape arithmetic, operands not in specialized form) is refused at
//     plan time, naming the node.
//   * Memory and streams. Weights are uploaded once and stay resident; every value lives in one device arena
//     planned with engine/buffer_plan.h lifetimes (one buffer per value, no sharing, with keep_values; graph
//     inputs live to the end of the pass, so that the plan can run again on them: bench --resident); one
//     cudaStream per compiled model, the cuDNN and cuBLAS handles bound to it; run_step() only enqueues: the host
//     synchronises only in read_value/write_value (and around reference-fallback nodes).
//
// NaN: our kernels let a NaN through every op as aten does (relu(NaN) = NaN, a pool window holding a NaN gives
// NaN, clamp(NaN) = NaN, softmax of a row holding a NaN is all NaN) whatever the options; the one cuDNN path
// that would not (the max-based ReLU inside cudnnConvolutionBiasActivationForward) is used only without
// PlanOptions.propagate_nan. cuDNN convolutions and cuBLAS products keep NaN and infinities as IEEE arithmetic does.
//
// Precision: float32 without TF32 by default (CUDNN_FMA_MATH, CUBLAS_DEFAULT_MATH): convolutions and products
// differ from the reference only by summation order. FAULTLINE_CUDA_TF32=1 allows TF32 tensor cores (cuDNN
// CUDNN_DEFAULT_MATH, CUBLAS_TF32_TENSOR_OP_MATH); NVIDIA_TF32_OVERRIDE=0 still forbids them process-wide.
//
// Faults. Weight faults: write_value() of a constant (a weight fault site) replaces its host copy and re-derives
// every device copy made from it (the plain upload, a folded conv weight, BN's per-channel scale and shift), on
// the stream, then synchronises; restoring writes the original bytes back the same way, so the device copy is
// bit-exactly the original again. Activation faults (word faults between steps)
// are patch_value_words(): the faulted words rewritten in the value's device buffer by a kernel on the stream
// (kernels/cuda/device_word_patch.h, the masks of faults/bit_ops.h), then one synchronisation; only
// bit-error-rate faults (every bit of an image drawn) still read the value to the host and write it back.
// keep_values: every value keeps a device buffer of its own, which kept_storage() gives as device memory, with
// kept_device() (a CudaKeptDevice) to allocate golden slots in device memory and to copy (cudaMemcpyAsync) and
// compare (a kernel, then one synchronisation) kept bytes on the stream: incremental fault passes
// (engine/incremental_executor.h) run on the GPU, re-executing only the steps a fault reaches, whole values at a
// time (no windows).
//
// Errors name the step, its node and the CUDA / cuDNN / cuBLAS status string. Kernel errors are asynchronous: they
// surface at the next read_value/write_value; FAULTLINE_CUDA_SYNC=1 synchronises after every step so that the
// error names the step that failed. FAULTLINE_CUDA_VERBOSE=1 prints the plan (steps, kernels, algorithms,
// arena and workspace sizes) at compile. FAULTLINE_CUDA_PROFILE=1 times every step between two CUDA events and
// prints, when the model is destroyed, the time per kernel kind and the 25 slowest steps.
// FAULTLINE_CUDA_CONV_SEARCH=0 plans clean inference with cuDNN's heuristics instead of its timed search;
// =all times fault plans' convolutions too (among direct algorithms; a rerun may pick another and round
// otherwise, so campaigns leave it off by default).
#pragma once

#include <memory>

#include "engine/backend.h"
#include "engine/status.h"

namespace faultline {

// The backend, or "backend 'cuda': no CUDA device (cudaGetDeviceCount: ...)" when no GPU is visible.
Result<std::unique_ptr<Backend>> make_cuda_backend();

// Makes "cuda" known to create_backend() (engine/backend.h register_backend), for programs that link
// faultline_cuda (the GPU tests). The faultline command loads the backend as a module instead, on first use
// (cli/cuda_module.h).
void register_cuda_backend();

}  // namespace faultline

// The module's entry point (libfaultline_cuda.so, built from the same objects as faultline_cuda): the factory
// of the "cuda" backend, make_cuda_backend. Looked up with dlsym by cli/cuda_module.cpp.
extern "C" faultline::BackendFactory faultline_cuda_backend_factory();
