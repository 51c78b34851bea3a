// FaultInjector: the executor-side fault hook. It arms a few resolved faults (usually one) and applies them
// to whatever CompiledModel the executor runs, through CompiledModel::write_value()/read_value() only: kernels
// never see a fault (STYLE.md, principle 1).
//
// Weights. In begin_pass every faulted parameter is replaced by a patched copy of its constant (the graph's
// own tensor, model.graph().value(id).constant, is never touched); in end_pass the constant is written back,
// so the compiled model is bit-exactly restored after every execute() (and after every incremental pass,
// engine/incremental_executor.h, which may stop before the last step). A fault is therefore applied and
// undone once per batch, which is what a permanent weight fault over a run means. If a run stops early (an
// error between those two hooks), restore() writes the originals back.
//
// Activations. In after_step(i) every armed fault whose value step i produces is applied to the value before
// the next step reads it, so every consumer of the value (both branches of a fork) sees the fault: word
// faults on the words in the backend's own bytes (CompiledModel::value_element_offset), a ber fault or a
// backend without host bytes on the value as read back (dense, logical order) and written back. The word at `element` of each image of the batch is
// hit; a fault with FaultSite::batch hits only that image.
//
// Inputs. An input site is one consumer's copy of a value (faults/fault_targets.h). In before_step(i) of the
// step that runs the consumer, the value is read back, faulted and written; in after_step(i) the original is
// written back (bit-exactly), so only that consumer sees the fault and every other reader, in an earlier or
// later step, sees the value as computed. This needs the value to exist and the consumer to be its only
// reader within its step: replay_faults plans with the value and the consumer's outputs observable
// (faulted_value_names), which makes the consumer a fusion barrier (a step of its own) that never computes
// in place over the value. A plan where another node of the consumer's step reads the value (or the consumer
// reads it in a second slot: Add(v, v)) is refused, naming that node. A consumer whose output aliases the
// value's buffer (a Reshape/Flatten the oneDNN backend runs as an alias) keeps its faulted output: the
// consumer's outputs are read before the value is restored and written back after it. Nothing of an input
// fault outlives its step, so restore() has nothing to do for it.
//
// Images. FaultSite::batch is the image's index in the whole input of a run, not in one executed batch:
// Session::run() splits N images into batches (and plans a smaller last batch on another CompiledModel),
// so the injector counts images. Each execute() (seen at begin_pass) covers the images after the
// previous one's; set_image_offset() restarts the count (call it with 0 before reusing an injector for a
// new run, or with the first image's index when driving batches by hand). With the whole input in one batch
// the index is also the index in the batch, as PyTorch tools that run one batch address it.
//
// Kernel-level sites (accumulator, product, pe, pattern on a Conv / Gemm / MatMul; faults/kernel_sites.h) are
// carried out by a KernelFaultHook (faults/kernel_fault_hook.h) that this injector owns and forwards its step
// hooks to: the faulted node's output is rewritten in after_step, before any reader runs.
//
// Models. bitflip, multibit, stuck-at-0/1, zero, value and random (random bits drawn once per fault, so
// every batch and image sees the same word) on weights, activations and inputs; ber (every bit of the tensor
// flips independently with probability Fault::value) on all three: a weight tensor as a whole, an activation
// or input image by image (every image of each batch, or only the Batch image). float32 tensors, an int8
// model's int8 / uint8 / int32 activations and inputs, and weights stored as float16 / bfloat16 / int8
// (engine/weight_storage.h), faulted as the words they are stored as.
// Seeds: a fault's random stream is std::mt19937_64(fault_seed(options.seed, injection)); ber on image n of
// the run's input (FaultSite::batch numbering) uses image_seed(fault_seed(options.seed, injection), n), so
// the flipped bits of an image do not depend on how the run is split into batches.
//
// Models seen are cached by address (the ValueIds of the targets, the steps that produce them), so a
// CompiledModel must outlive the injector's use of it and must not be replaced at the same address.
// Every hook returns errors as Status (naming the fault); nothing throws.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "engine/executor.h"
#include "engine/incremental_executor.h"
#include "faults/bit_ops.h"
#include "faults/fault.h"
#include "faults/fault_targets.h"
#include "faults/kernel_fault_hook.h"

