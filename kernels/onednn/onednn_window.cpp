#include "kernels/onednn/onednn_window.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <map>
#include <new>
#include <string>
#include <tuple>
#include <unordered_map>

namespace faultline::onednn {
namespace {

using dnnl::memory;
using Md = memory::desc;
using Tag = memory::format_tag;

class ElementwiseWindowRunner final : public WindowRunner {
 public:
  ElementwiseWindowRunner(std::vector<memory> inputs, memory output, KeptLayout layout, ElementwiseFn apply,
                          ParallelFor parallel)
      : inputs_(std::move(inputs)),
        output_(std::move(output)),
        layout_(layout),
        apply_(std::move(apply)),
        parallel_(std::move(parallel)) {}

  bool run(const SpatialWindow& window, std::span<const int64_t> images) override {
    std::vector<const float*> base(inputs_.size());
    for (size_t i = 0; i < inputs_.size(); ++i) base[i] = static_cast<const float*>(inputs_[i].get_data_handle());
    float* out = static_cast<float*>(output_.get_data_handle());
    const KeptLayout one = layout_.with_images(1);
    // The whole map of densely laid out images: one call per run of consecutive images.
    const bool whole_images = layout_.dense_images() && window == SpatialWindow{0, layout_.height, 0, layout_.width};
    parallel_(static_cast<int64_t>(images.size()), [&](int64_t first, int64_t end) {
      std::vector<const float*> in(base.size());
      auto apply = [&](int64_t word, int64_t count) {
        for (size_t i = 0; i < in.size(); ++i) in[i] = base[i] + word;
        apply_(in.data(), out + word, word, count);
      };
      for (int64_t i = first; i < end;) {
        const int64_t image = images[static_cast<size_t>(i)];
        if (whole_images) {
          int64_t last = i + 1;
          while (last < end && images[static_cast<size_t>(last)] == image + (last - i)) ++last;
          apply(image * layout_.image_stride, (last - i) * layout_.image_stride);
          i = last;
          continue;
        }
        const int64_t skip = image * layout_.image_stride;
        for_each_window_run(one, window, [&](int64_t word, int64_t count) { apply(skip + word, count); });
        ++i;
      }
    });
    return true;
  }

 private:
  std::vector<memory> inputs_;
  memory output_;
  KeptLayout layout_;
  ElementwiseFn apply_;
  ParallelFor parallel_;
};

class ChannelConcatWindowRunner final : public WindowRunner {
 public:
  ChannelConcatWindowRunner(std::vector<memory> inputs, std::vector<KeptLayout> layouts, memory output,
                            KeptLayout out_layout, ParallelFor parallel)
      : inputs_(std::move(inputs)),
        layouts_(std::move(layouts)),
        output_(std::move(output)),
        out_layout_(out_layout),
        parallel_(std::move(parallel)) {}

  bool run(const SpatialWindow& window, std::span<const int64_t> images) override {
    float* out = static_cast<float*>(output_.get_data_handle());
    const KeptLayout& o = out_layout_;
    parallel_(static_cast<int64_t>(images.size()), [&](int64_t first, int64_t end) {
      for (int64_t i = first; i < end; ++i) {
        const int64_t n = images[static_cast<size_t>(i)];
        int64_t offset = 0;  // the input's first channel in the output
        for (size_t k = 0; k < inputs_.size(); ++k) {
          const float* in = static_cast<const float*>(inputs_[k].get_data_handle());
          const KeptLayout& l = layouts_[k];
          for (int64_t c = 0; c < l.channels; ++c) {
            const int64_t to = offset + c;
            for (int64_t y = window.y0; y < window.y1; ++y)
              for (int64_t x = window.x0; x < window.x1; ++x)
                out[o.word_index(n, to / o.channel_block, y, x) + to % o.channel_block] =
                    in[l.word_index(n, c / l.channel_block, y, x) + c % l.channel_block];
          }
          offset += l.channels;
        }
      }
    });
    return true;
  }

