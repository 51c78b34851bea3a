#include "kernels/onednn/onednn_pointwise_chain.h"

#include <algorithm>
#include <cmath>

namespace faultline::onednn {
namespace {

using dnnl::memory;
using Md = memory::desc;

constexpr int64_t kChunk = 1024;  // words per pass of the activation: the chunk is still in L1

// The loops, compiled for AVX-512 (one vfmadd per word) and for the baseline (fmaf calls); the fused
// multiply-add is exact either way.
__attribute__((target_clones("avx512f", "default"))) void affine(const float* x, const float* alpha,
                                                                  const float* beta, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = std::fma(x[i], alpha[i], beta[i]);
}

__attribute__((target_clones("avx512f", "default"))) void affine_add(const float* x, const float* alpha,
                                                                      const float* beta, const float* other,
                                                                      float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = std::fma(x[i], alpha[i], beta[i]) + other[i];
}

__attribute__((target_clones("avx512f", "default"))) void add(const float* x, const float* other, float* out,
                                                               int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = x[i] + other[i];
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
  // Which channel each word of one image holds: oneDNN lays out channel + 1 (0 stays in the padding).
  dnnl_memory_desc_t one = d;
  one.dims[0] = one.padded_dims[0] = 1;
  const Md one_md(one);
  if (one_md.get_size() != static_cast<size_t>(image_words) * sizeof(float)) return nullptr;
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

  std::unique_ptr<PointwiseChain> chain(new PointwiseChain());
  chain->ops_ = std::move(ops);
  chain->images_ = images;
  chain->image_words_ = image_words;
  chain->channel_of_word_.resize(static_cast<size_t>(image_words));
  for (size_t w = 0; w < laid_out.size(); ++w) chain->channel_of_word_[w] = static_cast<int32_t>(laid_out[w]) - 1;
  if (chain->ops_.batch_norm) {
    chain->alpha_.assign(static_cast<size_t>(image_words), 0.0f);
    chain->beta_.assign(static_cast<size_t>(image_words), 0.0f);
    const std::vector<BatchNormTerms> identity(static_cast<size_t>(channels));
    chain->set_batch_norm(identity);
  }
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
  for (int64_t begin = 0; begin < count; begin += kChunk) {
    const int64_t n = std::min(kChunk, count - begin);
    const float* in = x + begin;
    float* dst = out + begin;
    if (ops_.batch_norm) {
      const float* alpha = alpha_.data() + r + begin;
      const float* beta = beta_.data() + r + begin;
      if (ops_.add) affine_add(in, alpha, beta, other + begin, dst, n);
      else affine(in, alpha, beta, dst, n);
      in = dst;
    } else if (ops_.add) {
      add(in, other + begin, dst, n);
      in = dst;
    }
    if (ops_.activation) ops_.activation->run_part(in, dst, 0, n);
  }
}

}  // namespace faultline::onednn
