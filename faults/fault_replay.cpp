#include "faults/fault_replay.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <cstring>
#include <optional>

#include "engine/image_independence.h"
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
    // A kernel-level fault reads its node's inputs and rewrites its output (faults/kernel_fault_hook.h).
    if (target.kind == TargetKind::kKernel)
      for (const std::string& input : target.kernel_inputs) add(input);
  }
  return names;
}

namespace {

// What a fault's persistence asks of its row, beyond what the injector checks (faults/fault.h).
Status check_persistence(const Fault& fault, const FaultTarget& target) {
  switch (fault.persistence) {
    case Persistence::kPermanent:
      if (target.kind == TargetKind::kWeight && fault.site.batch) {
        return invalid_argument(
            "a weight is shared by every image; Batch on a weight needs persistence inference "
            "or batch");
      }
      return Status::ok();
    case Persistence::kInference:
    case Persistence::kBatch:
      if (!fault.site.batch) {
        return invalid_argument(
            "persistence '" + std::string(persistence_name(fault.persistence)) + "' needs a Batch (the image " +
            (fault.persistence == Persistence::kInference ? "it hits" : "whose batch it hits") + ")");
      }
      return Status::ok();
    case Persistence::kSteps:
    case Persistence::kCount:
      break;
  }
  return invalid_argument("persistence 'steps' needs a spiking model");
}

// Rows [first, first + count) of `input` (images first), without copying; the input itself when it has no image
// dimension.
Tensor image_rows(const Tensor& input, int64_t first, int64_t count) {
  if (input.rank() == 0) return Tensor::view(input.dtype(), input.shape(), const_cast<void*>(input.raw()));
  return input.rows(first, count);
}

// Campaign outcomes compare float32 outputs.
Status expect_float32_output(const Tensor& output) {
  if (output.dtype() == DType::kFloat32) return Status::ok();
  return unsupported("the model's output is " + std::string(dtype_name(output.dtype())) + ", not float32");
}

}  // namespace

Status check_replayable(const FaultList& list, std::span<const ResolvedFault> faults,
                        const std::vector<FaultTarget>& targets, int64_t images) {
  for (const ResolvedFault& resolved : faults) {
    const ArmedFault armed = armed_fault(list, resolved, targets);
    Status status = check_persistence(*armed.fault, *armed.target);
    if (status.is_ok()) status = FaultInjector::create({&armed, 1}).status();
    const std::optional<int64_t>& batch = armed.fault->site.batch;
    if (status.is_ok() && batch && *batch >= images) {
      status = out_of_range("Batch " + std::to_string(*batch) + " is out of range for an input of " +
                            std::to_string(images) + " images");
    }
    if (!status.is_ok()) return status.with_context(fault_list_location(list, resolved.entry));
  }
  return Status::ok();
}