 private:
  std::vector<memory> inputs_;
  std::vector<KeptLayout> layouts_;
  memory output_;
  KeptLayout out_layout_;
  ParallelFor parallel_;
};

// The format tag `md` has among the 4-D layouts window runners handle.
std::optional<Tag> tag_of(const Md& md) {
  for (Tag tag : {Tag::nChw16c, Tag::nChw8c, Tag::nChw4c, Tag::nchw, Tag::nhwc})
    if (md == Md(md.dims(), md.data_type(), tag)) return tag;
  return std::nullopt;
}

// A crop's batch is the number of images asked for rounded up to a multiple of this, so that a few crop
// primitives serve every image count.
constexpr int64_t kCropImageStep = 8;

// Window sizes are widened to even ones, so that fewer crop primitives serve every window (one costs about
// 1.5 ms to create). On the peer's ResNet20 neuron list (32x32) even sizes took 13.3-13.9 s, sizes rounded
// to 4 then 8 and multiples of 8 13.9-15.5 s: the wider crops cost more than the primitives they save.
int64_t widened(int64_t size, int64_t limit) { return std::min((size + 1) / 2 * 2, limit); }
// [begin, end) widened and kept inside [0, limit).
std::pair<int64_t, int64_t> widen(int64_t begin, int64_t end, int64_t limit) {
  const int64_t size = widened(end - begin, limit);
  begin = std::min(begin, limit - size);
  return {begin, begin + size};
}

class CropWindowRunner final : public WindowRunner {
 public:
  CropWindowRunner(const dnnl::engine& engine, std::string impl, std::unordered_map<int, memory> args,
                   std::pair<SlidingAxis, SlidingAxis> axes, CropPrimitiveFactory make, Tag src_tag, Tag dst_tag,
                   KeptLayout src_layout, KeptLayout dst_layout, std::shared_ptr<CropScratch> scratch,
                   ParallelFor parallel, bool whole_maps_only)
      : engine_(engine),
        stream_(engine),
        impl_(std::move(impl)),
        args_(std::move(args)),
        axes_(axes),
        make_(std::move(make)),
        src_tag_(src_tag),
        dst_tag_(dst_tag),
        src_layout_(src_layout),
        dst_layout_(dst_layout),
        scratch_(std::move(scratch)),
        parallel_(std::move(parallel)),
        dense_(all_images(src_layout.images)),
        whole_maps_only_(whole_maps_only) {
    args_.erase(DNNL_ARG_SCRATCHPAD);
  }

  bool run(const SpatialWindow& requested, std::span<const int64_t> images) override {
    const SpatialWindow whole{0, dst_layout_.height, 0, dst_layout_.width};
    const SpatialWindow& asked = whole_maps_only_ ? whole : requested;
    const auto [y0, y1] = widen(asked.y0, asked.y1, dst_layout_.height);
    const auto [x0, x1] = widen(asked.x0, asked.x1, dst_layout_.width);
    const SlidingAxis::Reads rows = axes_.first.inputs_read(y0, y1);
    const SlidingAxis::Reads cols = axes_.second.inputs_read(x0, x1);
    const int64_t count = static_cast<int64_t>(images.size());
    const Key key{crop_images(count), y1 - y0, x1 - x0, rows.last - rows.first, cols.last - cols.first,
                  rows.pad_before, rows.pad_after, cols.pad_before, cols.pad_after};
    Crop* crop = crop_for(key);
    if (!crop) return false;
    std::byte* src = static_cast<std::byte*>(args_.at(DNNL_ARG_SRC).get_data_handle());
    std::byte* dst = static_cast<std::byte*>(args_.at(DNNL_ARG_DST).get_data_handle());
    std::byte* crop_src = scratch_->get(CropScratch::kSource, crop->src_md.get_size());
    std::byte* crop_dst = scratch_->get(CropScratch::kDestination, crop->dst_md.get_size());
    // Image images[i] is the crop's image i; the crop's images past the list compute whatever the buffer
    // holds and are not scattered. Every channel block is copied, the zero words of a partial last block
    // included.
    const std::span<const int64_t> dense(dense_.data(), images.size());
    copy_box(parallel_, src_layout_, src, images, rows.first, cols.first, crop->src_layout, crop_src, dense, 0, 0,
             key.in_h, key.in_w);
    std::unordered_map<int, memory> args = args_;
    args[DNNL_ARG_SRC] = memory(crop->src_md, engine_, crop_src);
    args[DNNL_ARG_DST] = memory(crop->dst_md, engine_, crop_dst);
    scratch_->execute(crop->primitive, engine_, stream_, std::move(args), crop->scratchpad_md);
    copy_box(parallel_, crop->dst_layout, crop_dst, dense, 0, 0, dst_layout_, dst, images, y0, x0, key.out_h,
             key.out_w);
    return true;
  }

