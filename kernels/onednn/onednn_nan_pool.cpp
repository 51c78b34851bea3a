#include "kernels/onednn/onednn_nan_pool.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

namespace faultline::onednn {
namespace {

constexpr int64_t kMaxLanes = 64;

// Per output along one axis: the word offsets (position x `stride`) of its taps inside the input, ascending.
std::vector<std::vector<int64_t>> axis_taps(const SlidingAxis& axis, int64_t stride) {
  std::vector<std::vector<int64_t>> taps(static_cast<size_t>(axis.out));
  for (int64_t o = 0; o < axis.out; ++o)
    for (int64_t k = 0; k < axis.kernel; ++k) {
      const int64_t position = o * axis.stride - axis.pad_begin + k * axis.dilation;
      if (position >= 0 && position < axis.in) taps[static_cast<size_t>(o)].push_back(position * stride);
    }
  return taps;
}

}  // namespace

std::unique_ptr<NanMaxPool> NanMaxPool::create(dnnl::memory src, dnnl::memory dst,
                                               std::pair<SlidingAxis, SlidingAxis> axes, ParallelFor parallel) {
  const std::optional<KeptLayout> in = kept_layout_of(src.get_desc()), out = kept_layout_of(dst.get_desc());
  if (!in || !out || in->channel_block > kMaxLanes ||
      in->images != out->images || in->channels != out->channels || axes.first.in != in->height ||
      axes.second.in != in->width || axes.first.out != out->height || axes.second.out != out->width)
    return nullptr;
  std::unique_ptr<NanMaxPool> pool(new NanMaxPool());
  pool->src_ = std::move(src);
  pool->dst_ = std::move(dst);
  pool->in_ = *in;
  pool->out_ = *out;
  pool->axes_ = axes;
  pool->parallel_ = std::move(parallel);
  pool->all_ = all_images(out->images);
  pool->row_taps_ = axis_taps(axes.first, in->row_stride);
  pool->column_taps_ = axis_taps(axes.second, in->column_stride);
  return pool;
}

void NanMaxPool::pool_image(const float* src, float* dst, int64_t n, const SpatialWindow& window) const {
  const int64_t lanes = in_.channel_block;
  float best[kMaxLanes];
  for (int64_t b = 0; b < in_.blocks(); ++b) {
    const float* block = src + in_.word_index(n, b, 0, 0);
    for (int64_t oy = window.y0; oy < window.y1; ++oy) {
      const std::vector<int64_t>& rows = row_taps_[static_cast<size_t>(oy)];
      for (int64_t ox = window.x0; ox < window.x1; ++ox) {
        const std::vector<int64_t>& columns = column_taps_[static_cast<size_t>(ox)];
        std::fill(best, best + lanes, -std::numeric_limits<float>::infinity());
        for (const int64_t row : rows)
          for (const int64_t column : columns) {
            const float* v = block + row + column;
            for (int64_t j = 0; j < lanes; ++j)
              best[j] = (v[j] > best[j] || std::isnan(v[j])) && !std::isnan(best[j]) ? v[j] : best[j];
          }
        if (out_.channel_block == lanes) {
          std::copy(best, best + lanes, dst + out_.word_index(n, b, oy, ox));
          continue;
        }
        for (int64_t j = 0, c = b * lanes; j < lanes && c < out_.channels; ++j, ++c)
          dst[out_.word_index(n, c / out_.channel_block, oy, ox) + c % out_.channel_block] = best[j];
      }
    }
  }
}

void NanMaxPool::run_all() { run(SpatialWindow{0, out_.height, 0, out_.width}, all_); }

bool NanMaxPool::run(const SpatialWindow& window, std::span<const int64_t> images) {
  const float* src = static_cast<const float*>(src_.get_data_handle());
  float* dst = static_cast<float*>(dst_.get_data_handle());
  parallel_(static_cast<int64_t>(images.size()), [&](int64_t first, int64_t end) {
    for (int64_t i = first; i < end; ++i) pool_image(src, dst, images[static_cast<size_t>(i)], window);
  });
  return true;
}

}  // namespace faultline::onednn
