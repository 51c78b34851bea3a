#include "kernels/onednn/onednn_backend.h"

#include <dlfcn.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <oneapi/dnnl/dnnl.hpp>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "engine/buffer_plan.h"
#include "engine/shape_inference.h"
#include "engine/weight_storage.h"
#include "kernels/onednn/onednn_gather.h"
#include "kernels/onednn/onednn_nan_eltwise.h"
#include "kernels/onednn/onednn_nan_pool.h"
#include "kernels/onednn/onednn_pointwise_chain.h"
#include "kernels/onednn/onednn_window.h"
#include "kernels/reference/batch_norm_fold.h"
#include "kernels/reference/batch_norm_terms.h"
#include "kernels/reference/reference_ops.h"

namespace faultline {

namespace {

using dnnl::memory;
using Md = memory::desc;
using Tag = memory::format_tag;
using onednn::AxisGather;
using onednn::GatherKernel;
using onednn::NanEltwise;
constexpr memory::data_type kF32 = memory::data_type::f32;
constexpr size_t kArenaAlignment = 64;

// --- threads -------------------------------------------------------------------------------------------
// Debian's oneDNN uses the OpenMP runtime (DNNL_CPU_RUNTIME == OMP): the thread count of a primitive is the
// calling thread's omp_get_max_threads(), both when its descriptor is created (blocking decisions) and when
// it runs. libgomp is already loaded by libdnnl, so its entry points are looked up at run time; the build
// then needs no -fopenmp.
struct OmpEntryPoints {
  void (*set_num_threads)(int) = nullptr;
  int (*get_num_procs)() = nullptr;
  int (*get_thread_num)() = nullptr;
  int (*get_num_threads)() = nullptr;
  // libgomp's entry point behind `#pragma omp parallel` (also exported by LLVM's and Intel's runtimes): runs
  // fn(data) on a team of `threads`, the same pool oneDNN's primitives use.
  void (*gomp_parallel)(void (*fn)(void*), void* data, unsigned threads, unsigned flags) = nullptr;
};

const OmpEntryPoints& omp_entry_points() {
  static const OmpEntryPoints entry_points = [] {
    OmpEntryPoints e;
    e.set_num_threads = reinterpret_cast<void (*)(int)>(dlsym(RTLD_DEFAULT, "omp_set_num_threads"));
    e.get_num_procs = reinterpret_cast<int (*)()>(dlsym(RTLD_DEFAULT, "omp_get_num_procs"));
    e.get_thread_num = reinterpret_cast<int (*)()>(dlsym(RTLD_DEFAULT, "omp_get_thread_num"));
    e.get_num_threads = reinterpret_cast<int (*)()>(dlsym(RTLD_DEFAULT, "omp_get_num_threads"));
    e.gomp_parallel = reinterpret_cast<void (*)(void (*)(void*), void*, unsigned, unsigned)>(
        dlsym(RTLD_DEFAULT, "GOMP_parallel"));
    if (!e.get_thread_num || !e.get_num_threads) e.gomp_parallel = nullptr;
    return e;
  }();
  return entry_points;
}

// 0 = the default: OMP_NUM_THREADS when set, else every core this process may run on.
int resolve_threads(int requested) {
  if (requested > 0) return requested;
  static const int default_threads = [] {
    if (const char* env = std::getenv("OMP_NUM_THREADS")) {
      const int n = std::atoi(env);
      if (n > 0) return n;
    }
    if (omp_entry_points().get_num_procs) return omp_entry_points().get_num_procs();
    return std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  }();
  return default_threads;
}

void apply_threads(int threads) {
  if (omp_entry_points().set_num_threads) omp_entry_points().set_num_threads(threads);
}

// Runs body(begin, end) over `threads` contiguous parts of [0, count) on the OpenMP pool oneDNN uses (serially
// for one thread, one part, or without OpenMP).
void parallel_ranges(int threads, int64_t count, const std::function<void(int64_t, int64_t)>& body) {
  const OmpEntryPoints& omp = omp_entry_points();
  if (threads <= 1 || count <= 1 || !omp.gomp_parallel) {
    body(0, count);
    return;
  }
  struct Job {
    int64_t count;
    const std::function<void(int64_t, int64_t)>* body;
    static void run(void* data) {
      const auto* job = static_cast<const Job*>(data);
      const OmpEntryPoints& omp = omp_entry_points();
      const int64_t team = omp.get_num_threads(), thread = omp.get_thread_num();
      const int64_t begin = job->count * thread / team, end = job->count * (thread + 1) / team;
      if (begin < end) (*job->body)(begin, end);
    }
  } job{count, &body};
  omp.gomp_parallel(&Job::run, &job, static_cast<unsigned>(std::min<int64_t>(threads, count)), 0);
}

// Runs a GatherKernel split over the outermost loop on `threads` OpenMP threads (serially without OpenMP).
struct ParallelGather {
  const GatherKernel* kernel;
  const float* src;
  float* dst;

  void run(int threads) const {
    parallel_ranges(threads, kernel->outer_extent(),
                    [this](int64_t begin, int64_t end) { kernel->run_part(src, dst, begin, end); });
  }
};

// Runs a NanEltwise over `count` floats split in cache-line chunks over `threads` OpenMP threads (serially for
// small buffers or without OpenMP).
struct ParallelEltwise {
  NanEltwise op;
  const float* src;
  float* dst;
  int64_t count;
  static constexpr int64_t kChunk = 16;           // floats per cache line: threads never share one
  static constexpr int64_t kSerialBelow = 16384;  // a team costs more than a pass over 64 KiB

