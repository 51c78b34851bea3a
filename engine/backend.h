// The seam between the engine and the kernels: a Backend turns a specialized graph (engine/specialize.h)
// into a CompiledModel, a list of steps that the executor runs in order.
//
// Plan once, run many: everything that can be decided before data arrives (kernel choice, primitive
// creation, weight packing, buffer assignment, fusion) happens in compile(); run_step() only executes.
// Faults never enter kernels: the executor calls its StepObserver between steps, and the observer reads and
// writes values through read_value()/write_value() in logical (model) order, whatever layout the backend
// keeps internally.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "engine/graph.h"
#include "engine/kept_window.h"
#include "engine/spatial_window.h"
#include "engine/status.h"
#include "engine/tensor.h"

namespace faultline {

struct PlanOptions {
  int threads = 0;   // worker threads for kernels; 0 = the backend's default (all cores)
  bool fuse = true;  // allow fused kernels (conv+BN+ReLU, conv+sum, ...)
  // NaN in, NaN out through every op, as PyTorch/aten computes (relu(NaN) = NaN, max_pool over a window
  // holding a NaN = NaN, clamp(NaN) = NaN): fault-injection runs set it, since a NaN output is an outcome of
  // its own (a DUE). Plain inference keeps the faster fused kernels (oneDNN's max-based ones map NaN to a
  // number).
  bool propagate_nan = false;
  // Values that must stay observable and exact: fault sites. Such a value is never fused away, never
  // computed in place, and its producer is a fusion barrier.
  std::vector<ValueId> observable;
  // Keep every value a step outputs (and every graph input) in a buffer of its own until the model is
  // destroyed: no buffer sharing, nothing computed in place, no aliasing reshape. Fusion still happens (a
  // fused-away value is not kept). Incremental fault passes (engine/incremental_executor.h) need it: the
  // golden values stay where the steps read them, and CompiledModel::kept_storage() exposes their bytes.
  bool keep_values = false;
};

// One executable step: the graph nodes it computes (several when fused, in execution order) and the
// values it produces that the rest of the graph or the caller can see.
struct StepInfo {
  std::vector<NodeId> nodes;
  std::vector<ValueId> outputs;
};

// One element's word rewritten in place by CompiledModel::patch_value_words: ((word & keep) | set) ^ flip.
struct WordPatch {
  int64_t element = 0;
  uint64_t keep = ~uint64_t{0};
  uint64_t set = 0;
  uint64_t flip = 0;
};
// Applies `patch` to the `word_bytes`-byte word (1, 2, 4 or 8) at `word` in host memory.
inline void apply_word_patch(std::byte* word, size_t word_bytes, const WordPatch& patch) {
  uint64_t bits = 0;
  std::memcpy(&bits, word, word_bytes);  // little-endian: the word's low bytes
  bits = ((bits & patch.keep) | patch.set) ^ patch.flip;
  std::memcpy(word, &bits, word_bytes);
}

// The device memory of a backend that keeps values off the host (CompiledModel::kept_device): what the
// incremental executor does with kept bytes, done on the device, ordered with the model's steps.
class KeptDevice {
 public:
  virtual ~KeptDevice() = default;
  // `bytes` of device memory for a golden slot (aligned for any word), or nullptr when that much is not
  // available; handed back with release().
  virtual std::byte* allocate(size_t bytes) = 0;
  virtual void release(std::byte* memory) = 0;
  // Copies `bytes` bytes between device addresses (kept storage, golden slots), after the steps run so far.
  virtual void copy(std::byte* to, const std::byte* from, size_t bytes) = 0;
  // Whether `bytes` bytes at two device addresses differ, once the steps run so far have finished. A device
  // error answers true (the model's next read_value reports it).
  virtual bool differ(const std::byte* a, const std::byte* b, size_t bytes) = 0;
};

class CompiledModel {
 public:
  virtual ~CompiledModel() = default;

  // The specialized graph this model was compiled from (static shapes, folded constants).
  virtual const Graph& graph() const = 0;
  virtual size_t num_steps() const = 0;
  virtual const StepInfo& step(size_t index) const = 0;
  // Executes one step. Steps must run in order 0..num_steps()-1 after every graph input was written.
  virtual void run_step(size_t index) = 0;

  // Copies a dense logical tensor into a graph input (or any value about to be read by the next step).
  virtual Status write_value(ValueId id, const Tensor& src) = 0;
  // Copies a value into `dst` (allocated by the callee when empty) as a dense logical tensor. Valid for
  // graph outputs after the last step, and for any value right after the step that produces it.
  virtual Status read_value(ValueId id, Tensor& dst) = 0;