namespace faultline {

// One fault to arm: a resolved row of a fault list (faults/fault_list.h). The pointers must outlive the
// injector.
struct ArmedFault {
  const Fault* fault = nullptr;
  const FaultTarget* target = nullptr;
  int64_t element = -1;   // ResolvedFault::element: row-major offset in the target's (model's) order, per image
                          // for activations and inputs; -1 for ber
  int64_t injection = 0;  // the list's Injection number: seeds ber and random
};

struct InjectorOptions {
  uint64_t seed = 51195;  // base seed of ber / random faults (SFIadvancedmodels' default)
  // Faults with a timestep range (FaultSite::steps) are armed too; the caller forwards the hooks only during
  // those time steps (faults/spiking_replay.h). Off: such faults are refused, since nothing would gate them.
  bool steps_gated_by_caller = false;
};

// The seed of one fault's random stream: a splitmix64 mix of (seed, injection), so neighbouring injection
// numbers get unrelated streams.
uint64_t fault_seed(uint64_t seed, int64_t injection);
// The seed of image `image`'s ber draw within a fault's stream `fault_stream_seed` (the same mix).
uint64_t image_seed(uint64_t fault_stream_seed, int64_t image);

class FaultInjector final : public StepObserver {
 public:
  // Checks that every fault can be armed (a weight, activation or input target, float32, a word fault with a
  // resolved element or ber, no timestep range) and prepares the word faults. Errors name the fault.
  static Result<FaultInjector> create(std::span<const ArmedFault> faults, InjectorOptions options = {});

  Status begin_pass(CompiledModel& model) override;
  Status end_pass(CompiledModel& model) override;
  Status before_step(CompiledModel& model, size_t index) override;
  Status after_step(CompiledModel& model, size_t index) override;

  // The steps of `model` where the armed faults act on values: those that produce a faulted activation or
  // run the consumer of a faulted input, in order. An incremental pass must run them.
  Result<std::vector<size_t>> acting_steps(CompiledModel& model);
  // Those of the acting steps where the faults act only on what the step wrote, after it ran (activation
  // faults, no input or kernel fault there): with golden inputs such a step computes its golden outputs.
  Result<std::vector<size_t>> output_only_steps(CompiledModel& model);
  // Per activation value that an output-only step's faults rewrite: the row-major indices, within one image,
  // of the elements they hit (every image of the batch, or only the Batch image); none for a value with a ber
  // fault (any element of an image). An incremental pass compares only there when the step computed its
  // golden bytes.
  Result<std::vector<ActedElements>> output_only_elements(CompiledModel& model);
  // The parameters of `model` that begin_pass replaces with faulted copies (the steps reading them must run).
  Result<std::vector<ValueId>> faulted_weights(CompiledModel& model);
  // Per faulted parameter (in faulted_weights' order): the row-major indices of the elements whose words the
  // faults change, ascending (a fault that leaves a word as it was changes nothing there).
  Result<std::vector<std::vector<int64_t>>> faulted_weight_elements(CompiledModel& model);

  // The index, in the whole input, of the first image the next execute() covers.
  void set_image_offset(int64_t first_image) { next_image_ = first_image; }

