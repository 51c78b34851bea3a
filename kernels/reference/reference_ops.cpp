#include "kernels/reference/reference_ops.h"

#include "kernels/reference/neuron_kernels.h"
#include "kernels/reference/reference_internal.h"

namespace faultline {

Status run_reference_node(const Node& node, std::span<const Tensor* const> inputs, std::span<Tensor* const> outputs) {
  using namespace reference;
  switch (node.op) {
    case OpKind::kConv:
      return run_conv(node, inputs, outputs);
    case OpKind::kBatchNormalization:
      return run_batch_norm(node, inputs, outputs);
    case OpKind::kRelu:
    case OpKind::kLeakyRelu:
    case OpKind::kClip:
    case OpKind::kSigmoid:
    case OpKind::kTanh:
      return run_unary_activation(node, inputs, outputs);
    case OpKind::kSoftmax:
      return run_softmax(node, inputs, outputs);
    case OpKind::kMaxPool:
    case OpKind::kAveragePool:
      return run_pool(node, inputs, outputs);
    case OpKind::kGlobalAveragePool:
    case OpKind::kGlobalMaxPool:
      return run_global_pool(node, inputs, outputs);
    case OpKind::kAdd:
    case OpKind::kSub:
    case OpKind::kMul:
    case OpKind::kDiv:
      return run_binary(node, inputs, outputs);
    case OpKind::kConcat:
      return run_concat(node, inputs, outputs);
    case OpKind::kFlatten:
    case OpKind::kReshape:
    case OpKind::kIdentity:
    case OpKind::kSqueeze:
    case OpKind::kUnsqueeze:
      return run_copy(node, inputs, outputs);
    case OpKind::kTranspose:
      return run_transpose(node, inputs, outputs);
    case OpKind::kGemm:
      return run_gemm(node, inputs, outputs);
    case OpKind::kMatMul:
      return run_matmul(node, inputs, outputs);
    case OpKind::kPad:
      return run_pad(node, inputs, outputs);
    case OpKind::kSlice:
      return run_slice(node, inputs, outputs);
    case OpKind::kShape:
      return run_shape(node, inputs, outputs);
    case OpKind::kGather:
      return run_gather(node, inputs, outputs);
    case OpKind::kCast:
      return run_cast(node, inputs, outputs);
    case OpKind::kDequantizeLinear:
      return run_dequantize_linear(node, inputs, outputs);
    case OpKind::kQuantizeLinear:
      return run_quantize_linear(node, inputs, outputs);
    case OpKind::kConvInteger:
      return run_conv_integer(node, inputs, outputs);
    case OpKind::kMatMulInteger:
      return run_matmul_integer(node, inputs, outputs);
    case OpKind::kQLinearConv:
      return run_qlinear_conv(node, inputs, outputs);
    case OpKind::kQLinearMatMul:
      return run_qlinear_matmul(node, inputs, outputs);
    case OpKind::kConstantOfShape:
      return run_constant_of_shape(node, inputs, outputs);
    case OpKind::kRange:
      return run_range(node, inputs, outputs);
    case OpKind::kLIF:
    case OpKind::kCubaLIF:
    case OpKind::kIF:
    case OpKind::kLI:
    case OpKind::kCubaLI:
    case OpKind::kIntegrator:
    case OpKind::kThreshold:
      return run_neuron(node, inputs, outputs);
  }
  return node_error(node, "unknown op kind");
}

}  // namespace faultline
