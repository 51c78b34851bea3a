#include "engine/incremental_executor.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <iterator>
#include <string>

#include "engine/image_independence.h"
#include "engine/step_dataflow.h"

namespace faultline {
namespace {

// A step runs on a window of its output while the window is at most 1/kWindowShare of the output's rows x
// columns: gathering, scattering, restoring and comparing a window's bytes costs about as much per element
// as a 16-channel convolution computes. On the peer's ResNet20 neuron list (100 faults x 500 images, 2
// threads; copies on one thread then, `0aebc5f`) 1/2 took 17.9 s, 1/4 13.5 s, 1/8 13.3 s, 1/16 14.4 s, no
// windows 14.0 s.
constexpr int64_t kWindowShare = 4;
// A step whose output differs in at most this share of the batch's images runs on those images alone (when the
// policy finds it pays): gathering and scattering an image's bytes costs a fraction of computing it.
constexpr double kImageShare = 7.0 / 8.0;

// Whether an op can leave an image's output golden when its input differs there (a ReLU zeroing a faulty
// negative value, a max pool passing over it): the outputs of steps with such an op are compared image by
// image. Other steps keep their inputs' differing images: comparing each image of a value that differs in a
// few channels only scans most of the value, which cost DenseNet's campaigns more than it found.
bool can_mask_images(OpKind op) {
  switch (op) {
    case OpKind::kConv:
    case OpKind::kBatchNormalization:
    case OpKind::kAdd:
    case OpKind::kSub:
    case OpKind::kMul:
    case OpKind::kDiv:
    case OpKind::kConcat:
    case OpKind::kAveragePool:
    case OpKind::kGlobalAveragePool:
    case OpKind::kIdentity:
    case OpKind::kFlatten:
    case OpKind::kReshape:
    case OpKind::kGemm:
      return false;
    default:
      return true;
  }
}

}  // namespace

Result<std::unique_ptr<IncrementalExecutor>> IncrementalExecutor::create(CompiledModel& model) {
  std::unique_ptr<IncrementalExecutor> executor(new IncrementalExecutor(model));
  const Graph& graph = model.graph();
  const size_t values = graph.values().size();
  executor->storage_.resize(values);
  executor->golden_offset_.assign(values, 0);
  executor->holds_.assign(values, kNoSlot);
  executor->differs_.assign(values, 0);
  executor->dirty_.assign(values, Region{});
  executor->per_image_ = check_images_independent(graph).is_ok();
  executor->carries_images_.assign(values, 0);
  for (ValueId v : graph.inputs()) executor->carries_images_[static_cast<size_t>(v)] = 1;
  executor->layout_.resize(values);
  executor->device_ = model.kept_device();

  auto keep = [&](ValueId v, const std::string& role) -> Status {
    auto& storage = executor->storage_[static_cast<size_t>(v)];
    if (!storage.empty()) return Status::ok();
    storage = model.kept_storage(v);
    if (storage.empty())
      return unsupported("incremental execution: " + role + " '" + graph.value(v).name +
                         "' has no kept storage; plan the model with keep_values");
    executor->golden_offset_[static_cast<size_t>(v)] = executor->slot_bytes_;
    // A layout is used only when it covers exactly the kept bytes.
    // Device bytes are copied and compared whole: no windows, no images told apart.
    const std::optional<KeptLayout> layout =
        executor->device_ != nullptr ? std::nullopt : model.kept_layout(v);
    if (layout && static_cast<size_t>(layout->images * layout->image_stride) * layout->word_bytes == storage.size())
      executor->layout_[static_cast<size_t>(v)] = layout;
    executor->slot_bytes_ += (storage.size() + 63) / 64 * 64;
    return Status::ok();
  };
  for (ValueId v : graph.inputs()) FL_RETURN_IF_ERROR(keep(v, "graph input"));

  const size_t steps = model.num_steps();
  StepDataflow dataflow = step_dataflow(model);
  executor->step_writes_.resize(steps);
  executor->masks_images_.assign(steps, 0);
  executor->masked_.assign(steps, MaskCount{});
  for (size_t s = 0; s < steps; ++s) {
    const StepInfo& info = model.step(s);
    for (NodeId n : info.nodes) executor->masks_images_[s] |= can_mask_images(graph.node(n).op) ? 1 : 0;
    for (NodeId n : info.nodes) {
      bool carries = false;
      for (ValueId v : graph.node(n).inputs) carries |= v != kNoValue && executor->carries_images_[static_cast<size_t>(v)];
      for (ValueId v : graph.node(n).outputs) executor->carries_images_[static_cast<size_t>(v)] = carries ? 1 : 0;
    }
    for (ValueId v : info.outputs) {
      FL_RETURN_IF_ERROR(keep(v, "step output"));
      executor->step_writes_[s].push_back(v);
    }
    for (ValueId v : dataflow.reads[s]) FL_RETURN_IF_ERROR(keep(v, "value read by step " + std::to_string(s)));
  }
  executor->dataflow_ = std::move(dataflow);
  for (ValueId v : graph.outputs())
    if (!graph.value(v).is_constant()) FL_RETURN_IF_ERROR(keep(v, "graph output"));
  return executor;
}

Status IncrementalExecutor::capture(size_t slot) {
  if (slot >= slots_.size()) slots_.resize(slot + 1);
  if (!slots_[slot]) {
    std::byte* memory = device_ != nullptr ? device_->allocate(slot_bytes_) : new (std::nothrow) std::byte[slot_bytes_];
    if (memory == nullptr)
      return internal_error("incremental execution: cannot allocate a " + std::to_string(slot_bytes_) + "-byte golden slot" +
                            (device_ != nullptr ? " in device memory" : ""));
    slots_[slot] = SlotMemory(memory, SlotRelease{device_});
  }
  std::byte* base = slots_[slot].get();
  for (size_t v = 0; v < storage_.size(); ++v) {
    if (storage_[v].empty()) continue;
    copy_kept(base + golden_offset_[v], storage_[v].data(), storage_[v].size());
    holds_[v] = static_cast<int64_t>(slot);
    dirty_[v] = {};
  }
  return Status::ok();
}

void IncrementalExecutor::load_golden(ValueId value, size_t slot) {
  const size_t v = static_cast<size_t>(value);
  const std::byte* golden = slots_[slot].get() + golden_offset_[v];
  if (holds_[v] == static_cast<int64_t>(slot)) {
    const Region& dirty = dirty_[v];
    if (!dirty.empty()) copy_window(parallel_, *layout_[v], golden, storage_[v].data(), dirty.window, dirty.images);
  } else {
    copy_kept(storage_[v].data(), golden, storage_[v].size());
  }
  holds_[v] = static_cast<int64_t>(slot);
  dirty_[v] = {};
}

void IncrementalExecutor::copy_kept(std::byte* to, const std::byte* from, size_t bytes) {
  if (device_ != nullptr)
    device_->copy(to, from, bytes);
  else
    copy_bytes(parallel_, from, to, bytes);
}

bool IncrementalExecutor::kept_differ(const std::byte* a, const std::byte* b, size_t bytes) {
  return device_ != nullptr ? device_->differ(a, b, bytes) : bytes_differ(parallel_, a, b, bytes);
}

void IncrementalExecutor::load_golden_outside(ValueId value, size_t slot, const Region& region) {
  const size_t v = static_cast<size_t>(value);
  const SpatialWindow& dirty = dirty_[v].window;
  const SpatialWindow& run = region.window;
  const bool covered = run.y0 <= dirty.y0 && dirty.y1 <= run.y1 && run.x0 <= dirty.x0 && dirty.x1 <= run.x1;
  if (holds_[v] != static_cast<int64_t>(slot) || dirty_[v].empty() || !covered) {
    load_golden(value, slot);
    return;
  }
  // The run rewrites the dirty window of the images it runs on: only the other dirty images get golden bytes.
  ImageList others;
  std::set_difference(dirty_[v].images.begin(), dirty_[v].images.end(), region.images.begin(), region.images.end(),
                      std::back_inserter(others));
  if (!others.empty())
    copy_window(parallel_, *layout_[v], slots_[slot].get() + golden_offset_[v], storage_[v].data(), dirty, others);
  dirty_[v] = Region{};
}

bool IncrementalExecutor::compare_with_golden(ValueId value, size_t slot, const std::optional<Region>& bound,
                                              bool find_window, bool tell_images) {
  const size_t v = static_cast<size_t>(value);
  const std::byte* golden = slots_[slot].get() + golden_offset_[v];
  const std::optional<KeptLayout>& layout = layout_[v];
  if (!layout) {
    const bool differs = kept_differ(storage_[v].data(), golden, storage_[v].size());
    differs_[v] = differs ? 1 : 0;
    holds_[v] = differs ? kNoSlot : static_cast<int64_t>(slot);
    dirty_[v] = {};
    return differs;
  }
  // Outside the bound the value equals golden (the rules of engine/spatial_window.h, the images of what the
  // step read); a differing value's region is what differs inside it.
  const SpatialWindow whole{0, layout->height, 0, layout->width};
  const SpatialWindow within = bound ? bound->window : whole;
  Region differing;
  if (!tell_images && !find_window) {
    // Images are not told apart: one comparison, stopping at the first difference, decides, and a differing
    // value may differ in every image the bound has.
    if (kept_differ(storage_[v].data(), golden, storage_[v].size()))
      differing = Region{bound ? bound->images : all_images(layout->images), within};
  } else {
    const ImageList all = bound ? ImageList{} : all_images(layout->images);
    ImageDifferences found = differing_images(parallel_, *layout, storage_[v].data(), golden, within,
                                              bound ? bound->images : all, find_window);
    differing = Region{std::move(found.images), found.window};
  }
  differs_[v] = differing.empty() ? 0 : 1;
  holds_[v] = static_cast<int64_t>(slot);  // golden outside the region
  dirty_[v] = std::move(differing);
  return differs_[v] != 0;
}

std::optional<IncrementalExecutor::Region> IncrementalExecutor::output_region(
    size_t s, std::span<const ValueId> changed_constants) const {
  if (step_writes_[s].size() != 1) return std::nullopt;
  const ValueId out = step_writes_[s][0];
  const std::optional<KeptLayout>& out_layout = layout_[static_cast<size_t>(out)];
  if (!out_layout) return std::nullopt;
  const Graph& graph = model_.graph();
  auto whole = [&](ValueId v) { return whole_window(graph.value(v).shape).value_or(SpatialWindow{0, 1, 0, 1}); };
  bool every_image = !per_image_;  // the images: those the differing inputs differ in
  ImageList images;
  std::vector<std::pair<ValueId, std::optional<SpatialWindow>>> inside;  // values computed within the step
  auto window_of = [&](ValueId v) -> std::optional<SpatialWindow> {
    for (const auto& [value, window] : inside)
      if (value == v) return window;
    if (graph.value(v).is_constant()) {
      if (std::find(changed_constants.begin(), changed_constants.end(), v) == changed_constants.end())
        return std::nullopt;
      every_image = true;
      return whole(v);
    }
    const size_t i = static_cast<size_t>(v);
    if (!differs_[i]) return std::nullopt;
    // A differing value with a layout holds golden bytes but for its dirty region; one without differs as a
    // whole.
    if (!layout_[i]) {
      every_image = true;
      return whole(v);
    }
    if (!carries_images_[i]) every_image = true;  // (its dim 0 is not the batch's)
    if (!every_image) images = image_union(images, dirty_[i].images);
    return dirty_[i].window;
  };
  for (NodeId n : model_.step(s).nodes) {
    const Node& node = graph.node(n);
    if (node.outputs.size() != 1) return std::nullopt;
    inside.emplace_back(node.outputs[0], node_output_window(graph, n, window_of));
  }
  const std::optional<SpatialWindow> window = window_of(out);
  if (!window || window->empty()) return std::nullopt;
  return Region{every_image ? all_images(out_layout->images) : std::move(images), *window};
}

std::optional<std::pair<int64_t, int64_t>> IncrementalExecutor::changed_output_channels(
    size_t s, std::span<const ValueId> changed_constants, std::span<const std::vector<int64_t>> changed_elements) const {
  if (changed_elements.size() != changed_constants.size()) return std::nullopt;
  const Graph& graph = model_.graph();
  const std::vector<NodeId>& nodes = model_.step(s).nodes;
  const Node& conv = graph.node(nodes.front());
  if (conv.op != OpKind::kConv || conv.inputs.size() < 2) return std::nullopt;
  const Shape& weights = graph.value(conv.inputs[1]).shape;
  if (weights.empty() || weights[0] <= 0) return std::nullopt;
  const int64_t per_channel = numel(weights) / weights[0];
  int64_t first = INT64_MAX, end = INT64_MIN;
  for (size_t i = 0; i < changed_constants.size(); ++i) {
    const ValueId c = changed_constants[i];
    const std::vector<ValueId>& constants = dataflow_.constants[s];
    const bool read = std::find(constants.begin(), constants.end(), c) != constants.end();
    if (!read) continue;
    // Only as the convolution's weights (input 1) or bias (input 2), by no other node of the step.
    for (size_t k = 1; k < nodes.size(); ++k)
      for (ValueId v : graph.node(nodes[k]).inputs)
        if (v == c) return std::nullopt;
    const bool is_weights = conv.inputs[1] == c, is_bias = conv.inputs.size() > 2 && conv.inputs[2] == c;
    if ((!is_weights && !is_bias) || changed_elements[i].empty()) return std::nullopt;
    for (int64_t element : changed_elements[i]) {
      const int64_t channel = is_weights ? element / per_channel : element;
      first = std::min(first, channel);
      end = std::max(end, channel + 1);
    }
  }
  if (first >= end) return std::nullopt;
  return std::make_pair(first, end);
}

std::optional<IncrementalExecutor::Region> IncrementalExecutor::acted_region(
    ValueId value, std::span<const ActedElements> acted) const {
  const size_t v = static_cast<size_t>(value);
  const std::optional<KeptLayout>& layout = layout_[v];
  if (!layout || !carries_images_[v]) return std::nullopt;
  const int64_t map = layout->height * layout->width;
  std::optional<SpatialWindow> window;  // the hull of every listed element's row and column
  for (const ActedElements& entry : acted) {
    if (entry.value != value) continue;
    if (entry.elements.empty()) return std::nullopt;  // any element
    for (int64_t element : entry.elements) {
      if (element < 0 || element >= layout->channels * map) return std::nullopt;
      const int64_t y = element % map / layout->width, x = element % layout->width;
      const SpatialWindow cell{y, y + 1, x, x + 1};
      window = window ? window_hull(*window, cell) : cell;
    }
  }
  if (!window) return std::nullopt;
  return Region{all_images(layout->images), *window};
}

Result<IncrementalPass> IncrementalExecutor::run(size_t slot, StepObserver& observer,
                                                 std::span<const size_t> seed_steps,
                                                 std::span<const ValueId> changed_constants,
                                                 std::span<const size_t> output_only_seeds,
                                                 std::span<const std::vector<int64_t>> changed_elements,
                                                 std::span<const ActedElements> acted) {
  if (slot >= slots_.size() || !slots_[slot])
    return invalid_argument("incremental execution: golden slot " + std::to_string(slot) + " was never captured");
  const size_t steps = model_.num_steps();
  // Steps that must run whatever their inputs: seeds and readers of a changed constant.
  std::vector<char> must_run(steps, 0), seed(steps, 0), output_only(steps, 0);
  for (size_t s : seed_steps)
    if (s < steps) must_run[s] = seed[s] = 1;
  for (size_t s : output_only_seeds)
    if (s < steps && seed[s]) output_only[s] = 1;
  const std::vector<char> reads_changed = readers_of(dataflow_, changed_constants);
  for (size_t s = 0; s < steps; ++s) must_run[s] |= reads_changed[s];
  size_t last_forced = 0;
  bool any_forced = false;
  for (size_t s = 0; s < steps; ++s)
    if (must_run[s]) last_forced = s, any_forced = true;

  // Windows, image subsets and channel runs need kept bytes the host can read (layouts): not on a device.
  const bool partial_runs = window_execution_ && device_ == nullptr;
  std::fill(differs_.begin(), differs_.end(), 0);
  size_t differing = 0;
  IncrementalPass pass;
  FL_RETURN_IF_ERROR(observer.begin_pass(model_));
  Status status;
  for (size_t s = 0; s < steps && status.is_ok(); ++s) {
    bool reads_differing = false;
    for (size_t i = 0; !reads_differing && i < dataflow_.reads[s].size(); ++i)
      reads_differing = differs_[static_cast<size_t>(dataflow_.reads[s][i])];
    const bool run = must_run[s] || reads_differing;
    if (!run) {
      if (differing == 0 && (!any_forced || s > last_forced)) {
        pass.stopped_early = true;
        break;
      }
      continue;
    }
    // How the step runs: not at all (an activation fault's step with golden inputs: its outputs are the
    // golden ones, the observer acts on them), on the output channels of its changed weights, on a region of
    // its output (a window, some images), or whole.
    const bool golden_outputs = output_only[s] && !reads_differing && !reads_changed[s];
    if (!golden_outputs)
      for (ValueId v : dataflow_.reads[s])
        if (!differs_[static_cast<size_t>(v)]) load_golden(v, slot);
    // Where the step's single output can differ (no seed step: the observer may act anywhere on a seed's
    // values), and whether to run the step on that region alone (kWindowShare, kImageShare).
    std::optional<Region> bound;
    if (partial_runs && !seed[s]) bound = output_region(s, changed_constants);
    std::optional<std::pair<int64_t, int64_t>> channels;
    if (partial_runs && !seed[s] && !reads_differing && reads_changed[s] && step_writes_[s].size() == 1)
      channels = changed_output_channels(s, changed_constants, changed_elements);
    bool partial = false;
    double share = 1.0;
    PartialRun kind = PartialRun::kWindow;
    if (bound && !channels) {
      const KeptLayout& out = *layout_[static_cast<size_t>(step_writes_[s][0])];
      const double area = static_cast<double>(bound->window.height() * bound->window.width()) /
                          static_cast<double>(out.height * out.width);
      const double images = static_cast<double>(bound->images.size()) / static_cast<double>(out.images);
      share = area * images;
      kind = kWindowShare * area <= 1.0 ? PartialRun::kWindow : PartialRun::kImages;
      partial = (kind == PartialRun::kWindow || images <= kImageShare) && policy_.prefer_window(s, share, kind);
    }
    const auto started = std::chrono::steady_clock::now();
    if (golden_outputs) {
      for (ValueId v : step_writes_[s]) load_golden(v, slot);
    } else if (channels) {
      load_golden(step_writes_[s][0], slot);  // golden in the other channels
    } else if (partial) {
      load_golden_outside(step_writes_[s][0], slot, *bound);  // golden outside the region that runs
    }
    status = observer.before_step(model_, s);
    if (!status.is_ok()) break;
    bool ran_on_window = false;
    if (!golden_outputs) {
      if (channels && model_.run_step_channels(s, channels->first, channels->second)) {
        ++pass.channel_steps;
      } else if (partial && model_.run_step_window(s, bound->window, bound->images)) {
        ran_on_window = true;
        ++pass.window_steps;
        if (bound->images.size() < static_cast<size_t>(layout_[static_cast<size_t>(step_writes_[s][0])]->images))
          ++pass.image_steps;
      } else {
        model_.run_step(s);
      }
      ++pass.steps_run;
    }
    status = observer.after_step(model_, s);
    if (!status.is_ok()) break;
    for (ValueId value : step_writes_[s]) {
      const bool was = differs_[static_cast<size_t>(value)] != 0;
      const bool find_window = seed[s] || (ran_on_window && kind == PartialRun::kWindow);
      std::optional<Region> where = bound;
      if (golden_outputs && partial_runs) where = acted_region(value, acted);  // golden but where it acted
      // Image by image while that finds images to drop at this step (1 in 8 comparisons at least), else
      // once in 32 comparisons.
      MaskCount& masked = masked_[s];
      const bool tell_images = partial_runs && per_image_ && masks_images_[s] &&
                               (masked.compared < 4 || masked.narrowed * 8 >= masked.compared ||
                                masked.compared % 32 == 0);
      const size_t candidates = where ? where->images.size() : 0;
      const bool now = compare_with_golden(value, slot, where, partial_runs && find_window, tell_images);
      if (tell_images && where) {
        ++masked.compared;
        if (dirty_[static_cast<size_t>(value)].images.size() < candidates) ++masked.narrowed;
      }
      if (now && !was) ++differing;
      if (!now && was) --differing;
    }
    if (bound && !channels) {  // (a seed step has no bound: the observer's work is not the step's)
      const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
      if (ran_on_window) policy_.ran_window(s, share, seconds, kind);
      else policy_.ran_whole(s, seconds);
    }
  }
  FL_RETURN_IF_ERROR(finish_pass(observer, model_, status));
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
