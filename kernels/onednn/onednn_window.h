// Window re-execution on oneDNN (CompiledModel::run_step_window, engine/spatial_window.h): a compiled step
// recomputed on a window of rows and columns of some images of its output only.
//   - Element-wise steps (the NaN-preserving activations, Add/Sub/Mul/Div of equal layouts without post-ops,
//     the fault plans' BatchNorm -> Add -> activation chains) run their per-element function over the window's
//     words in place: the same function of the same words.
//   - A Concat along the channels copies each input's window into its channels of the output.
//   - A convolution (any post-ops but a sum) or an average pooling runs a primitive created for the crop:
//     the inputs the window reads (with zero padding only where the whole step pads, at the borders) are
//     gathered into a dense buffer of the same layout, the crop primitive writes the output crop, which is
//     scattered back; only the images asked for are gathered, into a crop of a batch rounded up to a multiple
//     of kCropImageStep. Windows are widened to even sizes so that crop primitives are reused (cached by the
//     crop's geometry and batch). A crop primitive is used only when oneDNN picks the same implementation for it as for
//     the whole step, with the same weights layout; otherwise run() declines that window. The backend gives
//     runners only to convolutions whose implementation sums each output in an order independent of the
//     problem's size (onednn_backend.cpp sums_in_fixed_order: the direct "jit:" kernels), and to the jit_1x1
//     ones, whose crops of a window rounded otherwise on ResNet-50's 1x1 convolutions, a runner of whole maps
//     of some images (sums_in_fixed_order_per_map).
#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <string>
#include <unordered_map>
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

// out[i] = f(in_0[i], ..., in_k[i]) per float: `apply(inputs, output, word, count)` over `count` consecutive floats
// starting at word `word` of the buffers (inputs and output point there; a per-channel f finds its channel by it).
// Every memory has the output's layout (kept_layout_of must accept it). Runners split their copies and loops
// over the images with `parallel`.
using ElementwiseFn = std::function<void(const float* const* inputs, float* output, int64_t word, int64_t count)>;
std::unique_ptr<WindowRunner> elementwise_window_runner(std::vector<dnnl::memory> inputs, dnnl::memory output,
                                                        ElementwiseFn apply, ParallelFor parallel);

// A concatenation along the channels of 4-D inputs (kept_layout_of layouts, the output's images, rows and
// columns): each input's window copied into its channels of the output, word by word.
std::unique_ptr<WindowRunner> channel_concat_window_runner(std::vector<dnnl::memory> inputs, dnnl::memory output,
                                                           ParallelFor parallel);

// Buffers the crops of one model share (its steps run one at a time): the gathered inputs, the output crop and
// the crop primitive's scratchpad, each grown on demand and never shrunk.
class CropScratch {
 public:
  enum Use { kSource, kDestination, kScratchpad };
  std::byte* get(Use use, size_t bytes);
  // Executes a crop primitive with `args` and, when it needs one, a scratchpad in the shared buffer; waits.
  void execute(const dnnl::primitive& primitive, const dnnl::engine& engine, dnnl::stream& stream,
               std::unordered_map<int, dnnl::memory> args, const dnnl::memory::desc& scratchpad);

 private:
  struct Free {
    void operator()(std::byte* p) const;
  };
  std::unique_ptr<std::byte, Free> buffers_[3];
  size_t sizes_[3] = {};
};

// A convolution or pooling compiled as `full` (forward inference, src/dst 4-D with a kept_layout_of layout),
// executed with `args` (DNNL_ARG_SRC and DNNL_ARG_DST among them; a scratchpad argument is replaced).
// `make(src, dst, pads_begin, pads_end)` creates the primitive descriptor of the same operation on a crop;
// `axes` give the sliding geometry. With `whole_maps_only`, run() widens every window to the whole map (the
// crop then differs from the step in its images only). nullptr when the step does not qualify.
using CropPrimitiveFactory = std::function<dnnl::primitive_desc(const dnnl::memory::desc& src, const dnnl::memory::desc& dst,
                                                                const dnnl::memory::dims& pads_begin,
                                                                const dnnl::memory::dims& pads_end)>;
std::unique_ptr<WindowRunner> crop_window_runner(const dnnl::engine& engine, const dnnl::primitive_desc& full,
                                                 std::unordered_map<int, dnnl::memory> args,
                                                 std::pair<SlidingAxis, SlidingAxis> axes, CropPrimitiveFactory make,
                                                 std::shared_ptr<CropScratch> scratch, ParallelFor parallel,
                                                 bool whole_maps_only = false);

// A convolution recomputed for some of its output channels only (CompiledModel::run_step_channels): a weight
// fault changes one output channel of its convolution. The channel blocks holding the channels asked for
// run as a convolution of those output channels (the same input, the blocks' slice of the blocked weights
// and of the bias, the same post-ops) into a dense crop that is copied into the output's blocks. Used only
// when oneDNN picks the same implementation for it as for the whole step.
class ChannelRunner {
 public:
  // `make(weights, bias, dst)` creates the primitive descriptor of the convolution with those descriptors
  // (bias empty without one), the step's source, strides, pads and attributes.
  using Factory = std::function<dnnl::primitive_desc(const dnnl::memory::desc& weights, const dnnl::memory::desc& bias,
                                                     const dnnl::memory::desc& dst)>;
  // nullptr when the step does not qualify: an output that is not channel-blocked, weights whose output
  // channels are not the outermost blocked dimension, grouped weights.
  static std::unique_ptr<ChannelRunner> create(const dnnl::engine& engine, const dnnl::primitive_desc& full,
                                               std::unordered_map<int, dnnl::memory> args, Factory make,
                                               std::shared_ptr<CropScratch> scratch, ParallelFor parallel);
  // Writes output channels [first, end) (or the whole blocks holding them) exactly as the whole step would;
  // false when it cannot (nothing written).
  bool run(int64_t first, int64_t end);

 private:
  struct Slice {
    dnnl::primitive primitive;
    dnnl::memory::desc weights_md, bias_md, dst_md, scratchpad_md;
  };
  ChannelRunner() = default;
  Slice* slice_for(int64_t first_block, int64_t blocks);  // created on first use; nullptr: declined

  dnnl::engine engine_;
  dnnl::stream stream_;
  std::string impl_;
  std::unordered_map<int, dnnl::memory> args_;
  Factory make_;
  std::shared_ptr<CropScratch> scratch_;
  ParallelFor parallel_;
  KeptLayout dst_layout_;
  int64_t weights_block_stride_ = 0;  // floats between output-channel blocks of the weights
  std::map<std::pair<int64_t, int64_t>, std::unique_ptr<Slice>> slices_;
};

}  // namespace faultline::onednn
