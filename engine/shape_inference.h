// Output shapes and dtypes of a node from its inputs' static shapes.
#pragma once

#include "engine/graph.h"
#include "engine/status.h"

namespace faultline {

// Sets shape, dtype and shape_known of every output of node `id`. Requires every input to have a static
// shape and the node to be in specialized form (operands absorbed into attrs, auto_pad resolved; see
// engine/op_attrs.h). Errors name the node and what does not fit ("Conv: input has 4 channels, weight
// expects 3 (group 1)"). ConstantOfShape and Range size their output from their inputs' values: while those
// are not constants, the output gets its rank with every dimension kDynamicDim.
Status infer_output_shapes(Graph& graph, NodeId id);

// Output spatial size of a convolution/pool window along one axis (floor or ceil division).
int64_t window_output_size(int64_t input, int64_t kernel, int64_t stride, int64_t dilation, int64_t pad_begin,
                           int64_t pad_end, bool ceil_mode);

// Resolves auto_pad (SAME_UPPER/SAME_LOWER/VALID) into explicit pads for the given spatial input sizes;
// fills empty strides/dilations/pads with their defaults. kernel_shape must be set.
void resolve_window(const std::vector<int64_t>& spatial_input, const std::vector<int64_t>& kernel_shape,
                    AutoPad& auto_pad, std::vector<int64_t>& strides, std::vector<int64_t>& dilations,
                    std::vector<int64_t>& pads);

// NumPy broadcast of two shapes, or an error naming both.
Result<Shape> broadcast_shapes(const Shape& a, const Shape& b);

// One axis of a Slice after ONNX normalization (negative indices, clamping, negative steps): the output
// reads `count` elements starting at index `start`, `step` apart.
struct SliceAxisRange {
  int64_t start = 0;
  int64_t step = 1;
  int64_t count = 0;
};
// The range of every axis of `input` (an axis the slice does not name reads all of it), or an error naming
// what does not fit (a zero step, an axis out of range or named twice, unequal list lengths). Shared by
// shape inference and the kernels so both agree on the semantics.
Result<std::vector<SliceAxisRange>> resolve_slice(const Shape& input, const SliceAttrs& attrs);

}  // namespace faultline
