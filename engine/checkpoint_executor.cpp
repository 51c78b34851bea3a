#include "engine/checkpoint_executor.h"

#include <algorithm>
#include <cstring>
#include <string>

namespace faultline {
namespace {

constexpr int64_t kGraphInput = -1;  // "produced" before step 0

}  // namespace

Result<std::unique_ptr<CheckpointExecutor>> CheckpointExecutor::create(CompiledModel& model, size_t budget_bytes) {
  std::unique_ptr<CheckpointExecutor> executor(new CheckpointExecutor(model));
  const Graph& graph = model.graph();
  const size_t steps = model.num_steps();
  executor->dataflow_ = step_dataflow(model);

  // When each value is produced and last needed (graph outputs: to the end).
  std::vector<int64_t> produced(graph.values().size(), kGraphInput - 1);  // below kGraphInput: never
  std::vector<int64_t> last_read(graph.values().size(), kGraphInput - 1);
  for (ValueId v : graph.inputs()) produced[static_cast<size_t>(v)] = kGraphInput;
  for (size_t s = 0; s < steps; ++s) {
    for (ValueId v : model.step(s).outputs) produced[static_cast<size_t>(v)] = static_cast<int64_t>(s);
    for (ValueId v : executor->dataflow_.reads[s]) last_read[static_cast<size_t>(v)] = static_cast<int64_t>(s);
  }
  for (ValueId v : graph.outputs())
    if (!graph.value(v).is_constant()) last_read[static_cast<size_t>(v)] = static_cast<int64_t>(steps);
  auto bytes_of = [&](ValueId v) {
    const Value& value = graph.value(v);
    return static_cast<size_t>(numel(value.shape)) * dtype_size(value.dtype);
  };
  // The values live across boundary b (before step b).
  auto live_at = [&](size_t b) {
    std::vector<ValueId> live;
    for (size_t v = 0; v < produced.size(); ++v) {
      const int64_t p = produced[v];
      if (p >= kGraphInput && p < static_cast<int64_t>(b) && last_read[v] >= static_cast<int64_t>(b))
        live.push_back(static_cast<ValueId>(v));
    }
    return live;
  };

  // By ValueId: its index in stored_, or -1.
  std::vector<int64_t> stored_at(graph.values().size(), -1);
  size_t used = 0;
  auto marginal = [&](const std::vector<ValueId>& live) {
    size_t extra = 0;
    for (ValueId v : live)
      if (stored_at[static_cast<size_t>(v)] < 0) extra += bytes_of(v);
    return extra;
  };
  auto keep = [&](size_t b, const std::vector<ValueId>& live) {
    for (ValueId v : live) {
      if (stored_at[static_cast<size_t>(v)] >= 0) continue;
      stored_at[static_cast<size_t>(v)] = static_cast<int64_t>(executor->stored_.size());
      used += bytes_of(v);
      executor->stored_.push_back(v);
    }
    executor->boundaries_.insert(std::upper_bound(executor->boundaries_.begin(), executor->boundaries_.end(), b), b);
  };

  const std::vector<ValueId> inputs_live = live_at(0);
  const size_t inputs_bytes = marginal(inputs_live);
  if (inputs_bytes > budget_bytes)
    return unsupported("checkpoints: the graph inputs of one batch take " + megabytes(inputs_bytes) +
                       ", more than the golden budget (" + megabytes(budget_bytes) + ")");
  keep(0, inputs_live);

  // Greedy: the boundary saving the most re-run steps per new byte, while the budget lasts.
  std::vector<std::vector<ValueId>> candidates(steps);
  for (size_t b = 1; b < steps; ++b) candidates[b] = live_at(b);
  for (;;) {
    size_t best = 0;
    double best_score = 0.0;
    for (size_t b = 1; b < steps; ++b) {
      const auto at = std::lower_bound(executor->boundaries_.begin(), executor->boundaries_.end(), b);
      if (at != executor->boundaries_.end() && *at == b) continue;
      const size_t extra = marginal(candidates[b]);
      if (used + extra > budget_bytes) continue;
      const size_t previous = *(at - 1);
      const size_t next = at == executor->boundaries_.end() ? steps : *at;
      // Faults starting at steps [b, next) re-run b - previous fewer steps each.
      const double saved = static_cast<double>(b - previous) * static_cast<double>(next - b);
      const double score = saved / static_cast<double>(std::max<size_t>(extra, 1));
      if (score > best_score) best = b, best_score = score;
    }
    if (best == 0) break;
    keep(best, candidates[best]);
  }

  for (size_t b : executor->boundaries_) {
    std::vector<size_t> indices;
    for (ValueId v : b == 0 ? inputs_live : candidates[b])
      indices.push_back(static_cast<size_t>(stored_at[static_cast<size_t>(v)]));
    executor->live_.push_back(std::move(indices));
  }
  executor->slot_bytes_ = used;
  return executor;
}

Status CheckpointExecutor::run_clean(size_t slot) {
  if (slot >= slots_.size()) slots_.resize(slot + 1);
  std::vector<Tensor>& golden = slots_[slot];
  golden.resize(stored_.size());
  std::vector<char> captured(stored_.size(), 0);
  auto capture = [&](size_t k) -> Status {
    for (size_t i : live_[k]) {
      if (captured[i]) continue;
      FL_RETURN_IF_ERROR(model_.read_value(stored_[i], golden[i]));
      captured[i] = 1;
    }
    return Status::ok();
  };
  const size_t steps = model_.num_steps();
  size_t k = 0;
  for (size_t s = 0; s <= steps; ++s) {
    if (k < boundaries_.size() && boundaries_[k] == s) FL_RETURN_IF_ERROR(capture(k++));
    if (s < steps) model_.run_step(s);
  }
  size_t bytes = 0;
  for (const Tensor& value : golden) bytes += value.nbytes();
  slot_bytes_ = std::max(slot_bytes_, bytes);
  return Status::ok();
}

Result<bool> CheckpointExecutor::live_values_golden(size_t k, size_t slot) {
  for (size_t i : live_[k]) {
    const Tensor& golden = slots_[slot][i];
    if (scratch_.nbytes() < golden.nbytes()) {
      FL_ASSIGN_OR_RETURN(scratch_, Tensor::allocate(DType::kUInt8, {static_cast<int64_t>(golden.nbytes())}));
    }
    Tensor now = Tensor::view(golden.dtype(), golden.shape(), scratch_.raw());
    FL_RETURN_IF_ERROR(model_.read_value(stored_[i], now));
    if (std::memcmp(now.raw(), golden.raw(), golden.nbytes()) != 0) return false;
  }
  return true;
}

Result<IncrementalPass> CheckpointExecutor::run(size_t slot, StepObserver& observer, std::span<const size_t> seed_steps,
                                                std::span<const ValueId> changed_constants) {
  if (slot >= slots_.size() || slots_[slot].size() != stored_.size())
    return internal_error("checkpoints: golden slot " + std::to_string(slot) + " was never captured");
  const size_t steps = model_.num_steps();
  // The steps where the pass can first and last change something.
  std::vector<char> acts = readers_of(dataflow_, changed_constants);
  for (size_t s : seed_steps)
    if (s < steps) acts[s] = 1;
  size_t first = steps, last = 0;
  for (size_t s = 0; s < steps; ++s)
    if (acts[s]) first = std::min(first, s), last = s;

  IncrementalPass pass;
  FL_RETURN_IF_ERROR(observer.begin_pass(model_));
  if (first >= steps) {  // nothing acts: the outputs are golden
    pass.stopped_early = pass.outputs_golden = true;
    FL_RETURN_IF_ERROR(observer.end_pass(model_));
    return pass;
  }
  size_t k = static_cast<size_t>(std::upper_bound(boundaries_.begin(), boundaries_.end(), first) - boundaries_.begin()) - 1;
  Status status = Status::ok();
  for (size_t i : live_[k]) {
    status = model_.write_value(stored_[i], slots_[slot][i]);
    if (!status.is_ok()) return finish_pass(observer, model_, status);
  }
  for (size_t s = boundaries_[k]; s < steps; ++s) {
    status = observer.before_step(model_, s);
    if (!status.is_ok()) break;
    model_.run_step(s);
    ++pass.steps_run;
    status = observer.after_step(model_, s);
    if (!status.is_ok()) break;
    while (k < boundaries_.size() && boundaries_[k] <= s) ++k;
    if (k < boundaries_.size() && boundaries_[k] == s + 1 && s + 1 > last) {
      Result<bool> golden = live_values_golden(k, slot);
      if (!golden.is_ok()) {
        status = golden.status();
        break;
      }
      if (*golden) {
        pass.stopped_early = pass.outputs_golden = true;
        break;
      }
    }
  }
  FL_RETURN_IF_ERROR(finish_pass(observer, model_, status));
  return pass;
}

}  // namespace faultline