  void run(int threads) const {
    if (count < kSerialBelow) {
      op.run_part(src, dst, 0, count);
      return;
    }
    parallel_ranges(threads, (count + kChunk - 1) / kChunk, [this](int64_t first, int64_t end) {
      op.run_part(src, dst, std::min(count, first * kChunk), std::min(count, end * kChunk));
    });
  }
};

// --- memory descriptors --------------------------------------------------------------------------------
memory::dims to_dims(const Shape& shape) {
  if (shape.empty()) return {1};  // a scalar as one element
  return memory::dims(shape.begin(), shape.end());
}

// Row-major; a scalar (no dims) as one element.
Md plain_md(const memory::dims& logical) {
  const memory::dims dims = to_dims(logical);
  memory::dims strides(dims.size(), 1);
  for (size_t d = dims.size(); d-- > 1;) strides[d - 1] = strides[d] * std::max<memory::dim>(dims[d], 1);
  return Md(dims, kF32, strides);
}
Md any_md(const memory::dims& dims) { return Md(dims, kF32, Tag::any); }
bool is_plain(const Md& md) { return md == plain_md(md.dims()); }

// The byte offset of the float32 element at row-major offset `index` of md's dims in a blocked (or plain)
// layout, as oneDNN lays it out: each dim splits into its inner blocks (innermost last) and an outer index
// with the dim's stride, after offset0. nullopt for a non-blocked descriptor or an index out of range.
std::optional<size_t> blocked_element_offset(const Md& md, int64_t index) {
  const dnnl_memory_desc_t& d = md.data;
  if (d.format_kind != dnnl_blocked || d.data_type != dnnl_f32 || index < 0) return std::nullopt;
  dnnl_dims_t position = {};
  for (int k = d.ndims - 1; k >= 0; --k) {
    position[k] = index % d.dims[k];
    index /= d.dims[k];
  }
  if (index != 0) return std::nullopt;
  const dnnl_blocking_desc_t& blocking = d.format_desc.blocking;
  int64_t offset = d.offset0;
  int64_t block_stride = 1;
  for (int b = blocking.inner_nblks - 1; b >= 0; --b) {
    const int k = static_cast<int>(blocking.inner_idxs[b]);
    offset += position[k] % blocking.inner_blks[b] * block_stride;
    position[k] /= blocking.inner_blks[b];
    block_stride *= blocking.inner_blks[b];
  }
  for (int k = 0; k < d.ndims; ++k) offset += position[k] * blocking.strides[k];
  return static_cast<size_t>(offset) * sizeof(float);
}

// "[2,16,8,8] plain", "[2,16,8,8] blocked(1:16)", ... for the plan dump.
std::string describe_md(const Md& md) {
  std::string text = "[";
  const memory::dims dims = md.dims();
  for (size_t i = 0; i < dims.size(); ++i) {
    if (i > 0) text += ',';
    text += std::to_string(dims[i]);
  }
  text += "] ";
  if (is_plain(md)) return text + "plain";
  const std::optional<onednn::BlockedLayout> layout = onednn::describe_layout(md);
  if (!layout) return text + "other";
  if (layout->block_axis < 0) return text + "strided";
  return text + "blocked(" + std::to_string(layout->block_axis) + ":" + std::to_string(layout->block) + ")";
}

// The channel block that suits this CPU's vector width (16 floats for AVX-512, 8 for AVX2), or 1 to let every
// primitive choose. oneDNN 2.6 picks channels-last brgemm convolutions on AVX-512 machines by default;
// nChw16c direct convolutions measured ~10% faster on ResNet20 (batch 100, fp32). FAULTLINE_ONEDNN_CONV_LAYOUT
// = "any" restores oneDNN's own choice (for comparisons).
int64_t preferred_channel_block() {
  static const int64_t block = [] {
    if (const char* layout = std::getenv("FAULTLINE_ONEDNN_CONV_LAYOUT"); layout && std::string(layout) == "any")
      return int64_t{1};
    const auto isa = static_cast<unsigned>(dnnl::get_effective_cpu_isa());
    auto has = [&](dnnl::cpu_isa wanted) { return (isa & static_cast<unsigned>(wanted)) == static_cast<unsigned>(wanted); };
    if (has(dnnl::cpu_isa::avx512_core)) return int64_t{16};
    if (has(dnnl::cpu_isa::avx2)) return int64_t{8};
    return int64_t{1};
  }();
  return block;
}

// Whether a convolution implementation sums each output in an order that does not depend on the problem's
// size, so that a primitive made for a crop of it (fewer rows, columns, images or output channels: the
// partial runs of onednn_window.h) computes the same bytes as the whole step. oneDNN's direct JIT kernels
// ("jit:avx512_core", "jit:avx2", ...) add the input channels up one fixed block (16 or 8) at a time, each
// block's sum added to the output in block order. Its 1x1 kernels ("jit_1x1:...") cut the input channels into
// chunks sized for the cache from the spatial size and the output channels, so a crop adds other chunks: on
// ResNet-50's 1x1 convolutions with 512 and more input channels, crops rounded otherwise in the last bits
// (and a fault masked in a full pass came out non-critical). brgemm, gemm and reference kernels are not
// known to keep the order either: no partial runs for them.
bool sums_in_fixed_order(const dnnl::primitive_desc& pd) {
  const std::string impl = pd.impl_info_str();
  return impl.rfind("jit:", 0) == 0;
}

// Whether a convolution implementation sums each output in an order that depends on the spatial size and the
// channels but not on the number of images: a crop of whole maps of some images then computes the step's
// bytes. oneDNN's 1x1 kernels size their input-channel chunks from the spatial size and the channels
// (checked: tests/test_spatial_window.cpp runs the bottleneck model's 512 -> 128 convolution on the whole
// maps of 2 images, in a crop of 8 images, against the step of 10; ResNet-50's lists give the full passes'
// summaries with them).
bool sums_in_fixed_order_per_map(const dnnl::primitive_desc& pd) {
  const std::string impl = pd.impl_info_str();
  return sums_in_fixed_order(pd) || impl.rfind("jit_1x1:", 0) == 0;
}

// Winograd (oneDNN's F(4x4, 3x3), or F(2x2, 3x3) for very small batches) for the 3x3 stride-1 convolutions whose
// input and output both have at least kWinogradMinChannels channels, in plans without fault machinery (see
// onednn_backend.h). On ResNet20 (batch 100, fp32, AVX-512, 2 threads) it takes the 32-channel convolutions from
// about 1.31 to 1.05 ms and the 64-channel ones from 1.24 to 0.70 ms, and would make the 16-channel ones slower
// (1.7 -> 2.8 ms): too few channels to amortize its transforms. Its error is about 1e-6 of the largest output
// (direct: 3e-7). FAULTLINE_ONEDNN_CONV_ALGORITHM = "direct" turns it off (for comparisons).
constexpr int64_t kWinogradMinChannels = 32;

bool winograd_enabled() {
  static const bool enabled = [] {
    const char* algorithm = std::getenv("FAULTLINE_ONEDNN_CONV_ALGORITHM");
    return !(algorithm && std::string(algorithm) == "direct");
  }();
  return enabled;
}

std::optional<Tag> channel_blocked_tag(size_t spatial, int64_t block) {
  const bool b16 = block == 16;
  switch (spatial) {
    case 1: return b16 ? Tag::aBc16b : Tag::aBc8b;
    case 2: return b16 ? Tag::aBcd16b : Tag::aBcd8b;
    case 3: return b16 ? Tag::aBcde16b : Tag::aBcde8b;
    default: return std::nullopt;
  }
}

// Leading 1s up to `rank`.
memory::dims padded_dims(const Shape& shape, size_t rank) {
  memory::dims dims(rank - std::min(rank, shape.size()), 1);
  dims.insert(dims.end(), shape.begin(), shape.end());
  return dims;
}

struct EltwiseSpec {
  dnnl::algorithm algorithm;
  float alpha = 0.0f;
  float beta = 0.0f;
};

std::optional<EltwiseSpec> eltwise_of(const Node& node) {
  switch (node.op) {
    case OpKind::kRelu: return EltwiseSpec{dnnl::algorithm::eltwise_relu};
    case OpKind::kLeakyRelu: {
      const LeakyReluAttrs* attrs = attrs_or_default<LeakyReluAttrs>(node.attrs);
      if (!attrs) return std::nullopt;
      return EltwiseSpec{dnnl::algorithm::eltwise_relu, attrs->alpha};
    }
    case OpKind::kClip: {
      const ClipAttrs* attrs = attrs_or_default<ClipAttrs>(node.attrs);
      if (!attrs) return std::nullopt;
      return EltwiseSpec{dnnl::algorithm::eltwise_clip_v2, attrs->min, attrs->max};
    }
    case OpKind::kSigmoid: return EltwiseSpec{dnnl::algorithm::eltwise_logistic};
    case OpKind::kTanh: return EltwiseSpec{dnnl::algorithm::eltwise_tanh};
    default: return std::nullopt;
  }
}

bool is_gather_op(OpKind op) { return op == OpKind::kSlice || op == OpKind::kPad || op == OpKind::kTranspose; }

// --- support -------------------------------------------------------------------------------------------
Status check_node_support(const Graph& graph, NodeId id) {
  const Node& node = graph.node(id);
  auto fail = [&](StatusCode code, const std::string& why) {
    return Status::error(code, "onednn backend: " + graph.describe(id) + ": " + why);
  };
  // A stored weight's decode (Cast / DequantizeLinear of a float16/bfloat16/int8 parameter that is a fault site)
  // runs the reference kernel on its non-float32 constant inputs; its output is float32.
  const bool decode = is_weight_decode(graph, node);
  if (is_shape_op(node.op) && !decode)
    return fail(StatusCode::kUnsupported, "shape arithmetic is not executed by a backend (specialize() folds it)");
  if (node.outputs.empty()) return fail(StatusCode::kInvalidArgument, "has no output");
  auto check_value = [&](ValueId v, const char* role) -> Status {
    if (v == kNoValue) return Status::ok();
    const Value& value = graph.value(v);
    if (value.dtype != DType::kFloat32)
      return fail(StatusCode::kUnsupported, std::string(role) + " '" + value.name + "' is " +
                                                std::string(dtype_name(value.dtype)) + "; only float32 is supported");
    if (!value.is_constant() && (!value.shape_known || !is_static(value.shape)))
      return fail(StatusCode::kInvalidArgument, std::string(role) + " '" + value.name + "' has no static shape " +
                                                    shape_to_string(value.shape) + " (run specialize() first)");
    return Status::ok();
  };
  if (node.inputs.empty() || node.inputs[0] == kNoValue) return fail(StatusCode::kInvalidArgument, "has no data input");
  if (!decode)
    for (ValueId v : node.inputs) FL_RETURN_IF_ERROR(check_value(v, "input"));
  for (ValueId v : node.outputs) FL_RETURN_IF_ERROR(check_value(v, "output"));
  auto not_specialized = [&](const char* what) {
    return fail(StatusCode::kInvalidArgument, std::string(what) + " not in specialized form (run specialize() first)");
  };
  auto wrong_attrs = [&]() { return fail(StatusCode::kInvalidArgument, "carries another op's attributes"); };
  switch (node.op) {
    case OpKind::kConv: {
      const ConvAttrs* a = attrs_or_default<ConvAttrs>(node.attrs);
      if (!a) return wrong_attrs();
      if (a->auto_pad != AutoPad::kNotSet) return not_specialized("auto_pad is");
      if (node.inputs.size() < 2 || node.inputs[1] == kNoValue) return fail(StatusCode::kInvalidArgument, "has no weights");
      break;
    }
    case OpKind::kMaxPool:
    case OpKind::kAveragePool: {
      const PoolAttrs* a = attrs_or_default<PoolAttrs>(node.attrs);
      if (!a) return wrong_attrs();
      if (a->auto_pad != AutoPad::kNotSet) return not_specialized("auto_pad is");
      break;
    }
    case OpKind::kClip: {
      const ClipAttrs* a = attrs_or_default<ClipAttrs>(node.attrs);
      if (!a) return wrong_attrs();
      if (a->bounds_from_inputs) return not_specialized("min/max inputs are");
      break;
    }
    case OpKind::kPad: {
      const PadAttrs* a = attrs_or_default<PadAttrs>(node.attrs);
      if (!a) return wrong_attrs();
      if (a->pads_from_inputs) return not_specialized("pads inputs are");
      break;
    }
    case OpKind::kSlice: {
      const SliceAttrs* a = attrs_or_default<SliceAttrs>(node.attrs);
      if (!a) return wrong_attrs();
      if (a->from_inputs) return not_specialized("starts/ends inputs are");
      break;
    }
    case OpKind::kBatchNormalization:
      if (node.inputs.size() != 5) return fail(StatusCode::kInvalidArgument, "needs inputs [X, scale, bias, mean, var]");
      if (!attrs_or_default<BatchNormAttrs>(node.attrs)) return wrong_attrs();
      break;
    case OpKind::kGemm:
    case OpKind::kMatMul:
    case OpKind::kAdd:
    case OpKind::kSub:
    case OpKind::kMul:
    case OpKind::kDiv:
      if (node.inputs.size() < 2 || node.inputs[1] == kNoValue)
        return fail(StatusCode::kInvalidArgument, "needs two operands");
      break;
    default: break;
  }
  return Status::ok();
}

// --- the compiled model --------------------------------------------------------------------------------
enum class ValueKind : uint8_t { kNone, kConstant, kBuffer, kFusedAway };

struct ValueState {
  ValueKind kind = ValueKind::kNone;
  Md md;           // internal layout (kBuffer)
  memory mem;      // over its arena buffer (kBuffer)
  int buffer = -1;
  int step = -1;   // producing / absorbing step
  dnnl::primitive to_plain, from_plain;  // created on the first read_value / write_value
};

struct ConstState {
  Tensor current;     // logical values the prepared copies derive from (shares the graph's bytes until written)
  bool owned = false;
  std::vector<std::function<void()>> prepare;  // re-derive every prepared copy (weights reorder, BN fold, ...)
};

struct Action {
  dnnl::primitive primitive;
  std::unordered_map<int, memory> args;
  std::function<void()> fn;  // used when there is no primitive
};

struct Step {
  StepInfo info;
  std::vector<Action> actions;
  std::string kernel;  // what runs, for FAULTLINE_ONEDNN_VERBOSE
  std::unique_ptr<onednn::WindowRunner> window;  // run_step_window (keep_values plans; nullptr: whole steps only)
  std::unique_ptr<onednn::ChannelRunner> channels;  // run_step_channels (keep_values convolutions)
};

struct BufferSpec {
  size_t bytes = 0;
  int first = INT_MAX;
  int last = -1;
};

struct FreeDeleter {
  void operator()(void* p) const { std::free(p); }
};
using AlignedBytes = std::unique_ptr<char, FreeDeleter>;

AlignedBytes allocate_aligned(size_t bytes) {
  const size_t rounded = (std::max<size_t>(bytes, 1) + kArenaAlignment - 1) / kArenaAlignment * kArenaAlignment;
  AlignedBytes p(static_cast<char*>(std::aligned_alloc(kArenaAlignment, rounded)));
  if (p) std::memset(p.get(), 0, rounded);
  return p;
}

// A reference-kernel call on plain views of the arena (built once the arena exists).
struct ReferenceCall {
  NodeId node = kNoNode;
  std::vector<const Tensor*> inputs;
  std::vector<Tensor*> outputs;
  std::vector<Tensor> views;  // storage the pointers above point into (reserved, never reallocated)
};

class OnednnModel final : public CompiledModel {
 public:
  OnednnModel(Graph graph, const PlanOptions& options)
      : graph_(std::move(graph)),
        threads_(resolve_threads(options.threads)),
        fuse_(options.fuse),
        propagate_nan_(options.propagate_nan),
        keep_values_(options.keep_values) {
    observable_.assign(graph_.values().size(), false);
    for (ValueId v : options.observable)
      if (v >= 0 && static_cast<size_t>(v) < observable_.size()) observable_[static_cast<size_t>(v)] = true;
  }

  Status build();

  const Graph& graph() const override { return graph_; }
  size_t num_steps() const override { return steps_.size(); }
  const StepInfo& step(size_t index) const override { return steps_[index].info; }

  void run_step(size_t index) override {
    if (index == 0) run_error_ = Status::ok();
    apply_threads(threads_);
    for (Action& action : steps_[index].actions) {
      if (action.fn) action.fn();
      else action.primitive.execute(stream_, action.args);
    }
    stream_.wait();
  }

  Status write_value(ValueId id, const Tensor& src) override;
  Status read_value(ValueId id, Tensor& dst) override;
  // A weight fault on a constant: the faulted words of the logical copy, then the prepared copies re-derived
  // (no copy of the whole weight in and out, which dominated VGG's 411 MB classifier weight).
  Result<bool> patch_value_words(ValueId id, std::span<const WordPatch> patches) override;
  std::span<std::byte> value_storage(ValueId id) override {
    if (id < 0 || static_cast<size_t>(id) >= values_.size()) return {};
    const ValueState& state = values_[static_cast<size_t>(id)];
    if (state.kind != ValueKind::kBuffer) return {};
    return {static_cast<std::byte*>(value_data(state)), state.md.get_size()};
  }
  std::optional<size_t> value_element_offset(ValueId id, int64_t index) override {
    if (value_storage(id).empty()) return std::nullopt;
    return blocked_element_offset(values_[static_cast<size_t>(id)].md, index);
  }
  std::span<std::byte> kept_storage(ValueId id) override {
    if (!keep_values_) return {};
    return value_storage(id);
  }
  std::optional<KeptLayout> kept_layout(ValueId id) override {
    if (kept_storage(id).empty()) return std::nullopt;
    return onednn::kept_layout_of(values_[static_cast<size_t>(id)].md);
  }
  void parallel_for(int64_t count, const std::function<void(int64_t, int64_t)>& body) override {
    parallel_ranges(threads_, count, body);
  }
  bool run_step_window(size_t index, const SpatialWindow& window, std::span<const int64_t> images) override {
    Step& step = steps_[index];
    if (!step.window) return false;
    apply_threads(threads_);
    return step.window->run(window, images);
  }
  bool run_step_channels(size_t index, int64_t first, int64_t end) override {
    Step& step = steps_[index];
    if (!step.channels) return false;
    apply_threads(threads_);
    return step.channels->run(first, end);
  }

 private:
  // planning
  std::vector<std::vector<NodeId>> form_groups(const std::vector<NodeId>& order) const;
  NodeId fusable_consumer(ValueId v) const;
  bool is_barrier(NodeId id) const;
  // An activation that may run as a oneDNN eltwise (standalone or as a post-op): all of them, except the
  // max-based ones (Relu, LeakyRelu, Clip) under propagate_nan, which run as NanEltwise loops instead.
  bool onednn_activation(const Node& node) const {
    return eltwise_of(node) && !(propagate_nan_ && NanEltwise::of(node));
  }
  bool is_const(ValueId v) const { return v != kNoValue && graph_.value(v).is_constant(); }
  // Under propagate_nan, a BatchNormalization (non-constant input, constant per-channel parameters) or an Add of
  // two non-constant values of the output's shape starts a PointwiseChain.
  bool is_chain_batch_norm(const Node& node) const;
  bool is_chain_add(const Node& node) const;
  // How window runners split their copies and loops: over the plan's threads.
  ParallelFor window_parallel() const {
    return [threads = threads_](int64_t count, const std::function<void(int64_t, int64_t)>& body) {
      parallel_ranges(threads, count, body);
    };
  }
  // Every node that reads `v` decodes a stored weight (engine/weight_storage.h), so it may be non-float32.
  bool only_decoded(ValueId v) const {
    for (const Node& node : graph_.nodes())
      for (ValueId in : node.inputs)
        if (in == v && !is_weight_decode(graph_, node)) return false;
    return true;
  }
  const Shape& shape_of(ValueId v) const { return graph_.value(v).shape; }
  std::string value_name(ValueId v) const { return "'" + graph_.value(v).name + "'"; }

  // step compilers: true when compiled natively, false to fall back to the reference kernel; dnnl::error
  // thrown while creating descriptors (before any state changed) also falls back.
  Status compile_group(int s, const std::vector<NodeId>& nodes, Step& step);
  bool compile_conv(int s, const std::vector<NodeId>& nodes, Step& step);
  bool compile_batch_norm(int s, const Node& node, Step& step);
  bool compile_eltwise(int s, const Node& node, Step& step);
  bool compile_nan_eltwise(int s, const Node& node, Step& step);
  bool compile_pointwise_chain(int s, const std::vector<NodeId>& nodes, Step& step);
  bool compile_binary(int s, const std::vector<NodeId>& nodes, Step& step);
  bool compile_pool(int s, const Node& node, Step& step);
  bool compile_nan_max_pool(int s, const Node& node, Step& step);
  bool compile_softmax(int s, const Node& node, Step& step);
  bool compile_concat(int s, const Node& node, Step& step);
  bool compile_gemm(int s, const Node& node, Step& step);
  bool compile_matmul(int s, const Node& node, Step& step);
  bool compile_reshape(int s, const Node& node, Step& step);
  bool compile_gather(int s, const std::vector<NodeId>& nodes, Step& step);
  void compile_reference(int s, NodeId id, Step& step);

