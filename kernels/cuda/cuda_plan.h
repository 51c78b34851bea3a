// The host-side half of the CUDA backend's planning: which nodes form one step, what runs each step (cuDNN,
// cuBLAS, one of our kernels, or the reference kernel on host copies) and the index maps and descriptors those
// kernels take. Nothing here touches a device, so tests/cuda/test_cuda_planning.cpp checks it all on a machine
// without a GPU; kernels/cuda/cuda_backend.cpp turns a plan into device buffers, descriptors and launches.
//
// Grouping mirrors the oneDNN backend's fault policy (kernels/onednn/onednn_backend.h): Conv (constant weights
// and bias) [-> BatchNormalization with constant per-channel parameters, folded into the weights]
// [-> Relu | LeakyRelu | Clip | Sigmoid | Tanh as the conv's epilogue] is one step. A value disappears inside a
// step only if it has one reader, is no graph input or output and is not in PlanOptions.observable; a node that
// outputs an observable value or reads an observable constant (a weight fault site) runs alone (a barrier).
// With PlanOptions.fuse off every node is its own step. A Relu epilogue runs inside
// cudnnConvolutionBiasActivationForward only when PlanOptions.propagate_nan is off (cuDNN's ReLU is max-based;
// with propagate_nan the epilogue is our NaN-preserving kernel).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "engine/backend.h"
#include "engine/graph.h"
#include "engine/status.h"
#include "kernels/cuda/cuda_index_maps.h"