  // Writes the original constants back into every model whose weights are still patched (a run that stopped
  // between begin_pass and end_pass). A no-op when everything is restored.
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
    WordFault word;       // unused for ber
    int64_t offset = -1;  // the element's offset in the engine's tensor (engine_element), mapped once at arming
  };
  // An input site in one compiled model.
  struct InputSite {
    ValueId value = kNoValue;
    size_t step = 0;                       // the step that runs the consumer
    std::vector<ValueId> consumer_outputs;  // the consumer's outputs that the step produces
    std::vector<Tensor> consumer_values;    // per consumer output: as read before the value is restored (until restored)
    Tensor original;                        // the value as read in before_step (until restored)
    Tensor faulted;                         // the value as written in before_step (until restored)
  };
  struct ModelState {
    std::vector<ValueId> weight_ids;             // per weight group
    std::vector<std::vector<int64_t>> changed;   // per weight group: the elements patched differs in
    std::vector<char> changed_known;             // per weight group: `changed` was computed
    std::vector<ValueId> activation_ids;         // per activation group
    std::vector<std::vector<size_t>> producers;  // per step: the activation groups it produces
    std::vector<InputSite> inputs;               // per input group
    std::vector<std::vector<size_t>> readers;    // per step: the input groups whose consumer it runs
    int64_t batch_images = 1;
    bool weights_patched = false;
    // Per weight group: the patches that restore its original words, when the pass patched the faulted words
    // in place (CompiledModel::patch_value_words); empty when it wrote the whole faulted weight.
    std::vector<std::vector<WordPatch>> weight_restores;
  };

  FaultInjector() = default;
  Result<ModelState*> state_for(CompiledModel& model);
  Result<Tensor> patched_weight(const CompiledModel& model, ValueId id, const Group& group) const;
  // The group's word faults on weight `id` as patches (the faults of one element composed in list order),
  // and in `restores` the patches that give the touched words their original bits back; nullopt when the
  // group has a ber fault (which is not a word fault).
  Result<std::optional<std::vector<WordPatch>>> weight_patches(const CompiledModel& model, ValueId id,
                                                               const Group& group,
                                                               std::vector<WordPatch>& restores) const;
  Result<InputSite> find_input_site(const CompiledModel& model, const Group& group) const;
  // The group's faults on `images` images of a value of `dtype`, in list order: a word fault is
  // apply_word(element, fault) (element: its row-major offset in the value), ber acts on
  // image_bytes(image, elements per image).
  using ApplyWord = std::function<Status(int64_t element, const WordFault& fault)>;
  using ImageBytes = std::function<std::span<std::byte>(int64_t image, int64_t per_image)>;
  Status apply_faults(const Group& group, DType dtype, int64_t images, const ApplyWord& apply_word,
                      const ImageBytes& image_bytes) const;
  // apply_word for words in host memory: the fault applied to the word at word_at(element).
  static ApplyWord on_host_words(DType dtype, std::function<Result<std::byte*>(int64_t element)> word_at);
  // Applies the group's faults to `images` images of `value` (word faults at their element, ber per image).
  Status apply_to_value(const Group& group, Tensor& value, int64_t images) const;
  // The same for an activation group of word faults, on the value's bytes in place
  // (CompiledModel::value_element_offset), or on a GPU as word patches (CompiledModel::patch_value_words: the
  // faults of one element composed into one), instead of reading and writing back the whole value; false
  // (nothing done) when the group has a ber fault or the backend can do neither.
  Result<bool> apply_in_place(CompiledModel& model, ValueId id, const Group& group) const;
  Status input_faults_in(CompiledModel& model, size_t index);
  Status restore_inputs_after(CompiledModel& model, ModelState& state, size_t index);
  Status write_originals(CompiledModel& model, ModelState& state);

  std::vector<Armed> faults_;
  std::vector<Group> weight_groups_;
  std::vector<Group> activation_groups_;
  std::vector<Group> input_groups_;  // one per (consumer, slot); Group::value is the value read
  KernelFaultHook kernel_faults_;
  InjectorOptions options_;
  std::unordered_map<CompiledModel*, ModelState> models_;
  int64_t next_image_ = 0;
  int64_t batch_first_image_ = 0;
};

}  // namespace faultline