Result<std::unique_ptr<FaultReplayer>> FaultReplayer::create(std::shared_ptr<const Graph> model, SessionOptions options,
                                                             const FaultList& list,
                                                             std::span<const ResolvedFault> faults,
                                                             const std::vector<FaultTarget>& targets,
                                                             const Tensor& input, InjectorOptions injector_options,
                                                             ReplayOptions replay_options) {
  std::unique_ptr<FaultReplayer> replayer(new FaultReplayer());
  if (const char* cap = std::getenv("FAULTLINE_PASS_BATCH_MB"); cap != nullptr && *cap != '\0') {
    char* end = nullptr;
    const unsigned long long megabytes = std::strtoull(cap, &end, 10);
    if (!std::isdigit(static_cast<unsigned char>(*cap)) || *end != '\0' || megabytes == 0)
      return invalid_argument("FAULTLINE_PASS_BATCH_MB must be a positive number of MB, got '" + std::string(cap) + "'");
    replay_options.pass_batch_bytes = static_cast<size_t>(megabytes) << 20;
  }
  replayer->replay_options_ = replay_options;
  replayer->stats_.pass_batch_cap = replay_options.pass_batch_bytes;
  replayer->list_ = &list;
  replayer->faults_ = faults;
  replayer->input_ = &input;
  replayer->images_ = input.rank() > 0 ? input.dim(0) : 1;
  replayer->injector_options_ = injector_options;
  // Weights stored as float16/bfloat16/int8 keep their names: the targets listed on the float32 model take the
  // stored dtype, so bit ranges and the patched words are the stored ones (engine/weight_storage.h).
  replayer->targets_ = targets;
  if (options.weight_dtype) {
    auto stored = std::make_shared<Graph>(*model);
    FL_RETURN_IF_ERROR(store_weights_as(*stored, *options.weight_dtype).with_context(model->source));
    for (FaultTarget& target : replayer->targets_) {
      const auto id = stored->find_value(target.name);
      if (target.kind == TargetKind::kWeight && id && stored->value(*id).is_parameter)
        target.dtype = stored->value(*id).dtype;
    }
    model = std::move(stored);
    options.weight_dtype.reset();
  }
  FL_RETURN_IF_ERROR(check_replayable(list, faults, replayer->targets_, replayer->images_));
  for (std::string& name : faulted_value_names(faults, targets)) {
    if (std::find(options.observable.begin(), options.observable.end(), name) == options.observable.end())
      options.observable.push_back(std::move(name));
  }
  options.propagate_nan = true;  // a NaN the fault makes must reach the outputs as in PyTorch (a DUE)
  replayer->batch_ = std::max<int64_t>(options.batch, 1);
  if (replay_options.incremental) {
    // Golden values of every batch are kept when they fit the budget (or one batch's at a time, batch-major),
    // else those of fewer images at a time (plan_pass_batches), else those at a few checkpoints
    // (plan_checkpoints), else every fault runs full passes.
    SessionOptions keeping = options;
    keeping.keep_values = true;
    const size_t budget = replay_options.golden_budget_bytes;
    const int64_t batch = replayer->batch_;
    // One image's kept values, from a one-image plan: a kept plan of a large model at a large batch may not
    // fit memory at all. The batch's plan is not made when its estimate is over twice the budget; otherwise
    // its exact size decides (the estimate rounds every value up, per image).
    size_t per_image = 0;
    bool device_memory = false;  // the backend keeps values in device memory (CompiledModel::kept_device)
    if (batch > 1 && replayer->images_ > 1) {
      SessionOptions one_image = keeping;
      one_image.batch = 1;
      auto probe = Session::create(model, one_image);
      if (probe.is_ok()) {
        device_memory = (*probe)->compiled().kept_device() != nullptr;
        auto sizing = IncrementalExecutor::create((*probe)->compiled());
        if (sizing.is_ok()) per_image = (*sizing)->slot_bytes();
      }
    }
    size_t one_batch = per_image * static_cast<size_t>(std::min(batch, replayer->images_));
    // (pass_batch_bytes is about host caches: device memory is capped by the budget alone)
    const size_t pass_limit = device_memory ? budget : std::min(budget, replay_options.pass_batch_bytes);
    // The batch's kept plan, taken when its values fit `limit` (the estimate rounds every value up, per image:
    // the plan's exact size decides).
    auto kept_batch = [&](size_t limit) -> Result<bool> {
      FL_ASSIGN_OR_RETURN(replayer->session_, Session::create(model, keeping));
      auto executor = replayer->executor_for(replayer->session_->compiled());
      if (!executor.is_ok()) {
        replayer->stats_.full_passes_reason =
            "the backend keeps no golden values to recompute from (" + executor.status().message() + ")";
        return false;
      }
      one_batch = (*executor)->slot_bytes();
      if (replayer->session_->compiled().kept_device() != nullptr) limit = budget;
      if (per_image == 0) per_image = one_batch / static_cast<size_t>(std::min(batch, replayer->images_));
      // Decides shares_image_passes(), which mostly_grouped() counts.
      replayer->images_independent_ = check_images_independent(replayer->session_->compiled().graph()).is_ok();
      if (one_batch > limit) return false;
      replayer->keep_values_within(one_batch);
      return true;
    };
    // A batch whose values exceed the budget, or are large enough to run faster in smaller passes
    // (ReplayOptions::pass_batch_bytes), tries passes on fewer images from the plain plan of the batch first
    // (a kept plan of it would take those values' memory at once).
    if (one_batch / 2 <= pass_limit) {
      FL_ASSIGN_OR_RETURN(const bool kept, kept_batch(pass_limit));
      if (kept) return replayer;
      if (!replayer->stats_.full_passes_reason.empty()) {  // the backend keeps nothing
        replayer->executors_.clear();
        replayer->session_.reset();
        FL_ASSIGN_OR_RETURN(replayer->session_, Session::create(model, options));
        replayer->images_independent_ = false;
        return replayer;
      }
    }
    // One batch's values exceed pass_limit (estimated, or measured on the kept plan just made).
    replayer->stats_.all_values_bytes = one_batch;
    replayer->executors_.clear();  // they belong to a kept plan, replaced here
    replayer->session_.reset();
    FL_ASSIGN_OR_RETURN(replayer->session_, Session::create(model, options));
    replayer->images_independent_ = check_images_independent(replayer->session_->compiled().graph()).is_ok();
    FL_ASSIGN_OR_RETURN(const bool smaller, replayer->plan_pass_batches(model, keeping, per_image, pass_limit));
    if (smaller) return replayer;
    if (one_batch <= budget) {  // within the budget, only too large to run fast: the batch's kept plan after all
      replayer->session_.reset();
      FL_ASSIGN_OR_RETURN(const bool kept, kept_batch(budget));
      if (kept) return replayer;
      replayer->executors_.clear();
      replayer->session_.reset();
      FL_ASSIGN_OR_RETURN(replayer->session_, Session::create(model, options));
      replayer->images_independent_ = check_images_independent(replayer->session_->compiled().graph()).is_ok();
    }
    if (replayer->stats_.full_passes_reason.empty()) {
      replayer->stats_.full_passes_reason =
          "one batch's golden values take " + megabytes(one_batch) + ", more than the golden budget (" +
          megabytes(budget) + "), and not even the graph inputs and one checkpoint fit; a smaller batch_size or a "
          "larger golden_budget_mb runs incremental passes";
      const int64_t batches = std::max<int64_t>((replayer->images_ + batch - 1) / batch, 1);
      FL_ASSIGN_OR_RETURN(const bool checkpointed, replayer->plan_checkpoints(batches));
      if (checkpointed) return replayer;
    }
    replayer->images_independent_ = false;  // a replay of full passes has no waves
    return replayer;
  }
  FL_ASSIGN_OR_RETURN(replayer->session_, Session::create(model, std::move(options)));
  return replayer;
}

