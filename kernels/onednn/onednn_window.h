// Window re-execution on oneDNN (CompiledModel::run_step_window, engine/spatial_window.h): a compiled step
// recomputed on a window of rows and columns of its output only.
//   - Element-wise steps (the NaN-preserving activations, Add/Sub/Mul/Div of equal layouts without post-ops)
//     run their per-element function over the window's words in place: the same function of the same words.
//   - A convolution (any post-ops but a sum) or a BatchNormalization runs a primitive created for the crop:
//     the inputs the window reads (with zero padding only where the whole step pads, at the borders) are
//     gathered into a dense buffer of the same layout, the crop primitive writes the output crop, which is
//     scattered back; only the images asked for are gathered, into a crop of a batch rounded up to a multiple
//     of kCropImageStep. Windows are widened to even sizes so that crop primitives are reused (cached by the
//     crop's geometry and batch). A crop primitive is used only when oneDNN picks the same implementation for it as for
//     the whole step, with the same weights layout: the direct kernels then sum each output in the same order.
//     Otherwise run() declines that window.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <oneapi/dnnl/dnnl.hpp>
#include <optional>
#include <span>
#include <vector>

#include "engine/kept_window.h"
#include "engine/spatial_window.h"

namespace faultline::onednn {

// The KeptLayout of a 4-D float32 descriptor: plain strides or one block over the channels, no offset;
// nullopt otherwise.
std::optional<KeptLayout> kept_layout_of(const dnnl::memory::desc& md);

class WindowRunner {
 public:
  virtual ~WindowRunner() = default;
  // Writes the step's output within `window` (or a wider window) of the listed `images` (sorted, distinct)
  // exactly as the whole step would; false when it cannot for this window (nothing written). The calling
  // thread's OpenMP thread count must be the plan's.
  virtual bool run(const SpatialWindow& window, std::span<const int64_t> images) = 0;
};

// out[i] = f(in_0[i], ..., in_k[i]) per float: `apply(inputs, output, count)` over `count` consecutive floats.
// Every memory has the output's layout (kept_layout_of must accept it). Runners split their copies and loops
// over the images with `parallel`.
using ElementwiseFn = std::function<void(const float* const* inputs, float* output, int64_t count)>;
std::unique_ptr<WindowRunner> elementwise_window_runner(std::vector<dnnl::memory> inputs, dnnl::memory output,
                                                        ElementwiseFn apply, ParallelFor parallel);

// A convolution or batch normalization compiled as `full` (forward inference, src/dst 4-D with a
// kept_layout_of layout), executed with `args` (DNNL_ARG_SRC and DNNL_ARG_DST among them; a scratchpad
// argument is replaced). `make(src, dst, pads_begin, pads_end)` creates the primitive descriptor of the same
// operation on a crop (pads for a convolution; ignored for a batch normalization); `axes` give the sliding
// geometry (kernel 1, stride 1 for a batch normalization). nullptr when the step does not qualify.
// Buffers the crops of one model share (its steps run one at a time): the gathered inputs, the output crop and
// the crop primitive's scratchpad, each grown on demand and never shrunk.
class CropScratch {
 public:
  enum Use { kSource, kDestination, kScratchpad };
  std::byte* get(Use use, size_t bytes);

 private:
  struct Free {
    void operator()(std::byte* p) const;
  };
  std::unique_ptr<std::byte, Free> buffers_[3];
  size_t sizes_[3] = {};
};

using CropPrimitiveFactory = std::function<dnnl::primitive_desc(const dnnl::memory::desc& src, const dnnl::memory::desc& dst,
                                                                const dnnl::memory::dims& pads_begin,
                                                                const dnnl::memory::dims& pads_end)>;
std::unique_ptr<WindowRunner> crop_window_runner(const dnnl::engine& engine, const dnnl::primitive_desc& full,
                                                 std::unordered_map<int, dnnl::memory> args,
                                                 std::pair<SlidingAxis, SlidingAxis> axes, CropPrimitiveFactory make,
                                                 std::shared_ptr<CropScratch> scratch, ParallelFor parallel);

}  // namespace faultline::onednn
