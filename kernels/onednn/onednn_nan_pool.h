// NaN-propagating max pooling on oneDNN's own 4-D layouts (PlanOptions::propagate_nan): oneDNN's max pooling
// returns a number for a window holding a NaN, aten returns NaN, and a faulted NaN must not vanish in a pool.
// Each output is the reference kernel's (kernels/reference/pooling.cpp): starting from -inf, the taps inside
// the input in row-major order, max(best, v) = v when v > best or v is NaN, unless best is already NaN (the
// first NaN wins; of equal values, -0.0 and +0.0 included, the first). Padding is ignored.
// It reads and writes the plan's layouts in place (plain, channel-blocked, channels-last: kept_layout_of; the
// output plain, as the reference kernel's plain copies left it, so that the steps after it are unchanged),
// each channel block's lanes together, split over the images on the plan's threads, and serves window
// re-execution: any window of any images of the output.
#pragma once

#include <memory>
#include <oneapi/dnnl/dnnl.hpp>
#include <optional>
#include <span>
#include <vector>

#include "engine/kept_window.h"
#include "engine/spatial_window.h"
#include "kernels/onednn/onednn_window.h"

namespace faultline::onednn {

class NanMaxPool final : public WindowRunner {
 public:
  // `src` and `dst` 4-D float32 memories (kept_layout_of layouts, possibly different ones), `axes` the pool's
  // rows and columns (a global pool: the whole map, stride 1, no padding). nullptr when they do not qualify.
  static std::unique_ptr<NanMaxPool> create(dnnl::memory src, dnnl::memory dst, std::pair<SlidingAxis, SlidingAxis> axes,
                                            ParallelFor parallel);
  // The whole output.
  void run_all();
  bool run(const SpatialWindow& window, std::span<const int64_t> images) override;

 private:
  NanMaxPool() = default;
  // Outputs `window` of image n.
  void pool_image(const float* src, float* dst, int64_t n, const SpatialWindow& window) const;

  dnnl::memory src_, dst_;
  KeptLayout in_, out_;
  std::pair<SlidingAxis, SlidingAxis> axes_;
  ParallelFor parallel_;
  ImageList all_;
  // Per output row / column: the input rows / columns its taps read (inside the input, ascending), as word
  // offsets within an image's channel block.
  std::vector<std::vector<int64_t>> row_taps_, column_taps_;
};


}  // namespace faultline::onednn
