#include "kernels/onednn/onednn_gather.h"

#include <algorithm>
#include <cstring>
#include <numeric>

namespace faultline::onednn {

namespace {

using dnnl::memory;
using Tag = memory::format_tag;

// Added to an offset for a position that reads the pad value; larger than any sum of real terms, so any
// offset that includes it stays negative.
constexpr int64_t kPadTerm = -(int64_t{1} << 40);

std::vector<Tag> known_tags(size_t rank) {
  switch (rank) {
    case 3: return {Tag::abc, Tag::acb, Tag::aBc16b, Tag::aBc8b, Tag::aBc4b};
    case 4: return {Tag::abcd, Tag::acdb, Tag::aBcd16b, Tag::aBcd8b, Tag::aBcd4b};
    case 5: return {Tag::abcde, Tag::acdeb, Tag::aBcde16b, Tag::aBcde8b, Tag::aBcde4b};
    default: return {};
  }
}

memory::desc plain_desc(const memory::dims& dims) {
  memory::dims strides(dims.size(), 1);
  for (size_t d = dims.size(); d-- > 1;) strides[d - 1] = strides[d] * std::max<memory::dim>(dims[d], 1);
  return memory::desc(dims, memory::data_type::f32, strides);
}

}  // namespace

std::optional<BlockedLayout> describe_layout(const memory::desc& md) {
  const dnnl_memory_desc_t& c = md.data;
  if (c.format_kind != dnnl_blocked || c.data_type != dnnl_f32 || c.ndims < 1) return std::nullopt;
  const dnnl_blocking_desc_t& blocking = c.format_desc.blocking;
  if (blocking.inner_nblks > 1) return std::nullopt;
  BlockedLayout layout;
  for (int d = 0; d < c.ndims; ++d) {
    if (c.padded_offsets[d] != 0) return std::nullopt;
    layout.dims.push_back(c.dims[d]);
    layout.padded_dims.push_back(c.padded_dims[d]);
    layout.strides.push_back(blocking.strides[d]);
  }
  layout.offset0 = c.offset0;
  if (blocking.inner_nblks == 1) {
    layout.block_axis = blocking.inner_idxs[0];
    layout.block = blocking.inner_blks[0];
  }
  return layout;
}

memory::desc same_format(const memory::desc& like, const memory::dims& dims) {
  const memory::dims like_dims = like.dims();
  if (like_dims.size() == dims.size())
    for (Tag tag : known_tags(dims.size()))
      if (like == memory::desc(like_dims, memory::data_type::f32, tag))
        return memory::desc(dims, memory::data_type::f32, tag);
  return plain_desc(dims);
}

std::optional<GatherKernel> GatherKernel::create(const memory::desc& src_md, const memory::desc& dst_md,
                                                 const std::vector<AxisGather>& axes, float pad_value) {
  std::optional<BlockedLayout> src = describe_layout(src_md);
  std::optional<BlockedLayout> dst = describe_layout(dst_md);
  if (!src || !dst || src->dims.size() != dst->dims.size() || axes.size() != dst->dims.size()) return std::nullopt;
  const size_t rank = axes.size();
  GatherKernel kernel;
  kernel.pad_value_ = pad_value;
  kernel.src_offset0_ = src->offset0;
  kernel.dst_offset0_ = dst->offset0;
  std::vector<bool> src_axis_used(rank, false);
  kernel.src_terms_.resize(rank);
  for (size_t k = 0; k < rank; ++k) {
    const AxisGather& axis = axes[k];
    if (axis.src_axis < 0 || static_cast<size_t>(axis.src_axis) >= rank || src_axis_used[axis.src_axis] ||
        static_cast<int64_t>(axis.src_index.size()) != dst->dims[k])
      return std::nullopt;
    src_axis_used[axis.src_axis] = true;
    const int a = axis.src_axis;
    std::vector<int64_t>& terms = kernel.src_terms_[k];
    terms.reserve(axis.src_index.size());
    for (int64_t j : axis.src_index) {
      if (j < 0) {
        terms.push_back(kPadTerm);
      } else if (j >= src->dims[a]) {
        return std::nullopt;
      } else if (a == src->block_axis) {
        terms.push_back(j / src->block * src->strides[a] + j % src->block);
      } else {
        terms.push_back(j * src->strides[a]);
      }
    }
  }
  for (size_t k = 0; k < rank; ++k) {
    Level level;
    level.axis = static_cast<int>(k);
    level.dst_stride = dst->strides[k];
    level.count = static_cast<int>(k) == dst->block_axis ? dst->padded_dims[k] / dst->block : dst->dims[k];
    kernel.levels_.push_back(level);
  }
  std::stable_sort(kernel.levels_.begin(), kernel.levels_.end(),
                   [](const Level& a, const Level& b) { return a.dst_stride > b.dst_stride; });
  if (dst->block_axis >= 0) {
    kernel.inner_is_block_ = true;
    kernel.inner_axis_ = dst->block_axis;
    kernel.block_ = dst->block;
    kernel.block_axis_dim_ = dst->dims[static_cast<size_t>(dst->block_axis)];
  } else {
    const Level inner = kernel.levels_.back();
    kernel.levels_.pop_back();
    kernel.inner_axis_ = inner.axis;
    kernel.inner_count_ = inner.count;
    kernel.inner_dst_stride_ = inner.dst_stride;
  }
  kernel.build_segments();
  return kernel;
}

void GatherKernel::build_segments() {
  const std::vector<int64_t>& terms = src_terms_[static_cast<size_t>(inner_axis_)];
  auto add_list = [&](int64_t first, int64_t count, int64_t limit) {
    for (int64_t i = 0; i < count; ++i) {
      const int64_t index = first + i;
      Segment::Kind kind = index >= limit ? Segment::kZero : terms[index] < 0 ? Segment::kPad : Segment::kCopy;
      const int64_t src = kind == Segment::kCopy ? terms[index] : 0;
      if (!segments_.empty() && segments_.size() > segment_begin_.back()) {
        Segment& last = segments_.back();
        if (last.kind == kind && (kind != Segment::kCopy || last.src + last.length == src)) {
          ++last.length;
          continue;
        }
      }
      segments_.push_back({kind, i, 1, src});
    }
  };
  if (inner_is_block_) {
    int64_t blocks = 0;
    for (const Level& level : levels_)
      if (level.axis == inner_axis_) blocks = level.count;
    for (int64_t b = 0; b < blocks; ++b) {
      segment_begin_.push_back(segments_.size());
      add_list(b * block_, block_, block_axis_dim_);
    }
  } else {
    if (inner_dst_stride_ != 1) return;
    segment_begin_.push_back(segments_.size());
    add_list(0, inner_count_, inner_count_);
  }
  segment_begin_.push_back(segments_.size());
  // Worth it only when runs are long enough for memcpy to beat the element loop.
  const int64_t elements = inner_is_block_ ? block_ * (static_cast<int64_t>(segment_begin_.size()) - 1) : inner_count_;
  use_segments_ = !segments_.empty() && elements >= 4 * static_cast<int64_t>(segments_.size());
}

void GatherKernel::run_part(const float* src, float* dst, int64_t begin, int64_t end) const {
  if (levels_.empty()) {
    if (begin == 0 && end > 0) run_level(0, dst_offset0_, src_offset0_, 0, src, dst);
    return;
  }
  const Level& l = levels_.front();
  const bool blocked = inner_is_block_ && l.axis == inner_axis_;
  const int64_t* axis_terms = src_terms_[static_cast<size_t>(l.axis)].data();
  for (int64_t i = begin; i < end; ++i)
    run_level(1, dst_offset0_ + i * l.dst_stride, src_offset0_ + (blocked ? 0 : axis_terms[i]), blocked ? i : 0, src, dst);
}

void GatherKernel::run_level(size_t level, int64_t dst_offset, int64_t src_offset, int64_t block_index,
                             const float* src, float* dst) const {
  const int64_t* terms = src_terms_[static_cast<size_t>(inner_axis_)].data();
  if (level == levels_.size()) {
    float* out = dst + dst_offset;
    if (use_segments_) {
      const size_t list = inner_is_block_ ? static_cast<size_t>(block_index) : 0;
      for (size_t k = segment_begin_[list]; k < segment_begin_[list + 1]; ++k) {
        const Segment& segment = segments_[k];
        float* run = out + segment.dst;
        if (segment.kind == Segment::kZero) {
          std::fill(run, run + segment.length, 0.0f);
        } else if (segment.kind == Segment::kPad || src_offset < 0) {
          std::fill(run, run + segment.length, pad_value_);
        } else {
          const float* from = src + src_offset + segment.src;
          for (int64_t i = 0; i < segment.length; ++i) run[i] = from[i];
        }
      }
      return;
    }
    if (inner_is_block_) {
      const int64_t first = block_index * block_;
      const int64_t valid = std::clamp<int64_t>(block_axis_dim_ - first, 0, block_);
      for (int64_t i = 0; i < valid; ++i) {
        const int64_t offset = src_offset + terms[first + i];
        out[i] = offset < 0 ? pad_value_ : src[offset];
      }
      for (int64_t i = valid; i < block_; ++i) out[i] = 0.0f;  // the layout's zero padding
    } else {
      for (int64_t i = 0; i < inner_count_; ++i) {
        const int64_t offset = src_offset + terms[i];
        out[i * inner_dst_stride_] = offset < 0 ? pad_value_ : src[offset];
      }
    }
    return;
  }
  const Level& l = levels_[level];
  if (inner_is_block_ && l.axis == inner_axis_) {
    for (int64_t b = 0; b < l.count; ++b)
      run_level(level + 1, dst_offset + b * l.dst_stride, src_offset, b, src, dst);
    return;
  }
  const int64_t* axis_terms = src_terms_[static_cast<size_t>(l.axis)].data();
  for (int64_t i = 0; i < l.count; ++i)
    run_level(level + 1, dst_offset + i * l.dst_stride, src_offset + axis_terms[i], block_index, src, dst);
}

}  // namespace faultline::onednn