void FaultReplayer::keep_values_within(size_t slot_bytes) {
  // session_ is the kept plan of pass_batch() images; slot_bytes holds one such batch's values.
  const int64_t pass_batch = session_->options().batch;
  const int64_t slots = std::max<int64_t>((images_ + pass_batch - 1) / pass_batch, 1);
  const bool every_slot = slot_bytes * static_cast<size_t>(slots) <= replay_options_.golden_budget_bytes;
  incremental_ = stats_.incremental = true;
  batch_major_ = stats_.batch_major = !every_slot || (replay_options_.prefer_batch_major && slots > 1 && mostly_grouped());
  stats_.golden_bytes = batch_major_ ? slot_bytes : slot_bytes * static_cast<size_t>(slots);
  stats_.golden_on_device = session_->compiled().kept_device() != nullptr;
  stats_.full_passes_reason.clear();
}

Result<bool> FaultReplayer::plan_pass_batches(const std::shared_ptr<const Graph>& model, SessionOptions keeping,
                                              size_t per_image, size_t limit) {
  int64_t pass_batch = 0;  // the largest divisor of the batch below it whose kept values fit
  for (int64_t k = batch_ - 1; k >= 1 && pass_batch == 0; --k)
    if (batch_ % k == 0 && per_image * static_cast<size_t>(k) <= limit) pass_batch = k;
  if (pass_batch == 0 || !images_independent_) return false;
  keeping.batch = pass_batch;
  auto kept = Session::create(model, keeping);
  if (!kept.is_ok()) return false;
  // The plain session_ has no executor: the only one is the new plan's, dropped again on failure.
  auto executor = executor_for((*kept)->compiled());
  if (!executor.is_ok() || (*executor)->slot_bytes() > limit) {
    executors_.clear();
    return false;
  }
  // The kernels a backend picks may depend on the batch size, and with them the rounding (oneDNN's plain
  // inference plan of ResNet20 gives other bytes at 2 images than at 8): the clean outputs of the first batch,
  // and of a smaller last one, must be the same bytes on both plans.
  std::vector<int64_t> checked = {0};
  if (images_ > batch_ && images_ % batch_ != 0) checked.push_back(images_ / batch_ * batch_);
  for (int64_t first : checked) {
    const Tensor rows = image_rows(*input_, first, std::min(batch_, images_ - first));
    auto whole = session_->run({rows});
    auto parts = (*kept)->run({rows});
    bool same = whole.is_ok() && parts.is_ok() && whole->size() == parts->size();
    for (size_t o = 0; same && o < whole->size(); ++o) {
      const Tensor& a = (*whole)[o];
      const Tensor& b = (*parts)[o];
      same = a.nbytes() == b.nbytes() && std::memcmp(a.raw(), b.raw(), a.nbytes()) == 0;
    }
    if (!same) {
      executors_.clear();
      stats_.pass_batch_refused = "batches of " + std::to_string(pass_batch) + " images compute other bytes than batches of " +
                                  std::to_string(batch_);
      return false;
    }
  }
  session_ = std::move(kept).value();
  stats_.pass_batch = pass_batch;
  keep_values_within((*executor)->slot_bytes());
  return true;
}

