#include <cstring>

#include "engine/shape_inference.h"
#include "kernels/reference/reference_internal.h"

namespace faultline::reference {

namespace {

// dst[i] = src[base + sum_d index_d(i) * strides[d]] for every element of dst (any dtype).
void strided_gather(const Tensor& src, Tensor& dst, int64_t base, const std::vector<int64_t>& strides) {
  with_element_word(dtype_size(src.dtype()), [&](auto word) {
    using Word = decltype(word);
    const Word* in = static_cast<const Word*>(src.raw());
    Word* out = static_cast<Word*>(dst.raw());
    for_each_index(dst.shape(), [&](const std::vector<int64_t>& index, int64_t i) {
      out[i] = in[strided_offset(index, base, strides)];
    });
  });
}

Status expect_same_dtype(const Node& node, const Tensor& src, const Tensor& dst) {
  if (src.dtype() == dst.dtype()) return Status::ok();
  return node_error(node, "output is " + std::string(dtype_name(dst.dtype())) + " but input is " +
                              std::string(dtype_name(src.dtype())));
}

// Index of the input element an output position along one padded axis reads, or -1 for the constant.
int64_t padded_source_index(int64_t position, int64_t size, PadMode mode) {
  if (position >= 0 && position < size) return position;
  switch (mode) {
    case PadMode::kConstant:
      return -1;
    case PadMode::kEdge:
      return position < 0 ? 0 : size - 1;
    case PadMode::kReflect: {
      if (size == 1) return 0;
      const int64_t period = 2 * (size - 1);  // reflection without repeating the edge, as numpy.pad
      int64_t folded = position % period;
      if (folded < 0) folded += period;
      return folded < size ? folded : period - folded;
    }
  }
  return -1;
}

}  // namespace

Status run_copy(const Node& node, Inputs inputs, Outputs outputs) {
  FL_RETURN_IF_ERROR(expect_operands(node, inputs, outputs, 1, 1));
  FL_RETURN_IF_ERROR(expect_same_numel(node, *inputs[0], *outputs[0]));
  if (inputs[0]->raw() != outputs[0]->raw() && inputs[0]->nbytes() > 0)
    std::memcpy(outputs[0]->raw(), inputs[0]->raw(), inputs[0]->nbytes());
  return Status::ok();
}

Status run_transpose(const Node& node, Inputs inputs, Outputs outputs) {
  FL_RETURN_IF_ERROR(expect_operands(node, inputs, outputs, 1, 1));
  FL_ASSIGN_OR_RETURN(const TransposeAttrs* attrs, node_attrs<TransposeAttrs>(node));
  const Tensor& src = *inputs[0];
  Tensor& dst = *outputs[0];
  FL_RETURN_IF_ERROR(expect_same_numel(node, src, dst));
  std::vector<int64_t> perm = attrs->perm;
  if (perm.empty())
    for (int64_t d = src.rank() - 1; d >= 0; --d) perm.push_back(d);
  if (static_cast<int>(perm.size()) != src.rank() || dst.rank() != src.rank())
    return node_error(node, "perm does not fit input " + shape_to_string(src.shape()));
  const std::vector<int64_t> src_strides = contiguous_strides(src.shape());
  std::vector<int64_t> strides(perm.size());
  for (size_t d = 0; d < perm.size(); ++d) {
    if (perm[d] < 0 || perm[d] >= src.rank() || dst.dim(static_cast<int>(d)) != src.dim(static_cast<int>(perm[d])))
      return node_error(node, "output " + shape_to_string(dst.shape()) + " is not input " +
                                  shape_to_string(src.shape()) + " permuted");
    strides[d] = src_strides[static_cast<size_t>(perm[d])];
  }
  strided_gather(src, dst, 0, strides);
  return Status::ok();
}

Status run_slice(const Node& node, Inputs inputs, Outputs outputs) {
  FL_RETURN_IF_ERROR(expect_operands(node, inputs, outputs, 1, 1));
  FL_ASSIGN_OR_RETURN(const SliceAttrs* attrs, node_attrs<SliceAttrs>(node));
  if (attrs->from_inputs) return node_error(node, "starts/ends are still inputs (not in specialized form)");
  const Tensor& src = *inputs[0];
  Tensor& dst = *outputs[0];
  FL_RETURN_IF_ERROR(expect_same_dtype(node, src, dst));
  Result<std::vector<SliceAxisRange>> ranges = resolve_slice(src.shape(), *attrs);
  if (!ranges.is_ok()) return node_error(node, ranges.status().message());
  const std::vector<int64_t> src_strides = contiguous_strides(src.shape());
  int64_t base = 0;
  std::vector<int64_t> strides(src_strides.size());
  for (size_t d = 0; d < ranges->size(); ++d) {
    const SliceAxisRange& range = (*ranges)[d];
    if (dst.dim(static_cast<int>(d)) != range.count)
      return node_error(node, "output " + shape_to_string(dst.shape()) + " does not fit the slice of " +
                                  shape_to_string(src.shape()));
    base += range.start * src_strides[d];
    strides[d] = range.step * src_strides[d];
  }
  if (dst.numel() > 0) strided_gather(src, dst, base, strides);
  return Status::ok();
}

Status run_concat(const Node& node, Inputs inputs, Outputs outputs) {
  if (inputs.empty()) return node_error(node, "has no inputs");
  FL_RETURN_IF_ERROR(expect_operands(node, inputs, outputs, inputs.size(), inputs.size()));
  FL_ASSIGN_OR_RETURN(const ConcatAttrs* attrs, node_attrs<ConcatAttrs>(node));
  Tensor& dst = *outputs[0];
  const int64_t rank = dst.rank();
  if (attrs->axis < -rank || attrs->axis >= rank)
    return node_error(node,
                      "axis " + std::to_string(attrs->axis) + " is out of range for " + shape_to_string(dst.shape()));
  const size_t axis = static_cast<size_t>(attrs->axis < 0 ? attrs->axis + rank : attrs->axis);
  const Shape& shape = dst.shape();
  const int64_t outer = numel(Shape(shape.begin(), shape.begin() + static_cast<std::ptrdiff_t>(axis)));
  const size_t element_bytes = dtype_size(dst.dtype());
  int64_t axis_total = 0;
  for (const Tensor* src : inputs) {
    FL_RETURN_IF_ERROR(expect_same_dtype(node, *src, dst));
    if (src->rank() != rank) return node_error(node, "inputs must have the output's rank " + std::to_string(rank));
    axis_total += src->dim(static_cast<int>(axis));
  }
  if (axis_total != shape[axis]) return node_error(node, "inputs do not add up to output " + shape_to_string(shape));
  const size_t dst_row_bytes = static_cast<size_t>(dst.numel() / std::max<int64_t>(outer, 1)) * element_bytes;
  size_t dst_column = 0;
  for (const Tensor* src : inputs) {
    const size_t src_row_bytes = static_cast<size_t>(src->numel() / std::max<int64_t>(outer, 1)) * element_bytes;
    for (int64_t o = 0; o < outer; ++o)
      std::memcpy(static_cast<char*>(dst.raw()) + o * dst_row_bytes + dst_column,
                  static_cast<const char*>(src->raw()) + o * src_row_bytes, src_row_bytes);
    dst_column += src_row_bytes;
  }
  return Status::ok();
}

// Constant, reflect (numpy "reflect": the edge is not repeated) or edge padding; negative pads crop.
Status run_pad(const Node& node, Inputs inputs, Outputs outputs) {
  FL_RETURN_IF_ERROR(expect_operands(node, inputs, outputs, 1, 1));
  FL_ASSIGN_OR_RETURN(const PadAttrs* attrs, node_attrs<PadAttrs>(node));
  if (attrs->pads_from_inputs) return node_error(node, "pads are still inputs (not in specialized form)");
  const Tensor& src = *inputs[0];
  Tensor& dst = *outputs[0];
  FL_RETURN_IF_ERROR(expect_same_dtype(node, src, dst));
  const size_t rank = static_cast<size_t>(src.rank());
  if (attrs->pads.size() != 2 * rank || dst.rank() != src.rank())
    return node_error(node, "pads do not fit input " + shape_to_string(src.shape()));
  // Per axis: the input index each output position reads (-1: the constant).
  std::vector<std::vector<int64_t>> source_index(rank);
  for (size_t d = 0; d < rank; ++d) {
    const int64_t size = src.dim(static_cast<int>(d));
    const int64_t begin = attrs->pads[d];
    if (dst.dim(static_cast<int>(d)) != size + begin + attrs->pads[d + rank])
      return node_error(node, "output " + shape_to_string(dst.shape()) + " does not fit the padding of " +
                                  shape_to_string(src.shape()));
    if (size == 0 && attrs->mode != PadMode::kConstant && dst.dim(static_cast<int>(d)) > 0)
      return node_error(node, "cannot pad empty axis " + std::to_string(d) + " in reflect/edge mode");
    for (int64_t o = 0; o < dst.dim(static_cast<int>(d)); ++o)
      source_index[d].push_back(padded_source_index(o - begin, size, attrs->mode));
  }
  const Tensor fill = Tensor::from_floats({}, {attrs->value}).cast(src.dtype());
  const std::vector<int64_t> src_strides = contiguous_strides(src.shape());
  with_element_word(dtype_size(src.dtype()), [&](auto word) {
    using Word = decltype(word);
    const Word* in = static_cast<const Word*>(src.raw());
    Word* out = static_cast<Word*>(dst.raw());
    Word fill_word;
    std::memcpy(&fill_word, fill.raw(), sizeof(Word));
    for_each_index(dst.shape(), [&](const std::vector<int64_t>& index, int64_t i) {
      int64_t offset = 0;
      for (size_t d = 0; d < rank; ++d) {
        const int64_t source = source_index[d][static_cast<size_t>(index[d])];
        if (source < 0) {
          out[i] = fill_word;
          return;
        }
        offset += source * src_strides[d];
      }
      out[i] = in[offset];
    });
  });
  return Status::ok();
}

// out[outer, j..., inner] = data[outer, indices[j...], inner]; negative indices count from the end.
Status run_gather(const Node& node, Inputs inputs, Outputs outputs) {
  FL_RETURN_IF_ERROR(expect_operands(node, inputs, outputs, 2, 2));
  FL_ASSIGN_OR_RETURN(const GatherAttrs* attrs, node_attrs<GatherAttrs>(node));
  const Tensor& data = *inputs[0];
  const Tensor& indices = *inputs[1];
  Tensor& dst = *outputs[0];
  FL_RETURN_IF_ERROR(expect_same_dtype(node, data, dst));
  if (indices.dtype() != DType::kInt64 && indices.dtype() != DType::kInt32)
    return node_error(node, "indices must be int32 or int64");
  const int64_t rank = data.rank();
  if (attrs->axis < -rank || attrs->axis >= rank)
    return node_error(node,
                      "axis " + std::to_string(attrs->axis) + " is out of range for " + shape_to_string(data.shape()));
  const size_t axis = static_cast<size_t>(attrs->axis < 0 ? attrs->axis + rank : attrs->axis);
  const Shape& shape = data.shape();
  const int64_t outer = numel(Shape(shape.begin(), shape.begin() + static_cast<std::ptrdiff_t>(axis)));
  const int64_t axis_size = shape[axis];
  const int64_t inner = numel(Shape(shape.begin() + static_cast<std::ptrdiff_t>(axis) + 1, shape.end()));
  if (dst.numel() != outer * indices.numel() * inner)
    return node_error(node, "output " + shape_to_string(dst.shape()) + " does not fit the gather");
  const std::vector<int64_t> positions = indices.to_int64s();
  const size_t chunk_bytes = static_cast<size_t>(inner) * dtype_size(data.dtype());
  const char* src = static_cast<const char*>(data.raw());
  char* out = static_cast<char*>(dst.raw());
  for (size_t j = 0; j < positions.size(); ++j) {
    const int64_t position = positions[j] < 0 ? positions[j] + axis_size : positions[j];
    if (position < 0 || position >= axis_size)
      return node_error(node, "index " + std::to_string(positions[j]) + " is out of range for axis " +
                                  std::to_string(axis) + " of size " + std::to_string(axis_size));
    for (int64_t o = 0; o < outer; ++o)
      std::memcpy(out + (o * static_cast<int64_t>(positions.size()) + static_cast<int64_t>(j)) *
                            static_cast<int64_t>(chunk_bytes),
                  src + (o * axis_size + position) * static_cast<int64_t>(chunk_bytes), chunk_bytes);
  }
  return Status::ok();
}

}  // namespace faultline::reference
