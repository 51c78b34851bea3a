// The point-wise tail of a residual block in a fault plan (PlanOptions::propagate_nan) on oneDNN's layouts:
//   [BatchNormalization] -> [Add of a second value of the same shape] -> [Relu | LeakyRelu | Clip]
// (any non-empty selection, in that order), one pass over the words instead of one per op. Each op is computed
// as PyTorch computes it, so the chain's words are those of running the ops one after another in aten:
// BatchNormalization in its fused multiply-add form (kernels/reference/batch_norm_terms.h), the Add as one IEEE
// addition, the activation as NanEltwise (NaN passes through). Fault plans keep every value in a buffer of its
// own; the chain neither writes nor keeps the values between its ops.
// Layouts: any oneDNN blocked layout whose images are dense and follow each other (plain, channel-blocked,
// channels-last, any rank >= 2 with the channels on axis 1). The BatchNorm terms are expanded to one value per
// word of one image, 0 in the padding of a partial channel block (which stays +0).
#pragma once

#include <cstdint>
#include <memory>
#include <oneapi/dnnl/dnnl.hpp>
#include <optional>
#include <span>
#include <vector>

#include "kernels/onednn/onednn_nan_eltwise.h"
#include "kernels/reference/batch_norm_terms.h"

namespace faultline::onednn {

class PointwiseChain {
 public:
  struct Ops {
    bool batch_norm = false;                // per-channel terms, set_batch_norm
    bool add = false;                       // + a second input
    std::optional<NanEltwise> activation;   // last
  };

  // nullptr when `md` is not such a layout (or `ops` selects nothing).
  static std::unique_ptr<PointwiseChain> create(const dnnl::memory::desc& md, Ops ops);

  // The BatchNormalization's terms, one per channel (again whenever a fault rewrites a parameter); identity
  // terms until then. Only with ops().batch_norm.
  void set_batch_norm(std::span<const BatchNormTerms> channels);

  // out[i] = chain(x[i], other[i]) for i in [0, count), where x, other and out point at word `first` of buffers
  // laid out as the descriptor (other: null without an Add). Any range; out may be x or other.
  void run(const float* x, const float* other, float* out, int64_t first, int64_t count) const;

  int64_t images() const { return images_; }
  int64_t image_words() const { return image_words_; }
  const Ops& ops() const { return ops_; }

 private:
  PointwiseChain() = default;
  // One image's words [r, r + count).
  void run_in_image(const float* x, const float* other, float* out, int64_t r, int64_t count) const;

  Ops ops_;
  int64_t images_ = 0, image_words_ = 0;
  // With a BatchNormalization (empty otherwise):
  std::vector<int32_t> channel_of_word_;  // per word of one image; -1 in padding
  std::vector<float> alpha_, beta_;       // per word of one image (0 in padding)
};

}  // namespace faultline::onednn