Result<bool> FaultReplayer::plan_checkpoints(int64_t batches) {
  CompiledModel& compiled = session_->compiled();
  const size_t budget = replay_options_.golden_budget_bytes;
  const size_t every_batch = budget / static_cast<size_t>(std::max<int64_t>(batches, 1));
  auto keeps_more = [](Result<std::unique_ptr<CheckpointExecutor>>& planned) {
    return planned.is_ok() && (*planned)->boundaries().size() > 1;
  };
  // One batch's checkpoints at a time, with the whole budget, for callers that group faults (as with kept
  // values: ReplayOptions::prefer_batch_major); else every batch's within the budget.
  const bool grouped = batches > 1 && replay_options_.prefer_batch_major && mostly_grouped();
  bool batch_major = grouped;
  auto planned = CheckpointExecutor::create(compiled, grouped ? budget : every_batch);
  if (!keeps_more(planned)) return false;
  checkpoint_budget_ = batch_major ? budget : every_batch;
  const CheckpointExecutor& executor = **planned;
  stats_.checkpoints = static_cast<int64_t>(executor.boundaries().size()) - 1;
  stats_.boundaries = static_cast<int64_t>(compiled.num_steps());
  stats_.golden_bytes = executor.slot_bytes() * (batch_major ? 1 : static_cast<size_t>(std::max<int64_t>(batches, 1)));
  stats_.full_passes_reason.clear();
  stats_.incremental = incremental_ = checkpointed_ = true;
  stats_.batch_major = batch_major_ = batch_major;
  checkpoint_executors_.push_back(std::move(planned).value());
  return true;
}

Result<CheckpointExecutor*> FaultReplayer::checkpoint_executor_for(CompiledModel& compiled) {
  for (auto& executor : checkpoint_executors_)
    if (&executor->model() == &compiled) return executor.get();
  FL_ASSIGN_OR_RETURN(std::unique_ptr<CheckpointExecutor> executor,
                      CheckpointExecutor::create(compiled, checkpoint_budget_));
  checkpoint_executors_.push_back(std::move(executor));
  return checkpoint_executors_.back().get();
}

Result<IncrementalExecutor*> FaultReplayer::executor_for(CompiledModel& compiled) {
  for (auto& executor : executors_)
    if (&executor->model() == &compiled) return executor.get();
  FL_ASSIGN_OR_RETURN(std::unique_ptr<IncrementalExecutor> executor, IncrementalExecutor::create(compiled));
  const char* windows_env = std::getenv("FAULTLINE_WINDOWS");
  executor->set_window_execution(replay_options_.windows && !(windows_env && std::string(windows_env) == "0"));
  executors_.push_back(std::move(executor));
  return executors_.back().get();
}

// The golden pass of the incremental path: every pass batch (session_'s batch: batch_ images, or fewer with
// plan_pass_batches) runs clean once, its outputs become rows of golden_ and its values golden slot b (pass
// batch b = images [b * batch, + batch)). In batch-major mode nothing is
// captured (each group's batch recaptures slot 0 before its faults): copying every value of every batch would
// be wasted.
Status FaultReplayer::run_golden_incremental() {
  const int64_t batch = session_->options().batch;
  for (int64_t first = 0, slot = 0; first < images_; first += batch, ++slot) {
    const int64_t count = std::min(batch, images_ - first);
    FL_ASSIGN_OR_RETURN(CompiledModel * compiled, session_->compiled_for(count));
    FL_RETURN_IF_ERROR(run_clean_batch(*compiled, first, count,
                                       batch_major_ ? std::nullopt : std::optional<size_t>(static_cast<size_t>(slot))));
    Tensor rows;
    FL_RETURN_IF_ERROR(compiled->read_value(compiled->graph().outputs()[0], rows));
    if (golden_.empty()) {
      Shape shape = rows.shape();
      if (shape.empty() || shape[0] != count)
        return unsupported("the model's output " + shape_to_string(shape) + " has no row per image");
      shape[0] = images_;
      FL_ASSIGN_OR_RETURN(golden_, Tensor::allocate(rows.dtype(), shape));
    }
    const size_t row_bytes = golden_.nbytes() / static_cast<size_t>(images_);
    std::memcpy(golden_.data<std::byte>() + static_cast<size_t>(first) * row_bytes, rows.raw(), rows.nbytes());
  }
  return Status::ok();
}

Status FaultReplayer::run_clean_batch(CompiledModel& compiled, int64_t first, int64_t count,
                                      std::optional<size_t> slot) {
  FL_RETURN_IF_ERROR(compiled.write_value(compiled.graph().inputs()[0], image_rows(*input_, first, count)));
  if (checkpointed_) {
    if (!slot) return execute(compiled);
    FL_ASSIGN_OR_RETURN(CheckpointExecutor * executor, checkpoint_executor_for(compiled));
    return executor->run_clean(*slot);
  }
  FL_RETURN_IF_ERROR(execute(compiled));
  FL_ASSIGN_OR_RETURN(IncrementalExecutor * executor, executor_for(compiled));
  if (slot) return executor->capture(*slot);
  executor->forget();  // the buffers hold this batch's values, captured in no slot
  return Status::ok();
}

