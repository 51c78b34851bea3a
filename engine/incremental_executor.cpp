#include "engine/incremental_executor.h"

#include <algorithm>
#include <cstring>
#include <string>

namespace faultline {

Result<std::unique_ptr<IncrementalExecutor>> IncrementalExecutor::create(CompiledModel& model) {
  std::unique_ptr<IncrementalExecutor> executor(new IncrementalExecutor(model));
  const Graph& graph = model.graph();
  const size_t values = graph.values().size();
  executor->storage_.resize(values);
  executor->golden_offset_.assign(values, 0);
  executor->holds_.assign(values, kNoSlot);
  executor->differs_.assign(values, 0);

  auto keep = [&](ValueId v, const std::string& role) -> Status {
    auto& storage = executor->storage_[static_cast<size_t>(v)];
    if (!storage.empty()) return Status::ok();
    storage = model.kept_storage(v);
    if (storage.empty())
      return unsupported("incremental execution: " + role + " '" + graph.value(v).name +
                         "' has no kept storage; plan the model with keep_values");
    executor->golden_offset_[static_cast<size_t>(v)] = executor->slot_bytes_;
    executor->slot_bytes_ += (storage.size() + 63) / 64 * 64;
    return Status::ok();
  };
  for (ValueId v : graph.inputs()) FL_RETURN_IF_ERROR(keep(v, "graph input"));

  const size_t steps = model.num_steps();
  executor->step_reads_.resize(steps);
  executor->step_constants_.resize(steps);
  executor->step_writes_.resize(steps);
  for (size_t s = 0; s < steps; ++s) {
    const StepInfo& info = model.step(s);
    for (ValueId v : info.outputs) {
      FL_RETURN_IF_ERROR(keep(v, "step output"));
      executor->step_writes_[s].push_back(v);
    }
    for (NodeId n : info.nodes) {
      for (ValueId v : graph.node(n).inputs) {
        if (v == kNoValue) continue;
        const Value& value = graph.value(v);
        auto& list = value.is_constant() ? executor->step_constants_[s] : executor->step_reads_[s];
        const bool inside = !value.is_constant() && value.producer != kNoNode &&
                            std::find(info.nodes.begin(), info.nodes.end(), value.producer) != info.nodes.end();
        if (inside || std::find(list.begin(), list.end(), v) != list.end()) continue;
        if (!value.is_constant()) FL_RETURN_IF_ERROR(keep(v, "value read by step " + std::to_string(s)));
        list.push_back(v);
      }
    }
  }
  for (ValueId v : graph.outputs())
    if (!graph.value(v).is_constant()) FL_RETURN_IF_ERROR(keep(v, "graph output"));
  return executor;
}

Status IncrementalExecutor::capture(size_t slot) {
  if (slot >= slots_.size()) slots_.resize(slot + 1);
  if (!slots_[slot]) {
    slots_[slot].reset(new (std::nothrow) std::byte[slot_bytes_]);
    if (!slots_[slot])
      return internal_error("incremental execution: cannot allocate a " + std::to_string(slot_bytes_) +
                            "-byte golden slot");
  }
  std::byte* base = slots_[slot].get();
  for (size_t v = 0; v < storage_.size(); ++v) {
    if (storage_[v].empty()) continue;
    std::memcpy(base + golden_offset_[v], storage_[v].data(), storage_[v].size());
    holds_[v] = static_cast<int64_t>(slot);
  }
  return Status::ok();
}

void IncrementalExecutor::load_golden(ValueId value, size_t slot) {
  const size_t v = static_cast<size_t>(value);
  if (holds_[v] == static_cast<int64_t>(slot)) return;
  std::memcpy(storage_[v].data(), slots_[slot].get() + golden_offset_[v], storage_[v].size());
  holds_[v] = static_cast<int64_t>(slot);
}

Result<IncrementalPass> IncrementalExecutor::run(size_t slot, StepObserver& observer,
                                                 std::span<const size_t> seed_steps,
                                                 std::span<const ValueId> changed_constants) {
  if (slot >= slots_.size() || !slots_[slot])
    return invalid_argument("incremental execution: golden slot " + std::to_string(slot) + " was never captured");
  const size_t steps = model_.num_steps();
  // Steps that must run whatever their inputs: seeds and readers of a changed constant.
  std::vector<char> must_run(steps, 0);
  for (size_t s : seed_steps)
    if (s < steps) must_run[s] = 1;
  for (size_t s = 0; s < steps; ++s)
    for (ValueId c : changed_constants)
      if (std::find(step_constants_[s].begin(), step_constants_[s].end(), c) != step_constants_[s].end())
        must_run[s] = 1;
  size_t last_forced = 0;
  bool any_forced = false;
  for (size_t s = 0; s < steps; ++s)
    if (must_run[s]) last_forced = s, any_forced = true;

  std::fill(differs_.begin(), differs_.end(), 0);
  size_t differing = 0;
  IncrementalPass pass;
  FL_RETURN_IF_ERROR(observer.begin_pass(model_));
  Status status;
  const std::byte* golden = slots_[slot].get();
  for (size_t s = 0; s < steps && status.is_ok(); ++s) {
    bool run = must_run[s] != 0;
    for (size_t i = 0; !run && i < step_reads_[s].size(); ++i) run = differs_[static_cast<size_t>(step_reads_[s][i])];
    if (!run) {
      if (differing == 0 && (!any_forced || s > last_forced)) {
        pass.stopped_early = true;
        break;
      }
      continue;
    }
    for (ValueId v : step_reads_[s])
      if (!differs_[static_cast<size_t>(v)]) load_golden(v, slot);
    status = observer.before_step(model_, s);
    if (!status.is_ok()) break;
    model_.run_step(s);
    ++pass.steps_run;
    status = observer.after_step(model_, s);
    if (!status.is_ok()) break;
    for (ValueId value : step_writes_[s]) {
      const size_t v = static_cast<size_t>(value);
      const bool same = std::memcmp(storage_[v].data(), golden + golden_offset_[v], storage_[v].size()) == 0;
      if (!same && !differs_[v]) ++differing;
      if (same && differs_[v]) --differing;
      differs_[v] = same ? 0 : 1;
      holds_[v] = same ? static_cast<int64_t>(slot) : kNoSlot;
    }
  }
  const Status ended = observer.end_pass(model_);
  FL_RETURN_IF_ERROR(status);
  FL_RETURN_IF_ERROR(ended);
  pass.outputs_golden = true;
  for (ValueId v : model_.graph().outputs()) {
    if (model_.graph().value(v).is_constant()) continue;
    if (differs_[static_cast<size_t>(v)])
      pass.outputs_golden = false;
    else
      load_golden(v, slot);
  }
  return pass;
}

}  // namespace faultline
