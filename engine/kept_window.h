// Byte operations on spatial windows of kept 4-D values (engine/spatial_window.h), in the backend's own layout:
// the window re-execution of engine/incremental_executor.h restores, compares and (in a backend) gathers and
// scatters windows without converting whole tensors.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>

#include "engine/spatial_window.h"

namespace faultline {

// How the bytes of a 4-D [N, C, H, W] value lay out its elements (CompiledModel::kept_layout): element
// (n, c, y, x) is the word at index n*image_stride + (c / channel_block)*block_stride + y*row_stride +
// x*column_stride + c % channel_block, words of word_bytes. Channels are padded to whole blocks; the padding
// words are part of the value (copied and compared with it). Dense NCHW: channel_block 1, block_stride H*W,
// row_stride W, column_stride 1. oneDNN's nChw16c: channel_block 16, column_stride 16.
struct KeptLayout {
  int64_t images = 0, channels = 0, height = 0, width = 0;
  int64_t channel_block = 1;
  int64_t image_stride = 0, block_stride = 0, row_stride = 0, column_stride = 0;
  size_t word_bytes = 4;
  int64_t blocks() const { return (channels + channel_block - 1) / channel_block; }
  // The index of the first word of channel block `block` at row y, column x of image n.
  int64_t word_index(int64_t n, int64_t block, int64_t y, int64_t x) const {
    return n * image_stride + block * block_stride + y * row_stride + x * column_stride;
  }
  // Whether the columns of a row follow each other (each column one channel block of words).
  bool rows_contiguous() const { return column_stride == channel_block; }
  // The same layout over `count` images, and the byte offset of image `first`: images [first, first + count)
  // of a value are the value's bytes from that offset laid out as with_images(count).
  KeptLayout with_images(int64_t count) const {
    KeptLayout some = *this;
    some.images = count;
    return some;
  }
  size_t image_offset(int64_t first) const { return static_cast<size_t>(first * image_stride) * word_bytes; }
  // Dense, blocked by channel_block: the layout of a crop of `height` x `width` of the same images and channels.
  static KeptLayout dense(int64_t images, int64_t channels, int64_t height, int64_t width, int64_t channel_block,
                          size_t word_bytes);
};

// Calls fn(first word index, word count) for runs of consecutive words that cover `window` of every image and
// channel: one run per image, channel block and row when rows are contiguous, else one per column.
template <typename Fn>
void for_each_window_run(const KeptLayout& layout, const SpatialWindow& window, Fn&& fn) {
  for (int64_t n = 0; n < layout.images; ++n)
    for (int64_t b = 0; b < layout.blocks(); ++b)
      for (int64_t y = window.y0; y < window.y1; ++y) {
        if (layout.rows_contiguous()) {
          fn(layout.word_index(n, b, y, window.x0), window.width() * layout.channel_block);
          continue;
        }
        for (int64_t x = window.x0; x < window.x1; ++x) fn(layout.word_index(n, b, y, x), layout.channel_block);
      }
}

// Copies rows [from_y, from_y + height) x columns [from_x, from_x + width) of every image and channel of `from`
// (laid out as from_layout) to rows [to_y, ...) x columns [to_x, ...) of `to` (laid out as to_layout). The two
// layouts must have the same images, channels, channel block and word size.
void copy_box(const KeptLayout& from_layout, const std::byte* from, int64_t from_y, int64_t from_x,
              const KeptLayout& to_layout, std::byte* to, int64_t to_y, int64_t to_x, int64_t height, int64_t width);
// Copies `window` of every image and channel from `from` to `to`, both laid out as `layout`.
void copy_window(const KeptLayout& layout, const std::byte* from, std::byte* to, const SpatialWindow& window);
// Runs body(begin, end) over parts of [0, count), possibly on several threads (CompiledModel::parallel_for).
using ParallelFor = std::function<void(int64_t count, const std::function<void(int64_t, int64_t)>& body)>;

// copy_box, copy_window and differing_window split over the images with `parallel`.
void copy_box(const ParallelFor& parallel, const KeptLayout& from_layout, const std::byte* from, int64_t from_y,
              int64_t from_x, const KeptLayout& to_layout, std::byte* to, int64_t to_y, int64_t to_x, int64_t height,
              int64_t width);
void copy_window(const ParallelFor& parallel, const KeptLayout& layout, const std::byte* from, std::byte* to,
                 const SpatialWindow& window);
std::optional<SpatialWindow> differing_window(const ParallelFor& parallel, const KeptLayout& layout,
                                              const std::byte* a, const std::byte* b, const SpatialWindow& within);
// memcpy / memcmp != 0 of `bytes` bytes, split into parts of at least 256 KiB with `parallel`.
void copy_bytes(const ParallelFor& parallel, const std::byte* from, std::byte* to, size_t bytes);
bool bytes_differ(const ParallelFor& parallel, const std::byte* a, const std::byte* b, size_t bytes);

// The smallest window inside `within` outside which `a` and `b` (both laid out as `layout`) hold the same bytes
// there; nullopt when they are equal throughout `within`.
std::optional<SpatialWindow> differing_window(const KeptLayout& layout, const std::byte* a, const std::byte* b,
                                              const SpatialWindow& within);

}  // namespace faultline
