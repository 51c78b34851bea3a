#include "kernels/reference/fault_aware_mac.h"

#include <bit>
#include <cassert>
#include <limits>
#include <string>

#include "engine/op_kind.h"
#include "engine/shape_inference.h"
#include "kernels/reference/mac_loops.h"
#include "kernels/reference/quantized.h"

namespace faultline {

namespace {

using reference::node_error;
using reference::node_unsupported;

constexpr int64_t kNever = std::numeric_limits<int64_t>::max();

// The word transformation on the bits of a float32 or int32 word.
template <typename T>
inline T apply_word(const WordTransform32& word, T value) {
  return std::bit_cast<T>(word.apply(std::bit_cast<uint32_t>(value)));
}

// One MAC's arithmetic: float32 rounded as written; int32 exact products, sums modulo 2^32.
inline float mac_product(float a, float b) { return a * b; }
inline int32_t mac_product(int32_t a, int32_t b) { return a * b; }  // centred int8/uint8: |a * b| <= 255 * 255
inline float mac_add(float acc, float product) { return acc + product; }
inline int32_t mac_add(int32_t acc, int32_t product) { return reference::wrapping_add(acc, product); }

// The first MAC index >= 0 of `schedule`, or kNever.
int64_t first_scheduled(const MacSchedule& schedule) {
  if (schedule.empty()) return kNever;
  if (schedule.first >= 0) return schedule.first;
  return schedule.first + ((-schedule.first + schedule.stride - 1) / schedule.stride) * schedule.stride;
}

// The running sum of one element: acc = acc + a * b per MAC (mac_product / mac_add), with the scheduled product
// and accumulator faults. kFaulty = false is the plain sum (no bookkeeping).
template <typename T, bool kFaulty>
class MacUnit {
 public:
  explicit MacUnit(const MacFaults& faults)
      : faults_(faults),
        next_product_(kFaulty ? first_scheduled(faults.product) : kNever),
        next_accumulator_(kFaulty ? first_scheduled(faults.accumulator) : kNever) {}

  void mac(T a, T b) {
    T product = mac_product(a, b);
    if constexpr (kFaulty) {
      if (t_ == next_product_) {
        product = apply_word(faults_.word, product);
        next_product_ += faults_.product.stride;
      }
    }
    acc_ = mac_add(acc_, product);
    if constexpr (kFaulty) {
      if (t_ == next_accumulator_) {
        acc_ = apply_word(faults_.word, acc_);
        next_accumulator_ += faults_.accumulator.stride;
      }
      ++t_;
    }
  }
  T sum() const { return acc_; }