 private:
  struct Key {
    int64_t images, out_h, out_w, in_h, in_w, pad_top, pad_bottom, pad_left, pad_right;
    bool operator<(const Key& o) const {
      return std::tie(images, out_h, out_w, in_h, in_w, pad_top, pad_bottom, pad_left, pad_right) <
             std::tie(o.images, o.out_h, o.out_w, o.in_h, o.in_w, o.pad_top, o.pad_bottom, o.pad_left, o.pad_right);
    }
  };
  // The crop's batch for `count` images: rounded up to a multiple of kCropImageStep, at most the step's.
  int64_t crop_images(int64_t count) const {
    return std::min(src_layout_.images, (count + kCropImageStep - 1) / kCropImageStep * kCropImageStep);
  }
  struct Crop {
    dnnl::primitive primitive;
    Md src_md, dst_md, scratchpad_md;
    KeptLayout src_layout, dst_layout;
  };

  // The crop primitive of `key`, created on first use; nullptr when oneDNN picks another implementation for it.
  Crop* crop_for(const Key& key) {
    auto found = crops_.find(key);
    if (found != crops_.end()) return found->second.get();
    std::unique_ptr<Crop>& slot = crops_[key];
    const memory::dim n = key.images;
    const Md src_md({n, src_layout_.channels, key.in_h, key.in_w}, memory::data_type::f32, src_tag_);
    const Md dst_md({n, dst_layout_.channels, key.out_h, key.out_w}, memory::data_type::f32, dst_tag_);
    dnnl::primitive_desc pd;
    try {
      pd = make_(src_md, dst_md, {key.pad_top, key.pad_left}, {key.pad_bottom, key.pad_right});
    } catch (const dnnl::error&) {
      return nullptr;
    }
    if (!pd || impl_ != pd.impl_info_str()) return nullptr;
    const std::optional<KeptLayout> src_layout = kept_layout_of(src_md);
    const std::optional<KeptLayout> dst_layout = kept_layout_of(dst_md);
    if (!src_layout || !dst_layout) return nullptr;
    auto crop = std::make_unique<Crop>();
    crop->primitive = dnnl::primitive(pd);
    crop->src_md = src_md, crop->dst_md = dst_md, crop->scratchpad_md = pd.scratchpad_desc();
    crop->src_layout = *src_layout, crop->dst_layout = *dst_layout;
    slot = std::move(crop);
    return slot.get();
  }