Result<IncrementalPass> FaultReplayer::run_pass(CompiledModel& compiled, size_t slot, FaultInjector& injector) {
  FL_ASSIGN_OR_RETURN(std::vector<size_t> seeds, injector.acting_steps(compiled));
  FL_ASSIGN_OR_RETURN(std::vector<ValueId> weights, injector.faulted_weights(compiled));
  if (checkpointed_) {
    FL_ASSIGN_OR_RETURN(CheckpointExecutor * executor, checkpoint_executor_for(compiled));
    return executor->run(slot, injector, seeds, weights);
  }
  FL_ASSIGN_OR_RETURN(IncrementalExecutor * executor, executor_for(compiled));
  FL_ASSIGN_OR_RETURN(std::vector<size_t> output_only, injector.output_only_steps(compiled));
  FL_ASSIGN_OR_RETURN(std::vector<std::vector<int64_t>> elements, injector.faulted_weight_elements(compiled));
  FL_ASSIGN_OR_RETURN(std::vector<ActedElements> acted, injector.output_only_elements(compiled));
  return executor->run(slot, injector, seeds, weights, output_only, elements, acted);
}

// Images [first, first + count) start at a batch boundary (run_armed's contract), and so at a pass batch's
// (plan_pass_batches divides batch_); each pass batch is one incremental pass from its golden slot.
Status FaultReplayer::run_passes(std::span<FaultInjector* const> injectors, int64_t first, int64_t count,
                                 std::vector<Tensor>& outputs, const std::function<void(double)>& progress) {
  if (golden_.empty()) FL_RETURN_IF_ERROR(run_golden_incremental());
  const int64_t batch = session_->options().batch;
  Shape shape = golden_.shape();
  shape[0] = count;
  outputs.clear();
  for (size_t i = 0; i < injectors.size(); ++i) {
    FL_ASSIGN_OR_RETURN(Tensor output, Tensor::allocate(golden_.dtype(), shape));
    outputs.push_back(std::move(output));
  }
  const size_t row_bytes = golden_.nbytes() / static_cast<size_t>(images_);
  Tensor rows;
  for (int64_t start = first; start < first + count; start += batch) {
    const int64_t rows_here = std::min(batch, images_ - start);
    FL_ASSIGN_OR_RETURN(CompiledModel * compiled, session_->compiled_for(rows_here));
    size_t slot = static_cast<size_t>(start / batch);
    if (batch_major_) {  // this batch's golden values, into the one slot
      slot = 0;
      FL_RETURN_IF_ERROR(run_clean_batch(*compiled, start, rows_here, slot));
    }
    for (size_t i = 0; i < injectors.size(); ++i) {
      FaultInjector& injector = *injectors[i];
      injector.set_image_offset(start);
      FL_ASSIGN_OR_RETURN(IncrementalPass pass, run_pass(*compiled, slot, injector));
      ++stats_.passes;
      stats_.steps_run += static_cast<int64_t>(pass.steps_run);
      stats_.steps_total += static_cast<int64_t>(compiled->num_steps());
      if (pass.stopped_early) ++stats_.stopped_early;
      stats_.window_steps += static_cast<int64_t>(pass.window_steps);
      stats_.image_steps += static_cast<int64_t>(pass.image_steps);
      stats_.channel_steps += static_cast<int64_t>(pass.channel_steps);
      std::byte* destination = outputs[i].data<std::byte>() + static_cast<size_t>(start - first) * row_bytes;
      if (pass.outputs_golden) {
        std::memcpy(destination, golden_.data<std::byte>() + static_cast<size_t>(start) * row_bytes,
                    static_cast<size_t>(rows_here) * row_bytes);
        continue;
      }
      rows = Tensor();  // the last batch may run on a smaller plan
      FL_RETURN_IF_ERROR(compiled->read_value(compiled->graph().outputs()[0], rows));
      std::memcpy(destination, rows.raw(), rows.nbytes());
    }
    if (progress) progress(static_cast<double>(start + rows_here - first) / static_cast<double>(count));
  }
  return Status::ok();
}

std::pair<int64_t, int64_t> FaultReplayer::executed_batch(int64_t image) const {
  const int64_t first = image / batch_ * batch_;
  return {first, std::min(batch_, images_ - first)};
}

