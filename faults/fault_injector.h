// FaultInjector: the executor-side fault hook. It arms a few resolved faults (usually one) and applies them
// to whatever CompiledModel the executor runs, through CompiledModel::write_value()/read_value() only: kernels
// never see a fault (STYLE.md, principle 1).
//
// Weights. In before_step(0) every faulted parameter is replaced by a patched copy of its constant (the
// graph's own tensor, model.graph().value(id).constant, is never touched); in after_step(last step) the
// constant is written back, so the compiled model is bit-exactly restored after every execute(). A fault is
// therefore applied and undone once per batch, which is what a permanent weight fault over a run means. If a
// run stops early (an error between those two hooks), restore() writes the originals back.
//
// Activations. In after_step(i) every armed fault whose value step i produces is applied to the value as
// read back (dense, logical order), then written back before the next step reads it, so every consumer of
// the value (both branches of a fork) sees the fault. The word at `element` of each image of the batch is
// hit; a fault with FaultSite::batch hits only that image.
//
// Images. FaultSite::batch is the image's index in the whole input of a run, not in one executed batch:
// Session::run() splits N images into batches (and plans a smaller last batch on another CompiledModel),
// so the injector counts images. Each execute() (seen at before_step(0)) covers the images after the
// previous one's; set_image_offset() restarts the count (call it with 0 before reusing an injector for a
// new run, or with the first image's index when driving batches by hand). With the whole input in one batch
// the index is also the index in the batch, as PyTorch tools that run one batch address it.
//
// Models. bitflip, multibit, stuck-at-0/1, zero, value and random (random bits drawn once per fault, so
// every batch and image sees the same word) on weights and activations; ber (bit error rate over the whole
// tensor) on weights only. float32 tensors only for now. Seeds: a fault's random stream is
// std::mt19937_64(fault_seed(options.seed, injection)).
//
// Models seen are cached by address (the ValueIds of the targets, the steps that produce them), so a
// CompiledModel must outlive the injector's use of it and must not be replaced at the same address.
// Every hook returns errors as Status (naming the fault); nothing throws.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "engine/executor.h"
#include "faults/bit_ops.h"
#include "faults/fault.h"
#include "faults/fault_targets.h"

namespace faultline {

// One fault to arm: a resolved row of a fault list (faults/fault_list.h). The pointers must outlive the
// injector.
struct ArmedFault {
  const Fault* fault = nullptr;
  const FaultTarget* target = nullptr;
  int64_t element = -1;   // ResolvedFault::element: row-major offset (per image for activations); -1 for ber
  int64_t injection = 0;  // the list's Injection number: seeds ber and random
};

struct InjectorOptions {
  uint64_t seed = 51195;  // base seed of ber / random faults (SFIadvancedmodels' default)
};

// The seed of one fault's random stream: a splitmix64 mix of (seed, injection), so neighbouring injection
// numbers get unrelated streams.
uint64_t fault_seed(uint64_t seed, int64_t injection);

class FaultInjector final : public StepObserver {
 public:
  // Checks that every fault can be armed (a weight or activation target, float32, a word fault or ber on a
  // weight, a resolved element, no timestep range) and prepares the word faults. Errors name the fault.
  static Result<FaultInjector> create(std::span<const ArmedFault> faults, InjectorOptions options = {});

  Status before_step(CompiledModel& model, size_t index) override;
  Status after_step(CompiledModel& model, size_t index) override;

  // The index, in the whole input, of the first image the next execute() covers.
  void set_image_offset(int64_t first_image) { next_image_ = first_image; }

  // Writes the original constants back into every model whose weights are still patched (a run that stopped
  // between before_step(0) and the last after_step). A no-op when everything is restored.
  Status restore();
  // Reads every faulted parameter back from every model seen and compares its bytes with the graph's
  // constant; an error names the parameter whose bytes differ.
  Status check_restored();

 private:
  // Faults on one tensor, applied together (in arming order).
  struct Group {
    std::string value;           // FaultTarget::name
    std::vector<size_t> faults;  // indexes into faults_
  };
  struct Armed {
    ArmedFault source;
    WordFault word;  // unused for ber
  };
  struct ModelState {
    std::vector<ValueId> weight_ids;             // per weight group
    std::vector<Tensor> patched;                 // per weight group, built on first use
    std::vector<ValueId> activation_ids;         // per activation group
    std::vector<Tensor> activation_values;       // per activation group: the value as read back
    std::vector<std::vector<size_t>> producers;  // per step: the activation groups it produces
    int64_t batch_images = 1;
    bool weights_patched = false;
  };

  FaultInjector() = default;
  Result<ModelState*> state_for(CompiledModel& model);
  Result<Tensor> patched_weight(const CompiledModel& model, ValueId id, const Group& group) const;
  Status apply_to_activation(const Group& group, Tensor& value, int64_t images) const;
  Status write_originals(CompiledModel& model, ModelState& state);

  std::vector<Armed> faults_;
  std::vector<Group> weight_groups_;
  std::vector<Group> activation_groups_;
  InjectorOptions options_;
  std::unordered_map<CompiledModel*, ModelState> models_;
  int64_t next_image_ = 0;
  int64_t batch_first_image_ = 0;
};

}  // namespace faultline