namespace faultline::cuda_plan {

enum class StepKind {
  kConv,        // cudnnConvolutionForward (+ bias / folded BN / activation epilogue)
  kAffine,      // Relu, LeakyRelu, Clip, Sigmoid, Tanh, BatchNormalization: cuda_detail::ChannelAffine
  kBinary,      // Add, Sub, Mul, Div with broadcasting
  kPool,        // MaxPool, AveragePool (1-D and 2-D)
  kGlobalPool,  // GlobalAveragePool, GlobalMaxPool
  kSoftmax,
  kGather,      // Slice, Pad, Transpose
  kConcat,      // cudaMemcpy2DAsync per input
  kCopy,        // Reshape, Flatten, Identity, Squeeze, Unsqueeze: a device-to-device copy
  kGemm,        // cublasSgemm (C broadcast into Y first)
  kMatMul,      // cublasSgemmStridedBatched
  kReference,   // the reference kernel on host copies of the node's inputs
};
const char* step_kind_name(StepKind kind);

struct PlannedStep {
  std::vector<NodeId> nodes;  // in execution order; nodes[0] is the step's own op
  StepKind kind = StepKind::kReference;
  NodeId batch_norm = kNoNode;  // kConv: a BatchNormalization folded into the weights
  // kConv: the activation run as the epilogue; kAffine (a BatchNormalization) and kBinary: the activation
  // applied in the same kernel.
  NodeId activation = kNoNode;
  bool cudnn_bias_activation = false;  // kConv: cudnnConvolutionBiasActivationForward (ReLU, no propagate_nan)
  // kConv without propagate_nan: an Add of the conv's (BN's) output and `residual`, a value computed by an
  // earlier step with the output's shape (a residual block's shortcut), run before the activation: cuDNN's z
  // operand, or the epilogue kernel's.
  NodeId residual_add = kNoNode;
  ValueId residual = kNoValue;
  std::string reference_reason;        // kReference: why the node has no GPU kernel here
};

// Ok when the backend can plan node `id` (on the GPU or through the reference fallback); an error naming the
// node when nothing can run it (shape arithmetic left unfolded, operands not in specialized form, no output).
Status check_support(const Graph& graph, NodeId id);

// Groups the nodes of a specialized graph into steps in execution order and picks each step's kind.
Result<std::vector<PlannedStep>> plan_steps(const Graph& graph, const PlanOptions& options);

// --- descriptors ------------------------------------------------------------------------------------------

// A 1-D or 2-D convolution as cuDNN's 2-D legacy API takes it (a 1-D one has h = r = 1, no pad or stride on h).
struct ConvShape {
  int n = 0, c = 0, h = 1, w = 0;       // input
  int k = 0, r = 1, s = 0;              // weight [k, c / groups, r, s]
  int out_h = 1, out_w = 0;
  int pad_h = 0, pad_w = 0, stride_h = 1, stride_w = 1, dilation_h = 1, dilation_w = 1, groups = 1;
};
// The node's convolution, or kUnsupported with the reason it falls back (3-D, asymmetric pads, a dimension
// over INT_MAX, a non-float32 operand).
Result<ConvShape> conv_shape(const Graph& graph, NodeId id);

// Slice, Pad or Transpose as one gather (rank <= kMaxMapRank), or kUnsupported with the reason.
Result<cuda_detail::GatherMap> gather_map(const Graph& graph, NodeId id);
// Copying `input` broadcast to `output` (NumPy rules): Gemm's C into Y.
Result<cuda_detail::GatherMap> broadcast_copy_map(const Shape& input, const Shape& output);
// The broadcast of Add/Sub/Mul/Div operands to their output.
Result<cuda_detail::BroadcastMap> broadcast_map(const Shape& a, const Shape& b, const Shape& output);
// MaxPool / AveragePool over a 3-D or 4-D input.
Result<cuda_detail::PoolWindow> pool_window(const Graph& graph, NodeId id);
// Relu, LeakyRelu, Clip, Sigmoid, Tanh as an activation code and its parameters (channels = plane = 1).
Result<cuda_detail::ChannelAffine> activation_of(const Node& node);

struct SoftmaxShape {
  int64_t outer = 1, length = 1, inner = 1;
};
Result<SoftmaxShape> softmax_shape(const Graph& graph, NodeId id);

// MatMul as `batch` row-major products [m, k] x [k, n] with element strides between batches (0 = the
// operand is shared by every batch); kUnsupported when the batch axes broadcast otherwise.
struct MatMulShape {
  int m = 0, n = 0, k = 0;
  int batch = 1;
  int64_t a_stride = 0, b_stride = 0, y_stride = 0;
};
Result<MatMulShape> matmul_shape(const Graph& graph, NodeId id);

// Gemm's [m, k] x [k, n] with transposes as the node gives them (lda/ldb: row-major leading dimensions).
struct GemmShape {
  int m = 0, n = 0, k = 0, lda = 0, ldb = 0;
  bool trans_a = false, trans_b = false;
};
Result<GemmShape> gemm_shape(const Graph& graph, NodeId id);

// --- convolution algorithm ----------------------------------------------------------------------------

// One candidate of cudnnGetConvolutionForwardAlgorithm_v7, best first.
struct ConvAlgorithm {
  int algo = 0;               // cudnnConvolutionFwdAlgo_t
  bool ok = false;            // status == CUDNN_STATUS_SUCCESS
  size_t workspace = 0;
  bool tensor_op = false;     // mathType is CUDNN_TENSOR_OP_MATH (TF32 on fp32 data)
  bool deterministic = true;
};
// The first candidate that succeeded, fits `workspace_limit`, is deterministic, uses no tensor-op math unless
// `allow_tf32`, and, when `direct_only` (fault plans: propagate_nan, keep_values or a fault site at the conv),
// is an implicit-GEMM, GEMM or direct algorithm: FFT and Winograd transforms scale values before the products,
// so a huge faulted value that direct arithmetic keeps finite could overflow. -1 when none qualifies.
int choose_conv_algorithm(std::span<const ConvAlgorithm> candidates, bool allow_tf32, bool direct_only,
                          size_t workspace_limit);

// FAULTLINE_CUDA_TF32=1 lets cuDNN and cuBLAS use TF32 tensor cores for float32 (faster, ~1e-3 relative
// error); unset or 0 keeps full float32 (CUDNN_FMA_MATH, CUBLAS_DEFAULT_MATH), which the tests compare with.
bool tf32_allowed_by_environment();

}  // namespace faultline::cuda_plan
