#include "engine/kept_window.h"

#include <algorithm>
#include <cstring>
#include <iterator>
#include <vector>

namespace faultline {
namespace {

// Byte offset of the first word of channel block `block`, row y, column x of image n.
size_t offset_of(const KeptLayout& layout, int64_t n, int64_t block, int64_t y, int64_t x) {
  return static_cast<size_t>(layout.word_index(n, block, y, x)) * layout.word_bytes;
}

// Copies and comparisons of fewer bytes than this run on the calling thread: a team costs more.
constexpr size_t kPartBytes = size_t{256} << 10;

// Whether a box is every element of images laid out alike and densely in both: one memcpy copies it.
bool covers_dense_images(const KeptLayout& from, int64_t from_y, int64_t from_x, const KeptLayout& to, int64_t to_y,
                         int64_t to_x, int64_t height, int64_t width) {
  const bool whole = from_y == 0 && from_x == 0 && to_y == 0 && to_x == 0 && height == from.height &&
                     width == from.width && to.height == from.height && to.width == from.width;
  const bool same = from.channel_block == to.channel_block && from.image_stride == to.image_stride &&
                    from.block_stride == to.block_stride && from.row_stride == to.row_stride &&
                    from.column_stride == to.column_stride && from.word_bytes == to.word_bytes;
  return whole && same && from.dense_images();
}

}  // namespace

KeptLayout KeptLayout::dense(int64_t images, int64_t channels, int64_t height, int64_t width, int64_t channel_block,
                             size_t word_bytes) {
  KeptLayout layout;
  layout.images = images, layout.channels = channels, layout.height = height, layout.width = width;
  layout.channel_block = channel_block;
  layout.word_bytes = word_bytes;
  layout.column_stride = channel_block;
  layout.row_stride = width * channel_block;
  layout.block_stride = height * layout.row_stride;
  layout.image_stride = layout.blocks() * layout.block_stride;
  return layout;
}

void copy_box(const KeptLayout& from_layout, const std::byte* from, int64_t from_y, int64_t from_x,
              const KeptLayout& to_layout, std::byte* to, int64_t to_y, int64_t to_x, int64_t height, int64_t width) {
  if (height <= 0 || width <= 0) return;
  if (covers_dense_images(from_layout, from_y, from_x, to_layout, to_y, to_x, height, width)) {
    std::memcpy(to, from, static_cast<size_t>(from_layout.images * from_layout.image_stride) * from_layout.word_bytes);
    return;
  }
  const size_t column_bytes = static_cast<size_t>(from_layout.channel_block) * from_layout.word_bytes;
  const bool runs = from_layout.rows_contiguous() && to_layout.rows_contiguous();
  const int64_t blocks = from_layout.blocks();
  for (int64_t n = 0; n < from_layout.images; ++n)
    for (int64_t b = 0; b < blocks; ++b)
      for (int64_t y = 0; y < height; ++y) {
        const std::byte* src = from + offset_of(from_layout, n, b, from_y + y, from_x);
        std::byte* dst = to + offset_of(to_layout, n, b, to_y + y, to_x);
        if (runs) {
          std::memcpy(dst, src, column_bytes * static_cast<size_t>(width));
          continue;
        }
        for (int64_t x = 0; x < width; ++x)
          std::memcpy(dst + static_cast<size_t>(x * to_layout.column_stride) * to_layout.word_bytes,
                      src + static_cast<size_t>(x * from_layout.column_stride) * from_layout.word_bytes, column_bytes);
      }
}

std::optional<SpatialWindow> differing_window(const KeptLayout& layout, const std::byte* a, const std::byte* b,
                                              const SpatialWindow& within) {
  if (within.empty()) return std::nullopt;
  const size_t column_bytes = static_cast<size_t>(layout.channel_block) * layout.word_bytes;
  const size_t column_step = static_cast<size_t>(layout.column_stride) * layout.word_bytes;
  const bool runs = layout.rows_contiguous();
  auto column_differs = [&](size_t row_offset, int64_t x) {
    const size_t at = row_offset + static_cast<size_t>(x - within.x0) * column_step;
    return std::memcmp(a + at, b + at, column_bytes) != 0;
  };
  SpatialWindow found{within.y1, within.y0, within.x1, within.x0};  // empty until a difference shows up
  const int64_t blocks = layout.blocks();
  for (int64_t n = 0; n < layout.images; ++n)
    for (int64_t blk = 0; blk < blocks; ++blk)
      for (int64_t y = within.y0; y < within.y1; ++y) {
        const size_t row = offset_of(layout, n, blk, y, within.x0);
        bool row_differs = false;
        if (runs) {
          row_differs = std::memcmp(a + row, b + row, column_bytes * static_cast<size_t>(within.width())) != 0;
        } else {
          for (int64_t x = within.x0; x < within.x1 && !row_differs; ++x) row_differs = column_differs(row, x);
        }
        if (!row_differs) continue;
        found.y0 = std::min(found.y0, y);
        found.y1 = std::max(found.y1, y + 1);
        // Widen the columns found so far by this row's first and last differing columns outside them.
        for (int64_t x = within.x0; x < found.x0; ++x)
          if (column_differs(row, x)) {
            found.x0 = x;
            break;
          }
        for (int64_t x = within.x1 - 1; x >= found.x1; --x)
          if (column_differs(row, x)) {
            found.x1 = x + 1;
            break;
          }
      }
  if (found.empty()) return std::nullopt;
  return found;
}

ImageList all_images(int64_t count) {
  ImageList images(static_cast<size_t>(std::max<int64_t>(count, 0)));
  for (size_t i = 0; i < images.size(); ++i) images[i] = static_cast<int64_t>(i);
  return images;
}

ImageList image_union(const ImageList& a, const ImageList& b) {
  ImageList both;
  both.reserve(a.size() + b.size());
  std::set_union(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(both));
  return both;
}

void copy_box(const ParallelFor& parallel, const KeptLayout& from_layout, const std::byte* from,
              std::span<const int64_t> from_images, int64_t from_y, int64_t from_x, const KeptLayout& to_layout,
              std::byte* to, std::span<const int64_t> to_images, int64_t to_y, int64_t to_x, int64_t height,
              int64_t width) {
  const KeptLayout from_one = from_layout.with_images(1), to_one = to_layout.with_images(1);
  parallel(static_cast<int64_t>(from_images.size()), [&](int64_t first, int64_t end) {
    for (int64_t i = first; i < end; ++i)
      copy_box(from_one, from + from_layout.image_offset(from_images[static_cast<size_t>(i)]), from_y, from_x, to_one,
               to + to_layout.image_offset(to_images[static_cast<size_t>(i)]), to_y, to_x, height, width);
  });
}

void copy_window(const ParallelFor& parallel, const KeptLayout& layout, const std::byte* from, std::byte* to,
                 const SpatialWindow& window, std::span<const int64_t> images) {
  copy_box(parallel, layout, from, images, window.y0, window.x0, layout, to, images, window.y0, window.x0,
           window.height(), window.width());
}

bool window_differs(const KeptLayout& layout, const std::byte* a, const std::byte* b, const SpatialWindow& within) {
  if (within.empty()) return false;
  const size_t column_bytes = static_cast<size_t>(layout.channel_block) * layout.word_bytes;
  const size_t column_step = static_cast<size_t>(layout.column_stride) * layout.word_bytes;
  const int64_t blocks = layout.blocks();
  for (int64_t n = 0; n < layout.images; ++n)
    for (int64_t blk = 0; blk < blocks; ++blk)
      for (int64_t y = within.y0; y < within.y1; ++y) {
        const size_t row = offset_of(layout, n, blk, y, within.x0);
        if (layout.rows_contiguous()) {
          if (std::memcmp(a + row, b + row, column_bytes * static_cast<size_t>(within.width())) != 0) return true;
          continue;
        }
        for (int64_t x = 0; x < within.width(); ++x) {
          const size_t at = row + static_cast<size_t>(x) * column_step;
          if (std::memcmp(a + at, b + at, column_bytes) != 0) return true;
        }
      }
  return false;
}

ImageDifferences differing_images(const ParallelFor& parallel, const KeptLayout& layout, const std::byte* a,
                                  const std::byte* b, const SpatialWindow& within,
                                  std::span<const int64_t> candidates, bool find_window) {
  const KeptLayout one = layout.with_images(1);
  std::vector<std::optional<SpatialWindow>> found(candidates.size());
  const size_t bytes = candidates.size() * static_cast<size_t>(layout.image_stride) * layout.word_bytes;
  const ParallelFor serial = [](int64_t count, const std::function<void(int64_t, int64_t)>& body) { body(0, count); };
  (bytes < kPartBytes ? serial : parallel)(static_cast<int64_t>(candidates.size()), [&](int64_t first, int64_t end) {
    for (int64_t i = first; i < end; ++i) {
      const size_t offset = layout.image_offset(candidates[static_cast<size_t>(i)]);
      if (find_window) {
        found[static_cast<size_t>(i)] = differing_window(one, a + offset, b + offset, within);
      } else if (window_differs(one, a + offset, b + offset, within)) {
        found[static_cast<size_t>(i)] = within;
      }
    }
  });
  ImageDifferences differences;
  for (size_t i = 0; i < found.size(); ++i) {
    if (!found[i]) continue;
    differences.window = differences.images.empty() ? *found[i] : window_hull(differences.window, *found[i]);
    differences.images.push_back(candidates[i]);
  }
  return differences;
}


void copy_bytes(const ParallelFor& parallel, const std::byte* from, std::byte* to, size_t bytes) {
  const int64_t parts = static_cast<int64_t>((bytes + kPartBytes - 1) / kPartBytes);
  if (parts <= 1) {
    std::memcpy(to, from, bytes);
    return;
  }
  parallel(parts, [&](int64_t first, int64_t end) {
    const size_t begin = static_cast<size_t>(first) * kPartBytes;
    const size_t stop = std::min(bytes, static_cast<size_t>(end) * kPartBytes);
    std::memcpy(to + begin, from + begin, stop - begin);
  });
}

bool bytes_differ(const ParallelFor& parallel, const std::byte* a, const std::byte* b, size_t bytes) {
  const int64_t parts = static_cast<int64_t>((bytes + kPartBytes - 1) / kPartBytes);
  if (parts <= 1) return std::memcmp(a, b, bytes) != 0;
  std::vector<char> differs(static_cast<size_t>(parts), 0);
  parallel(parts, [&](int64_t first, int64_t end) {
    for (int64_t p = first; p < end; ++p) {
      const size_t begin = static_cast<size_t>(p) * kPartBytes;
      const size_t stop = std::min(bytes, begin + kPartBytes);
      if (std::memcmp(a + begin, b + begin, stop - begin) != 0) {
        differs[static_cast<size_t>(p)] = 1;
        return;  // this thread's parts: one difference is enough
      }
    }
  });
  return std::find(differs.begin(), differs.end(), 1) != differs.end();
}

}  // namespace faultline
