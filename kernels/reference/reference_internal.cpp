#include "kernels/reference/reference_internal.h"

namespace faultline::reference {

namespace {
std::string describe(const Node& node) {
  return "node '" + node.name + "' (" + std::string(op_name(node.op)) + ")";
}
}  // namespace

Status node_error(const Node& node, const std::string& what) {
  return invalid_argument(describe(node) + ": " + what);
}

Status node_unsupported(const Node& node, const std::string& what) {
  return unsupported(describe(node) + ": " + what);
}

Status expect_operands(const Node& node, Inputs inputs, Outputs outputs, size_t min_inputs, size_t max_inputs) {
  if (inputs.size() < min_inputs || inputs.size() > max_inputs)
    return node_error(node, "expects " + std::to_string(min_inputs) +
                                (min_inputs == max_inputs ? "" : " to " + std::to_string(max_inputs)) +
                                " inputs, got " + std::to_string(inputs.size()));
  for (size_t slot = 0; slot < min_inputs; ++slot)
    if (inputs[slot] == nullptr) return node_error(node, "required input " + std::to_string(slot) + " is missing");
  if (outputs.size() != 1 || outputs[0] == nullptr)
    return node_unsupported(node, "expects exactly one output, got " + std::to_string(outputs.size()));
  return Status::ok();
}

Status expect_float32(const Node& node, Inputs inputs, Outputs outputs) {
  auto check = [&](const Tensor* tensor, const char* role, size_t slot) -> Status {
    if (tensor == nullptr || tensor->dtype() == DType::kFloat32) return Status::ok();
    return node_unsupported(node, std::string(role) + " " + std::to_string(slot) + " is " +
                                      std::string(dtype_name(tensor->dtype())) + "; this op runs on float32 only");
  };
  for (size_t slot = 0; slot < inputs.size(); ++slot) FL_RETURN_IF_ERROR(check(inputs[slot], "input", slot));
  for (size_t slot = 0; slot < outputs.size(); ++slot) FL_RETURN_IF_ERROR(check(outputs[slot], "output", slot));
  return Status::ok();
}

Status expect_same_numel(const Node& node, const Tensor& input, const Tensor& output) {
  if (input.numel() == output.numel() && input.dtype() == output.dtype()) return Status::ok();
  return node_error(node, "output " + shape_to_string(output.shape()) + " (" + std::string(dtype_name(output.dtype())) +
                              ") cannot hold input " + shape_to_string(input.shape()) + " (" +
                              std::string(dtype_name(input.dtype())) + ")");
}

std::vector<int64_t> broadcast_strides(const Shape& input, const Shape& output) {
  std::vector<int64_t> strides(output.size(), 0);
  const std::vector<int64_t> dense = contiguous_strides(input);
  const size_t offset = output.size() - input.size();
  for (size_t d = 0; d < input.size(); ++d)
    if (input[d] != 1) strides[d + offset] = dense[d];
  return strides;
}

}  // namespace faultline::reference
