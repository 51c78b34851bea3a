// Incremental fault passes: re-execute only what a fault can change, reading golden values for the rest.
//
// The model must be planned with PlanOptions::keep_values, so that every step's outputs (and the graph
// inputs) stay in buffers of their own, exposed by CompiledModel::kept_storage().
//
// Golden slots. After a clean execute() of one batch, capture(slot) copies the bytes of every kept value
// into golden slot `slot` (one slot per batch of a run; the caller numbers them).
//
// A faulty pass, run(slot, observer, seed_steps, changed_constants, output_only_seeds), replays batch `slot`:
//   - observer.begin_pass() (which may replace constants: the faulted weights, listed in changed_constants),
//   - then, in step order, step s runs only if it is a seed step (where the observer acts on values), reads
//     a changed constant, or reads a value that differs from the slot's golden bytes. An output-only seed
//     (the observer acts after it, on what it wrote: an activation fault) whose inputs are all golden does
//     not run: its outputs get the slot's golden bytes and the observer's hooks act on those. Before s runs, every
//     value it reads that does not differ is made to hold the slot's golden bytes (copied only when its
//     buffer holds something else: another slot, or an earlier pass's faulty value). The observer's
//     before_step/after_step hooks run around s as in execute().
//   - after s, each of its outputs is compared with the golden bytes: an equal output does not make its
//     readers run (a fault masked inside one branch stops there; the other branch of a residual block or an
//     Inception module never runs).
//   - when no value differs and no seed step or reader of a changed constant lies ahead, the pass stops:
//     everything after is golden (early masking).
//   - observer.end_pass(), then every graph output is made to hold its right bytes (the recomputed ones, or
//     the slot's golden ones), so read_value() of an output is valid after run().
// Device memory (CompiledModel::kept_device, a GPU backend): golden slots are allocated, copied and compared
// by the device, whole values at a time; windows, image subsets and channel runs are not used there.
// Window re-execution (on unless set_window_execution(false)). Each differing 4-D value whose layout the
// backend gives (CompiledModel::kept_layout) also carries the window of rows and columns it differs in
// (engine/spatial_window.h): the bounding box of its differing bytes after a seed step or a step run on a
// window, else what the per-op rules allow from the windows of what the step read. A step
// that is no seed step and whose single output can then differ only in a window of at most a quarter of its
// rows x columns, where window runs of that step have paid so far (engine/window_policy.h), first gets that
// output's golden bytes, then runs as CompiledModel::run_step_window() (the backend may
// decline: the step then runs whole). A buffer that held golden bytes except in a window gets back only that
// window when it is reloaded.
// Image subsets (with window re-execution, when the graph passes check_images_independent: each image of a
// batch goes through it alone). A differing 4-D value also carries the images of the batch it differs in:
// those its producer's differing inputs differ in (every image for a changed constant or a seed step), and,
// after a step that can mask a fault in some images only (an activation, a max pool: compared image by
// image), only those whose bytes were found to differ. A fault masked in some images of a batch
// (a ReLU zeroing the faulty element in one image and not in another) is then recomputed in the other images
// only: a step runs as run_step_window() on its window of those images when they are at most 7/8 of the batch
// (or the window at most a quarter of the map) and the policy finds such runs pay. A value computed from
// constants only (a dequantized weight) does not carry images: when it differs, every image of its readers does.
// The outputs are bit-identical to those of execute(model, &observer) on the same batch, provided the steps
// are deterministic (the same inputs give the same bytes) and the observer acts only at its seed steps, on
// the changed constants, and through the values of those steps.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "engine/backend.h"
#include "engine/executor.h"
#include "engine/status.h"
#include "engine/step_dataflow.h"
#include "engine/window_policy.h"