  // memories
  int new_buffer(size_t bytes) {
    buffers_.push_back({bytes});
    return static_cast<int>(buffers_.size()) - 1;
  }
  void use_buffer(int buffer, int s) {
    BufferSpec& b = buffers_[static_cast<size_t>(buffer)];
    b.first = std::min(b.first, s);
    b.last = std::max(b.last, s);
  }
  memory buffer_memory(const Md& md, int buffer) {
    memory mem(md, engine_, DNNL_MEMORY_NONE);
    bindings_.emplace_back(mem, buffer);
    return mem;
  }
  memory owned_memory(const Md& md) {
    owned_.push_back(allocate_aligned(md.get_size()));
    return memory(md, engine_, owned_.back().get());
  }
  // Another desc over the same bytes as `mem` (a transposed or reshaped view of a plain memory).
  memory view_of(const memory& mem, const Md& md) {
    for (const auto& [bound, buffer] : bindings_)
      if (bound.get() == mem.get()) return buffer_memory(md, buffer);
    return memory(md, engine_, mem.get_data_handle());
  }
  memory define_output(int s, ValueId v, const Md& md) {
    const int buffer = new_buffer(md.get_size());
    use_buffer(buffer, s);
    return alias_output(s, v, md, buffer);
  }
  memory alias_output(int s, ValueId v, const Md& md, int buffer) {
    use_buffer(buffer, s);
    ValueState& state = values_[static_cast<size_t>(v)];
    state.kind = ValueKind::kBuffer;
    state.md = md;
    state.mem = buffer_memory(md, buffer);
    state.buffer = buffer;
    state.step = s;
    return state.mem;
  }
  memory input_as(Step& step, int s, ValueId v, const Md& md);
  memory constant_memory(ValueId v, const Md& md);
  void add_prepare(ValueId v, const std::function<void()>& fn) {
    if (is_const(v)) consts_[static_cast<size_t>(v)].prepare.push_back(fn);
  }
  dnnl::primitive_attr user_attr() const {
    dnnl::primitive_attr attr;
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    return attr;
  }
  void attach_scratchpad(Action& action, const Md& scratchpad_md) {
    if (scratchpad_md.get_size() == 0) return;
    scratchpad_bytes_ = std::max(scratchpad_bytes_, scratchpad_md.get_size());
    memory mem(scratchpad_md, engine_, DNNL_MEMORY_NONE);
    scratchpad_users_.push_back(mem);
    action.args[DNNL_ARG_SCRATCHPAD] = mem;
  }
  Action reorder_action(const memory& src, const memory& dst) {
    dnnl::reorder::primitive_desc pd(engine_, src.get_desc(), engine_, dst.get_desc(), user_attr());
    Action action;
    action.primitive = dnnl::reorder(pd);
    action.args = {{DNNL_ARG_FROM, src}, {DNNL_ARG_TO, dst}};
    attach_scratchpad(action, pd.scratchpad_desc());
    return action;
  }
  void reorder_now(const memory& src, const memory& dst) {
    dnnl::reorder(src, dst).execute(stream_, const_cast<memory&>(src), const_cast<memory&>(dst));
    stream_.wait();
  }
  void* value_data(const ValueState& state) const {
    return buffer_ptr_[static_cast<size_t>(state.buffer)];
  }
  Status value_error(ValueId id) const;
  void dump_plan() const;
  void alias_or_copy(int s, ValueId x, ValueId y, const Md& y_md, Step& step);

  Graph graph_;
  int threads_ = 1;
  bool fuse_ = true;
  bool propagate_nan_ = false;
  bool keep_values_ = false;  // PlanOptions::keep_values: no sharing, nothing in place, no alias
  std::vector<bool> observable_, is_graph_input_, is_graph_output_;
  std::vector<int> step_of_node_;