std::pair<int64_t, int64_t> FaultReplayer::reached_rows(size_t f) const {
  const Fault& fault = list_->entries[faults_[f].entry].fault;
  if (!fault.site.batch) return {0, images_};
  if (fault.persistence == Persistence::kBatch) return executed_batch(*fault.site.batch);
  return {*fault.site.batch, 1};
}

GroupKind FaultReplayer::group_kind(size_t f) const {
  if (shares_image_passes(f)) return GroupKind::kWave;
  return batch_major_ ? GroupKind::kBatchMajor : GroupKind::kAlone;
}

bool FaultReplayer::mostly_grouped() const {
  size_t grouped = 0;
  for (size_t f = 0; f < faults_.size(); ++f)
    if (shares_image_passes(f) || list_->entries[faults_[f].entry].fault.persistence == Persistence::kPermanent)
      ++grouped;
  return 2 * grouped >= faults_.size();
}

bool FaultReplayer::shares_image_passes(size_t f) const {
  const ArmedFault armed = armed_fault(*list_, faults_[f], targets_);
  // One image: an inference fault, or a permanent activation / input fault given a Batch (it acts on that image
  // in its batch and on nothing elsewhere).
  const bool one_image = armed.fault->site.batch && (armed.fault->persistence == Persistence::kInference ||
                                                     armed.fault->persistence == Persistence::kPermanent);
  return images_independent_ && one_image &&
         (armed.target->kind == TargetKind::kActivation || armed.target->kind == TargetKind::kInput);
}

Status FaultReplayer::run_per_image(std::span<const size_t> group, std::span<const size_t> members,
                                    std::vector<Tensor>& outputs) {
  FL_RETURN_IF_ERROR(golden().status());
  const size_t row_bytes = golden_.nbytes() / static_cast<size_t>(images_);
  auto image_of = [&](size_t i) { return *list_->entries[faults_[group[i]].entry].fault.site.batch; };
  auto batch_of = [&](size_t i) { return executed_batch(image_of(i)).first; };
  auto location = [&](size_t i) { return fault_list_location(*list_, faults_[group[i]].entry); };
  // Executed batch by executed batch (members in group order within each).
  std::vector<size_t> order(members.begin(), members.end());
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return batch_of(a) < batch_of(b); });
  for (size_t begin = 0; begin < order.size();) {
    const auto [first, count] = executed_batch(image_of(order[begin]));
    size_t end = begin;
    while (end < order.size() && batch_of(order[end]) == first) ++end;
    // Waves: each member joins the first wave that has no fault on its image yet.
    std::vector<std::vector<size_t>> waves;
    std::vector<std::vector<int64_t>> wave_images;
    for (size_t k = begin; k < end; ++k) {
      size_t w = 0;
      while (w < waves.size() && std::find(wave_images[w].begin(), wave_images[w].end(), image_of(order[k])) !=
                                     wave_images[w].end())
        ++w;
      if (w == waves.size()) waves.emplace_back(), wave_images.emplace_back();
      waves[w].push_back(order[k]);
      wave_images[w].push_back(image_of(order[k]));
    }
    std::vector<FaultInjector> injectors;
    injectors.reserve(waves.size());
    for (const std::vector<size_t>& wave : waves) {
      std::vector<ArmedFault> armed;
      for (size_t i : wave) armed.push_back(armed_fault(*list_, faults_[group[i]], targets_));
      auto injector = FaultInjector::create(armed, injector_options_);
      if (!injector.is_ok()) return injector.status().with_context(location(wave.front()));
      injectors.push_back(std::move(injector).value());
    }
    std::vector<FaultInjector*> pointers;
    for (FaultInjector& injector : injectors) pointers.push_back(&injector);
    std::vector<Tensor> wave_outputs;
    const Status status = run_passes(pointers, first, count, wave_outputs);
    stats_.wave_faults += static_cast<int64_t>(end - begin);
    stats_.waves += static_cast<int64_t>(waves.size());
    for (size_t w = 0; w < waves.size(); ++w) {
      const Status restored = injectors[w].restore();
      FL_RETURN_IF_ERROR(status.with_context(location(waves[w].front())));
      FL_RETURN_IF_ERROR(restored.with_context(location(waves[w].front())));
      FL_RETURN_IF_ERROR(expect_float32_output(wave_outputs[w]));
      for (size_t i : waves[w]) {  // golden rows, and the fault's own image's row from the wave's pass
        const int64_t image = image_of(i);
        outputs[i] = golden_.clone();
        std::memcpy(outputs[i].data<std::byte>() + static_cast<size_t>(image) * row_bytes,
                    wave_outputs[w].data<std::byte>() + static_cast<size_t>(image - first) * row_bytes, row_bytes);
      }
    }
    begin = end;
  }
  return Status::ok();
}

