#include <cmath>
#include <type_traits>

#include "engine/shape_inference.h"
#include "kernels/reference/reference_internal.h"

namespace faultline::reference {

namespace {

template <typename F>
void map_floats(const Tensor& src, Tensor& dst, F&& f) {
  const float* in = src.data<float>();
  float* out = dst.data<float>();
  for (int64_t i = 0; i < src.numel(); ++i) out[i] = f(in[i]);
}

// Integer arithmetic wraps (two's complement) instead of overflowing; division truncates toward zero as in C.
template <typename T>
T apply_binary(OpKind op, T a, T b) {
  if constexpr (std::is_integral_v<T>) {
    using Unsigned = std::make_unsigned_t<T>;
    const Unsigned ua = static_cast<Unsigned>(a);
    const Unsigned ub = static_cast<Unsigned>(b);
    switch (op) {
      case OpKind::kAdd:
        return static_cast<T>(ua + ub);
      case OpKind::kSub:
        return static_cast<T>(ua - ub);
      case OpKind::kMul:
        return static_cast<T>(ua * ub);
      default:
        return b == -1 ? static_cast<T>(Unsigned{0} - ua) : static_cast<T>(a / b);
    }
  } else {
    switch (op) {
      case OpKind::kAdd:
        return static_cast<T>(static_cast<double>(a) + b);
      case OpKind::kSub:
        return static_cast<T>(static_cast<double>(a) - b);
      case OpKind::kMul:
        return static_cast<T>(static_cast<double>(a) * b);
      default:
        return static_cast<T>(static_cast<double>(a) / b);
    }
  }
}

template <typename T>
Status run_binary_typed(const Node& node, const Tensor& a, const Tensor& b, Tensor& out) {
  if constexpr (std::is_integral_v<T>) {
    if (node.op == OpKind::kDiv && out.numel() > 0)
      for (int64_t i = 0; i < b.numel(); ++i)
        if (b.data<T>()[i] == 0) return node_error(node, "integer division by zero");
  }
  const T* src_a = a.data<T>();
  const T* src_b = b.data<T>();
  T* dst = out.data<T>();
  for_each_broadcast(out.shape(), a.shape(), b.shape(), [&](int64_t i, int64_t a_offset, int64_t b_offset) {
    dst[i] = apply_binary<T>(node.op, src_a[a_offset], src_b[b_offset]);
  });
  return Status::ok();
}

}  // namespace

Status run_unary_activation(const Node& node, Inputs inputs, Outputs outputs) {
  FL_RETURN_IF_ERROR(expect_operands(node, inputs, outputs, 1, 1));
  FL_RETURN_IF_ERROR(expect_float32(node, inputs, outputs));
  FL_RETURN_IF_ERROR(expect_same_numel(node, *inputs[0], *outputs[0]));
  const Tensor& src = *inputs[0];
  Tensor& dst = *outputs[0];
  // Comparisons are written so that a NaN input fails them and passes through, as in PyTorch.
  switch (node.op) {
    case OpKind::kRelu:
      map_floats(src, dst, [](float x) { return x < 0.0f ? 0.0f : x; });
      break;
    case OpKind::kLeakyRelu: {
      FL_ASSIGN_OR_RETURN(const LeakyReluAttrs* attrs, node_attrs<LeakyReluAttrs>(node));
      const float alpha = attrs->alpha;
      map_floats(src, dst, [alpha](float x) { return x < 0.0f ? alpha * x : x; });
      break;
    }
    case OpKind::kClip: {
      FL_ASSIGN_OR_RETURN(const ClipAttrs* attrs, node_attrs<ClipAttrs>(node));
      if (attrs->bounds_from_inputs) return node_error(node, "min/max are still inputs (not in specialized form)");
      const float low = attrs->min;
      const float high = attrs->max;
      // min(max(x, low), high) as numpy.clip: with low > high every element becomes high.
      map_floats(src, dst, [low, high](float x) {
        const float raised = x < low ? low : x;
        return raised > high ? high : raised;
      });
      break;
    }
    case OpKind::kSigmoid:
      map_floats(src, dst, [](float x) { return static_cast<float>(1.0 / (1.0 + std::exp(-static_cast<double>(x)))); });
      break;
    case OpKind::kTanh:
      map_floats(src, dst, [](float x) { return static_cast<float>(std::tanh(static_cast<double>(x))); });
      break;
    default:
      return node_error(node, "is not a unary activation");
  }
  return Status::ok();
}

Status run_binary(const Node& node, Inputs inputs, Outputs outputs) {
  FL_RETURN_IF_ERROR(expect_operands(node, inputs, outputs, 2, 2));
  const Tensor& a = *inputs[0];
  const Tensor& b = *inputs[1];
  Tensor& out = *outputs[0];
  if (a.dtype() != b.dtype() || out.dtype() != a.dtype())
    return node_error(node, "inputs and output must share a dtype (" + std::string(dtype_name(a.dtype())) + ", " +
                                std::string(dtype_name(b.dtype())) + " -> " + std::string(dtype_name(out.dtype())) +
                                ")");
  Result<Shape> broadcast = broadcast_shapes(a.shape(), b.shape());
  if (!broadcast.is_ok() || *broadcast != out.shape())
    return node_error(node, "output " + shape_to_string(out.shape()) + " is not the broadcast of " +
                                shape_to_string(a.shape()) + " and " + shape_to_string(b.shape()));
  switch (a.dtype()) {
    case DType::kFloat32:
      return run_binary_typed<float>(node, a, b, out);
    case DType::kFloat64:
      return run_binary_typed<double>(node, a, b, out);
    case DType::kInt32:
      return run_binary_typed<int32_t>(node, a, b, out);
    case DType::kInt64:
      return run_binary_typed<int64_t>(node, a, b, out);
    default:
      return node_unsupported(node,
                              "runs on float32, float64, int32 and int64, not " + std::string(dtype_name(a.dtype())));
  }
}

}  // namespace faultline::reference
