#include "faults/kernel_fault_hook.h"

#include <algorithm>
#include <bit>
#include <cstring>

#include "faults/bit_ops.h"

namespace faultline {

KernelFaultHook::KernelFaultHook(std::vector<Armed> faults) : faults_(std::move(faults)) {}

Result<KernelFaultHook::Site> KernelFaultHook::make_site(CompiledModel& model, const FaultTarget& target) const {
  const Graph& graph = model.graph();
  const std::string what = "kernel site '" + target.layer + "'";
  auto node_id = graph.find_node(target.node);
  if (!node_id) return not_found(what + ": node '" + target.node + "' is not in the compiled model");
  const Node& node = graph.node(*node_id);
  if (node.outputs.empty()) return invalid_argument(what + ": " + graph.describe(*node_id) + " has no output");
  Site site;
  site.output = node.outputs[0];
  site.inputs = node.inputs;
  std::vector<Shape> shapes;
  for (ValueId in : node.inputs) shapes.push_back(in == kNoValue ? Shape{} : graph.value(in).shape);
  auto kernel = MacKernel::create(node, shapes, graph.value(site.output).shape);
  if (!kernel.is_ok()) return kernel.status().with_context(what);
  if (kernel->image_elements() != target.elements || kernel->macs() != target.macs) {
    return invalid_argument(what + ": the compiled node's GEMM view (" + std::to_string(kernel->rows()) + " x " +
                            std::to_string(kernel->cols()) + ", " + std::to_string(kernel->macs()) +
                            " MACs) is not the fault target's");
  }
  site.kernel = std::move(kernel).value();
  bool produced = false;
  for (size_t s = 0; s < model.num_steps() && !produced; ++s) {
    const std::vector<ValueId>& outputs = model.step(s).outputs;
    if (std::find(outputs.begin(), outputs.end(), site.output) == outputs.end()) continue;
    const std::vector<NodeId>& nodes = model.step(s).nodes;
    if (std::find(nodes.begin(), nodes.end(), *node_id) == nodes.end()) {
      return unsupported(what + ": its output is not computed by the step that runs the node (computed in place?)");
    }
    site.step = s;
    produced = true;
  }
  if (!produced) {
    return unsupported(what + ": the output '" + target.name +
                       "' is not an output of any step of this plan (fused away?); make it observable");
  }
  site.input_values.resize(site.inputs.size());
  return site;
}

Result<KernelFaultHook::ModelState*> KernelFaultHook::state_for(CompiledModel& model) {
  if (auto it = models_.find(&model); it != models_.end()) return &it->second;
  ModelState state;
  state.at_step.resize(model.num_steps());
  std::vector<const FaultTarget*> site_targets;
  for (size_t f = 0; f < faults_.size(); ++f) {
    const FaultTarget* target = faults_[f].target;
    auto it = std::find_if(site_targets.begin(), site_targets.end(),
                           [&](const FaultTarget* t) { return t->node == target->node; });
    size_t index = static_cast<size_t>(it - site_targets.begin());
    if (it == site_targets.end()) {
      FL_ASSIGN_OR_RETURN(Site site, make_site(model, *target));
      state.at_step[site.step].push_back(state.sites.size());
      state.sites.push_back(std::move(site));
      site_targets.push_back(target);
    }
    Site& site = state.sites[index];
    site.faults.push_back(f);
    site.footprints.push_back(
        kernel_footprint(*faults_[f].fault, faults_[f].element, *target, *site.kernel, faults_[f].word));
    site.arithmetic = site.arithmetic || site.footprints.back().arithmetic;
  }
  return &models_.emplace(&model, std::move(state)).first->second;
}

Result<std::vector<size_t>> KernelFaultHook::acting_steps(CompiledModel& model) {
  std::vector<size_t> steps;
  if (faults_.empty()) return steps;
  FL_ASSIGN_OR_RETURN(ModelState * state, state_for(model));
  for (size_t s = 0; s < state->at_step.size(); ++s)
    if (!state->at_step[s].empty()) steps.push_back(s);
  return steps;
}

Status KernelFaultHook::before_step(CompiledModel& model, size_t index) {
  if (faults_.empty()) return Status::ok();
  FL_ASSIGN_OR_RETURN(ModelState * state, state_for(model));
  for (size_t s : state->at_step[index]) {
    Site& site = state->sites[s];
    if (!site.arithmetic) continue;
    for (size_t i = 0; i < site.inputs.size(); ++i) {
      if (site.inputs[i] == kNoValue) continue;
      Status read = model.read_value(site.inputs[i], site.input_values[i]);
      if (!read.is_ok()) return read.with_context("reading an input of kernel site '" + faults_[site.faults[0]].target->layer + "'");
    }
  }
  return Status::ok();
}

Status KernelFaultHook::apply(Site& site, int64_t first_image) const {
  Tensor& out = site.output_value;
  const DType dtype = out.dtype();
  const size_t word_bytes = dtype_size(dtype);
  const int width = dtype_bits(dtype);
  auto* words = out.data<std::byte>();
  const MacKernel& kernel = *site.kernel;
  const int64_t per_image = kernel.image_elements();
  const int64_t images = out.numel() / per_image;
  std::vector<const Tensor*> inputs;
  for (size_t i = 0; i < site.inputs.size(); ++i)
    inputs.push_back(site.inputs[i] == kNoValue ? nullptr : &site.input_values[i]);
  IntegerMacOperands operands;
  if (kernel.integer() && site.arithmetic) {
    FL_ASSIGN_OR_RETURN(operands, kernel.prepare_integer(inputs));
  }
  // The output word of element (row, col) of image b computed with `faults`.
  auto compute = [&](int64_t b, int64_t row, int64_t col, const MacFaults& faults) -> uint64_t {
    if (kernel.integer()) return kernel.compute_integer(operands, b, row, col, faults) & width_mask(width);
    return std::bit_cast<uint32_t>(kernel.compute(inputs, b, row, col, faults));
  };
  const MacFaults clean;
  for (size_t k = 0; k < site.faults.size(); ++k) {
    const Fault& fault = *faults_[site.faults[k]].fault;
    const KernelFootprint& footprint = site.footprints[k];
    for (int64_t b = 0; b < images; ++b) {
      if (fault.site.batch && *fault.site.batch != first_image + b) continue;
      std::byte* image = words + static_cast<size_t>(b * per_image) * word_bytes;
      for (int64_t offset : footprint.offsets) {
        std::byte* word = image + static_cast<size_t>(offset) * word_bytes;
        if (!footprint.arithmetic) {
          write_word_bits(dtype, word, footprint.word.apply(static_cast<uint32_t>(read_word_bits(dtype, word))) &
                                           width_mask(width));
          continue;
        }
        int64_t row = 0, col = 0;
        kernel.row_col(offset, row, col);
        const uint64_t faulty = compute(b, row, col, footprint.faults);
        if (faulty != compute(b, row, col, clean)) write_word_bits(dtype, word, faulty);
      }
    }
  }
  return Status::ok();
}

Status KernelFaultHook::after_step(CompiledModel& model, size_t index, int64_t first_image) {
  if (faults_.empty()) return Status::ok();
  FL_ASSIGN_OR_RETURN(ModelState * state, state_for(model));
  for (size_t s : state->at_step[index]) {
    Site& site = state->sites[s];
    const std::string& layer = faults_[site.faults[0]].target->layer;
    Status read = model.read_value(site.output, site.output_value);
    if (!read.is_ok()) return read.with_context("reading the output of kernel site '" + layer + "'");
    const DType dtype = faults_[site.faults[0]].target->dtype;
    if (site.output_value.dtype() != dtype || site.output_value.numel() % site.kernel->image_elements() != 0) {
      return invalid_argument("kernel site '" + layer + "': the output is not " + std::string(dtype_name(dtype)) +
                              " images of the node's shape");
    }
    FL_RETURN_IF_ERROR(apply(site, first_image));
    Status write = model.write_value(site.output, site.output_value);
    if (!write.is_ok()) return write.with_context("writing the faulted output of kernel site '" + layer + "'");
  }
  return Status::ok();
}

}  // namespace faultline
