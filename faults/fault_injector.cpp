#include "faults/fault_injector.h"

#include "faults/kernel_sites.h"

#include <algorithm>
#include <cstring>
#include <deque>
#include <iterator>
#include <map>
#include <optional>
#include <random>

namespace faultline {

namespace {

// Word faults of one value as in-place patches: the faults of one element composed in list order.
class PatchSet {
 public:
  Status add(DType dtype, int64_t element, const WordFault& fault) {
    FL_RETURN_IF_ERROR(validate_word_fault(dtype, fault));
    const WordMasks m = word_masks(dtype, fault);
    auto [it, first] = masks_.emplace(element, m);
    if (!first) it->second = compose_word_masks(it->second, m);
    return Status::ok();
  }
  std::vector<WordPatch> patches() const {
    std::vector<WordPatch> patches;
    patches.reserve(masks_.size());
    for (const auto& [element, m] : masks_) patches.push_back({element, m.keep, m.set, m.flip});
    return patches;
  }

 private:
  std::map<int64_t, WordMasks> masks_;
};

std::string fault_context(const Fault& fault) {
  return "fault '" + describe(fault) + "'";
}

// Adds `fault` to the group of tensor `name` (names[i] holds members[i]), opening a group for a new name.
void add_to_group(std::vector<std::string_view>& names, std::vector<std::vector<size_t>>& members,
                  std::string_view name, size_t fault) {
  auto it = std::find(names.begin(), names.end(), name);
  if (it == names.end()) {
    names.push_back(name);
    members.emplace_back();
    it = names.end() - 1;
  }
  members[static_cast<size_t>(it - names.begin())].push_back(fault);
}

Status check_armable(const ArmedFault& armed, const InjectorOptions& options) {
  if (armed.fault == nullptr || armed.target == nullptr)
    return invalid_argument("an armed fault has no fault or target");
  const Fault& fault = *armed.fault;
  const FaultTarget& target = *armed.target;
  if (fault.site.steps && !options.steps_gated_by_caller) return unsupported("timestep ranges (spiking models) are not supported yet");
  // float32 tensors; float16 / bfloat16 / int8 weights as their stored words (engine/weight_storage.h). Bit and
  // mask ranges follow the dtype (validate_word_fault): bit 15 is a half's sign, bit 7 an int8's.
  if (target.kind == TargetKind::kKernel) {
    if (!is_kernel_site(fault.site.target))
      return invalid_argument("'" + target.layer + "' is a kernel target; the fault's target must be accumulator, product, pe or pattern");
    auto element = check_kernel_fault(fault, target);
    if (!element.is_ok()) return element.status();
    if (*element != armed.element)
      return invalid_argument("element " + std::to_string(armed.element) + " is not the site's (" + std::to_string(*element) + ")");
    return Status::ok();
  }
  if (is_kernel_site(fault.site.target))
    return invalid_argument("a " + std::string(site_target_name(fault.site.target)) + " site needs a Conv, Gemm or MatMul layer, not '" + target.name + "'");
  const bool stored_weight = target.kind == TargetKind::kWeight &&
                             (target.dtype == DType::kFloat16 || target.dtype == DType::kBFloat16 ||
                              target.dtype == DType::kInt8);
  // An int8 model's values (activations, inputs): int8 / uint8 / int32 words, bit 0 the LSB.
  const bool integer_value = target.kind != TargetKind::kWeight &&
                             (target.dtype == DType::kInt8 || target.dtype == DType::kUInt8 ||
                              target.dtype == DType::kInt32);
  if (target.dtype != DType::kFloat32 && !stored_weight && !integer_value) {
    return unsupported("'" + target.name + "' is " + std::string(dtype_name(target.dtype)) +
                       "; faultline faults float32 tensors, int8/uint8/int32 activations and inputs, and "
                       "float16/bfloat16/int8 weights");
  }
  if (target.kind == TargetKind::kInput && (target.consumer.empty() || target.slot < 0))
    return invalid_argument("input site '" + target.layer + "' names no consumer node and slot");
  if (fault.model == FaultModel::kBitErrorRate) {
    if (!(fault.value >= 0.0 && fault.value <= 1.0)) {
      return out_of_range("bit error rate " + std::to_string(fault.value) + " is not a probability in [0, 1]");
    }
    return Status::ok();
  }
  if (armed.element < 0 || armed.element >= target.elements) {
    return out_of_range("element " + std::to_string(armed.element) + " is out of range for '" + target.name + "' (" +
                        std::to_string(target.elements) + " elements)");
  }
  return Status::ok();
}

}  // namespace

uint64_t fault_seed(uint64_t seed, int64_t injection) {
  uint64_t z = seed + 0x9E3779B97F4A7C15ull * (static_cast<uint64_t>(injection) + 1);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

uint64_t image_seed(uint64_t fault_stream_seed, int64_t image) {
  return fault_seed(fault_stream_seed, image);
}

Result<FaultInjector> FaultInjector::create(std::span<const ArmedFault> faults, InjectorOptions options) {
  FaultInjector injector;
  injector.options_ = options;
  std::vector<std::string_view> weight_names, activation_names, input_names;
  std::vector<std::vector<size_t>> weight_members, activation_members, input_members;
  std::deque<std::string> input_keys;  // owns the keys input_names views
  std::vector<KernelFaultHook::Armed> kernel_faults;
  for (size_t i = 0; i < faults.size(); ++i) {
    const ArmedFault& armed = faults[i];
    Status armable = check_armable(armed, options);
    if (!armable.is_ok()) return armed.fault ? armable.with_context(fault_context(*armed.fault)) : armable;
    // A random fault's word is drawn once, so every batch and image sees the same one.
    const uint64_t random_bits = armed.fault->model == FaultModel::kRandomValue
                                     ? std::mt19937_64(fault_seed(options.seed, armed.injection))()
                                     : 0;
    if (armed.target->kind == TargetKind::kKernel) {  // check_armable checked armed.element against the site
      kernel_faults.push_back(
          {armed.fault, armed.target, armed.element,
           kernel_word_transform(*armed.target, armed.fault->site.target, word_fault_of(*armed.fault, random_bits))});
      continue;
    }
    Armed prepared{armed, {}};
    if (armed.fault->model != FaultModel::kBitErrorRate) {
      prepared.word = word_fault_of(*armed.fault, random_bits);
      prepared.offset = engine_element(*armed.target, armed.element);  // model order -> engine tensor
      Status valid = validate_word_fault(armed.target->dtype, prepared.word);
      if (!valid.is_ok()) return valid.with_context(fault_context(*armed.fault));
    }
    injector.faults_.push_back(prepared);
    const size_t index = injector.faults_.size() - 1;  // kernel-level faults are not in faults_
    switch (armed.target->kind) {
      case TargetKind::kWeight:
        add_to_group(weight_names, weight_members, armed.target->name, index);
        break;
      case TargetKind::kActivation:
        add_to_group(activation_names, activation_members, armed.target->name, index);
        break;
      case TargetKind::kInput:
        // One group per (consumer, slot): two sites may read the same value.
        input_keys.push_back(armed.target->consumer + ":" + std::to_string(armed.target->slot));
        add_to_group(input_names, input_members, input_keys.back(), index);
        break;
      case TargetKind::kKernel:  // handled above
        break;
    }
  }
  injector.kernel_faults_ = KernelFaultHook(std::move(kernel_faults));
  for (size_t g = 0; g < weight_names.size(); ++g)
    injector.weight_groups_.push_back({std::string(weight_names[g]), std::move(weight_members[g])});
  for (size_t g = 0; g < activation_names.size(); ++g)
    injector.activation_groups_.push_back({std::string(activation_names[g]), std::move(activation_members[g])});
  for (size_t g = 0; g < input_names.size(); ++g) {
    const FaultTarget& target = *injector.faults_[input_members[g].front()].source.target;
    injector.input_groups_.push_back({target.name, std::move(input_members[g])});
  }
  return injector;
}

Result<FaultInjector::ModelState*> FaultInjector::state_for(CompiledModel& model) {
  if (auto it = models_.find(&model); it != models_.end()) return &it->second;
  const Graph& graph = model.graph();
  ModelState state;
  if (!graph.inputs().empty()) {
    const Shape& first = graph.value(graph.inputs()[0]).shape;
    if (!first.empty()) state.batch_images = first[0];
  }
  for (const Group& group : weight_groups_) {
    auto id = graph.find_value(group.value);
    if (!id || !graph.value(*id).is_constant())
      return not_found("parameter '" + group.value + "' is not a constant of the compiled model");
    const Tensor& original = graph.value(*id).constant;
    const FaultTarget& target = *faults_[group.faults.front()].source.target;
    if (original.numel() != target.elements || original.dtype() != target.dtype) {
      return invalid_argument("parameter '" + group.value + "' is " + std::string(dtype_name(original.dtype())) + " " +
                              shape_to_string(original.shape()) + " in the compiled model, the fault target " +
                              std::string(dtype_name(target.dtype)) + " " + shape_to_string(target.shape));
    }
    state.weight_ids.push_back(*id);
  }
  state.producers.resize(model.num_steps());
  for (size_t g = 0; g < activation_groups_.size(); ++g) {
    const Group& group = activation_groups_[g];
    auto id = graph.find_value(group.value);
    if (!id) return not_found("activation '" + group.value + "' is not in the compiled model");
    const int64_t per_image = faults_[group.faults.front()].source.target->elements;
    const int64_t total = numel(graph.value(*id).shape);
    if (per_image <= 0 || total % per_image != 0) {
      return invalid_argument("activation '" + group.value + "' has shape " + shape_to_string(graph.value(*id).shape) +
                              ", not a whole number of images of " + std::to_string(per_image) + " elements");
    }
    bool produced = false;
    for (size_t s = 0; s < model.num_steps() && !produced; ++s) {
      const std::vector<ValueId>& outputs = model.step(s).outputs;
      if (std::find(outputs.begin(), outputs.end(), *id) == outputs.end()) continue;
      state.producers[s].push_back(g);
      produced = true;
    }
    if (!produced) {
      return unsupported("activation '" + group.value +
                         "' is not an output of any step of this plan (fused away?); make it observable");
    }
    state.activation_ids.push_back(*id);
  }
  state.readers.resize(model.num_steps());
  for (size_t g = 0; g < input_groups_.size(); ++g) {
    FL_ASSIGN_OR_RETURN(InputSite site, find_input_site(model, input_groups_[g]));
    state.readers[site.step].push_back(g);
    state.inputs.push_back(std::move(site));
  }
  return &models_.emplace(&model, std::move(state)).first->second;
}

Result<FaultInjector::InputSite> FaultInjector::find_input_site(const CompiledModel& model,
                                                               const Group& group) const {
  const Graph& graph = model.graph();
  const FaultTarget& target = *faults_[group.faults.front()].source.target;
  const std::string site = "input site '" + target.layer + "' ('" + target.name + "')";
  auto consumer = graph.find_node(target.consumer);
  auto value = graph.find_value(target.name);
  if (!consumer || !value) return not_found(site + ": node '" + target.consumer + "' is not in the compiled model");
  const Node& node = graph.node(*consumer);
  const size_t slot = static_cast<size_t>(target.slot);
  if (slot >= node.inputs.size() || node.inputs[slot] != *value) {
    return not_found(site + ": " + graph.describe(*consumer) + " does not read it in input slot " +
                     std::to_string(slot));
  }
  const int64_t per_image = target.elements;
  const int64_t total = numel(graph.value(*value).shape);
  if (per_image <= 0 || total % per_image != 0) {
    return invalid_argument(site + " has shape " + shape_to_string(graph.value(*value).shape) +
                            ", not a whole number of images of " + std::to_string(per_image) + " elements");
  }
  InputSite input;
  input.value = *value;
  for (size_t s = 0; s < model.num_steps(); ++s) {
    const StepInfo& step = model.step(s);
    if (std::find(step.nodes.begin(), step.nodes.end(), *consumer) == step.nodes.end()) continue;
    // The value is patched for the whole step: no other reading of it may run there.
    for (NodeId reader : step.nodes) {
      const Node& other = graph.node(reader);
      for (size_t k = 0; k < other.inputs.size(); ++k) {
        if (other.inputs[k] != *value || (reader == *consumer && k == slot)) continue;
        return unsupported(site + ": " + graph.describe(reader) + " reads the same value (input slot " +
                           std::to_string(k) + ") in the same step, so the fault cannot reach one reader alone" +
                           (step.nodes.size() > 1 ? "; make the consumer's outputs observable" : ""));
      }
    }
    for (ValueId out : node.outputs)
      if (std::find(step.outputs.begin(), step.outputs.end(), out) != step.outputs.end())
        input.consumer_outputs.push_back(out);
    input.consumer_values.resize(input.consumer_outputs.size());
    input.step = s;
    return input;
  }
  return not_found(site + ": no step of this plan runs " + graph.describe(*consumer));
}

Result<Tensor> FaultInjector::patched_weight(const CompiledModel& model, ValueId id, const Group& group) const {
  Tensor patched = model.graph().value(id).constant.clone();
  auto* bytes = patched.data<std::byte>();
  const size_t word_bytes = dtype_size(patched.dtype());
  for (size_t f : group.faults) {
    const Armed& armed = faults_[f];
    const Fault& fault = *armed.source.fault;
    if (fault.model == FaultModel::kBitErrorRate) {
      auto flipped = flip_bits_with_probability(std::span<std::byte>(bytes, patched.nbytes()), fault.value,
                                                fault_seed(options_.seed, armed.source.injection));
      if (!flipped.is_ok()) return flipped.status().with_context(fault_context(fault));
      continue;
    }
    auto original =
        apply_word_fault(patched.dtype(), bytes + static_cast<size_t>(armed.offset) * word_bytes, armed.word);
    if (!original.is_ok()) return original.status().with_context(fault_context(fault));
  }
  return patched;
}

Result<std::optional<std::vector<WordPatch>>> FaultInjector::weight_patches(const CompiledModel& model, ValueId id,
                                                                            const Group& group,
                                                                            std::vector<WordPatch>& restores) const {
  const Tensor& original = model.graph().value(id).constant;
  PatchSet patches;
  for (size_t f : group.faults) {
    const Armed& armed = faults_[f];
    if (armed.source.fault->model == FaultModel::kBitErrorRate) return std::optional<std::vector<WordPatch>>();
    const Status added = patches.add(original.dtype(), armed.offset, armed.word);
    if (!added.is_ok()) return added.with_context(fault_context(*armed.source.fault));
  }
  std::vector<WordPatch> result = patches.patches();
  restores.clear();
  const size_t word = dtype_size(original.dtype());
  for (const WordPatch& p : result) {
    if (p.element < 0 || p.element >= original.numel())
      return out_of_range("weight '" + group.value + "': element " + std::to_string(p.element) + " is outside it");
    const uint64_t bits = read_word_bits(
        original.dtype(), static_cast<const std::byte*>(original.raw()) + static_cast<size_t>(p.element) * word);
    restores.push_back({p.element, 0, bits, 0});
  }
  return std::optional<std::vector<WordPatch>>(std::move(result));
}

FaultInjector::ApplyWord FaultInjector::on_host_words(DType dtype,
                                                       std::function<Result<std::byte*>(int64_t element)> word_at) {
  return [dtype, word_at = std::move(word_at)](int64_t element, const WordFault& fault) -> Status {
    FL_ASSIGN_OR_RETURN(std::byte* word, word_at(element));
    return apply_word_fault(dtype, word, fault).status();
  };
}

Status FaultInjector::apply_faults(const Group& group, DType dtype, int64_t images, const ApplyWord& apply_word,
                                   const ImageBytes& image_bytes) const {
  for (size_t f : group.faults) {
    const Armed& armed = faults_[f];
    const Fault& fault = *armed.source.fault;
    const int64_t per_image = armed.source.target->elements;
    for (int64_t b = 0; b < images; ++b) {
      const int64_t image = batch_first_image_ + b;
      if (fault.site.batch && *fault.site.batch != image) continue;
      if (fault.model == FaultModel::kBitErrorRate) {
        auto flipped = flip_bits_with_probability(image_bytes(b, per_image), fault.value,
                                                  image_seed(fault_seed(options_.seed, armed.source.injection), image));
        if (!flipped.is_ok()) return flipped.status().with_context(fault_context(fault));
        continue;
      }
      const Status applied = apply_word(b * per_image + armed.offset, armed.word);
      if (!applied.is_ok()) return applied.with_context(fault_context(fault));
    }
  }
  return Status::ok();
}

Status FaultInjector::apply_to_value(const Group& group, Tensor& value, int64_t images) const {
  auto* bytes = value.data<std::byte>();
  const size_t word_bytes = dtype_size(value.dtype());
  return apply_faults(
      group, value.dtype(), images,
      on_host_words(value.dtype(),
                    [&](int64_t element) -> Result<std::byte*> { return bytes + static_cast<size_t>(element) * word_bytes; }),
      [&](int64_t b, int64_t per_image) {
        const size_t image_bytes = static_cast<size_t>(per_image) * word_bytes;
        return std::span<std::byte>(bytes + static_cast<size_t>(b) * image_bytes, image_bytes);
      });
}

Result<bool> FaultInjector::apply_in_place(CompiledModel& model, ValueId id, const Group& group) const {
  for (size_t f : group.faults)
    if (faults_[f].source.fault->model == FaultModel::kBitErrorRate) return false;
  const std::span<std::byte> bytes = model.value_storage(id);
  const Value& value = model.graph().value(id);
  const int64_t per_image = faults_[group.faults.front()].source.target->elements;
  const int64_t images = numel(value.shape) / per_image;
  const auto no_ber = [](int64_t, int64_t) { return std::span<std::byte>(); };  // (checked above)
  if (bytes.empty() || !model.value_element_offset(id, 0)) {
    // Device memory: the words' masks, patched at once.
    PatchSet patches;
    FL_RETURN_IF_ERROR(apply_faults(
        group, value.dtype, images,
        [&](int64_t element, const WordFault& fault) { return patches.add(value.dtype, element, fault); }, no_ber));
    Result<bool> patched = model.patch_value_words(id, patches.patches());
    if (!patched.is_ok()) return patched.status().with_context("activation '" + group.value + "'");
    return *patched;
  }
  FL_RETURN_IF_ERROR(apply_faults(group, value.dtype, images,
                                  on_host_words(value.dtype,
                                                [&](int64_t element) -> Result<std::byte*> {
                                                  const std::optional<size_t> offset =
                                                      model.value_element_offset(id, element);
                                                  if (!offset || *offset + dtype_size(value.dtype) > bytes.size())
                                                    return internal_error("activation '" + group.value +
                                                                          "': the backend cannot place element " +
                                                                          std::to_string(element) + " in its bytes");
                                                  return bytes.data() + *offset;
                                                }),
                                  no_ber));
  return true;
}

Status FaultInjector::write_originals(CompiledModel& model, ModelState& state) {
  state.weight_restores.resize(weight_groups_.size());
  for (size_t g = 0; g < weight_groups_.size(); ++g) {
    const ValueId id = state.weight_ids[g];
    std::vector<WordPatch>& restores = state.weight_restores[g];
    if (!restores.empty()) {  // only the faulted words were patched: their original bits back
      Result<bool> restored = model.patch_value_words(id, restores);
      restores.clear();
      if (!restored.is_ok()) return restored.status().with_context("restoring '" + weight_groups_[g].value + "'");
      if (*restored) continue;
    }
    Status status = model.write_value(id, model.graph().value(id).constant);
    if (!status.is_ok()) return status.with_context("restoring '" + weight_groups_[g].value + "'");
  }
  state.weights_patched = false;
  return Status::ok();
}

Status FaultInjector::begin_pass(CompiledModel& model) {
  FL_ASSIGN_OR_RETURN(ModelState * state, state_for(model));
  batch_first_image_ = next_image_;
  next_image_ += state->batch_images;
  state->weight_restores.resize(weight_groups_.size());
  for (size_t g = 0; g < weight_groups_.size(); ++g) {
    const ValueId id = state->weight_ids[g];
    // Only the faulted words, where the backend patches a constant in place (oneDNN): no copy of the weight
    // in or out, which for a large weight (VGG's 411 MB classifier) cost more than the pass.
    std::vector<WordPatch> restores;
    FL_ASSIGN_OR_RETURN(const std::optional<std::vector<WordPatch>> patches,
                        weight_patches(model, id, weight_groups_[g], restores));
    if (patches) {
      Result<bool> patched = model.patch_value_words(id, *patches);
      if (!patched.is_ok())
        return patched.status().with_context("writing the faulted '" + weight_groups_[g].value + "'");
      if (*patched) {
        state->weights_patched = true;
        state->weight_restores[g] = std::move(restores);
        continue;
      }
    }
    // Otherwise patched anew each pass (a copy of the weight, cheaper than writing it into the model): an
    // injector holds no weight's copy between passes, so a group of thousands of them stays small.
    FL_ASSIGN_OR_RETURN(const Tensor patched, patched_weight(model, id, weight_groups_[g]));
    state->weights_patched = true;
    Status status = model.write_value(id, patched);
    if (!status.is_ok()) return status.with_context("writing the faulted '" + weight_groups_[g].value + "'");
  }
  return Status::ok();
}

Status FaultInjector::end_pass(CompiledModel& model) {
  FL_ASSIGN_OR_RETURN(ModelState * state, state_for(model));
  if (state->weights_patched) return write_originals(model, *state);
  return Status::ok();
}

Status FaultInjector::before_step(CompiledModel& model, size_t index) {
  FL_RETURN_IF_ERROR(input_faults_in(model, index));
  return kernel_faults_.before_step(model, index);
}

Result<std::vector<size_t>> FaultInjector::acting_steps(CompiledModel& model) {
  FL_ASSIGN_OR_RETURN(ModelState * state, state_for(model));
  std::vector<size_t> steps;
  for (size_t s = 0; s < model.num_steps(); ++s)
    if (!state->producers[s].empty() || !state->readers[s].empty()) steps.push_back(s);
  FL_ASSIGN_OR_RETURN(std::vector<size_t> kernel_steps, kernel_faults_.acting_steps(model));
  std::vector<size_t> merged;
  std::set_union(steps.begin(), steps.end(), kernel_steps.begin(), kernel_steps.end(), std::back_inserter(merged));
  return merged;
}

Result<std::vector<ValueId>> FaultInjector::faulted_weights(CompiledModel& model) {
  FL_ASSIGN_OR_RETURN(ModelState * state, state_for(model));
  return state->weight_ids;
}

Result<std::vector<std::vector<int64_t>>> FaultInjector::faulted_weight_elements(CompiledModel& model) {
  FL_ASSIGN_OR_RETURN(ModelState * state, state_for(model));
  state->changed.resize(weight_groups_.size());
  state->changed_known.resize(weight_groups_.size(), 0);
  for (size_t g = 0; g < weight_groups_.size(); ++g) {
    if (state->changed_known[g]) continue;
    state->changed_known[g] = 1;
    std::vector<int64_t>& changed = state->changed[g];
    const Tensor& original = model.graph().value(state->weight_ids[g]).constant;
    // Word faults: the patched elements whose word changes (no copy of the weight); ber: the whole weight.
    std::vector<WordPatch> restores;
    FL_ASSIGN_OR_RETURN(const std::optional<std::vector<WordPatch>> patches,
                        weight_patches(model, state->weight_ids[g], weight_groups_[g], restores));
    if (patches) {
      const size_t word = dtype_size(original.dtype());
      for (size_t i = 0; i < patches->size(); ++i) {
        uint64_t faulted = restores[i].set;  // the original bits
        apply_word_patch(reinterpret_cast<std::byte*>(&faulted), word, (*patches)[i]);
        if (faulted != restores[i].set) changed.push_back((*patches)[i].element);
      }
      continue;
    }
    FL_ASSIGN_OR_RETURN(const Tensor patched, patched_weight(model, state->weight_ids[g], weight_groups_[g]));
    const size_t word = dtype_size(patched.dtype());
    const auto* a = static_cast<const std::byte*>(original.raw());
    const auto* b = static_cast<const std::byte*>(patched.raw());
    for (int64_t i = 0; i < patched.numel(); ++i)
      if (std::memcmp(a + static_cast<size_t>(i) * word, b + static_cast<size_t>(i) * word, word) != 0) changed.push_back(i);
  }
  return state->changed;
}

Status FaultInjector::input_faults_in(CompiledModel& model, size_t index) {
  if (input_groups_.empty()) return Status::ok();
  FL_ASSIGN_OR_RETURN(ModelState * state, state_for(model));
  for (size_t g : state->readers[index]) {
    InputSite& site = state->inputs[g];
    const Group& group = input_groups_[g];
    Status read = model.read_value(site.value, site.original);
    if (!read.is_ok()) return read.with_context("reading input '" + group.value + "'");
    site.faulted = site.original.clone();
    const int64_t per_image = faults_[group.faults.front()].source.target->elements;
    FL_RETURN_IF_ERROR(apply_to_value(group, site.faulted, site.faulted.numel() / per_image));
    Status write = model.write_value(site.value, site.faulted);
    if (!write.is_ok()) return write.with_context("writing the faulted input '" + group.value + "'");
  }
  return Status::ok();
}

Status FaultInjector::restore_inputs_after(CompiledModel& model, ModelState& state, size_t index) {
  // In reverse, so that two sites on one value (of one node) leave the value as it was.
  for (auto it = state.readers[index].rbegin(); it != state.readers[index].rend(); ++it) {
    InputSite& site = state.inputs[*it];
    const Group& group = input_groups_[*it];
    // A consumer may have made its output an alias of the value (a reshape): keep the faulted output.
    for (size_t o = 0; o < site.consumer_outputs.size(); ++o) {
      Status read = model.read_value(site.consumer_outputs[o], site.consumer_values[o]);
      if (!read.is_ok()) return read.with_context("reading the consumer output of input '" + group.value + "'");
    }
    Status write = model.write_value(site.value, site.original);
    if (!write.is_ok()) return write.with_context("restoring input '" + group.value + "'");
    for (size_t o = 0; o < site.consumer_outputs.size(); ++o) {
      write = model.write_value(site.consumer_outputs[o], site.consumer_values[o]);
      if (!write.is_ok()) return write.with_context("writing the consumer output of input '" + group.value + "'");
    }
    // An injector holds no value's copy between passes: a group of thousands of them stays small.
    site.original = Tensor();
    site.faulted = Tensor();
    for (Tensor& value : site.consumer_values) value = Tensor();
  }
  return Status::ok();
}

Result<std::vector<size_t>> FaultInjector::output_only_steps(CompiledModel& model) {
  FL_ASSIGN_OR_RETURN(ModelState * state, state_for(model));
  FL_ASSIGN_OR_RETURN(std::vector<size_t> kernel_steps, kernel_faults_.acting_steps(model));
  std::vector<size_t> steps;
  for (size_t s = 0; s < model.num_steps(); ++s)
    if (!state->producers[s].empty() && state->readers[s].empty() &&
        !std::binary_search(kernel_steps.begin(), kernel_steps.end(), s))
      steps.push_back(s);
  return steps;
}

Result<std::vector<ActedElements>> FaultInjector::output_only_elements(CompiledModel& model) {
  FL_ASSIGN_OR_RETURN(ModelState * state, state_for(model));
  FL_ASSIGN_OR_RETURN(std::vector<size_t> steps, output_only_steps(model));
  std::vector<ActedElements> acted;
  for (size_t s : steps)
    for (size_t g : state->producers[s]) {
      ActedElements value{state->activation_ids[g], {}};
      for (size_t f : activation_groups_[g].faults) {
        if (faults_[f].source.fault->model == FaultModel::kBitErrorRate) {
          value.elements.clear();  // any element of an image
          break;
        }
        value.elements.push_back(faults_[f].offset);
      }
      acted.push_back(std::move(value));
    }
  return acted;
}

Status FaultInjector::after_step(CompiledModel& model, size_t index) {
  FL_ASSIGN_OR_RETURN(ModelState * state, state_for(model));
  if (!state->readers[index].empty()) FL_RETURN_IF_ERROR(restore_inputs_after(model, *state, index));
  for (size_t g : state->producers[index]) {
    const ValueId id = state->activation_ids[g];
    const Group& group = activation_groups_[g];
    FL_ASSIGN_OR_RETURN(const bool applied, apply_in_place(model, id, group));
    if (applied) continue;
    Tensor value;  // read back for this step only: an injector holds no value's copy between passes
    Status read = model.read_value(id, value);
    if (!read.is_ok()) return read.with_context("reading activation '" + group.value + "'");
    const int64_t per_image = faults_[group.faults.front()].source.target->elements;
    FL_RETURN_IF_ERROR(apply_to_value(group, value, value.numel() / per_image));
    Status write = model.write_value(id, value);
    if (!write.is_ok()) return write.with_context("writing the faulted activation '" + group.value + "'");
  }
  return kernel_faults_.after_step(model, index, batch_first_image_);
}

Status FaultInjector::restore() {
  Status first;
  for (auto& [model, state] : models_) {
    if (!state.weights_patched) continue;
    Status status = write_originals(*model, state);
    if (first.is_ok()) first = status;
  }
  return first;
}

Status FaultInjector::check_restored() {
  for (auto& [model, state] : models_) {
    for (size_t g = 0; g < weight_groups_.size(); ++g) {
      const ValueId id = state.weight_ids[g];
      const Tensor& original = model->graph().value(id).constant;
      Tensor current;
      FL_RETURN_IF_ERROR(model->read_value(id, current));
      if (current.nbytes() != original.nbytes() || std::memcmp(current.raw(), original.raw(), original.nbytes()) != 0) {
        return internal_error("parameter '" + weight_groups_[g].value + "' was not restored bit-exactly");
      }
    }
  }
  return Status::ok();
}

}  // namespace faultline
