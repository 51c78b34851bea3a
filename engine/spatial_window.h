// Spatial windows: where, in the rows and columns of a 4-D [N, C, H, W] value, a fault can make it differ from
// golden; for window re-execution (engine/incremental_executor.h, CompiledModel::run_step_window).
//
// A single-element activation fault changes a cone that grows layer by layer: one pixel, then the 3x3 a
// convolution reads around it, then 5x5, ... The window of a value is a box of rows [y0, y1) and columns
// [x0, x1), over every image and channel, outside which the value equals golden. The rules, per node kind,
// from the windows of the node's inputs (std::nullopt for an input that equals golden):
//   - Conv, MaxPool, AveragePool (2-D, unchanged weights): the outputs whose receptive field meets the input's
//     window (a superset when dilated);
//   - unary activations, Identity, BatchNormalization with unchanged parameters: the input's window;
//   - Add, Sub, Mul, Div whose differing inputs have the output's shape: the hull of the inputs' windows;
//   - Concat along the channels: the hull of the differing inputs' windows;
//   - anything else, a changed constant in any of the above, or an output that is not 4-D: the whole output.
// A window is only ever widened, never narrowed below what the node can change, so recomputing a window
// (with golden bytes elsewhere) gives exactly the whole node's result.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>

#include "engine/graph.h"

namespace faultline {

struct SpatialWindow {
  int64_t y0 = 0, y1 = 0;  // rows [y0, y1)
  int64_t x0 = 0, x1 = 0;  // columns [x0, x1)
  int64_t height() const { return y1 - y0; }
  int64_t width() const { return x1 - x0; }
  bool empty() const { return y1 <= y0 || x1 <= x0; }
  bool operator==(const SpatialWindow&) const = default;
};

// Every row and column of a 4-D shape; nullopt for another rank.
std::optional<SpatialWindow> whole_window(const Shape& shape);
// The smallest window holding both.
SpatialWindow window_hull(const SpatialWindow& a, const SpatialWindow& b);

// One spatial dimension of a sliding-window op (convolution or pooling): kernel k, stride s, dilation d (1 =
// dense), padding before p, input size in, output size out.
struct SlidingAxis {
  int64_t kernel = 1, stride = 1, dilation = 1, pad_begin = 0, in = 1, out = 1;
  // The outputs [begin, end) whose receptive field meets inputs [in_begin, in_end) (clipped to [0, out)).
  std::pair<int64_t, int64_t> outputs_reading(int64_t in_begin, int64_t in_end) const;
  // What outputs [begin, end) read: inputs [first, last) within [0, in), and the zero padding the window needs
  // before and after them (nonzero only at the input's borders).
  struct Reads {
    int64_t first = 0, last = 0, pad_before = 0, pad_after = 0;
  };
  Reads inputs_read(int64_t out_begin, int64_t out_end) const;
};

// The two spatial axes (H, W) of a 2-D Conv, MaxPool or AveragePool node of a specialized graph; nullopt for
// another node or rank.
std::optional<std::pair<SlidingAxis, SlidingAxis>> sliding_axes(const Graph& graph, NodeId id);

// The window of node `id`'s first output, given window_of(v) for its inputs (nullopt: v equals golden; a
// changed constant's window is its whole_window, or any window when it is not 4-D). nullopt when no input
// differs. A non-4-D output that can differ gets {0, 1, 0, 1}; callers treat a non-4-D value as whole.
std::optional<SpatialWindow> node_output_window(const Graph& graph, NodeId id,
                                                const std::function<std::optional<SpatialWindow>(ValueId)>& window_of);

}  // namespace faultline