namespace faultline {

struct IncrementalPass {
  size_t steps_run = 0;           // steps executed in this pass
  bool stopped_early = false;     // no differing value remained before the last step (outputs are golden)
  bool outputs_golden = false;    // every graph output equals the slot's golden bytes
  size_t window_steps = 0;        // steps of them run on part of their output (a window, some images)
  size_t image_steps = 0;         // steps of those run on fewer images than the batch's
  size_t channel_steps = 0;       // convolutions run on the output channels their changed weights reach
};

// Where an observer rewrites a value after the step that writes it (an activation fault): the row-major
// indices, within one image (the value's [C, H, W] order), of the elements it may change, in any image; none
// listed: any element.
struct ActedElements {
  ValueId value = kNoValue;
  std::vector<int64_t> elements;
};

class IncrementalExecutor {
 public:
  // Fails when a value some step reads or writes (or a graph input or output) has no kept storage: plan with
  // PlanOptions::keep_values.
  static Result<std::unique_ptr<IncrementalExecutor>> create(CompiledModel& model);

  // Copies every kept value into golden slot `slot` (slots are created on demand). Call right after a clean
  // execute() of the slot's batch.
  Status capture(size_t slot);
  // Forget which buffers hold golden bytes: call after the model ran anything else (a plain execute()), so
  // the next pass reloads every golden value it reads.
  void forget() { std::fill(holds_.begin(), holds_.end(), kNoSlot); }
  // Bytes one golden slot takes.
  size_t slot_bytes() const { return slot_bytes_; }

  // One faulty pass of batch `slot` (captured before), as described above. `output_only_seeds`: seed steps
  // where the observer acts only after the step ran, on what it wrote (an activation fault); when nothing
  // such a step reads differs (nor is a changed constant), it is not run: its outputs get the slot's golden
  // bytes, which it would have computed, before the observer's hooks run.
  // `changed_elements`: for each changed constant (in changed_constants' order), the row-major indices of
  // the elements that changed, when known; a convolution whose changed weights or bias lie in a few output
  // channels then recomputes those channels alone (CompiledModel::run_step_channels).
  // `acted`: for values of output-only seeds, the elements the observer may change there; when such a step
  // does not run (its outputs get golden bytes) only the window holding them (every entry of the value's) is
  // compared with golden. A value not listed, or listed once without elements, is compared as a whole.
  Result<IncrementalPass> run(size_t slot, StepObserver& observer, std::span<const size_t> seed_steps,
                              std::span<const ValueId> changed_constants,
                              std::span<const size_t> output_only_seeds = {},
                              std::span<const std::vector<int64_t>> changed_elements = {},
                              std::span<const ActedElements> acted = {});

  CompiledModel& model() { return model_; }
  // Window re-execution on (the default) or off (every step that runs, runs whole: for A/B comparisons).
  void set_window_execution(bool on) { window_execution_ = on; }