  dnnl::engine engine_{dnnl::engine::kind::cpu, 0};
  dnnl::stream stream_{engine_};
  std::vector<ValueState> values_;
  std::vector<ConstState> consts_;
  std::vector<Step> steps_;
  std::shared_ptr<onednn::CropScratch> crop_scratch_ = std::make_shared<onednn::CropScratch>();  // window runners
  std::vector<BufferSpec> buffers_;
  std::vector<std::pair<memory, int>> bindings_;
  std::vector<std::function<void()>> finalizers_;
  std::vector<memory> scratchpad_users_;
  size_t scratchpad_bytes_ = 0;
  std::vector<AlignedBytes> owned_;
  AlignedBytes arena_, scratchpad_;
  std::vector<char*> buffer_ptr_;
  size_t arena_bytes_ = 0;
  Status run_error_;
};

// --- grouping (fusion) ---------------------------------------------------------------------------------

// The single consumer of `v` when v may disappear inside a fused step.
NodeId OnednnModel::fusable_consumer(ValueId v) const {
  if (!fuse_) return kNoNode;
  const size_t i = static_cast<size_t>(v);
  const Value& value = graph_.value(v);
  if (observable_[i] || is_graph_output_[i] || is_graph_input_[i] || value.is_constant()) return kNoNode;
  if (value.consumers.size() != 1) return kNoNode;
  return value.consumers[0];
}

// A node whose output is a fault site, or which reads a constant that is one, runs on its own, unfused
// (its weights are then used exactly as the model has them).
bool OnednnModel::is_barrier(NodeId id) const {
  const Node& node = graph_.node(id);
  for (ValueId v : node.outputs)
    if (observable_[static_cast<size_t>(v)]) return true;
  for (ValueId v : node.inputs)
    if (v != kNoValue && is_const(v) && observable_[static_cast<size_t>(v)]) return true;
  return false;
}

std::vector<std::vector<NodeId>> OnednnModel::form_groups(const std::vector<NodeId>& order) const {
  std::vector<size_t> position(graph_.nodes().size(), 0);
  for (size_t i = 0; i < order.size(); ++i) position[static_cast<size_t>(order[i])] = i;
  std::vector<bool> taken(graph_.nodes().size(), false);
  std::vector<std::pair<size_t, std::vector<NodeId>>> groups;

  auto can_take = [&](NodeId n) { return n != kNoNode && !taken[static_cast<size_t>(n)] && !is_barrier(n); };
  auto single_output = [&](NodeId n) { return graph_.node(n).outputs.size() == 1; };

  for (NodeId head : order) {
    if (taken[static_cast<size_t>(head)]) continue;
    std::vector<NodeId> chain = {head};
    const Node& node = graph_.node(head);
    if (fuse_ && !is_barrier(head) && single_output(head)) {
      ValueId v = node.outputs[0];
      auto try_activation = [&]() {
        NodeId next = fusable_consumer(v);
        if (can_take(next) && single_output(next) && onednn_activation(graph_.node(next))) {
          chain.push_back(next);
          v = graph_.node(next).outputs[0];
        }
      };
      if (node.op == OpKind::kConv && is_const(node.inputs[1]) &&
          (node.inputs.size() < 3 || node.inputs[2] == kNoValue || is_const(node.inputs[2]))) {
        const int64_t out_channels = shape_of(v).size() > 1 ? shape_of(v)[1] : -1;
        NodeId next = fusable_consumer(v);
        if (can_take(next) && single_output(next)) {
          const Node& bn = graph_.node(next);
          bool foldable = bn.op == OpKind::kBatchNormalization && bn.inputs.size() == 5 && bn.inputs[0] == v;
          for (size_t i = 1; foldable && i < 5; ++i)
            foldable = is_const(bn.inputs[i]) && numel(shape_of(bn.inputs[i])) == out_channels;
          if (foldable) {
            chain.push_back(next);
            v = bn.outputs[0];
          }
        }
        try_activation();
        next = fusable_consumer(v);
        if (can_take(next) && single_output(next) && graph_.node(next).op == OpKind::kAdd) {
          const Node& add = graph_.node(next);
          const ValueId other = add.inputs[0] == v ? add.inputs[1] : add.inputs[0];
          if (other != v && other != kNoValue && shape_of(other) == shape_of(v) &&
              shape_of(add.outputs[0]) == shape_of(v)) {
            chain.push_back(next);
            v = add.outputs[0];
            try_activation();
          }
        }
      } else if (propagate_nan_ && (is_chain_batch_norm(node) || is_chain_add(node))) {
        // BatchNormalization -> Add -> activation, as far as the graph goes (onednn_pointwise_chain.h).
        NodeId next = fusable_consumer(v);
        if (node.op == OpKind::kBatchNormalization && can_take(next) && single_output(next) &&
            is_chain_add(graph_.node(next))) {
          const Node& add = graph_.node(next);
          if (add.inputs[0] != add.inputs[1] && shape_of(add.outputs[0]) == shape_of(v)) {
            chain.push_back(next);
            v = add.outputs[0];
            next = fusable_consumer(v);
          }
        }
        if (can_take(next) && single_output(next) && NanEltwise::of(graph_.node(next))) {
          chain.push_back(next);
          v = graph_.node(next).outputs[0];
        }
        if (chain.size() == 1 && node.op == OpKind::kAdd) try_activation();  // an onednn post-op activation
      } else if (is_binary_elementwise(node.op)) {
        try_activation();
      } else if (is_gather_op(node.op)) {
        bool has_pad = node.op == OpKind::kPad;
        while (true) {
          NodeId next = fusable_consumer(v);
          if (!can_take(next) || !single_output(next) || !is_gather_op(graph_.node(next).op)) break;
          const bool is_pad = graph_.node(next).op == OpKind::kPad;
          if (is_pad && has_pad) break;  // one pad value per step
          has_pad = has_pad || is_pad;
          chain.push_back(next);
          v = graph_.node(next).outputs[0];
        }
      }
    }
    for (NodeId n : chain) taken[static_cast<size_t>(n)] = true;
    // A fused step runs where its last node would: every input of the chain is ready there.
    groups.emplace_back(position[static_cast<size_t>(chain.back())], std::move(chain));
  }
  std::sort(groups.begin(), groups.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<std::vector<NodeId>> result;
  for (auto& [pos, chain] : groups) result.push_back(std::move(chain));
  return result;
}

// --- build ---------------------------------------------------------------------------------------------

Status OnednnModel::build() {
  apply_threads(threads_);
  const size_t value_count = graph_.values().size();
  is_graph_input_.assign(value_count, false);
  is_graph_output_.assign(value_count, false);
  for (ValueId v : graph_.inputs()) is_graph_input_[static_cast<size_t>(v)] = true;
  for (ValueId v : graph_.outputs()) is_graph_output_[static_cast<size_t>(v)] = true;
  for (size_t i = 0; i < graph_.nodes().size(); ++i)
    FL_RETURN_IF_ERROR(check_node_support(graph_, static_cast<NodeId>(i)));
  FL_ASSIGN_OR_RETURN(std::vector<NodeId> order, graph_.topological_order());

  values_.assign(value_count, ValueState{});
  consts_.assign(value_count, ConstState{});
  for (size_t i = 0; i < value_count; ++i) {
    const Value& value = graph_.values()[i];
    if (value.is_constant()) {
      values_[i].kind = ValueKind::kConstant;
      consts_[i].current = value.constant;
      if (value.constant.dtype() != DType::kFloat32 && !only_decoded(static_cast<ValueId>(i)))
        return unsupported("onednn backend: constant '" + value.name + "' is " +
                           std::string(dtype_name(value.constant.dtype())) + "; only float32 is supported");
    }
  }
  for (ValueId v : graph_.inputs()) {
    if (is_const(v)) continue;
    if (graph_.value(v).dtype != DType::kFloat32)
      return unsupported("onednn backend: graph input " + value_name(v) + " is " +
                         std::string(dtype_name(graph_.value(v).dtype)) + "; only float32 is supported");
    if (!is_static(shape_of(v)))
      return invalid_argument("onednn backend: graph input " + value_name(v) + " has no static shape " +
                              shape_to_string(shape_of(v)) + " (run specialize() first)");
    define_output(0, v, plain_md(shape_of(v)));
    values_[static_cast<size_t>(v)].step = -1;
  }

  const std::vector<std::vector<NodeId>> groups = form_groups(order);
  step_of_node_.assign(graph_.nodes().size(), -1);
  for (size_t s = 0; s < groups.size(); ++s)
    for (NodeId n : groups[s]) step_of_node_[static_cast<size_t>(n)] = static_cast<int>(s);

  steps_.resize(groups.size());
  for (size_t s = 0; s < groups.size(); ++s) {
    Step& step = steps_[s];
    step.info.nodes = groups[s];
    FL_RETURN_IF_ERROR(compile_group(static_cast<int>(s), groups[s], step));
    for (NodeId n : groups[s])
      for (ValueId v : graph_.node(n).outputs)
        if (values_[static_cast<size_t>(v)].kind == ValueKind::kBuffer) step.info.outputs.push_back(v);
  }

  // Lifetimes: graph inputs are written before step 0, graph outputs are read after the last step.
  const int end = static_cast<int>(steps_.size());
  for (ValueId v : graph_.inputs())
    if (values_[static_cast<size_t>(v)].kind == ValueKind::kBuffer) use_buffer(values_[static_cast<size_t>(v)].buffer, 0);
  for (ValueId v : graph_.outputs())
    if (values_[static_cast<size_t>(v)].kind == ValueKind::kBuffer) use_buffer(values_[static_cast<size_t>(v)].buffer, end);
  if (keep_values_) {  // every value's buffer lives from step 0 to the end: nothing shares it, not even a step's
                       // scratch buffer from before the value's producer (an incremental pass re-runs such a step
                       // while the value holds golden bytes)
    for (const ValueState& state : values_) {
      if (state.kind != ValueKind::kBuffer) continue;
      use_buffer(state.buffer, 0);
      use_buffer(state.buffer, end);
    }
  }
  std::vector<BufferRequest> requests;
  for (const BufferSpec& b : buffers_) {
    const int first = b.first == INT_MAX ? 0 : b.first;
    requests.push_back({b.bytes, first, std::max(first, b.last)});
  }
  const BufferPlan plan = plan_buffers(requests, kArenaAlignment);
  arena_bytes_ = plan.total_bytes;
  arena_ = allocate_aligned(plan.total_bytes);
  if (!arena_) return internal_error("onednn backend: cannot allocate the " + std::to_string(plan.total_bytes) + "-byte arena");
  buffer_ptr_.resize(buffers_.size());
  for (size_t b = 0; b < buffers_.size(); ++b) buffer_ptr_[b] = arena_.get() + plan.offsets[b];
  for (auto& [mem, buffer] : bindings_) mem.set_data_handle(buffer_ptr_[static_cast<size_t>(buffer)]);
  scratchpad_ = allocate_aligned(scratchpad_bytes_);
  for (memory& mem : scratchpad_users_) mem.set_data_handle(scratchpad_.get());
  for (auto& finalize : finalizers_) finalize();
  finalizers_.clear();
  if (const char* verbose = std::getenv("FAULTLINE_ONEDNN_VERBOSE"); verbose && *verbose && *verbose != '0') dump_plan();
  return Status::ok();
}

void OnednnModel::dump_plan() const {
  std::fprintf(stderr, "onednn plan: %zu steps, arena %zu bytes, scratchpad %zu bytes, %d threads\n", steps_.size(),
               arena_bytes_, scratchpad_bytes_, threads_);
  for (size_t s = 0; s < steps_.size(); ++s) {
    const Step& step = steps_[s];
    std::string nodes;
    for (NodeId n : step.info.nodes) {
      if (!nodes.empty()) nodes += " + ";
      nodes += graph_.node(n).name;
    }
    std::string outputs;
    for (ValueId v : step.info.outputs) {
      const ValueState& state = values_[static_cast<size_t>(v)];
      outputs += " " + graph_.value(v).name + "=" + describe_md(state.md) + "@" + std::to_string(state.buffer);
    }
    std::fprintf(stderr, "  %3zu %-40s %s, %zu actions ->%s\n", s, nodes.c_str(), step.kernel.c_str(),
                 step.actions.size(), outputs.c_str());
  }
}

Status OnednnModel::compile_group(int s, const std::vector<NodeId>& nodes, Step& step) {
  // Values inside a fused chain exist only inside the kernel.
  for (size_t i = 0; i + 1 < nodes.size(); ++i) {
    ValueState& state = values_[static_cast<size_t>(graph_.node(nodes[i]).outputs[0])];
    state.kind = ValueKind::kFusedAway;
    state.step = s;
  }
  const Node& node = graph_.node(nodes[0]);
  bool compiled = false;
  try {
    switch (node.op) {
      case OpKind::kConv: compiled = compile_conv(s, nodes, step); break;
      case OpKind::kBatchNormalization:
        compiled = propagate_nan_ ? compile_pointwise_chain(s, nodes, step) : compile_batch_norm(s, node, step);
        break;
      case OpKind::kRelu:
      case OpKind::kLeakyRelu:
      case OpKind::kClip:
      case OpKind::kSigmoid:
      case OpKind::kTanh:
        compiled = onednn_activation(node) ? compile_eltwise(s, node, step) : compile_nan_eltwise(s, node, step);
        break;
      case OpKind::kAdd:
      case OpKind::kSub:
      case OpKind::kMul:
      case OpKind::kDiv:
        compiled = propagate_nan_ && nodes.size() > 1 && NanEltwise::of(graph_.node(nodes.back()))
                       ? compile_pointwise_chain(s, nodes, step)
                       : compile_binary(s, nodes, step);
        break;
      case OpKind::kMaxPool:
      case OpKind::kAveragePool:
      case OpKind::kGlobalAveragePool:
      case OpKind::kGlobalMaxPool: compiled = compile_pool(s, node, step); break;
      case OpKind::kSoftmax: compiled = compile_softmax(s, node, step); break;
      case OpKind::kConcat: compiled = compile_concat(s, node, step); break;
      case OpKind::kGemm: compiled = compile_gemm(s, node, step); break;
      case OpKind::kMatMul: compiled = compile_matmul(s, node, step); break;
      case OpKind::kFlatten:
      case OpKind::kReshape:
      case OpKind::kIdentity: compiled = compile_reshape(s, node, step); break;
      case OpKind::kSlice:
      case OpKind::kPad:
      case OpKind::kTranspose: compiled = compile_gather(s, nodes, step); break;
      default: break;
    }
  } catch (const dnnl::error& e) {
    if (nodes.size() > 1)
      return internal_error("onednn backend: " + graph_.describe(nodes[0]) + ": fused step failed to compile: " +
                            e.what());
    compiled = false;
  }
  if (compiled) {
    if (step.kernel.empty()) step.kernel = "onednn " + std::string(op_name(node.op));
    return Status::ok();
  }
  if (nodes.size() > 1)
    return internal_error("onednn backend: " + graph_.describe(nodes[0]) + ": fused step has no kernel");
  try {
    compile_reference(s, nodes[0], step);
    step.kernel = "reference " + std::string(op_name(node.op));
  } catch (const dnnl::error& e) {
    return internal_error("onednn backend: " + graph_.describe(nodes[0]) + ": " + e.what());
  }
  return Status::ok();
}

memory OnednnModel::input_as(Step& step, int s, ValueId v, const Md& md) {
  if (is_const(v)) return constant_memory(v, md);
  ValueState& state = values_[static_cast<size_t>(v)];
  use_buffer(state.buffer, s);
  if (state.md == md) return state.mem;
  const int buffer = new_buffer(md.get_size());
  use_buffer(buffer, s);
  memory converted = buffer_memory(md, buffer);
  step.actions.push_back(reorder_action(state.mem, converted));
  return converted;
}

memory OnednnModel::constant_memory(ValueId v, const Md& md) {
  memory mem = owned_memory(md);
  auto fill = [this, v, mem]() {
    const Tensor& t = consts_[static_cast<size_t>(v)].current;
    memory user(plain_md(mem.get_desc().dims()), engine_, const_cast<void*>(t.raw()));
    reorder_now(user, mem);
  };
  fill();
  add_prepare(v, fill);
  return mem;
}

// --- convolution (+ folded BatchNorm, activation, residual sum, activation) ----------------------------

bool OnednnModel::compile_conv(int s, const std::vector<NodeId>& nodes, Step& step) {
  const Node& conv = graph_.node(nodes[0]);
  const ConvAttrs& attrs = *attrs_or_default<ConvAttrs>(conv.attrs);
  const ValueId x = conv.inputs[0], w = conv.inputs[1];
  const ValueId b = conv.inputs.size() > 2 ? conv.inputs[2] : kNoValue;
  if (is_const(x) || !is_const(w) || (b != kNoValue && !is_const(b))) return false;
  const Shape& x_shape = shape_of(x);
  const Shape& w_shape = shape_of(w);
  const size_t spatial = x_shape.size() < 3 ? 0 : x_shape.size() - 2;
  if (spatial < 1 || spatial > 3 || w_shape.size() != x_shape.size()) return false;
  const int64_t group = attrs.group;
  const int64_t out_channels = w_shape[0];
  if (group < 1 || out_channels % group != 0) return false;

  NodeId bn = kNoNode, add = kNoNode;
  std::optional<EltwiseSpec> act_before_sum, act_after_sum;
  for (size_t i = 1; i < nodes.size(); ++i) {
    const Node& n = graph_.node(nodes[i]);
    if (n.op == OpKind::kBatchNormalization) bn = nodes[i];
    else if (n.op == OpKind::kAdd) add = nodes[i];
    else if (add == kNoNode) act_before_sum = eltwise_of(n);
    else act_after_sum = eltwise_of(n);
  }
  const ValueId y = graph_.node(nodes.back()).outputs[0];
  const Shape& y_shape = shape_of(y);

  auto fill = [&](const std::vector<int64_t>& v, int64_t def, size_t count) {
    memory::dims out(count, def);
    for (size_t i = 0; i < count && i < v.size(); ++i) out[i] = v[i];
    return out;
  };
  const memory::dims strides = fill(attrs.strides, 1, spatial);
  memory::dims dilations = fill(attrs.dilations, 1, spatial);
  for (auto& d : dilations) d -= 1;  // oneDNN counts the gaps
  memory::dims pads_begin(spatial, 0), pads_end(spatial, 0);
  for (size_t i = 0; i < spatial && i < attrs.pads.size(); ++i) pads_begin[i] = attrs.pads[i];
  for (size_t i = 0; i < spatial && spatial + i < attrs.pads.size(); ++i) pads_end[i] = attrs.pads[spatial + i];

  memory::dims w_dims;
  if (group > 1) {
    w_dims = {group, out_channels / group};
    w_dims.insert(w_dims.end(), w_shape.begin() + 1, w_shape.end());
  } else {
    w_dims = to_dims(w_shape);
  }
  dnnl::post_ops post_ops;
  if (act_before_sum) post_ops.append_eltwise(1.0f, act_before_sum->algorithm, act_before_sum->alpha, act_before_sum->beta);
  if (add != kNoNode) post_ops.append_sum(1.0f);
  if (act_after_sum) post_ops.append_eltwise(1.0f, act_after_sum->algorithm, act_after_sum->alpha, act_after_sum->beta);
  dnnl::primitive_attr attr = user_attr();
  attr.set_post_ops(post_ops);

  const bool has_bias = b != kNoValue || bn != kNoNode;
  const Md bias_md = has_bias ? Md({out_channels}, kF32, Tag::a) : Md();
  const Md w_any = any_md(w_dims);
  // This node's convolution (its strides, dilations and post-ops) on the given descriptors; `bias` empty
  // without one. Also what the window and channel runners create their crops with.
  auto conv_pd = [this, strides, dilations, attr](const Md& src, const Md& weights, const Md& bias, const Md& dst,
                                                  const memory::dims& pads_begin, const memory::dims& pads_end,
                                                  dnnl::algorithm algorithm) {
    using dnnl::convolution_forward;
    const auto prop = dnnl::prop_kind::forward_inference;
    convolution_forward::desc desc =
        bias ? convolution_forward::desc(prop, algorithm, src, weights, bias, dst, strides, dilations, pads_begin,
                                         pads_end)
             : convolution_forward::desc(prop, algorithm, src, weights, dst, strides, dilations, pads_begin, pads_end);
    return convolution_forward::primitive_desc(desc, attr, engine_);
  };
  auto make_pd = [&](const Md& src, const Md& dst, dnnl::algorithm algorithm) {
    return conv_pd(src, w_any, bias_md, dst, pads_begin, pads_end, algorithm);
  };
  // Layout policy: the channel-blocked layout of the ISA's vector width where channels fill whole blocks, else
  // whatever the primitive prefers. Algorithm: direct, except Winograd for wide 3x3 stride-1 convolutions in
  // plans without fault machinery: its transforms scale a faulted weight or input by up to 25 before the
  // products, so a huge value that direct arithmetic keeps finite overflows (inf, then NaN). Fault plans
  // (propagate_nan, keep_values) and convolutions with a fault site on their weights or output (barriers) or on
  // their input stay direct.
  dnnl::convolution_forward::primitive_desc pd;
  const int64_t block = preferred_channel_block();
  const int64_t in_channels = x_shape[1];
  const bool winograd = winograd_enabled() && !propagate_nan_ && !keep_values_ && !is_barrier(nodes[0]) &&
                        !observable_[static_cast<size_t>(x)] && spatial == 2 && group == 1 && w_shape[2] == 3 &&
                        w_shape[3] == 3 && strides == memory::dims{1, 1} && dilations == memory::dims{0, 0} &&
                        in_channels >= kWinogradMinChannels && out_channels >= kWinogradMinChannels;
  if (winograd && block > 1 && in_channels % block == 0 && out_channels % block == 0) {
    const Tag tag = *channel_blocked_tag(spatial, block);
    try {
      pd = make_pd(Md(to_dims(x_shape), kF32, tag), Md(to_dims(y_shape), kF32, tag),
                   dnnl::algorithm::convolution_winograd);
    } catch (const dnnl::error&) {
      pd = {};
    }
  }
  if (!pd && block > 1 && out_channels % block == 0) {
    const std::optional<Tag> tag = channel_blocked_tag(spatial, block);
    try {
      const Md src = in_channels % block == 0 ? Md(to_dims(x_shape), kF32, *tag) : any_md(to_dims(x_shape));
      pd = make_pd(src, Md(to_dims(y_shape), kF32, *tag), dnnl::algorithm::convolution_direct);
    } catch (const dnnl::error&) {
      pd = {};
    }
  }
  if (!pd) pd = make_pd(any_md(to_dims(x_shape)), any_md(to_dims(y_shape)), dnnl::algorithm::convolution_direct);
  dnnl::convolution_forward primitive(pd);
  const Md dst_md = pd.dst_desc();
  const std::string conv_kernel =
      std::string(pd.impl_info_str()).find("wino") != std::string::npos ? "onednn winograd conv" : "onednn conv";

  // Weights (and the folded BatchNorm) prepared once; again whenever one of their constants is rewritten.
  memory weights = owned_memory(pd.weights_desc());
  memory bias = has_bias ? owned_memory(bias_md) : memory();
  const Md user_weights_md = plain_md(w_dims);
  const float epsilon = bn != kNoNode ? attrs_or_default<BatchNormAttrs>(graph_.node(bn).attrs)->epsilon : 0.0f;
  std::vector<ValueId> bn_params;
  if (bn != kNoNode) bn_params.assign(graph_.node(bn).inputs.begin() + 1, graph_.node(bn).inputs.end());
  auto prepare = [this, w, b, bn_params, epsilon, weights, bias, user_weights_md, out_channels]() {
    const Tensor& w_tensor = consts_[static_cast<size_t>(w)].current;
    auto param = [&](size_t i) { return consts_[static_cast<size_t>(bn_params[i])].current.data<float>(); };
    BatchNormParams bn;
    if (!bn_params.empty()) bn = {param(0), param(1), param(2), param(3), epsilon};
    std::vector<float> folded(static_cast<size_t>(w_tensor.numel()));
    std::vector<float> folded_bias(static_cast<size_t>(out_channels));
    fold_batch_norm({w_tensor.data<float>(), folded.size()},
                    b != kNoValue ? consts_[static_cast<size_t>(b)].current.data<float>() : nullptr, out_channels,
                    bn_params.empty() ? nullptr : &bn, folded, folded_bias);
    memory user(user_weights_md, engine_, folded.data());
    reorder_now(user, weights);
    if (bias) std::copy(folded_bias.begin(), folded_bias.end(), static_cast<float*>(bias.get_data_handle()));
  };
  prepare();
  add_prepare(w, prepare);
  add_prepare(b, prepare);
  for (ValueId p : bn_params) add_prepare(p, prepare);

  Action action;
  action.primitive = primitive;
  action.args[DNNL_ARG_SRC] = input_as(step, s, x, pd.src_desc());
  action.args[DNNL_ARG_WEIGHTS] = weights;
  if (has_bias) action.args[DNNL_ARG_BIAS] = bias;
  attach_scratchpad(action, pd.scratchpad_desc());

  if (add != kNoNode) {
    const Node& add_node = graph_.node(add);
    const ValueId chain_value = graph_.node(nodes[std::find(nodes.begin(), nodes.end(), add) - nodes.begin() - 1]).outputs[0];
    const ValueId other = add_node.inputs[0] == chain_value ? add_node.inputs[1] : add_node.inputs[0];
    // The sum post-op accumulates into dst: reuse the other operand's buffer when nobody reads it later.
    bool in_place = !keep_values_ && !is_const(other) && !is_graph_input_[static_cast<size_t>(other)] &&
                    !is_graph_output_[static_cast<size_t>(other)] && !observable_[static_cast<size_t>(other)] &&
                    values_[static_cast<size_t>(other)].md == dst_md;
    for (NodeId reader : graph_.value(other).consumers)
      if (reader != add && step_of_node_[static_cast<size_t>(reader)] >= s) in_place = false;
    step.kernel = conv_kernel + (bn != kNoNode ? " +folded BN" : "") + (act_before_sum ? " +eltwise" : "") +
                  (in_place ? " +sum (in place)" : " +sum (copy)") + (act_after_sum ? " +eltwise" : "");
    if (in_place) {
      const int buffer = values_[static_cast<size_t>(other)].buffer;
      use_buffer(buffer, s);
      action.args[DNNL_ARG_DST] = alias_output(s, y, dst_md, buffer);
    } else {
      memory dst = define_output(s, y, dst_md);
      memory src = is_const(other) ? constant_memory(other, dst_md) : values_[static_cast<size_t>(other)].mem;
      if (!is_const(other)) use_buffer(values_[static_cast<size_t>(other)].buffer, s);
      step.actions.push_back(reorder_action(src, dst));
      action.args[DNNL_ARG_DST] = dst;
    }
  } else {
    step.kernel = conv_kernel + (bn != kNoNode ? " +folded BN" : "") + (act_before_sum ? " +eltwise" : "");
    action.args[DNNL_ARG_DST] = define_output(s, y, dst_md);
  }
  const std::optional<std::pair<SlidingAxis, SlidingAxis>> axes = sliding_axes(graph_, nodes[0]);
  // Partial runs only where a primitive made for part of the output sums in the whole step's order: any
  // window, or (1x1 kernels) the whole maps of some images, to which their windows are widened.
  const bool whole_maps_only = !sums_in_fixed_order(pd);
  if (keep_values_ && add == kNoNode && axes && step.actions.empty() && sums_in_fixed_order_per_map(pd)) {
    auto make_crop = [conv_pd, bias_md, weights_md = pd.weights_desc()](
                         const Md& src, const Md& dst, const memory::dims& pads_begin, const memory::dims& pads_end) {
      return dnnl::primitive_desc(
          conv_pd(src, weights_md, bias_md, dst, pads_begin, pads_end, dnnl::algorithm::convolution_direct));
    };
    step.window = onednn::crop_window_runner(engine_, pd, action.args, *axes, make_crop, crop_scratch_, window_parallel(),
                                             whole_maps_only);
  }
  if (keep_values_ && add == kNoNode && group == 1 && step.actions.empty() && sums_in_fixed_order(pd)) {
    auto make_channels = [conv_pd, src_md = pd.src_desc(), pads_begin, pads_end](const Md& weights, const Md& bias,
                                                                                  const Md& dst) {
      return dnnl::primitive_desc(
          conv_pd(src_md, weights, bias, dst, pads_begin, pads_end, dnnl::algorithm::convolution_direct));
    };
    step.channels = onednn::ChannelRunner::create(engine_, pd, action.args, make_channels, crop_scratch_, window_parallel());
  }
  step.actions.push_back(std::move(action));
  return true;
}

// --- BatchNormalization, eltwise, binary ---------------------------------------------------------------

// oneDNN's BatchNormalization, for plans without propagate_nan (fault plans, the only ones with kept values,
// run compile_pointwise_chain instead, in aten's arithmetic).
bool OnednnModel::compile_batch_norm(int s, const Node& node, Step& step) {
  const ValueId x = node.inputs[0];
  if (is_const(x) || node.outputs.size() != 1) return false;
  const int64_t channels = shape_of(x).size() > 1 ? shape_of(x)[1] : -1;
  for (size_t i = 1; i < 5; ++i)
    if (!is_const(node.inputs[i]) || numel(shape_of(node.inputs[i])) != channels) return false;
  const float epsilon = attrs_or_default<BatchNormAttrs>(node.attrs)->epsilon;
  const Md src_md = values_[static_cast<size_t>(x)].md;
  const auto flags = dnnl::normalization_flags::use_global_stats | dnnl::normalization_flags::use_scale |
                     dnnl::normalization_flags::use_shift;
  dnnl::batch_normalization_forward::desc desc(dnnl::prop_kind::forward_inference, src_md, epsilon, flags);
  dnnl::batch_normalization_forward::primitive_desc pd(desc, user_attr(), engine_);
  Action action;
  action.primitive = dnnl::batch_normalization_forward(pd);
  const Md param_md({channels}, kF32, Tag::a);
  action.args[DNNL_ARG_SRC] = input_as(step, s, x, src_md);
  action.args[DNNL_ARG_SCALE] = constant_memory(node.inputs[1], param_md);
  action.args[DNNL_ARG_SHIFT] = constant_memory(node.inputs[2], param_md);
  action.args[DNNL_ARG_MEAN] = constant_memory(node.inputs[3], param_md);
  action.args[DNNL_ARG_VARIANCE] = constant_memory(node.inputs[4], param_md);
  action.args[DNNL_ARG_DST] = define_output(s, node.outputs[0], pd.dst_desc());
  attach_scratchpad(action, pd.scratchpad_desc());
  step.actions.push_back(std::move(action));
  return true;
}

bool OnednnModel::compile_eltwise(int s, const Node& node, Step& step) {
  const ValueId x = node.inputs[0];
  const std::optional<EltwiseSpec> spec = eltwise_of(node);
  if (is_const(x) || !spec) return false;
  const Md src_md = values_[static_cast<size_t>(x)].md;
  dnnl::eltwise_forward::desc desc(dnnl::prop_kind::forward_inference, spec->algorithm, src_md, spec->alpha, spec->beta);
  dnnl::eltwise_forward::primitive_desc pd(desc, user_attr(), engine_);
  Action action;
  action.primitive = dnnl::eltwise_forward(pd);
  action.args[DNNL_ARG_SRC] = input_as(step, s, x, src_md);
  action.args[DNNL_ARG_DST] = define_output(s, node.outputs[0], pd.dst_desc());
  attach_scratchpad(action, pd.scratchpad_desc());
  step.actions.push_back(std::move(action));
  return true;
}

// Relu / LeakyRelu / Clip under propagate_nan: a NanEltwise loop on the input's own layout, in place when the
// input dies here (one reader, no graph input or output, no fault site on either side).
bool OnednnModel::compile_nan_eltwise(int s, const Node& node, Step& step) {
  const ValueId x = node.inputs[0], y = node.outputs[0];
  const std::optional<NanEltwise> op = NanEltwise::of(node);
  if (is_const(x) || !op || node.outputs.size() != 1) return false;
  const ValueState& x_state = values_[static_cast<size_t>(x)];
  const Md md = x_state.md;
  // Dense over its padded dims (no gaps), so the loop may run over every float of the buffer; zero padding
  // (channels beyond a partial block) must stay zero, which f(0) = +0 guarantees.
  int64_t padded = 1, logical = 1;
  for (int d = 0; d < md.data.ndims; ++d) {
    padded *= md.data.padded_dims[d];
    logical *= md.data.dims[d];
  }
  if (md.get_size() != static_cast<size_t>(padded) * sizeof(float)) return false;
  const float at_zero = op->apply(0.0f);
  if (padded != logical && (at_zero != 0.0f || std::signbit(at_zero))) return false;
  const size_t xi = static_cast<size_t>(x);
  const bool in_place = !keep_values_ && !is_graph_input_[xi] && !is_graph_output_[xi] && !observable_[xi] &&
                        !observable_[static_cast<size_t>(y)] && graph_.value(x).consumers.size() == 1;
  use_buffer(x_state.buffer, s);
  const memory src = x_state.mem;
  const memory dst = in_place ? alias_output(s, y, md, x_state.buffer) : define_output(s, y, md);
  step.kernel = "NaN-preserving " + op->name() + (in_place ? " (in place)" : "");
  Action action;
  action.fn = [op = *op, src, dst, count = padded, threads = threads_]() {
    ParallelEltwise{op, static_cast<const float*>(src.get_data_handle()), static_cast<float*>(dst.get_data_handle()), count}
        .run(threads);
  };
  if (keep_values_ && !in_place && step.actions.empty())
    step.window = onednn::elementwise_window_runner({src}, dst, [op = *op](const float* const* in, float* out, int64_t, int64_t count) {
      op.run_part(in[0], out, 0, count);
    }, window_parallel());
  step.actions.push_back(std::move(action));
  return true;
}

bool OnednnModel::is_chain_batch_norm(const Node& node) const {
  if (node.op != OpKind::kBatchNormalization || node.inputs.size() != 5 || node.outputs.size() != 1 ||
      is_const(node.inputs[0]) || shape_of(node.inputs[0]).size() < 2)
    return false;
  const int64_t channels = shape_of(node.inputs[0])[1];
  for (size_t i = 1; i < 5; ++i)
    if (!is_const(node.inputs[i]) || numel(shape_of(node.inputs[i])) != channels) return false;
  return attrs_or_default<BatchNormAttrs>(node.attrs) != nullptr;
}

bool OnednnModel::is_chain_add(const Node& node) const {
  if (node.op != OpKind::kAdd || node.inputs.size() != 2 || node.outputs.size() != 1) return false;
  const Shape& y = shape_of(node.outputs[0]);
  for (ValueId in : node.inputs)
    if (in == kNoValue || is_const(in) || shape_of(in) != y) return false;
  return is_static(y) && !y.empty();
}

// [BatchNormalization] -> [Add] -> [Relu | LeakyRelu | Clip] under propagate_nan, as PyTorch computes them, in
// one pass on the first input's layout (plain when PointwiseChain takes no such layout).
bool OnednnModel::compile_pointwise_chain(int s, const std::vector<NodeId>& nodes, Step& step) {
  onednn::PointwiseChain::Ops ops;
  size_t k = 0;
  const Node& head = graph_.node(nodes[0]);
  ValueId x = kNoValue, other = kNoValue, v = kNoValue;
  std::vector<ValueId> bn_params;
  float epsilon = 0.0f;
  if (head.op == OpKind::kBatchNormalization) {
    if (!is_chain_batch_norm(head)) return false;
    ops.batch_norm = true;
    x = head.inputs[0];
    v = head.outputs[0];
    bn_params.assign(head.inputs.begin() + 1, head.inputs.end());
    epsilon = attrs_or_default<BatchNormAttrs>(head.attrs)->epsilon;
    ++k;
  }
  if (k < nodes.size() && graph_.node(nodes[k]).op == OpKind::kAdd) {
    const Node& add = graph_.node(nodes[k]);
    if (!is_chain_add(add)) return false;
    if (x == kNoValue) {
      x = add.inputs[0];
      other = add.inputs[1];
    } else {
      other = add.inputs[0] == v ? add.inputs[1] : add.inputs[0];
    }
    ops.add = true;
    v = add.outputs[0];
    ++k;
  }
  if (k < nodes.size()) {
    ops.activation = NanEltwise::of(graph_.node(nodes[k]));
    if (!ops.activation) return false;
    v = graph_.node(nodes[k]).outputs[0];
    ++k;
  }
  if (k != nodes.size() || x == kNoValue) return false;
  Md md = values_[static_cast<size_t>(x)].md;
  std::shared_ptr<onednn::PointwiseChain> chain = onednn::PointwiseChain::create(md, ops);
  if (!chain) {
    md = plain_md(shape_of(x));
    chain = onednn::PointwiseChain::create(md, ops);
    if (!chain) return false;
  }
  const memory src = input_as(step, s, x, md);
  const memory second = other != kNoValue ? input_as(step, s, other, md) : memory();
  const memory dst = define_output(s, v, md);
  if (ops.batch_norm) {  // the terms from the parameters, again whenever a fault rewrites one
    auto prepare = [this, chain, bn_params, epsilon]() {
      auto param = [&](size_t i) { return consts_[static_cast<size_t>(bn_params[i])].current.data<float>(); };
      std::vector<BatchNormTerms> terms(static_cast<size_t>(numel(shape_of(bn_params[0]))));
      for (size_t c = 0; c < terms.size(); ++c)
        terms[c] = batch_norm_terms(param(0)[c], param(1)[c], param(2)[c], param(3)[c], epsilon);
      chain->set_batch_norm(terms);
    };
    prepare();
    for (ValueId p : bn_params) add_prepare(p, prepare);
  }
  std::string names;
  for (NodeId n : nodes) names += std::string(names.empty() ? "" : " + ") + std::string(op_name(graph_.node(n).op));
  step.kernel = "NaN-exact " + names + " (aten's arithmetic)";
  Action action;
  action.fn = [chain, src, second, dst, threads = threads_]() {
    const float* x_data = static_cast<const float*>(src.get_data_handle());
    const float* other_data = second ? static_cast<const float*>(second.get_data_handle()) : nullptr;
    float* out = static_cast<float*>(dst.get_data_handle());
    const int64_t words = chain->images() * chain->image_words();
    auto part = [&](int64_t first, int64_t end) {
      chain->run(x_data + first, other_data ? other_data + first : nullptr, out + first, first, end - first);
    };
    if (words < ParallelEltwise::kSerialBelow) {
      part(0, words);
      return;
    }
    const int64_t per_image = chain->image_words();
    parallel_ranges(threads, chain->images(),
                    [&](int64_t first, int64_t end) { part(first * per_image, end * per_image); });
  };
  if (keep_values_ && step.actions.empty()) {
    std::vector<memory> inputs{src};
    if (second) inputs.push_back(second);
    step.window = onednn::elementwise_window_runner(
        inputs, dst,
        [chain, add = ops.add](const float* const* in, float* out, int64_t word, int64_t count) {
          chain->run(in[0], add ? in[1] : nullptr, out, word, count);
        },
        window_parallel());
  }
  step.actions.push_back(std::move(action));
  return true;
}

bool OnednnModel::compile_binary(int s, const std::vector<NodeId>& nodes, Step& step) {
  const Node& node = graph_.node(nodes[0]);
  const ValueId y = graph_.node(nodes.back()).outputs[0];
  const Shape& out_shape = shape_of(node.outputs[0]);
  const size_t rank = std::max<size_t>(out_shape.size(), 1);
  const memory::dims out_dims = to_dims(out_shape);
  ValueId a = node.inputs[0], b = node.inputs[1];
  const bool commutative = node.op == OpKind::kAdd || node.op == OpKind::kMul;
  auto is_full = [&](ValueId v) { return !is_const(v) && padded_dims(shape_of(v), rank) == out_dims; };
  if (!is_full(a)) {
    if (!commutative || !is_full(b)) return false;
    std::swap(a, b);
  }
  dnnl::algorithm algorithm = dnnl::algorithm::binary_add;
  if (node.op == OpKind::kSub) algorithm = dnnl::algorithm::binary_sub;
  if (node.op == OpKind::kMul) algorithm = dnnl::algorithm::binary_mul;
  if (node.op == OpKind::kDiv) algorithm = dnnl::algorithm::binary_div;

  const ValueState& a_state = values_[static_cast<size_t>(a)];
  const bool a_native = shape_of(a).size() == rank || (shape_of(a).empty() && rank == 1);
  const Md src0_md = a_native ? a_state.md : plain_md(out_dims);
  Md src1_md;
  if (is_full(b)) src1_md = src0_md;
  else src1_md = plain_md(padded_dims(shape_of(b), rank));

  dnnl::primitive_attr attr = user_attr();
  if (nodes.size() > 1) {
    const EltwiseSpec act = *eltwise_of(graph_.node(nodes[1]));
    dnnl::post_ops post_ops;
    post_ops.append_eltwise(1.0f, act.algorithm, act.alpha, act.beta);
    attr.set_post_ops(post_ops);
  }
  dnnl::binary::desc desc(algorithm, src0_md, src1_md, src0_md);
  dnnl::binary::primitive_desc pd(desc, attr, engine_);
  Action action;
  action.primitive = dnnl::binary(pd);
  if (a_native) {
    action.args[DNNL_ARG_SRC_0] = input_as(step, s, a, src0_md);
  } else {
    action.args[DNNL_ARG_SRC_0] = view_of(input_as(step, s, a, plain_md(shape_of(a))), src0_md);
  }
  if (is_const(b)) {
    action.args[DNNL_ARG_SRC_1] = constant_memory(b, src1_md);
  } else if (is_full(b)) {
    action.args[DNNL_ARG_SRC_1] = input_as(step, s, b, src1_md);
  } else {
    action.args[DNNL_ARG_SRC_1] = view_of(input_as(step, s, b, plain_md(shape_of(b))), src1_md);
  }
  action.args[DNNL_ARG_DST] = define_output(s, y, pd.dst_desc());
  attach_scratchpad(action, pd.scratchpad_desc());
  // Without post-ops, on equal layouts, each output word is the IEEE operation on the two input words.
  if (keep_values_ && nodes.size() == 1 && a_native && is_full(b) && step.actions.empty()) {
    const std::vector<memory> inputs{action.args[DNNL_ARG_SRC_0], action.args[DNNL_ARG_SRC_1]};
    auto apply = [op = node.op](const float* const* in, float* out, int64_t, int64_t count) {
      const float* a = in[0];
      const float* b = in[1];
      switch (op) {
        case OpKind::kAdd: for (int64_t i = 0; i < count; ++i) out[i] = a[i] + b[i]; break;
        case OpKind::kSub: for (int64_t i = 0; i < count; ++i) out[i] = a[i] - b[i]; break;
        case OpKind::kMul: for (int64_t i = 0; i < count; ++i) out[i] = a[i] * b[i]; break;
        default: for (int64_t i = 0; i < count; ++i) out[i] = a[i] / b[i]; break;
      }
    };
    step.window = onednn::elementwise_window_runner(inputs, action.args[DNNL_ARG_DST], apply, window_parallel());
  }
  step.actions.push_back(std::move(action));
  return true;
}

// --- pooling -------------------------------------------------------------------------------------------

bool OnednnModel::compile_pool(int s, const Node& node, Step& step) {
  const ValueId x = node.inputs[0], y = node.outputs[0];
  if (is_const(x) || node.outputs.size() != 1) return false;
  const Shape& x_shape = shape_of(x);
  const Shape& y_shape = shape_of(y);
  if (x_shape.size() < 3 || x_shape.size() > 5 || y_shape.size() != x_shape.size()) return false;
  const size_t spatial = x_shape.size() - 2;
  // oneDNN's max pooling returns a number for a window holding a NaN; aten returns NaN. Under propagate_nan
  // 2-D max pools run our own NaN-propagating kernel on the input's layout (others the reference kernel on
  // plain copies).
  if (propagate_nan_ && (node.op == OpKind::kMaxPool || node.op == OpKind::kGlobalMaxPool))
    return spatial == 2 && compile_nan_max_pool(s, node, step);
  memory::dims kernel(spatial), strides(spatial, 1), dilations(spatial, 0), pads_begin(spatial, 0), pads_end(spatial, 0);
  dnnl::algorithm algorithm;
  if (node.op == OpKind::kGlobalAveragePool || node.op == OpKind::kGlobalMaxPool) {
    for (size_t i = 0; i < spatial; ++i) kernel[i] = x_shape[2 + i];
    algorithm = node.op == OpKind::kGlobalMaxPool ? dnnl::algorithm::pooling_max
                                                  : dnnl::algorithm::pooling_avg_exclude_padding;
  } else {
    const PoolAttrs& attrs = *attrs_or_default<PoolAttrs>(node.attrs);
    if (attrs.kernel_shape.size() != spatial) return false;
    const bool is_max = node.op == OpKind::kMaxPool;
    bool overhang = false;
    for (size_t i = 0; i < spatial; ++i) {
      kernel[i] = attrs.kernel_shape[i];
      if (i < attrs.strides.size()) strides[i] = attrs.strides[i];
      if (i < attrs.dilations.size()) dilations[i] = attrs.dilations[i] - 1;
      if (i < attrs.pads.size()) pads_begin[i] = attrs.pads[i];
      if (spatial + i < attrs.pads.size()) pads_end[i] = attrs.pads[spatial + i];
      // ceil_mode: extend the right padding so that oneDNN's floor formula yields the planned output size.
      const int64_t extent = (kernel[i] - 1) * (dilations[i] + 1) + 1;
      const int64_t needed = (y_shape[2 + i] - 1) * strides[i] + extent - x_shape[2 + i] - pads_begin[i];
      if (needed > pads_end[i]) {
        pads_end[i] = needed;
        overhang = true;
      }
    }
    // With count_include_pad, ONNX divides an overhanging window by the taps inside input + pads; oneDNN
    // by the whole kernel. Those differ, so that case runs the reference kernel.
    if (!is_max && attrs.count_include_pad && overhang) return false;
    algorithm = is_max ? dnnl::algorithm::pooling_max
                       : attrs.count_include_pad ? dnnl::algorithm::pooling_avg_include_padding
                                                 : dnnl::algorithm::pooling_avg_exclude_padding;
  }
  const Md src_md = values_[static_cast<size_t>(x)].md;
  dnnl::pooling_v2_forward::desc desc(dnnl::prop_kind::forward_inference, algorithm, src_md, any_md(to_dims(y_shape)),
                                      strides, kernel, dilations, pads_begin, pads_end);
  dnnl::pooling_v2_forward::primitive_desc pd(desc, user_attr(), engine_);
  Action action;
  action.primitive = dnnl::pooling_v2_forward(pd);
  action.args[DNNL_ARG_SRC] = input_as(step, s, x, src_md);
  action.args[DNNL_ARG_DST] = define_output(s, y, pd.dst_desc());
  attach_scratchpad(action, pd.scratchpad_desc());
  const std::optional<std::pair<SlidingAxis, SlidingAxis>> axes = sliding_axes(graph_, graph_.value(y).producer);
  if (keep_values_ && spatial == 2 && axes && step.actions.empty()) {
    auto make_crop = [this, algorithm, strides, kernel, dilations](const Md& src, const Md& dst,
                                                                   const memory::dims& pads_begin,
                                                                   const memory::dims& pads_end) {
      dnnl::pooling_v2_forward::desc crop(dnnl::prop_kind::forward_inference, algorithm, src, dst, strides, kernel,
                                          dilations, pads_begin, pads_end);
      return dnnl::primitive_desc(dnnl::pooling_v2_forward::primitive_desc(crop, user_attr(), engine_));
    };
    step.window = onednn::crop_window_runner(engine_, pd, action.args, *axes, make_crop, crop_scratch_, window_parallel());
  }
  step.actions.push_back(std::move(action));
  return true;
}

bool OnednnModel::compile_nan_max_pool(int s, const Node& node, Step& step) {
  const ValueId x = node.inputs[0], y = node.outputs[0];
  const Shape& x_shape = shape_of(x);
  const Shape& y_shape = shape_of(y);
  std::pair<SlidingAxis, SlidingAxis> axes{{x_shape[2], 1, 1, 0, x_shape[2], 1}, {x_shape[3], 1, 1, 0, x_shape[3], 1}};
  if (node.op == OpKind::kMaxPool) {
    const std::optional<std::pair<SlidingAxis, SlidingAxis>> pool_axes = sliding_axes(graph_, graph_.value(y).producer);
    if (!pool_axes) return false;
    axes = *pool_axes;
  }
  const Md src_md = values_[static_cast<size_t>(x)].md;
  // A plain output, as the reference kernel's plain copies gave: the steps after the pool stay as they were.
  const Md dst_md = plain_md(to_dims(y_shape));
  if (axes.first.out != y_shape[2] || axes.second.out != y_shape[3]) return false;
  if (!onednn::kept_layout_of(src_md) || !onednn::kept_layout_of(dst_md)) return false;
  memory src = input_as(step, s, x, src_md);
  memory dst = define_output(s, y, dst_md);
  std::unique_ptr<onednn::NanMaxPool> pool = onednn::NanMaxPool::create(src, dst, axes, window_parallel());
  if (!pool) return false;  // (not reached: the layouts were checked above)
  Action action;
  action.fn = [pool = pool.get()] { pool->run_all(); };
  step.kernel = "NaN-preserving " + std::string(op_name(node.op));
  step.actions.push_back(std::move(action));
  step.window = std::move(pool);  // owns the kernel the action runs; window re-execution under keep_values
  return true;
}

// --- softmax, concat, gemm, matmul ---------------------------------------------------------------------

bool OnednnModel::compile_softmax(int s, const Node& node, Step& step) {
  const ValueId x = node.inputs[0], y = node.outputs[0];
  const SoftmaxAttrs* attrs = attrs_or_default<SoftmaxAttrs>(node.attrs);
  if (is_const(x) || !attrs) return false;
  // oneDNN's softmax gives 0 for the other elements of a row holding a NaN or +inf (and for a row with both
  // infinities); aten gives NaN for the whole row. Under propagate_nan it runs the reference kernel.
  if (propagate_nan_) return false;
  const Shape& shape = shape_of(x);
  const int64_t rank = static_cast<int64_t>(std::max<size_t>(shape.size(), 1));
  const std::optional<int64_t> axis = normalize_axis(attrs->axis, rank);
  if (!axis) return false;
  Md md = plain_md(shape);
  int softmax_axis = static_cast<int>(*axis);
  if (attrs->coerce_to_2d && *axis != rank - 1) {
    int64_t outer = 1, inner = 1;
    for (int64_t d = 0; d < rank; ++d) (d < *axis ? outer : inner) *= shape.empty() ? 1 : shape[static_cast<size_t>(d)];
    md = plain_md(memory::dims{outer, inner});
    softmax_axis = 1;
  }
  dnnl::softmax_forward::desc desc(dnnl::prop_kind::forward_inference, md, softmax_axis);
  dnnl::softmax_forward::primitive_desc pd(desc, user_attr(), engine_);
  Action action;
  action.primitive = dnnl::softmax_forward(pd);
  action.args[DNNL_ARG_SRC] = view_of(input_as(step, s, x, plain_md(shape)), md);
  action.args[DNNL_ARG_DST] = view_of(define_output(s, y, plain_md(shape_of(y))), md);
  attach_scratchpad(action, pd.scratchpad_desc());
  step.actions.push_back(std::move(action));
  return true;
}

bool OnednnModel::compile_concat(int s, const Node& node, Step& step) {
  const ConcatAttrs* attrs = attrs_or_default<ConcatAttrs>(node.attrs);
  const ValueId y = node.outputs[0];
  const int64_t rank = static_cast<int64_t>(shape_of(y).size());
  if (!attrs || rank == 0) return false;
  const std::optional<int64_t> axis = normalize_axis(attrs->axis, rank);
  if (!axis) return false;
  std::vector<Md> src_mds;
  std::vector<ValueId> srcs;
  for (ValueId v : node.inputs) {
    if (v == kNoValue || static_cast<int64_t>(shape_of(v).size()) != rank) return false;
    if (shape_of(v)[static_cast<size_t>(*axis)] == 0) continue;  // contributes nothing
    srcs.push_back(v);
    src_mds.push_back(is_const(v) ? plain_md(shape_of(v)) : values_[static_cast<size_t>(v)].md);
  }
  if (srcs.empty()) return false;
  dnnl::concat::primitive_desc pd(static_cast<int>(*axis), src_mds, engine_, user_attr());
  Action action;
  action.primitive = dnnl::concat(pd);
  std::vector<memory> inputs;
  bool all_values = true;
  for (size_t i = 0; i < srcs.size(); ++i) {
    inputs.push_back(input_as(step, s, srcs[i], src_mds[i]));
    action.args[DNNL_ARG_MULTIPLE_SRC + static_cast<int>(i)] = inputs.back();
    all_values = all_values && !is_const(srcs[i]);
  }
  action.args[DNNL_ARG_DST] = define_output(s, y, pd.dst_desc());
  attach_scratchpad(action, pd.scratchpad_desc());
  if (keep_values_ && rank == 4 && *axis == 1 && all_values && step.actions.empty())
    step.window = onednn::channel_concat_window_runner(inputs, action.args[DNNL_ARG_DST], window_parallel());
  step.actions.push_back(std::move(action));
  return true;
}

bool OnednnModel::compile_gemm(int s, const Node& node, Step& step) {
  const GemmAttrs* attrs = attrs_or_default<GemmAttrs>(node.attrs);
  const ValueId a = node.inputs[0], b = node.inputs[1], y = node.outputs[0];
  ValueId c = node.inputs.size() > 2 ? node.inputs[2] : kNoValue;
  if (!attrs || is_const(a) || shape_of(a).size() != 2 || shape_of(b).size() != 2) return false;
  const int64_t m = shape_of(y)[0], n = shape_of(y)[1];
  const int64_t k = attrs->trans_a ? shape_of(a)[0] : shape_of(a)[1];
  if (attrs->beta == 0.0f) c = kNoValue;
  if (!is_const(b) && attrs->alpha != 1.0f) return false;
  if (c != kNoValue && !is_const(c) && attrs->beta != 1.0f) return false;
  memory::dims c_dims;
  if (c != kNoValue) {
    if (shape_of(c).size() > 2) return false;
    c_dims = padded_dims(shape_of(c), 2);
    if ((c_dims[0] != 1 && c_dims[0] != m) || (c_dims[1] != 1 && c_dims[1] != n)) return false;
  }
  const Md src_md = attrs->trans_a ? Md({m, k}, kF32, memory::dims{1, m}) : plain_md(memory::dims{m, k});
  const Md b_user_md = attrs->trans_b ? Md({k, n}, kF32, memory::dims{1, k}) : plain_md(memory::dims{k, n});
  const Md weights_md = is_const(b) ? any_md({k, n}) : b_user_md;
  const Md bias_md = c != kNoValue ? plain_md(c_dims) : Md();
  const Md dst_md = plain_md(memory::dims{m, n});
  auto make_desc = [&]() {
    if (c != kNoValue) return dnnl::matmul::desc(src_md, weights_md, bias_md, dst_md);
    return dnnl::matmul::desc(src_md, weights_md, dst_md);
  };
  dnnl::matmul::primitive_desc pd(make_desc(), user_attr(), engine_);
  Action action;
  action.primitive = dnnl::matmul(pd);
  action.args[DNNL_ARG_SRC] = view_of(input_as(step, s, a, plain_md(shape_of(a))), src_md);
  if (is_const(b)) {
    memory weights = owned_memory(pd.weights_desc());
    const float alpha = attrs->alpha;
    auto prepare = [this, b, alpha, weights, b_user_md]() {
      const Tensor& t = consts_[static_cast<size_t>(b)].current;
      std::vector<float> scaled(t.data<float>(), t.data<float>() + t.numel());
      if (alpha != 1.0f)
        for (float& v : scaled) v = static_cast<float>(static_cast<double>(v) * alpha);
      memory user(b_user_md, engine_, scaled.data());
      reorder_now(user, weights);
    };
    prepare();
    add_prepare(b, prepare);
    action.args[DNNL_ARG_WEIGHTS] = weights;
  } else {
    action.args[DNNL_ARG_WEIGHTS] = view_of(input_as(step, s, b, plain_md(shape_of(b))), b_user_md);
  }
  if (c != kNoValue) {
    if (is_const(c)) {
      memory bias = owned_memory(bias_md);
      const float beta = attrs->beta;
      auto prepare = [this, c, beta, bias]() {
        const Tensor& t = consts_[static_cast<size_t>(c)].current;
        float* dst = static_cast<float*>(bias.get_data_handle());
        for (int64_t i = 0; i < t.numel(); ++i) dst[i] = static_cast<float>(static_cast<double>(t.data<float>()[i]) * beta);
      };
      prepare();
      add_prepare(c, prepare);
      action.args[DNNL_ARG_BIAS] = bias;
    } else {
      action.args[DNNL_ARG_BIAS] = view_of(input_as(step, s, c, plain_md(shape_of(c))), bias_md);
    }
  }
  action.args[DNNL_ARG_DST] = define_output(s, y, dst_md);
  attach_scratchpad(action, pd.scratchpad_desc());
  step.actions.push_back(std::move(action));
  return true;
}

bool OnednnModel::compile_matmul(int s, const Node& node, Step& step) {
  const ValueId a = node.inputs[0], b = node.inputs[1], y = node.outputs[0];
  const size_t rank = shape_of(y).size();
  if (is_const(a) || shape_of(a).size() < 2 || shape_of(b).size() < 2 || rank < 2) return false;
  const Md src_md = plain_md(padded_dims(shape_of(a), rank));
  const Md weights_md = plain_md(padded_dims(shape_of(b), rank));
  const Md dst_md = plain_md(shape_of(y));
  dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(src_md, weights_md, dst_md), user_attr(), engine_);
  Action action;
  action.primitive = dnnl::matmul(pd);
  action.args[DNNL_ARG_SRC] = view_of(input_as(step, s, a, plain_md(shape_of(a))), src_md);
  action.args[DNNL_ARG_WEIGHTS] = is_const(b) ? constant_memory(b, weights_md)
                                              : view_of(input_as(step, s, b, plain_md(shape_of(b))), weights_md);
  action.args[DNNL_ARG_DST] = define_output(s, y, dst_md);
  attach_scratchpad(action, pd.scratchpad_desc());
  step.actions.push_back(std::move(action));
  return true;
}

// --- data movement -------------------------------------------------------------------------------------

// Reshape / Flatten / Identity: plain order is unchanged by a reshape, so the output aliases the input's
// buffer when nobody else reads the input; a blocked input is reordered straight into the output.
bool OnednnModel::compile_reshape(int s, const Node& node, Step& step) {
  const ValueId x = node.inputs[0], y = node.outputs[0];
  if (is_const(x) || node.outputs.size() != 1) return false;
  const ValueState& x_state = values_[static_cast<size_t>(x)];
  const Md y_md = plain_md(shape_of(y));
  if (is_plain(x_state.md)) {
    alias_or_copy(s, x, y, y_md, step);
    return true;
  }
  use_buffer(x_state.buffer, s);
  memory dst = define_output(s, y, y_md);
  step.kernel = "reorder to plain";
  step.actions.push_back(reorder_action(x_state.mem, view_of(dst, plain_md(x_state.md.dims()))));
  return true;
}

// y holds x's bytes unchanged, described by y_md: an alias of x's buffer when nobody else reads x (and x is
// no graph input or output), else a copy.
void OnednnModel::alias_or_copy(int s, ValueId x, ValueId y, const Md& y_md, Step& step) {
  const ValueState& x_state = values_[static_cast<size_t>(x)];
  const size_t i = static_cast<size_t>(x);
  if (!keep_values_ && !is_graph_input_[i] && !is_graph_output_[i] && graph_.value(x).consumers.size() == 1) {
    step.kernel = "alias";
    alias_output(s, y, y_md, x_state.buffer);
    return;
  }
  use_buffer(x_state.buffer, s);
  memory src = x_state.mem;
  memory dst = define_output(s, y, y_md);
  step.kernel = "copy";
  const size_t bytes = y_md.get_size();
  Action action;
  action.fn = [src, dst, bytes]() { std::memcpy(dst.get_data_handle(), src.get_data_handle(), bytes); };
  step.actions.push_back(std::move(action));
}

// Slice / Pad / Transpose chains as one gather on the input's own layout (see onednn_gather.h).
bool OnednnModel::compile_gather(int s, const std::vector<NodeId>& nodes, Step& step) {
  const ValueId x = graph_.node(nodes[0]).inputs[0];
  const ValueId y = graph_.node(nodes.back()).outputs[0];
  if (is_const(x)) return false;
  // Walk back from y: for each output axis, the axis and index it reads in the chain's input.
  const size_t rank = shape_of(y).size();
  if (rank == 0 || shape_of(x).size() != rank) return false;
  std::vector<AxisGather> axes(rank);
  for (size_t d = 0; d < rank; ++d) {
    axes[d].src_axis = static_cast<int>(d);
    axes[d].src_index.resize(static_cast<size_t>(shape_of(y)[d]));
    for (int64_t i = 0; i < shape_of(y)[d]; ++i) axes[d].src_index[static_cast<size_t>(i)] = i;
  }
  float pad_value = 0.0f;
  bool transposed = false;
  for (size_t k = nodes.size(); k-- > 0;) {
    const Node& n = graph_.node(nodes[k]);
    const Shape& in_shape = shape_of(n.inputs[0]);
    const Shape& out_shape = shape_of(n.outputs[0]);
    if (in_shape.size() != rank || out_shape.size() != rank) return false;
    // Per axis of n's output: the axis of n's input it reads and the index map.
    std::vector<AxisGather> node_axes(rank);
    if (n.op == OpKind::kSlice) {
      Result<std::vector<SliceAxisRange>> ranges = resolve_slice(in_shape, *attrs_or_default<SliceAttrs>(n.attrs));
      if (!ranges.is_ok()) return false;
      for (size_t d = 0; d < rank; ++d) {
        const SliceAxisRange& r = (*ranges)[d];
        if (r.count != out_shape[d]) return false;
        node_axes[d].src_axis = static_cast<int>(d);
        for (int64_t i = 0; i < r.count; ++i) node_axes[d].src_index.push_back(r.start + i * r.step);
      }
    } else if (n.op == OpKind::kPad) {
      const PadAttrs& attrs = *attrs_or_default<PadAttrs>(n.attrs);
      if (attrs.pads.size() != 2 * rank) return false;
      pad_value = attrs.value;
      for (size_t d = 0; d < rank; ++d) {
        const int64_t size = in_shape[d], begin = attrs.pads[d];
        if (out_shape[d] != size + begin + attrs.pads[d + rank]) return false;
        if (size == 0 && attrs.mode != PadMode::kConstant && out_shape[d] > 0) return false;
        node_axes[d].src_axis = static_cast<int>(d);
        for (int64_t o = 0; o < out_shape[d]; ++o) {
          const int64_t p = o - begin;
          int64_t src = p;
          if (p < 0 || p >= size) {
            if (attrs.mode == PadMode::kConstant) src = -1;
            else if (attrs.mode == PadMode::kEdge) src = p < 0 ? 0 : size - 1;
            else if (size == 1) src = 0;
            else {
              const int64_t period = 2 * (size - 1);
              int64_t folded = p % period;
              if (folded < 0) folded += period;
              src = folded < size ? folded : period - folded;
            }
          }
          node_axes[d].src_index.push_back(src);
        }
      }
    } else {
      const TransposeAttrs* attrs = attrs_or_default<TransposeAttrs>(n.attrs);
      if (!attrs) return false;
      std::vector<int64_t> perm = attrs->perm;
      if (perm.empty())
        for (size_t d = rank; d-- > 0;) perm.push_back(static_cast<int64_t>(d));
      if (perm.size() != rank) return false;
      for (size_t d = 0; d < rank; ++d) {
        const std::optional<int64_t> axis = normalize_axis(perm[d], static_cast<int64_t>(rank));
        if (!axis || in_shape[static_cast<size_t>(*axis)] != out_shape[d]) return false;
        node_axes[d].src_axis = static_cast<int>(*axis);
        for (int64_t i = 0; i < out_shape[d]; ++i) node_axes[d].src_index.push_back(i);
      }
      transposed = true;
    }
    // Compose: y axis d reads n's output axis axes[d].src_axis, which reads n's input through node_axes.
    for (AxisGather& axis : axes) {
      const AxisGather& through = node_axes[static_cast<size_t>(axis.src_axis)];
      for (int64_t& index : axis.src_index)
        if (index >= 0) index = through.src_index[static_cast<size_t>(index)];
      axis.src_axis = through.src_axis;
    }
  }
  const ValueState& x_state = values_[static_cast<size_t>(x)];
  bool identity = shape_of(x) == shape_of(y);  // e.g. a Pad with all-zero pads (exporters emit them)
  for (size_t d = 0; identity && d < rank; ++d) {
    identity = axes[d].src_axis == static_cast<int>(d);
    for (int64_t i = 0; identity && i < shape_of(y)[d]; ++i) identity = axes[d].src_index[static_cast<size_t>(i)] == i;
  }
  if (identity) {
    alias_or_copy(s, x, y, x_state.md, step);
    return true;
  }
  Md src_md = x_state.md;
  if (!onednn::describe_layout(src_md)) src_md = plain_md(shape_of(x));
  const Md dst_md = transposed ? plain_md(shape_of(y)) : onednn::same_format(src_md, to_dims(shape_of(y)));
  std::optional<GatherKernel> kernel = GatherKernel::create(src_md, dst_md, axes, pad_value);
  if (!kernel) return false;
  memory src = input_as(step, s, x, src_md);
  memory dst = define_output(s, y, dst_md);
  step.kernel = "layout-native gather";
  Action action;
  action.fn = [kernel = std::move(*kernel), src, dst, threads = threads_]() {
    ParallelGather{&kernel, static_cast<const float*>(src.get_data_handle()), static_cast<float*>(dst.get_data_handle())}
        .run(threads);
  };
  step.actions.push_back(std::move(action));
  return true;
}

// Any node: its reference kernel on plain copies of its inputs.
void OnednnModel::compile_reference(int s, NodeId id, Step& step) {
  const Node& node = graph_.node(id);
  auto call = std::make_shared<ReferenceCall>();
  call->node = id;
  call->views.reserve(node.inputs.size() + node.outputs.size());
  std::vector<std::pair<memory, Shape>> input_memories, output_memories;
  for (ValueId v : node.inputs) {
    if (v == kNoValue || is_const(v)) continue;
    input_memories.emplace_back(input_as(step, s, v, plain_md(shape_of(v))), shape_of(v));
  }
  for (ValueId v : node.outputs) output_memories.emplace_back(define_output(s, v, plain_md(shape_of(v))), shape_of(v));
  finalizers_.push_back([this, call, input_memories, output_memories]() {
    const Node& n = graph_.node(call->node);
    size_t next_input = 0;
    for (ValueId v : n.inputs) {
      if (v == kNoValue) {
        call->inputs.push_back(nullptr);
      } else if (is_const(v)) {
        call->inputs.push_back(&consts_[static_cast<size_t>(v)].current);
      } else {
        const auto& [mem, shape] = input_memories[next_input++];
        call->views.push_back(Tensor::view(DType::kFloat32, shape, mem.get_data_handle()));
        call->inputs.push_back(&call->views.back());
      }
    }
    for (const auto& [mem, shape] : output_memories) {
      call->views.push_back(Tensor::view(DType::kFloat32, shape, mem.get_data_handle()));
      call->outputs.push_back(&call->views.back());
    }
  });
  Action action;
  action.fn = [this, call]() {
    const Status status = run_reference_node(graph_.node(call->node), call->inputs, call->outputs);
    if (!status.is_ok() && run_error_.is_ok())
      run_error_ = status.with_context("onednn backend: reference fallback for " + graph_.describe(call->node));
  };
  step.actions.push_back(std::move(action));
}

// --- reading and writing values ------------------------------------------------------------------------

Status OnednnModel::value_error(ValueId id) const {
  const ValueState& state = values_[static_cast<size_t>(id)];
  if (state.kind == ValueKind::kFusedAway) {
    std::string nodes;
    for (NodeId n : steps_[static_cast<size_t>(state.step)].info.nodes) {
      if (!nodes.empty()) nodes += " + ";
      nodes += graph_.describe(n);
    }
    return invalid_argument("onednn backend: value " + value_name(id) + " does not exist: it was fused away inside step " +
                            std::to_string(state.step) + " (" + nodes +
                            "); list it in PlanOptions.observable (or plan with fuse = false) to read or write it");
  }
  return not_found("onednn backend: value " + value_name(id) + " is not computed by this plan");
}

Status OnednnModel::read_value(ValueId id, Tensor& dst) {
  if (!run_error_.is_ok()) return run_error_;
  if (id < 0 || static_cast<size_t>(id) >= values_.size())
    return out_of_range("onednn backend: no value with id " + std::to_string(id));
  ValueState& state = values_[static_cast<size_t>(id)];
  const Value& value = graph_.value(id);
  if (state.kind == ValueKind::kConstant) {
    return consts_[static_cast<size_t>(id)].current.copy_to(dst, "onednn backend: cannot read " + value_name(id));
  }
  if (state.kind != ValueKind::kBuffer) return value_error(id);
  FL_RETURN_IF_ERROR(
      Tensor::prepare_destination(dst, DType::kFloat32, value.shape, "onednn backend: cannot read " + value_name(id)));
  if (is_plain(state.md)) {
    std::memcpy(dst.raw(), value_data(state), dst.nbytes());
    return Status::ok();
  }
  apply_threads(threads_);
  const Md dst_md = plain_md(state.md.dims());
  if (!state.to_plain) state.to_plain = dnnl::reorder(dnnl::reorder::primitive_desc(engine_, state.md, engine_, dst_md));
  memory dst_mem(dst_md, engine_, dst.raw());
  state.to_plain.execute(stream_, {{DNNL_ARG_FROM, state.mem}, {DNNL_ARG_TO, dst_mem}});
  stream_.wait();
  return Status::ok();
}

Result<bool> OnednnModel::patch_value_words(ValueId id, std::span<const WordPatch> patches) {
  if (id < 0 || static_cast<size_t>(id) >= values_.size())
    return out_of_range("onednn backend: no value with id " + std::to_string(id));
  if (values_[static_cast<size_t>(id)].kind != ValueKind::kConstant) return false;  // buffers: value_storage
  ConstState& c = consts_[static_cast<size_t>(id)];
  const int64_t count = c.current.numel();
  for (const WordPatch& p : patches)
    if (p.element < 0 || p.element >= count)
      return out_of_range("onednn backend: element " + std::to_string(p.element) + " is outside " + value_name(id) +
                          " " + shape_to_string(c.current.shape()));
  if (!c.owned) {  // (shares the graph's bytes until written)
    c.current = c.current.clone();
    c.owned = true;
  }
  const size_t word = dtype_size(c.current.dtype());
  auto* bytes = static_cast<std::byte*>(c.current.raw());
  for (const WordPatch& p : patches) apply_word_patch(bytes + static_cast<size_t>(p.element) * word, word, p);
  apply_threads(threads_);
  for (auto& prepare : c.prepare) prepare();
  return true;
}

Status OnednnModel::write_value(ValueId id, const Tensor& src) {
  if (id < 0 || static_cast<size_t>(id) >= values_.size())
    return out_of_range("onednn backend: no value with id " + std::to_string(id));
  ValueState& state = values_[static_cast<size_t>(id)];
  const Value& value = graph_.value(id);
  const Shape& expected = state.kind == ValueKind::kConstant ? value.constant.shape() : value.shape;
  if (state.kind == ValueKind::kBuffer || state.kind == ValueKind::kConstant) {
    // A constant keeps its stored dtype (a float16/int8 weight decoded at run time); buffers are float32.
    const DType dtype = state.kind == ValueKind::kConstant ? value.constant.dtype() : DType::kFloat32;
    if (src.dtype() != dtype || src.shape() != expected)
      return invalid_argument("onednn backend: cannot write a " + std::string(dtype_name(src.dtype())) + " " +
                              shape_to_string(src.shape()) + " tensor into " + value_name(id) + " (" +
                              std::string(dtype_name(dtype)) + " " + shape_to_string(expected) + ")");
  }
  apply_threads(threads_);
  if (state.kind == ValueKind::kConstant) {
    // A weight fault: the new logical values, then every prepared copy (reordered / folded) re-derived.
    ConstState& c = consts_[static_cast<size_t>(id)];
    if (!c.owned) {
      c.current = src.clone();
      c.owned = true;
    } else {
      std::memcpy(c.current.raw(), src.raw(), src.nbytes());
    }
    for (auto& prepare : c.prepare) prepare();
    return Status::ok();
  }
  if (state.kind != ValueKind::kBuffer) return value_error(id);
  if (is_plain(state.md)) {
    std::memcpy(value_data(state), src.raw(), src.nbytes());
    return Status::ok();
  }
  const Md src_md = plain_md(state.md.dims());
  if (!state.from_plain)
    state.from_plain = dnnl::reorder(dnnl::reorder::primitive_desc(engine_, src_md, engine_, state.md));
  memory src_mem(src_md, engine_, const_cast<void*>(src.raw()));
  state.from_plain.execute(stream_, {{DNNL_ARG_FROM, src_mem}, {DNNL_ARG_TO, state.mem}});
  stream_.wait();
  return Status::ok();
}

// --- the backend ---------------------------------------------------------------------------------------

class OnednnBackend final : public Backend {
 public:
  std::string_view name() const override { return "onednn"; }
  Status check_support(const Graph& graph, NodeId id) const override {
    if (id < 0 || static_cast<size_t>(id) >= graph.nodes().size())
      return out_of_range("onednn backend: no node with id " + std::to_string(id));
    return check_node_support(graph, id);
  }
  Result<std::unique_ptr<CompiledModel>> compile(const Graph& graph, const PlanOptions& options) const override {
    auto model = std::make_unique<OnednnModel>(graph, options);
    try {
      FL_RETURN_IF_ERROR(model->build());
    } catch (const dnnl::error& e) {
      return internal_error(std::string("onednn backend: ") + e.what());
    }
    return std::unique_ptr<CompiledModel>(std::move(model));
  }
};

}  // namespace

std::unique_ptr<Backend> make_onednn_backend() { return std::make_unique<OnednnBackend>(); }

}  // namespace faultline
