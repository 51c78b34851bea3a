#include "engine/shape_inference.h"
#include "kernels/reference/reference_internal.h"

namespace faultline::reference {

Result<WindowGeometry> make_window_geometry(const Shape& input, const Shape& output, std::vector<int64_t> kernel,
                                            std::vector<int64_t> strides, std::vector<int64_t> dilations,
                                            std::vector<int64_t> pads, AutoPad auto_pad, bool ceil_mode) {
  const size_t spatial = kernel.size();
  auto mismatch = [&](const std::string& what) {
    return invalid_argument(what + " (input " + shape_to_string(input) + ", output " + shape_to_string(output) +
                            ", kernel " + shape_to_string(kernel) + ")");
  };
  if (input.size() != spatial + 2 || output.size() != spatial + 2 || input[0] != output[0])
    return mismatch("input and output are not [N, C, spatial...] tensors with one axis per kernel axis");
  WindowGeometry window;
  window.input.assign(input.begin() + 2, input.end());
  window.output.assign(output.begin() + 2, output.end());
  if ((!strides.empty() && strides.size() != spatial) || (!dilations.empty() && dilations.size() != spatial) ||
      (!pads.empty() && pads.size() != 2 * spatial))
    return mismatch("strides, dilations or pads do not have one entry per spatial axis");
  resolve_window(window.input, kernel, auto_pad, strides, dilations, pads);
  for (size_t d = 0; d < spatial; ++d) {
    if (kernel[d] < 1 || strides[d] < 1 || dilations[d] < 1 || pads[d] < 0 || pads[d + spatial] < 0)
      return mismatch("kernel, strides and dilations must be >= 1 and pads >= 0");
    if (window.output[d] !=
        window_output_size(window.input[d], kernel[d], strides[d], dilations[d], pads[d], pads[d + spatial], ceil_mode))
      return mismatch("the output does not have the size the window attributes give");
  }
  window.kernel = std::move(kernel);
  window.strides = std::move(strides);
  window.dilations = std::move(dilations);
  window.pads = std::move(pads);
  window.input_size = numel(window.input);
  window.output_size = numel(window.output);
  window.kernel_size = numel(window.kernel);
  return window;
}

int64_t collect_window_taps(const WindowGeometry& window, int64_t out, std::vector<WindowTap>& taps) {
  const size_t spatial = window.kernel.size();
  // Per axis: the kernel indices whose position lies inside the input, and their input coordinate.
  struct AxisTap {
    int64_t kernel_index, input_index;
  };
  std::vector<std::vector<AxisTap>> axis_taps(spatial);
  int64_t padded_count = 1;
  int64_t remaining = out;
  for (size_t d = spatial; d-- > 0;) {
    const int64_t out_index = remaining % window.output[d];
    remaining /= window.output[d];
    const int64_t start = out_index * window.strides[d] - window.pads[d];
    int64_t inside_padded = 0;
    for (int64_t k = 0; k < window.kernel[d]; ++k) {
      const int64_t position = start + k * window.dilations[d];
      if (position >= -window.pads[d] && position < window.input[d] + window.pads[d + spatial]) ++inside_padded;
      if (position >= 0 && position < window.input[d]) axis_taps[d].push_back({k, position});
    }
    padded_count *= inside_padded;
  }
  taps.clear();
  for (const auto& axis : axis_taps)
    if (axis.empty()) return padded_count;
  // Cartesian product of the per-axis taps, row-major (last axis fastest).
  std::vector<size_t> choice(spatial, 0);
  while (true) {
    int64_t kernel_offset = 0;
    int64_t input_offset = 0;
    for (size_t d = 0; d < spatial; ++d) {
      kernel_offset = kernel_offset * window.kernel[d] + axis_taps[d][choice[d]].kernel_index;
      input_offset = input_offset * window.input[d] + axis_taps[d][choice[d]].input_index;
    }
    taps.push_back({kernel_offset, input_offset});
    size_t d = spatial;
    while (d > 0) {
      --d;
      if (++choice[d] < axis_taps[d].size()) break;
      choice[d] = 0;
      if (d == 0) return padded_count;
    }
    if (spatial == 0) return padded_count;
  }
}

}  // namespace faultline::reference
