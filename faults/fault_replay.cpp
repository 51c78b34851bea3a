#include "faults/fault_replay.h"

#include <algorithm>
#include <cstring>

#include "engine/weight_storage.h"

namespace faultline {

ArmedFault armed_fault(const FaultList& list, const ResolvedFault& resolved, const std::vector<FaultTarget>& targets) {
  const FaultListEntry& entry = list.entries[resolved.entry];
  return ArmedFault{&entry.fault, &targets[resolved.target], resolved.element, entry.injection};
}

std::vector<std::string> faulted_value_names(std::span<const ResolvedFault> faults,
                                             const std::vector<FaultTarget>& targets) {
  std::vector<bool> seen(targets.size(), false);
  std::vector<std::string> names;
  auto add = [&names](const std::string& name) {
    if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
  };
  for (const ResolvedFault& fault : faults) {
    if (seen[fault.target]) continue;
    seen[fault.target] = true;
    const FaultTarget& target = targets[fault.target];
    add(target.name);
    // An input site's consumer runs as a step of its own: its outputs are observable too.
    if (target.kind == TargetKind::kInput)
      for (const std::string& output : target.consumer_outputs) add(output);
  }
  return names;
}

Status check_replayable(const FaultList& list, std::span<const ResolvedFault> faults,
                        const std::vector<FaultTarget>& targets, int64_t images) {
  for (const ResolvedFault& resolved : faults) {
    const ArmedFault armed = armed_fault(list, resolved, targets);
    Status status = FaultInjector::create({&armed, 1}).status();
    const std::optional<int64_t>& batch = armed.fault->site.batch;
    if (status.is_ok() && batch && *batch >= images) {
      status = out_of_range("Batch " + std::to_string(*batch) + " is out of range for an input of " +
                            std::to_string(images) + " images");
    }
    if (!status.is_ok()) return status.with_context(fault_list_location(list, resolved.entry));
  }
  return Status::ok();
}

Result<Tensor> replay_faults(std::shared_ptr<const Graph> model, SessionOptions options, const FaultList& list,
                             std::span<const ResolvedFault> faults, const std::vector<FaultTarget>& targets,
                             const Tensor& input, InjectorOptions injector_options) {
  const int64_t images = input.rank() > 0 ? input.dim(0) : 1;
  // Weights stored as float16/bfloat16/int8 keep their names: the targets listed on the float32 model take the
  // stored dtype, so bit ranges and the patched words are the stored ones (engine/weight_storage.h).
  std::vector<FaultTarget> stored_targets;
  if (options.weight_dtype) {
    auto stored = std::make_shared<Graph>(*model);
    FL_RETURN_IF_ERROR(store_weights_as(*stored, *options.weight_dtype).with_context(model->source));
    stored_targets = targets;
    for (FaultTarget& target : stored_targets) {
      const auto id = stored->find_value(target.name);
      if (target.kind == TargetKind::kWeight && id && stored->value(*id).is_parameter)
        target.dtype = stored->value(*id).dtype;
    }
    model = std::move(stored);
    options.weight_dtype.reset();
  }
  const std::vector<FaultTarget>& targets_run = stored_targets.empty() ? targets : stored_targets;
  FL_RETURN_IF_ERROR(check_replayable(list, faults, targets_run, images));
  for (std::string& name : faulted_value_names(faults, targets)) {
    if (std::find(options.observable.begin(), options.observable.end(), name) == options.observable.end())
      options.observable.push_back(std::move(name));
  }
  options.propagate_nan = true;  // a NaN the fault makes must reach the outputs as in PyTorch (a DUE)
  FL_ASSIGN_OR_RETURN(auto session, Session::create(model, std::move(options)));

  if (faults.empty()) {  // only the output shape is needed: one clean run gives it
    FL_ASSIGN_OR_RETURN(std::vector<Tensor> clean, session->run({input}));
    Shape shape = clean.front().shape();
    shape.insert(shape.begin(), 0);
    return Tensor::allocate(DType::kFloat32, std::move(shape));
  }
  Tensor stacked;
  for (size_t f = 0; f < faults.size(); ++f) {
    const std::string location = fault_list_location(list, faults[f].entry);
    const ArmedFault armed = armed_fault(list, faults[f], targets_run);
    FL_ASSIGN_OR_RETURN(FaultInjector injector, FaultInjector::create({&armed, 1}, injector_options));
    auto outputs = session->run({input}, &injector);
    const Status restored = injector.restore();  // a run that stopped early may have left weights patched
    if (!outputs.is_ok()) return outputs.status().with_context(location);
    FL_RETURN_IF_ERROR(restored.with_context(location));
    FL_RETURN_IF_ERROR(injector.check_restored().with_context(location));
    const Tensor& output = outputs->front();
    if (output.dtype() != DType::kFloat32)
      return unsupported("the model's output is " + std::string(dtype_name(output.dtype())) + ", not float32");
    if (stacked.empty()) {
      Shape shape = output.shape();
      shape.insert(shape.begin(), static_cast<int64_t>(faults.size()));
      FL_ASSIGN_OR_RETURN(stacked, Tensor::allocate(DType::kFloat32, std::move(shape)));
    }
    std::memcpy(stacked.data<std::byte>() + f * output.nbytes(), output.raw(), output.nbytes());
  }
  return stacked;
}

}  // namespace faultline