 private:
  const MacFaults& faults_;
  T acc_ = T{0};
  int64_t t_ = 0;
  int64_t next_product_, next_accumulator_;
};

std::string shapes_text(std::span<const Shape> input_shapes, const Shape& output_shape) {
  std::string text = "inputs";
  for (const Shape& shape : input_shapes) {
    text += ' ';
    text += shape_to_string(shape);
  }
  return text + ", output " + shape_to_string(output_shape);
}

}  // namespace

float WordTransform32::apply(float value) const {
  return apply_word(*this, value);
}

Result<MacKernel> MacKernel::create(const Node& node, std::span<const Shape> input_shapes, const Shape& output_shape) {
  // Per op: the input counts, the weight slot and the bias slot (0: none).
  size_t min_inputs = 2, max_inputs = 3, b_slot = 1, bias_slot = 2;
  switch (node.op) {
    case OpKind::kConv:
    case OpKind::kGemm:
      break;
    case OpKind::kMatMul:
      max_inputs = 2, bias_slot = 0;
      break;
    case OpKind::kConvInteger:
    case OpKind::kMatMulInteger:
      max_inputs = 4, bias_slot = 0;
      break;
    case OpKind::kQLinearConv:
      min_inputs = 8, max_inputs = 9, b_slot = 3, bias_slot = 8;
      break;
    case OpKind::kQLinearMatMul:
      min_inputs = 8, max_inputs = 8, b_slot = 3, bias_slot = 0;
      break;
    default:
      return node_unsupported(node, "kernel-level faults need a Conv, Gemm, MatMul, ConvInteger, QLinearConv, "
                                    "MatMulInteger or QLinearMatMul node");
  }
  if (input_shapes.size() < min_inputs || input_shapes.size() > max_inputs)
    return node_error(node, "expects " + std::to_string(min_inputs) + " to " + std::to_string(max_inputs) +
                                " inputs, got " + std::to_string(input_shapes.size()));
  // An optional bias input is present unless the node marks it omitted.
  const bool third_input = bias_slot > 0 && input_shapes.size() > bias_slot &&
                           !(node.inputs.size() > bias_slot && node.inputs[bias_slot] == kNoValue);
  const Shape& a = input_shapes[0];
  const Shape& b = input_shapes[b_slot];
  MacKernel kernel;
  kernel.has_bias_ = third_input;
  kernel.integer_ = is_integer_op(node.op);
  if (kernel.integer_) {
    kernel.node_ = node;
    kernel.image_output_.assign(output_shape.begin() + (output_shape.empty() ? 0 : 1), output_shape.end());
  }
  const bool conv = node.op == OpKind::kConv || node.op == OpKind::kConvInteger || node.op == OpKind::kQLinearConv;

  if (conv) {
    FL_ASSIGN_OR_RETURN(const ConvAttrs* attrs, reference::node_attrs<ConvAttrs>(node));
    if (a.size() != 4 || b.size() != 4 || output_shape.size() != 4)
      return node_unsupported(
          node, "kernel-level faults support 2-D convolutions only (" + shapes_text(input_shapes, output_shape) + ")");
    FL_ASSIGN_OR_RETURN(const reference::ConvGeometry conv,
                        reference::make_conv_geometry(node, a, b, output_shape, *attrs));
    const int64_t out_channels = conv.out_channels;
    if (third_input && numel(input_shapes[bias_slot]) != out_channels)
      return node_error(node, "bias " + shape_to_string(input_shapes[bias_slot]) +
                                  " does not hold one value per output channel (" + std::to_string(out_channels) + ")");
    const reference::WindowGeometry& window = conv.window;
    kernel.op_ = Op::kConv;
    kernel.images_ = conv.batch;
    kernel.rows_ = window.output_size;
    kernel.cols_ = out_channels;
    kernel.macs_ = conv.group_in_channels * window.kernel_size;
    kernel.in_channels_ = conv.in_channels;
    kernel.group_in_channels_ = conv.group_in_channels;
    kernel.group_out_channels_ = conv.group_out_channels;
    kernel.in_h_ = window.input[0];
    kernel.in_w_ = window.input[1];
    kernel.out_w_ = window.output[1];
    kernel.kernel_h_ = window.kernel[0];
    kernel.kernel_w_ = window.kernel[1];
    kernel.stride_h_ = window.strides[0];
    kernel.stride_w_ = window.strides[1];
    kernel.dilation_h_ = window.dilations[0];
    kernel.dilation_w_ = window.dilations[1];
    kernel.pad_top_ = window.pads[0];
    kernel.pad_left_ = window.pads[1];
    return kernel;
  }

  if (node.op == OpKind::kGemm) {
    FL_ASSIGN_OR_RETURN(const GemmAttrs* attrs, reference::node_attrs<GemmAttrs>(node));
    if (attrs->trans_a) return node_unsupported(node, "kernel-level faults do not support Gemm with transA");
    if (a.size() != 2 || b.size() != 2 || output_shape.size() != 2)
      return node_error(node, "A, B and Y must be matrices (" + shapes_text(input_shapes, output_shape) + ")");
    const int64_t depth = a[1];
    const int64_t cols = attrs->trans_b ? b[0] : b[1];
    if ((attrs->trans_b ? b[1] : b[0]) != depth || output_shape[0] != a[0] || output_shape[1] != cols)
      return node_error(node, "A " + shape_to_string(a) + " and B " + shape_to_string(b) + " do not multiply into Y " +
                                  shape_to_string(output_shape));
    if (third_input) {
      Result<Shape> broadcast = broadcast_shapes(input_shapes[2], output_shape);
      if (!broadcast.is_ok() || *broadcast != output_shape)
        return node_error(
            node, "C " + shape_to_string(input_shapes[2]) + " does not broadcast to " + shape_to_string(output_shape));
      const std::vector<int64_t> c_strides = reference::broadcast_strides(input_shapes[2], output_shape);
      kernel.c_image_stride_ = c_strides[0];
      kernel.c_col_stride_ = c_strides[1];
    }
    kernel.op_ = Op::kGemm;
    kernel.images_ = a[0];
    kernel.rows_ = 1;
    kernel.cols_ = cols;
    kernel.macs_ = depth;
    kernel.a_image_stride_ = depth;
    kernel.b_depth_stride_ = attrs->trans_b ? 1 : cols;
    kernel.b_col_stride_ = attrs->trans_b ? depth : 1;
    kernel.alpha_ = attrs->alpha;
    kernel.beta_ = third_input ? attrs->beta : 0.0f;  // as the reference kernel: no C adds beta * 0 = +0
    kernel.plain_bias_sum_ = third_input && attrs->alpha == 1.0f && attrs->beta == 1.0f;
    return kernel;
  }

  // MatMul, MatMulInteger, QLinearMatMul: A [N, ..., K], B [K, cols].
  if (b.size() != 2)
    return node_unsupported(node, "kernel-level faults need MatMul's B to be a 2-D matrix, got " + shape_to_string(b));
  if (a.size() < 2)
    return node_unsupported(node, "kernel-level faults need MatMul's A to be [N, ..., K], got " + shape_to_string(a));
  const int64_t depth = a.back();
  const int64_t rows = numel(Shape(a.begin() + 1, a.end() - 1));
  Shape expected_output(a.begin(), a.end() - 1);
  expected_output.push_back(b[1]);
  if (b[0] != depth || output_shape != expected_output)
    return node_error(node, "A " + shape_to_string(a) + " and B " + shape_to_string(b) + " do not multiply into Y " +
                                shape_to_string(output_shape));
  kernel.op_ = Op::kMatMul;
  kernel.images_ = a[0];
  kernel.rows_ = rows;
  kernel.cols_ = b[1];
  kernel.macs_ = depth;
  kernel.a_image_stride_ = rows * depth;
  kernel.b_depth_stride_ = b[1];
  kernel.b_col_stride_ = 1;
  return kernel;
}

int64_t MacKernel::offset(int64_t row, int64_t col) const {
  return op_ == Op::kConv ? col * rows_ + row : row * cols_ + col;
}

void MacKernel::row_col(int64_t offset, int64_t& row, int64_t& col) const {
  if (op_ == Op::kConv) {
    col = offset / rows_;
    row = offset % rows_;
  } else {
    row = offset / cols_;
    col = offset % cols_;
  }
}

// a: the image's A, row `row` at a + row * K; b: B.
template <bool kFaulty, typename T>
T MacKernel::sum_products(const T* a, const T* b, int64_t row, int64_t col, const MacFaults& faults) const {
  MacUnit<T, kFaulty> unit(faults);
  const T* a_row = a + row * macs_;
  const T* b_col = b + col * b_col_stride_;
  for (int64_t t = 0; t < macs_; ++t) unit.mac(a_row[t], b_col[t * b_depth_stride_]);
  return unit.sum();
}

// x: the first input plane of the output channel's group in the image; w: the output channel's kernel.
// Padded taps multiply a zero (+0.0f; a centred integer 0).
template <bool kFaulty, typename T>
T MacKernel::sum_conv_taps(const T* x, const T* w, int64_t row, const MacFaults& faults) const {
  MacUnit<T, kFaulty> unit(faults);
  const int64_t oh = row / out_w_;
  const int64_t ow = row % out_w_;
  const int64_t top = oh * stride_h_ - pad_top_;
  const int64_t left = ow * stride_w_ - pad_left_;
  const int64_t plane = in_h_ * in_w_;
  for (int64_t ic = 0; ic < group_in_channels_; ++ic) {
    const T* src = x + ic * plane;
    for (int64_t kh = 0; kh < kernel_h_; ++kh) {
      const int64_t ih = top + kh * dilation_h_;
      const bool row_inside = ih >= 0 && ih < in_h_;
      for (int64_t kw = 0; kw < kernel_w_; ++kw, ++w) {
        const int64_t iw = left + kw * dilation_w_;
        const T value = row_inside && iw >= 0 && iw < in_w_ ? src[ih * in_w_ + iw] : T{0};
        unit.mac(value, *w);
      }
    }
  }
  return unit.sum();
}

// The faulted sum of products of element (row, col) of image `image` (before any bias): a, b the whole inputs.
template <typename T>
T MacKernel::sum(const T* a, const T* b, int64_t image, int64_t row, int64_t col, const MacFaults& faults) const {
  const bool faulty = !faults.product.empty() || !faults.accumulator.empty();
  if (op_ == Op::kConv) {
    const int64_t group = col / group_out_channels_;
    const T* x = a + (image * in_channels_ + group * group_in_channels_) * in_h_ * in_w_;
    const T* w = b + col * macs_;
    return faulty ? sum_conv_taps<true>(x, w, row, faults) : sum_conv_taps<false>(x, w, row, faults);
  }
  const T* a_image = a + image * a_image_stride_;
  return faulty ? sum_products<true>(a_image, b, row, col, faults) : sum_products<false>(a_image, b, row, col, faults);
}

float MacKernel::compute(std::span<const Tensor* const> inputs, int64_t image, int64_t row, int64_t col,
                         const MacFaults& faults) const {
  assert(!integer_ && inputs.size() >= 2 && inputs[0] != nullptr && inputs[1] != nullptr);
  assert(inputs[0]->dtype() == DType::kFloat32 && inputs[1]->dtype() == DType::kFloat32);
  assert(image >= 0 && image < images_ && row >= 0 && row < rows_ && col >= 0 && col < cols_);
  const float* a = inputs[0]->data<float>();
  const float* b = inputs[1]->data<float>();
  assert(!has_bias_ || (inputs.size() > 2 && inputs[2] != nullptr));
  const float* bias = has_bias_ ? inputs[2]->data<float>() : nullptr;
  const float total = sum(a, b, image, row, col, faults);
  float out = total;
  if (op_ == Op::kConv && has_bias_) {
    out = total + bias[col];
  } else if (op_ == Op::kGemm) {
    const float c = has_bias_ ? bias[image * c_image_stride_ + col * c_col_stride_] : 0.0f;
    out = plain_bias_sum_ ? total + c : alpha_ * total + beta_ * c;
  }
  if (faults.after_bias) out = apply_word(faults.word, out);
  return out;
}

Result<IntegerMacOperands> MacKernel::prepare_integer(std::span<const Tensor* const> inputs) const {
  const Node& node = node_;
  if (!integer_) return node_error(node, "is not an integer op");
  const bool qlinear = node.op == OpKind::kQLinearConv || node.op == OpKind::kQLinearMatMul;
  const size_t min_inputs = qlinear ? 8 : 2;
  if (inputs.size() < min_inputs) return node_error(node, "has too few inputs for its fault-aware kernel");
  auto input = [&](size_t slot) -> const Tensor* { return slot < inputs.size() ? inputs[slot] : nullptr; };
  const size_t b_slot = qlinear ? 3 : 1;
  const Tensor* a = input(0);
  const Tensor* b = input(b_slot);
  if (a == nullptr || b == nullptr || (qlinear && (input(1) == nullptr || input(4) == nullptr ||
                                                   input(6) == nullptr || input(7) == nullptr)))
    return node_error(node, "a required input is missing");
  const Tensor* a_zero_point = input(2);
  const Tensor* b_zero_point = input(qlinear ? 5 : 3);
  Shape y;  // the output of this run's batch
  if (!a->shape().empty()) y.push_back(a->dim(0));
  y.insert(y.end(), image_output_.begin(), image_output_.end());
  IntegerMacOperands operands;
  if (op_ == Op::kConv) {
    FL_ASSIGN_OR_RETURN(reference::CenteredConv c,
                        reference::center_conv(node, *a, a_zero_point, *b, b_zero_point, y));
    operands.a = std::move(c.x);
    operands.b = std::move(c.w);
  } else {
    FL_ASSIGN_OR_RETURN(reference::CenteredMatmul c,
                        reference::center_matmul(node, *a, a_zero_point, *b, b_zero_point, y, !qlinear));
    operands.a = std::move(c.a);
    operands.b = std::move(c.b);
  }
  if (qlinear) {
    FL_ASSIGN_OR_RETURN(reference::Requantization requantization,
                        reference::qlinear_requantization(node, inputs, cols_));
    operands.requantization = std::make_shared<const reference::Requantization>(std::move(requantization));
    operands.output = input(7)->dtype();
  }
  return operands;
}

uint32_t MacKernel::compute_integer(const IntegerMacOperands& operands, int64_t image, int64_t row, int64_t col,
                                    const MacFaults& faults) const {
  assert(integer_ && row >= 0 && row < rows_ && col >= 0 && col < cols_ && image >= 0);
  int32_t total = sum(operands.a.data(), operands.b.data(), image, row, col, faults);
  const reference::Requantization* requantization = operands.requantization.get();
  if (requantization != nullptr) total = requantization->add_bias(total, col);
  if (faults.after_bias) total = apply_word(faults.word, total);
  if (requantization == nullptr) return std::bit_cast<uint32_t>(total);
  if (operands.output == DType::kInt8)
    return std::bit_cast<uint8_t>(requantization->requantize<int8_t>(total, col));
  return requantization->requantize<uint8_t>(total, col);
}

}  // namespace faultline
