// Byte operations on spatial windows of kept 4-D values (engine/spatial_window.h), in the backend's own layout:
// the window re-execution of engine/incremental_executor.h restores, compares and (in a backend) gathers and
// scatters windows without converting whole tensors.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <vector>

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
  // Whether each image's words follow each other without gaps (image_stride words: every block, row, column).
  bool dense_images() const {
    return rows_contiguous() && row_stride == width * column_stride && block_stride == height * row_stride &&
           image_stride == blocks() * block_stride;
  }
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
// Runs body(begin, end) over parts of [0, count), possibly on several threads (CompiledModel::parallel_for).
using ParallelFor = std::function<void(int64_t count, const std::function<void(int64_t, int64_t)>& body)>;

// Images of a batch, by index: sorted, without repeats (the images a value can differ in).
using ImageList = std::vector<int64_t>;
// 0, 1, ..., count - 1.
ImageList all_images(int64_t count);
// The images in a or b.
ImageList image_union(const ImageList& a, const ImageList& b);

// copy_box of listed images: image from_images[i] of `from` to image to_images[i] of `to` for every i (the spans
// have the same length; the layouts' `images` are not used), split over the list with `parallel`. Gathers the
// images a step runs on into a dense crop and scatters them back.
void copy_box(const ParallelFor& parallel, const KeptLayout& from_layout, const std::byte* from,
              std::span<const int64_t> from_images, int64_t from_y, int64_t from_x, const KeptLayout& to_layout,
              std::byte* to, std::span<const int64_t> to_images, int64_t to_y, int64_t to_x, int64_t height,
              int64_t width);
// `window` of the listed images of `from` to the same images of `to`, both laid out as `layout`.
void copy_window(const ParallelFor& parallel, const KeptLayout& layout, const std::byte* from, std::byte* to,
                 const SpatialWindow& window, std::span<const int64_t> images);
// Whether a and b (laid out as `layout`, every image of it) differ within `within`; stops at the first difference.
bool window_differs(const KeptLayout& layout, const std::byte* a, const std::byte* b, const SpatialWindow& within);
// Where a and b differ among the `candidates` images, within `within`: the images that differ and a window
// holding every difference: with find_window the bounding box of the differing bytes (differing_window), else
// `within` (each image's comparison then stops at its first difference). Empty images: equal there.
struct ImageDifferences {
  ImageList images;
  SpatialWindow window;
};
ImageDifferences differing_images(const ParallelFor& parallel, const KeptLayout& layout, const std::byte* a,
                                  const std::byte* b, const SpatialWindow& within,
                                  std::span<const int64_t> candidates, bool find_window);
// memcpy / memcmp != 0 of `bytes` bytes, split into parts of at least 256 KiB with `parallel`.
void copy_bytes(const ParallelFor& parallel, const std::byte* from, std::byte* to, size_t bytes);
bool bytes_differ(const ParallelFor& parallel, const std::byte* a, const std::byte* b, size_t bytes);

// The smallest window inside `within` outside which `a` and `b` (both laid out as `layout`) hold the same bytes
// there; nullopt when they are equal throughout `within`.
std::optional<SpatialWindow> differing_window(const KeptLayout& layout, const std::byte* a, const std::byte* b,
                                              const SpatialWindow& within);

}  // namespace faultline