  dnnl::engine engine_;
  dnnl::stream stream_;
  std::string impl_;
  std::unordered_map<int, memory> args_;
  std::pair<SlidingAxis, SlidingAxis> axes_;
  CropPrimitiveFactory make_;
  Tag src_tag_, dst_tag_;
  KeptLayout src_layout_, dst_layout_;
  std::shared_ptr<CropScratch> scratch_;
  ParallelFor parallel_;
  std::map<Key, std::unique_ptr<Crop>> crops_;  // nullptr: declined
  const ImageList dense_;                        // 0, 1, ..., batch - 1: the crop's images
  const bool whole_maps_only_;
};

}  // namespace

void CropScratch::Free::operator()(std::byte* p) const { std::free(p); }

std::byte* CropScratch::get(Use use, size_t bytes) {
  if (bytes > sizes_[use]) {
    const size_t rounded = (bytes + 4095) / 4096 * 4096;
    buffers_[use].reset(static_cast<std::byte*>(std::aligned_alloc(4096, rounded)));
    if (!buffers_[use]) throw std::bad_alloc();
    std::memset(buffers_[use].get(), 0, rounded);  // a crop's spare images compute zeros, not stray bits
    sizes_[use] = rounded;
  }
  return buffers_[use].get();
}

void CropScratch::execute(const dnnl::primitive& primitive, const dnnl::engine& engine, dnnl::stream& stream,
                          std::unordered_map<int, memory> args, const Md& scratchpad) {
  if (scratchpad.get_size() > 0)
    args[DNNL_ARG_SCRATCHPAD] = memory(scratchpad, engine, get(kScratchpad, scratchpad.get_size()));
  primitive.execute(stream, args);
  stream.wait();
}

std::optional<KeptLayout> kept_layout_of(const Md& md) {
  const dnnl_memory_desc_t& d = md.data;
  if (d.format_kind != dnnl_blocked || d.data_type != dnnl_f32 || d.ndims != 4 || d.offset0 != 0) return std::nullopt;
  const dnnl_blocking_desc_t& blocking = d.format_desc.blocking;
  KeptLayout layout;
  layout.images = d.dims[0], layout.channels = d.dims[1], layout.height = d.dims[2], layout.width = d.dims[3];
  if (d.padded_dims[0] != d.dims[0] || d.padded_dims[2] != d.dims[2] || d.padded_dims[3] != d.dims[3]) return std::nullopt;
  if (blocking.inner_nblks == 1 && blocking.inner_idxs[0] == 1) {
    layout.channel_block = blocking.inner_blks[0];
  } else if (blocking.inner_nblks != 0) {
    return std::nullopt;
  }
  layout.image_stride = blocking.strides[0];
  layout.block_stride = blocking.strides[1];
  layout.row_stride = blocking.strides[2];
  layout.column_stride = blocking.strides[3];
  layout.word_bytes = sizeof(float);
  return layout;
}

std::unique_ptr<WindowRunner> elementwise_window_runner(std::vector<memory> inputs, memory output, ElementwiseFn apply,
                                                        ParallelFor parallel) {
  const std::optional<KeptLayout> layout = kept_layout_of(output.get_desc());
  if (!layout) return nullptr;
  for (const memory& in : inputs)
    if (in.get_desc() != output.get_desc()) return nullptr;
  return std::make_unique<ElementwiseWindowRunner>(std::move(inputs), std::move(output), *layout, std::move(apply),
                                                   std::move(parallel));
}

std::unique_ptr<WindowRunner> channel_concat_window_runner(std::vector<memory> inputs, memory output,
                                                           ParallelFor parallel) {
  const std::optional<KeptLayout> out_layout = kept_layout_of(output.get_desc());
  if (!out_layout) return nullptr;
  std::vector<KeptLayout> layouts;
  int64_t channels = 0;
  for (const memory& in : inputs) {
    const std::optional<KeptLayout> layout = kept_layout_of(in.get_desc());
    if (!layout || layout->images != out_layout->images || layout->height != out_layout->height ||
        layout->width != out_layout->width)
      return nullptr;
    channels += layout->channels;
    layouts.push_back(*layout);
  }
  if (channels != out_layout->channels) return nullptr;
  return std::make_unique<ChannelConcatWindowRunner>(std::move(inputs), std::move(layouts), std::move(output),
                                                     *out_layout, std::move(parallel));
}

std::unique_ptr<WindowRunner> crop_window_runner(const dnnl::engine& engine, const dnnl::primitive_desc& full,
                                                 std::unordered_map<int, memory> args,
                                                 std::pair<SlidingAxis, SlidingAxis> axes, CropPrimitiveFactory make,
                                                 std::shared_ptr<CropScratch> scratch, ParallelFor parallel,
                                                 bool whole_maps_only) {
  if (!args.count(DNNL_ARG_SRC) || !args.count(DNNL_ARG_DST)) return nullptr;
  const Md src = args.at(DNNL_ARG_SRC).get_desc(), dst = args.at(DNNL_ARG_DST).get_desc();
  const std::optional<Tag> src_tag = tag_of(src), dst_tag = tag_of(dst);
  const std::optional<KeptLayout> src_layout = kept_layout_of(src), dst_layout = kept_layout_of(dst);
  if (!src_tag || !dst_tag || !src_layout || !dst_layout) return nullptr;
  return std::make_unique<CropWindowRunner>(engine, full.impl_info_str(), std::move(args), axes, std::move(make),
                                            *src_tag, *dst_tag, *src_layout, *dst_layout, std::move(scratch),
                                            std::move(parallel), whole_maps_only);
}

std::unique_ptr<ChannelRunner> ChannelRunner::create(const dnnl::engine& engine, const dnnl::primitive_desc& full,
                                                     std::unordered_map<int, memory> args, Factory make,
                                                     std::shared_ptr<CropScratch> scratch, ParallelFor parallel) {
  if (!args.count(DNNL_ARG_DST) || !args.count(DNNL_ARG_WEIGHTS)) return nullptr;
  const std::optional<KeptLayout> dst = kept_layout_of(args.at(DNNL_ARG_DST).get_desc());
  if (!dst || dst->channel_block <= 1 || dst->channels % dst->channel_block != 0 || !dst->dense_images() ||
      !tag_of(args.at(DNNL_ARG_DST).get_desc()))
    return nullptr;
  // Weights [O, I, kh, kw] blocked with their output channels outermost, in blocks of the output's channel block:
  // a run of output-channel blocks is then one contiguous slice.
  const dnnl_memory_desc_t& w = args.at(DNNL_ARG_WEIGHTS).get_desc().data;
  if (w.format_kind != dnnl_blocked || w.ndims != 4 || w.offset0 != 0 || w.padded_dims[0] != w.dims[0]) return nullptr;
  const dnnl_blocking_desc_t& blocking = w.format_desc.blocking;
  int64_t o_block = 1;
  for (int i = 0; i < blocking.inner_nblks; ++i)
    if (blocking.inner_idxs[i] == 0) o_block *= blocking.inner_blks[i];
  if (o_block != dst->channel_block) return nullptr;
  for (int d = 1; d < 4; ++d)
    if (blocking.strides[d] > blocking.strides[0]) return nullptr;
  std::unique_ptr<ChannelRunner> runner(new ChannelRunner());
  runner->engine_ = engine;
  runner->stream_ = dnnl::stream(engine);
  runner->impl_ = full.impl_info_str();
  runner->args_ = std::move(args);
  runner->args_.erase(DNNL_ARG_SCRATCHPAD);
  runner->make_ = std::move(make);
  runner->scratch_ = std::move(scratch);
  runner->parallel_ = std::move(parallel);
  runner->dst_layout_ = *dst;
  runner->weights_block_stride_ = blocking.strides[0];
  return runner;
}

ChannelRunner::Slice* ChannelRunner::slice_for(int64_t first_block, int64_t blocks) {
  const auto key = std::make_pair(first_block, blocks);
  auto found = slices_.find(key);
  if (found != slices_.end()) return found->second.get();
  std::unique_ptr<Slice>& slot = slices_[key];
  const int64_t channels = blocks * dst_layout_.channel_block;
  // The weights' descriptor over `channels` output channels: the same blocking and strides.
  dnnl_memory_desc_t w = args_.at(DNNL_ARG_WEIGHTS).get_desc().data;
  w.dims[0] = w.padded_dims[0] = channels;
  const Md weights_md(w);
  const Md bias_md = args_.count(DNNL_ARG_BIAS) ? Md({channels}, memory::data_type::f32, Tag::a) : Md();
  const Tag tag = *tag_of(args_.at(DNNL_ARG_DST).get_desc());
  const Md dst_md({dst_layout_.images, channels, dst_layout_.height, dst_layout_.width}, memory::data_type::f32, tag);
  dnnl::primitive_desc pd;
  try {
    pd = make_(weights_md, bias_md, dst_md);
  } catch (const dnnl::error&) {
    return nullptr;
  }
  if (!pd || impl_ != pd.impl_info_str() || pd.weights_desc() != weights_md || pd.dst_desc() != dst_md) return nullptr;
  auto slice = std::make_unique<Slice>();
  slice->primitive = dnnl::primitive(pd);
  slice->weights_md = weights_md, slice->bias_md = bias_md, slice->dst_md = dst_md;
  slice->scratchpad_md = pd.scratchpad_desc();
  slot = std::move(slice);
  return slot.get();
}

bool ChannelRunner::run(int64_t first, int64_t end) {
  const int64_t block = dst_layout_.channel_block;
  const int64_t first_block = first / block, blocks = (end + block - 1) / block - first_block;
  if (first < 0 || end > dst_layout_.channels || blocks <= 0) return false;
  Slice* slice = slice_for(first_block, blocks);
  if (!slice) return false;
  std::unordered_map<int, memory> args = args_;
  auto* weights = static_cast<std::byte*>(args_.at(DNNL_ARG_WEIGHTS).get_data_handle());
  args[DNNL_ARG_WEIGHTS] =
      memory(slice->weights_md, engine_, weights + static_cast<size_t>(first_block * weights_block_stride_) * sizeof(float));
  if (args_.count(DNNL_ARG_BIAS)) {
    auto* bias = static_cast<std::byte*>(args_.at(DNNL_ARG_BIAS).get_data_handle());
    args[DNNL_ARG_BIAS] = memory(slice->bias_md, engine_, bias + static_cast<size_t>(first_block * block) * sizeof(float));
  }
  std::byte* crop = scratch_->get(CropScratch::kDestination, slice->dst_md.get_size());
  args[DNNL_ARG_DST] = memory(slice->dst_md, engine_, crop);
  scratch_->execute(slice->primitive, engine_, stream_, std::move(args), slice->scratchpad_md);
  // Image n's blocks [first_block, + blocks) are one run of words in the output and in the crop.
  std::byte* dst = static_cast<std::byte*>(args_.at(DNNL_ARG_DST).get_data_handle());
  const KeptLayout& out = dst_layout_;
  const size_t run_bytes = static_cast<size_t>(blocks * out.block_stride) * out.word_bytes;
  parallel_(out.images, [&](int64_t begin, int64_t stop) {
    for (int64_t n = begin; n < stop; ++n)
      std::memcpy(dst + static_cast<size_t>(out.word_index(n, first_block, 0, 0)) * out.word_bytes,
                  crop + static_cast<size_t>(n) * run_bytes, run_bytes);
  });
  return true;
}

}  // namespace faultline::onednn
