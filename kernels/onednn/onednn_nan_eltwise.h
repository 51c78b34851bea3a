// NaN-preserving activations of fault plans (PlanOptions::propagate_nan) on oneDNN's layouts.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "engine/graph.h"
#include "engine/op_attrs.h"

namespace faultline::onednn {

// NaN-preserving activations (PlanOptions::propagate_nan), as aten computes them: every comparison fails
// for a NaN, which then passes through unchanged. relu(-0.0) = -0.0, relu(-inf) = 0, clip(NaN) = NaN,
// leaky_relu(NaN) = NaN, exactly as torch.relu / torch.clamp / F.leaky_relu (and the reference kernels).
// Element-wise, so they run on any layout (same layout in and out; f(0) = +0 keeps a blocked layout's zero
// padding zero) and in place when the input dies here.
struct NanEltwise {
  enum class Kind : uint8_t { kRelu, kLeakyRelu, kClip };
  Kind kind = Kind::kRelu;
  float alpha = 0.0f;  // LeakyRelu: slope; Clip: lower bound
  float beta = 0.0f;   // Clip: upper bound

  static std::optional<NanEltwise> of(const Node& node) {
    switch (node.op) {
      case OpKind::kRelu: return NanEltwise{Kind::kRelu};
      case OpKind::kLeakyRelu: {
        const LeakyReluAttrs* attrs = attrs_or_default<LeakyReluAttrs>(node.attrs);
        if (!attrs) return std::nullopt;
        return NanEltwise{Kind::kLeakyRelu, attrs->alpha};
      }
      case OpKind::kClip: {
        const ClipAttrs* attrs = attrs_or_default<ClipAttrs>(node.attrs);
        if (!attrs || attrs->bounds_from_inputs) return std::nullopt;
        return NanEltwise{Kind::kClip, attrs->min, attrs->max};
      }
      default: return std::nullopt;
    }
  }
  float apply(float x) const {
    float y = 0.0f;
    run_part(&x, &y, 0, 1);
    return y;
  }
  // dst[i] = f(src[i]) for i in [begin, end); src == dst is allowed.
  void run_part(const float* src, float* dst, int64_t begin, int64_t end) const {
    switch (kind) {
      case Kind::kRelu:
        for (int64_t i = begin; i < end; ++i) dst[i] = src[i] < 0.0f ? 0.0f : src[i];
        break;
      case Kind::kLeakyRelu: {
        const float slope = alpha;
        for (int64_t i = begin; i < end; ++i) dst[i] = src[i] < 0.0f ? slope * src[i] : src[i];
        break;
      }
      case Kind::kClip: {
        const float low = alpha, high = beta;  // min(max(x, low), high) as numpy.clip and the reference
        for (int64_t i = begin; i < end; ++i) {
          const float raised = src[i] < low ? low : src[i];
          dst[i] = raised > high ? high : raised;
        }
        break;
      }
    }
  }
  std::string name() const {
    switch (kind) {
      case Kind::kRelu: return "Relu";
      case Kind::kLeakyRelu: return "LeakyRelu";
      case Kind::kClip: return "Clip";
    }
    return "?";
  }
};

}  // namespace faultline::onednn