Result<std::vector<Tensor>> FaultReplayer::run_group(std::span<const size_t> group,
                                                     const std::function<void(double)>& progress) {
  std::vector<Tensor> outputs(group.size());
  std::vector<size_t> shared;     // positions in `group` of the permanent faults that share batch passes
  std::vector<size_t> per_image;  // positions of the single-image faults that share passes one per image
  for (size_t i = 0; i < group.size(); ++i) {
    if (group[i] >= faults_.size())
      return internal_error("run_group: fault " + std::to_string(group[i]) + " is not in the list");
    const bool permanent = list_->entries[faults_[group[i]].entry].fault.persistence == Persistence::kPermanent;
    if (shares_image_passes(group[i])) {
      per_image.push_back(i);
    } else if (batch_major_ && permanent) {
      shared.push_back(i);
    } else {
      FL_ASSIGN_OR_RETURN(outputs[i], run(group[i]));
    }
  }
  if (!per_image.empty()) FL_RETURN_IF_ERROR(run_per_image(group, per_image, outputs));
  if (shared.empty()) return outputs;
  std::vector<ArmedFault> armed;
  std::vector<FaultInjector> injectors;
  armed.reserve(shared.size());
  injectors.reserve(shared.size());
  for (size_t i : shared) {
    armed.push_back(armed_fault(*list_, faults_[group[i]], targets_));
    auto injector = FaultInjector::create({&armed.back(), 1}, injector_options_);
    if (!injector.is_ok()) return injector.status().with_context(fault_list_location(*list_, faults_[group[i]].entry));
    injectors.push_back(std::move(injector).value());
  }
  std::vector<FaultInjector*> pointers;
  for (FaultInjector& injector : injectors) pointers.push_back(&injector);
  std::vector<Tensor> shared_outputs;
  const Status status = run_passes(pointers, 0, images_, shared_outputs, progress);
  for (size_t k = 0; k < shared.size(); ++k) {
    const std::string location = fault_list_location(*list_, faults_[group[shared[k]]].entry);
    const Status restored = injectors[k].restore();
    FL_RETURN_IF_ERROR(status.with_context(location));
    FL_RETURN_IF_ERROR(restored.with_context(location));
    FL_RETURN_IF_ERROR(injectors[k].check_restored().with_context(location));
    FL_RETURN_IF_ERROR(expect_float32_output(shared_outputs[k]));
    outputs[shared[k]] = std::move(shared_outputs[k]);
  }
  return outputs;
}

Result<Tensor> FaultReplayer::golden() {
  if (golden_.empty() && incremental_) FL_RETURN_IF_ERROR(run_golden_incremental());
  if (golden_.empty()) {
    FL_ASSIGN_OR_RETURN(std::vector<Tensor> clean, session_->run({*input_}));
    golden_ = std::move(clean.front());
  }
  return Tensor::view(golden_.dtype(), golden_.shape(), const_cast<void*>(golden_.raw()));
}

// Runs the armed fault over images [first, first + count) (whole executed batches, so each runs on the plan
// and with the neighbours it has in the full run) and returns the model's first output for them.
Result<Tensor> FaultReplayer::run_armed(std::span<const ArmedFault> armed, int64_t first, int64_t count,
                                        const InjectorOptions& injector_options) {
  FL_ASSIGN_OR_RETURN(FaultInjector injector, FaultInjector::create(armed, injector_options));
  injector.set_image_offset(first);
  Result<Tensor> output = Tensor();
  if (incremental_) {
    FaultInjector* injectors[] = {&injector};
    std::vector<Tensor> outputs;
    const Status status = run_passes(injectors, first, count, outputs);
    if (status.is_ok())
      output = std::move(outputs.front());
    else
      output = status;
  } else {
    auto outputs = session_->run({image_rows(*input_, first, count)}, &injector);
    if (outputs.is_ok())
      output = std::move(outputs->front());
    else
      output = outputs.status();
  }
  const Status restored = injector.restore();  // a run that stopped early may have left weights patched
  if (!output.is_ok()) return output.status();
  FL_RETURN_IF_ERROR(restored);
  FL_RETURN_IF_ERROR(injector.check_restored());
  return output;
}

