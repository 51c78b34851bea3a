#include "kernels/onednn/onednn_pointwise_chain.h"

#include <algorithm>
#include <cmath>

namespace faultline::onednn {
namespace {

using dnnl::memory;
using Md = memory::desc;

// The loops: one per selection of ops, each word through the ops in order with the activation written as
// NanEltwise writes it (every comparison fails for a NaN, which passes through; -0.0 < 0 is false). Compiled
// for AVX-512 (one vfmadd per word) and for the baseline (fmaf calls); the fused multiply-add is exact either
// way, and the compiler may not contract anything else (each operation is written out, nothing is a * b + c).
struct LoopArgs {
  const float* x;
  const float* alpha;
  const float* beta;
  const float* other;
  float* out;
  int64_t n;
  float slope, low, high;  // the activation's parameters
};

template <bool kBatchNorm, bool kAdd, NanEltwise::Kind kAct, bool kHasAct>
__attribute__((always_inline)) inline void chain_loop(const LoopArgs& a) {
  for (int64_t i = 0; i < a.n; ++i) {
    float v = a.x[i];
    if constexpr (kBatchNorm) v = std::fma(v, a.alpha[i], a.beta[i]);
    if constexpr (kAdd) v = v + a.other[i];
    if constexpr (kHasAct) {
      if constexpr (kAct == NanEltwise::Kind::kRelu) {
        v = v < 0.0f ? 0.0f : v;
      } else if constexpr (kAct == NanEltwise::Kind::kLeakyRelu) {
        v = v < 0.0f ? a.slope * v : v;
      } else {
        const float raised = v < a.low ? a.low : v;
        v = raised > a.high ? a.high : raised;
      }
    }
    a.out[i] = v;
  }
}

template <bool kBatchNorm, bool kAdd>
__attribute__((always_inline)) inline void chain_loop_for(const LoopArgs& a, const std::optional<NanEltwise>& act) {
  if (!act) return chain_loop<kBatchNorm, kAdd, NanEltwise::Kind::kRelu, false>(a);
  switch (act->kind) {
    case NanEltwise::Kind::kRelu: return chain_loop<kBatchNorm, kAdd, NanEltwise::Kind::kRelu, true>(a);
    case NanEltwise::Kind::kLeakyRelu: return chain_loop<kBatchNorm, kAdd, NanEltwise::Kind::kLeakyRelu, true>(a);
    case NanEltwise::Kind::kClip: return chain_loop<kBatchNorm, kAdd, NanEltwise::Kind::kClip, true>(a);
  }
}

__attribute__((target_clones("avx512f", "default"))) void run_chain(const LoopArgs& a, bool batch_norm, bool add,
                                                                     const std::optional<NanEltwise>& act) {
  if (batch_norm && add) return chain_loop_for<true, true>(a, act);
  if (batch_norm) return chain_loop_for<true, false>(a, act);
  if (add) return chain_loop_for<false, true>(a, act);
  chain_loop_for<false, false>(a, act);
}

}  // namespace

std::unique_ptr<PointwiseChain> PointwiseChain::create(const Md& md, Ops ops) {
  if (!ops.batch_norm && !ops.add && !ops.activation) return nullptr;
  const dnnl_memory_desc_t& d = md.data;
  if (d.format_kind != dnnl_blocked || d.data_type != dnnl_f32 || d.ndims < 2 || d.offset0 != 0 || d.dims[0] < 1)
    return nullptr;
  const dnnl_blocking_desc_t& blocking = d.format_desc.blocking;
  for (int b = 0; b < blocking.inner_nblks; ++b)
    if (blocking.inner_idxs[b] == 0) return nullptr;  // images blocked together
  const int64_t images = d.dims[0], image_words = blocking.strides[0];
  if (d.padded_dims[0] != images || image_words < 1 ||
      static_cast<size_t>(images * image_words) * sizeof(float) != md.get_size())
    return nullptr;
  dnnl_memory_desc_t one = d;
  one.dims[0] = one.padded_dims[0] = 1;
  const Md one_md(one);
  if (one_md.get_size() != static_cast<size_t>(image_words) * sizeof(float)) return nullptr;

  std::unique_ptr<PointwiseChain> chain(new PointwiseChain());
  chain->ops_ = std::move(ops);
  chain->images_ = images;
  chain->image_words_ = image_words;
  if (!chain->ops_.batch_norm) return chain;
  // Which channel each word of one image holds: oneDNN lays out channel + 1 (0 stays in the padding).
  memory::dims plain_dims(d.dims, d.dims + d.ndims);
  plain_dims[0] = 1;
  int64_t per_channel = 1;
  for (int k = 2; k < d.ndims; ++k) per_channel *= d.dims[k];
  const int64_t channels = d.dims[1];
  std::vector<float> labels(static_cast<size_t>(channels * per_channel));
  for (int64_t c = 0; c < channels; ++c)
    std::fill_n(labels.begin() + c * per_channel, per_channel, static_cast<float>(c + 1));
  memory::dims plain_strides(plain_dims.size(), 1);
  for (size_t k = plain_dims.size(); k-- > 1;) plain_strides[k - 1] = plain_strides[k] * plain_dims[k];
  std::vector<float> laid_out(static_cast<size_t>(image_words), 0.0f);
  const dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  dnnl::stream stream(engine);
  memory from(Md(plain_dims, memory::data_type::f32, plain_strides), engine, labels.data());
  memory to(one_md, engine, laid_out.data());
  dnnl::reorder(from, to).execute(stream, from, to);
  stream.wait();
  chain->channel_of_word_.resize(static_cast<size_t>(image_words));
  for (size_t w = 0; w < laid_out.size(); ++w) chain->channel_of_word_[w] = static_cast<int32_t>(laid_out[w]) - 1;
  chain->alpha_.assign(static_cast<size_t>(image_words), 0.0f);
  chain->beta_.assign(static_cast<size_t>(image_words), 0.0f);
  chain->set_batch_norm(std::vector<BatchNormTerms>(static_cast<size_t>(channels)));  // identity until set
  return chain;
}

void PointwiseChain::set_batch_norm(std::span<const BatchNormTerms> channels) {
  for (size_t w = 0; w < channel_of_word_.size(); ++w) {
    const int32_t c = channel_of_word_[w];
    if (c < 0 || static_cast<size_t>(c) >= channels.size()) continue;  // padding stays 0
    alpha_[w] = channels[static_cast<size_t>(c)].alpha;
    beta_[w] = channels[static_cast<size_t>(c)].beta;
  }
}

void PointwiseChain::run(const float* x, const float* other, float* out, int64_t first, int64_t count) const {
  for (int64_t done = 0; done < count;) {
    const int64_t r = (first + done) % image_words_;
    const int64_t n = std::min(count - done, image_words_ - r);
    run_in_image(x + done, other ? other + done : nullptr, out + done, r, n);
    done += n;
  }
}

void PointwiseChain::run_in_image(const float* x, const float* other, float* out, int64_t r, int64_t count) const {
  LoopArgs args{x, nullptr, nullptr, other, out, count, 0.0f, 0.0f, 0.0f};
  if (ops_.batch_norm) args.alpha = alpha_.data() + r, args.beta = beta_.data() + r;
  if (ops_.activation) {
    args.slope = args.low = ops_.activation->alpha;
    args.high = ops_.activation->beta;
  }
  run_chain(args, ops_.batch_norm, ops_.add, ops_.activation);
}

}  // namespace faultline::onednn