 private:
  explicit IncrementalExecutor(CompiledModel& model)
      : model_(model),
        parallel_([&model](int64_t count, const std::function<void(int64_t, int64_t)>& body) {
          model.parallel_for(count, body);
        }) {}
  // Makes value's buffer hold slot's golden bytes (only its dirty window, when it held them but for that).
  void load_golden(ValueId value, size_t slot);
  // Where a 4-D value with a layout can differ: a window of the listed images. Empty images: nowhere.
  struct Region {
    ImageList images;
    SpatialWindow window;
    bool empty() const { return images.empty(); }
  };
  // Like load_golden, before a step writes `region` of `value` (exactly as it would whole): the dirty part the
  // run rewrites is not copied.
  void load_golden_outside(ValueId value, size_t slot, const Region& region);
  // The region step s's single 4-D output can differ in (engine/spatial_window.h for the window, the union of
  // the differing inputs' images), from the regions of what it reads; nullopt when the step has several
  // outputs or one without a layout.
  std::optional<Region> output_region(size_t s, std::span<const ValueId> changed_constants) const;
  // After a step wrote `value`: whether it differs from the slot's golden bytes, with differs_, holds_ and
  // dirty_ updated. `bound`: where it can differ (the output_region() of its step; nullopt: anywhere). With
  // find_window (a seed step's output, or a step run on part of its output) the value's window is the
  // bounding box of its differing bytes within the bound; otherwise each image's comparison stops at its first
  // difference and a differing value's window is its bound's (the whole map without one): scanning a large
  // bound for its bounding box cost more than the windows it found saved.
  // tell_images: compare image by image (after a step that can mask a fault in some images), else a differing
  // value keeps the bound's images.
  bool compare_with_golden(ValueId value, size_t slot, const std::optional<Region>& bound, bool find_window,
                           bool tell_images);
  // The region of `value` holding the elements of every entry of `acted` for it, in every image; nullopt
  // when the value has no layout or carries no images, is not listed, is listed without elements (any), or
  // an element lies outside one image of it.
  std::optional<Region> acted_region(ValueId value, std::span<const ActedElements> acted) const;
  // The output channels [first, end) that step s (a convolution first) can change when the only reason it
  // runs is that its weights or bias changed in `changed_elements`; nullopt when that is not known.
  std::optional<std::pair<int64_t, int64_t>> changed_output_channels(
      size_t s, std::span<const ValueId> changed_constants,
      std::span<const std::vector<int64_t>> changed_elements) const;

  CompiledModel& model_;
  ParallelFor parallel_;  // the model's parallel_for: copies and comparisons of kept values
  std::vector<std::span<std::byte>> storage_;      // by ValueId: kept bytes (empty: constant / not kept)
  std::vector<size_t> golden_offset_;              // by ValueId: offset of its bytes in a golden slot
  StepDataflow dataflow_;  // per step: the values it reads from other steps, and its constants
  std::vector<std::vector<ValueId>> step_writes_;  // per step: kept values it produces
  // Golden slots: host memory, or the device's (kept_device) where the kept storage lives there.
  struct SlotRelease {
    KeptDevice* device = nullptr;
    void operator()(std::byte* memory) const {
      if (device != nullptr)
        device->release(memory);
      else
        delete[] memory;
    }
  };
  using SlotMemory = std::unique_ptr<std::byte, SlotRelease>;
  // Kept bytes copied and compared by the host (parallel_), or by the device that holds them.
  void copy_kept(std::byte* to, const std::byte* from, size_t bytes);
  bool kept_differ(const std::byte* a, const std::byte* b, size_t bytes);

  KeptDevice* device_ = nullptr;  // the model's kept_device(): kept storage and slots in device memory
  std::vector<SlotMemory> slots_;
  size_t slot_bytes_ = 0;
  // By ValueId: the golden slot whose bytes the buffer holds, or kNoSlot (a faulty value, or never loaded).
  static constexpr int64_t kNoSlot = -1;
  std::vector<int64_t> holds_;
  // By ValueId: where the buffer may differ from the golden slot holds_ names (empty: nowhere), and so the
  // region of a value that differs in this pass. Only for values with a layout; a differing value without one
  // holds kNoSlot.
  std::vector<Region> dirty_;
  bool per_image_ = false;  // the graph's images are independent: regions narrow to the differing images
  // By ValueId: whether the value depends on a graph input (its dim 0 is then the batch's images); a value
  // computed from constants only (a dequantized weight) affects every image when it differs.
  std::vector<char> carries_images_;
  std::vector<char> masks_images_;  // by step: it holds an op that can mask a fault in some images only
  // By step: its outputs' image-by-image comparisons, and how many of them dropped images.
  struct MaskCount {
    int64_t compared = 0, narrowed = 0;
  };
  std::vector<MaskCount> masked_;
  std::vector<char> differs_;  // by ValueId, within a pass
  std::vector<std::optional<KeptLayout>> layout_;  // by ValueId: CompiledModel::kept_layout
  bool window_execution_ = true;
  WindowPolicy policy_;  // whether a window run pays, learned per step
};

}  // namespace faultline