  // The host bytes that hold value `id` (a graph input or a value a step outputs), in the backend's own
  // layout (which may be blocked and padded): valid, like read_value, right after the step that produces it
  // and until a later step writes its buffer again; the next steps read the value there. Empty when the
  // backend cannot say (a constant, a fused-away value, device memory). Lets a fault on a few elements act
  // on the bytes in place instead of reading and writing back the whole value (faults/fault_injector.h).
  virtual std::span<std::byte> value_storage(ValueId id) { return {}; }
  // The byte offset within value_storage(id) of the element at row-major offset `index` of the value's
  // logical shape, stored there as one word of the value's dtype; nullopt when value_storage(id) is empty
  // (or the backend cannot say).
  virtual std::optional<size_t> value_element_offset(ValueId id, int64_t index) { return std::nullopt; }
  // Rewrites words of value `id` where it lives, after the steps run so far and before the next: each patch
  // turns the word of its element (row-major in the value's logical shape, in its stored dtype; distinct
  // elements) into ((word & keep) | set) ^ flip (faults/bit_ops.h WordMasks). For a value in a GPU's memory, and
  // for a constant (a weight fault: only the faulted words are rewritten, then the copies prepared from the
  // constant re-derived, instead of writing the whole weight); false, having done nothing, when the backend
  // cannot (the caller then reads and writes the value, or writes the whole constant).
  virtual Result<bool> patch_value_words(ValueId id, std::span<const WordPatch> patches) { return false; }
  // With PlanOptions::keep_values: the bytes that hold value `id`, at an address fixed for the model's life,
  // where the value stays until the next pass overwrites it: value_storage(id) on a backend whose values live
  // in host memory, device memory where kept_device() is not null (never to be touched by the host). Empty for
  // a value the plan does not keep (a constant, a fused-away value) and for every value without keep_values.
  virtual std::span<std::byte> kept_storage(ValueId id) { return {}; }
  // Where kept_storage() is device memory (a GPU's): the device that holds it, which allocates the incremental
  // executor's golden slots and copies and compares kept bytes for it (KeptDevice below). nullptr: host memory.
  virtual KeptDevice* kept_device() { return nullptr; }

  // Window re-execution (engine/incremental_executor.h, engine/spatial_window.h). With keep_values: how the
  // kept bytes of a 4-D value lay out its elements, when the backend can say (nullopt otherwise).
  virtual std::optional<KeptLayout> kept_layout(ValueId id) { return std::nullopt; }
  // Runs step `index` so that `window` of the listed `images` (sorted, distinct batch indices) of its single
  // (4-D) output holds exactly the bytes run_step() would write there, reading its inputs from their kept
  // storage (which must hold, around the window the step reads in those images, what run_step() would read);
  // elsewhere the output's bytes are left as they are or get what run_step() would write there (a backend
  // may widen a window to reuse a kernel). Returns false, having changed nothing, when it cannot do that
  // bit-identically for this step, window and images: the caller then runs run_step().
  virtual bool run_step_window(size_t index, const SpatialWindow& window, std::span<const int64_t> images) {
    return false;
  }
  // Runs step `index`, whose first node is a convolution, so that its output channels [first, end) (of every
  // image) hold exactly the bytes run_step() would write there, the other channels left as they are or given
  // what run_step() would write (a backend may widen to whole channel blocks): a weight fault in a convolution
  // changes one output channel. Returns false, having changed nothing, when it cannot do that bit-identically.
  virtual bool run_step_channels(size_t index, int64_t first, int64_t end) { return false; }
  // Runs body(begin, end) over parts of [0, count) that together cover it, on the plan's threads where the
  // backend has a pool (serially by default): the incremental executor's copies and comparisons of kept values.
  virtual void parallel_for(int64_t count, const std::function<void(int64_t, int64_t)>& body) { body(0, count); }
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string_view name() const = 0;
  // Ok if this backend can run node `id` of a specialized graph; otherwise an error naming the node and why.
  virtual Status check_support(const Graph& graph, NodeId id) const = 0;
  // Compiles a specialized graph. Fails (naming the node) if any node is unsupported.
  virtual Result<std::unique_ptr<CompiledModel>> compile(const Graph& graph, const PlanOptions& options) const = 0;
};

// "reference", "onednn", and every registered backend ("cuda" in the programs that link it). Defined in
// kernels/backends.cpp.
Result<std::unique_ptr<Backend>> create_backend(std::string_view name);
std::vector<std::string> available_backends();

// Backends built outside faultline_runtime register their factory once, before the first create_backend():
// the CUDA backend is linked only into the GPU tests (kernels/cuda/cuda_backend.h register_cuda_backend()), and
// the faultline command registers a factory that loads it as a module on first use (cli/cuda_module.h), so that
// no CPU run loads the CUDA libraries (about 80 ms and 200 MB of touched pages at every start).
// Registering a name twice keeps the last factory.
using BackendFactory = Result<std::unique_ptr<Backend>> (*)();
void register_backend(std::string name, BackendFactory factory);

}  // namespace faultline