Result<Tensor> FaultReplayer::run(size_t f) {
  const std::string location = fault_list_location(*list_, faults_[f].entry);
  const ArmedFault armed = armed_fault(*list_, faults_[f], targets_);
  Tensor output;
  if (armed.fault->persistence == Persistence::kPermanent) {
    auto faulted = run_armed({&armed, 1}, 0, images_, injector_options_);
    if (!faulted.is_ok()) return faulted.status().with_context(location);
    output = std::move(faulted).value();
  } else {
    // inference / batch (check_replayable): golden rows everywhere, the faulted run's rows for the image or
    // its batch. The executed batch that holds the image is re-run with the fault (the weight faulty for all
    // of it, an activation fault on the image or on every image of it) and only the rows that persistence
    // covers are kept: a weight faulty for one inference leaves the image's batch-mates clean.
    FL_ASSIGN_OR_RETURN(Tensor golden_rows, golden());
    if (golden_rows.rank() == 0 || golden_rows.dim(0) != images_)
      return unsupported("the model's output " + shape_to_string(golden_rows.shape()) +
                         " has no row per image; persistence inference and batch need one")
          .with_context(location);
    const auto [first, count] = executed_batch(*armed.fault->site.batch);
    Fault scoped = *armed.fault;
    if (scoped.persistence == Persistence::kBatch) scoped.site.batch.reset();  // every image of the batch
    ArmedFault scoped_armed = armed;
    scoped_armed.fault = &scoped;
    auto faulted = run_armed({&scoped_armed, 1}, first, count, injector_options_);
    if (!faulted.is_ok()) return faulted.status().with_context(location);
    output = golden_.clone();
    const size_t row_bytes = output.nbytes() / static_cast<size_t>(images_);
    if (faulted->nbytes() != static_cast<size_t>(count) * row_bytes)
      return internal_error("the faulted batch's output does not match the clean rows").with_context(location);
    const auto [kept_first, kept_count] = reached_rows(f);
    std::memcpy(output.data<std::byte>() + static_cast<size_t>(kept_first) * row_bytes,
                faulted->data<std::byte>() + static_cast<size_t>(kept_first - first) * row_bytes,
                static_cast<size_t>(kept_count) * row_bytes);
  }
  FL_RETURN_IF_ERROR(expect_float32_output(output));
  return output;
}

Result<Tensor> FaultReplayer::run_together(std::span<const size_t> together, InjectorOptions injector_options) {
  if (together.empty()) return golden();
  std::vector<ArmedFault> armed;
  for (size_t f : together) {
    if (f >= faults_.size()) return internal_error("run_together: fault " + std::to_string(f) + " is not in the list");
    armed.push_back(armed_fault(*list_, faults_[f], targets_));
    if (armed.back().fault->persistence != Persistence::kPermanent)
      return invalid_argument("faults armed together must be permanent")
          .with_context(fault_list_location(*list_, faults_[f].entry));
  }
  auto output = run_armed(armed, 0, images_, injector_options);
  if (!output.is_ok()) return output.status().with_context(fault_list_location(*list_, faults_[together[0]].entry));
  FL_RETURN_IF_ERROR(expect_float32_output(*output));
  return output;
}

Result<Tensor> replay_faults(std::shared_ptr<const Graph> model, SessionOptions options, const FaultList& list,
                             std::span<const ResolvedFault> faults, const std::vector<FaultTarget>& targets,
                             const Tensor& input, InjectorOptions injector_options, ReplayOptions replay_options) {
  FL_ASSIGN_OR_RETURN(std::unique_ptr<FaultReplayer> replayer,
                      FaultReplayer::create(std::move(model), std::move(options), list, faults, targets, input,
                                            injector_options, replay_options));
  if (faults.empty()) {  // only the output shape is needed: one clean run gives it
    FL_ASSIGN_OR_RETURN(Tensor clean, replayer->golden());
    Shape shape = clean.shape();
    shape.insert(shape.begin(), 0);
    return Tensor::allocate(DType::kFloat32, std::move(shape));
  }
  Tensor stacked;
  for (size_t f = 0; f < faults.size();) {
    // Runs of faults that share passes one per image go through run_group; the others one by one.
    std::vector<size_t> group = {f};
    while (replayer->group_kind(f) == GroupKind::kWave && group.back() + 1 < faults.size() &&
           replayer->group_kind(group.back() + 1) == GroupKind::kWave && group.size() < 1024)
      group.push_back(group.back() + 1);
    std::vector<Tensor> outputs;
    if (group.size() > 1) {
      FL_ASSIGN_OR_RETURN(outputs, replayer->run_group(group));
    } else {
      FL_ASSIGN_OR_RETURN(Tensor output, replayer->run(f));
      outputs.push_back(std::move(output));
    }
    for (const Tensor& output : outputs) {
      if (stacked.empty()) {
        Shape shape = output.shape();
        shape.insert(shape.begin(), static_cast<int64_t>(faults.size()));
        FL_ASSIGN_OR_RETURN(stacked, Tensor::allocate(DType::kFloat32, std::move(shape)));
      }
      std::memcpy(stacked.data<std::byte>() + f * output.nbytes(), output.raw(), output.nbytes());
      ++f;
    }
  }
  return stacked;
}

}  // namespace faultline
