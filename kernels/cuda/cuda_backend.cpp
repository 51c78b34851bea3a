#include "kernels/cuda/cuda_backend.h"

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <mutex>
#include <string_view>

#include "engine/buffer_plan.h"
#include "kernels/cuda/cuda_kernels.h"
#include "kernels/cuda/cuda_plan.h"
#include "kernels/cuda/device_word_patch.h"
#include "kernels/reference/batch_norm_fold.h"
#include "kernels/reference/batch_norm_terms.h"
#include "kernels/reference/reference_ops.h"

namespace faultline {

namespace {

using cuda_plan::PlannedStep;
using cuda_plan::StepKind;

static_assert(CUDNN_CONVOLUTION_FWD_ALGO_DIRECT == 3 && CUDNN_CONVOLUTION_FWD_ALGO_FFT == 4,
              "cuda_plan::choose_conv_algorithm assumes cuDNN's algorithm numbering");

constexpr size_t kArenaAlignment = 256;
constexpr size_t kMaxWorkspaceBytes = size_t{1} << 30;

bool env_flag(const char* name) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' && std::string_view(value) != "0";
}

// --- errors: one line naming what failed and the library's own status string ---------------------------

Status cuda_status(cudaError_t error, const std::string& what) {
  if (error == cudaSuccess) return Status::ok();
  return internal_error("cuda backend: " + what + ": " + cudaGetErrorName(error) + " (" + cudaGetErrorString(error) +
                        ")");
}
Status cudnn_status(cudnnStatus_t status, const std::string& what) {
  if (status == CUDNN_STATUS_SUCCESS) return Status::ok();
  return internal_error("cuda backend: " + what + ": " + cudnnGetErrorString(status));
}
Status cublas_status(cublasStatus_t status, const std::string& what) {
  if (status == CUBLAS_STATUS_SUCCESS) return Status::ok();
  return internal_error("cuda backend: " + what + ": " + cublasGetStatusString(status));
}
Status launch_status(int error, const std::string& what) { return cuda_status(static_cast<cudaError_t>(error), what); }

// --- device resources ------------------------------------------------------------------------------------

struct DeviceFree {
  void operator()(void* p) const { cudaFree(p); }
};
using DeviceBuffer = std::unique_ptr<void, DeviceFree>;

Result<DeviceBuffer> device_alloc(size_t bytes, const std::string& what) {
  void* p = nullptr;
  FL_RETURN_IF_ERROR(cuda_status(cudaMalloc(&p, std::max<size_t>(bytes, kArenaAlignment)),
                                 "cudaMalloc of " + std::to_string(bytes) + " bytes for " + what));
  return DeviceBuffer(p);
}

struct TensorDescFree {
  void operator()(cudnnTensorStruct* d) const { cudnnDestroyTensorDescriptor(d); }
};
struct FilterDescFree {
  void operator()(cudnnFilterStruct* d) const { cudnnDestroyFilterDescriptor(d); }
};
struct ConvDescFree {
  void operator()(cudnnConvolutionStruct* d) const { cudnnDestroyConvolutionDescriptor(d); }
};
struct ActivationDescFree {
  void operator()(cudnnActivationStruct* d) const { cudnnDestroyActivationDescriptor(d); }
};

// Everything one convolution step needs at run time.
struct ConvResources {
  std::unique_ptr<cudnnTensorStruct, TensorDescFree> x, y, bias;
  std::unique_ptr<cudnnFilterStruct, FilterDescFree> w;
  std::unique_ptr<cudnnConvolutionStruct, ConvDescFree> conv;
  std::unique_ptr<cudnnActivationStruct, ActivationDescFree> relu;
  cudnnConvolutionFwdAlgo_t algo = CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM;
  size_t workspace = 0;
  DeviceBuffer prepared_w, prepared_b;  // folded / uploaded weights and bias (when constant)
  std::vector<float> host_w, host_b;    // their host staging, alive while an upload may read it
};

enum class ValueKind : uint8_t { kNone, kConstant, kBuffer, kFusedAway };

struct ConstState {
  Tensor current;  // logical values the device copies derive from (shares the graph's bytes until written)
  bool owned = false;
  DeviceBuffer device;  // the plain upload, made on first use by a GPU step
  std::vector<std::function<Status()>> prepare;  // re-derive every device copy from `current`
};

struct Step {
  StepInfo info;
  std::vector<std::function<Status()>> actions;  // enqueue on the model's stream
  std::string kernel;                            // for FAULTLINE_CUDA_VERBOSE and errors
  // FAULTLINE_CUDA_PROFILE: events around the step's last run, whether it ran since the last collection, and
  // the milliseconds and runs collected.
  cudaEvent_t started = nullptr, finished = nullptr;
  bool timed = false;
  double milliseconds = 0;
  int64_t runs = 0;
};

// Golden slots and kept-value copies and comparisons for the incremental executor, on the model's stream
// (CompiledModel::kept_device). A failing CUDA call is recorded through `fail` (the model's run error, which
// its next read_value reports).
class CudaKeptDevice final : public KeptDevice {
 public:
  CudaKeptDevice(cudaStream_t stream, std::function<void(Status)> fail) : stream_(stream), fail_(std::move(fail)) {}
  ~CudaKeptDevice() override {
    if (flag_ != nullptr) cudaFree(flag_);
    if (host_flag_ != nullptr) cudaFreeHost(host_flag_);
  }
  std::byte* allocate(size_t bytes) override {
    Result<DeviceBuffer> slot = device_alloc(bytes, "a golden slot");
    if (!slot.is_ok()) {
      cudaGetLastError();  // an allocation failure is not sticky: clear it
      return nullptr;
    }
    return static_cast<std::byte*>(slot->release());
  }
  void release(std::byte* memory) override { cudaFree(memory); }
  void copy(std::byte* to, const std::byte* from, size_t bytes) override {
    if (bytes > 0) check(cuda_status(cudaMemcpyAsync(to, from, bytes, cudaMemcpyDeviceToDevice, stream_), "copying kept bytes"));
  }
  bool differ(const std::byte* a, const std::byte* b, size_t bytes) override {
    if (bytes == 0) return false;
    if (flag_ == nullptr) {
      if (!check(cuda_status(cudaMalloc(&flag_, sizeof(int)), "cudaMalloc of the comparison flag")) ||
          !check(cuda_status(cudaMallocHost(&host_flag_, sizeof(int)), "cudaMallocHost of the comparison flag")))
        return true;
    }
    return !check(cuda_status(cudaMemsetAsync(flag_, 0, sizeof(int), stream_), "clearing the comparison flag")) ||
           !check(launch_status(cuda_detail::launch_bytes_differ(a, b, bytes, flag_, stream_), "comparison kernel")) ||
           !check(cuda_status(cudaMemcpyAsync(host_flag_, flag_, sizeof(int), cudaMemcpyDeviceToHost, stream_),
                              "reading the comparison flag")) ||
           !check(cuda_status(cudaStreamSynchronize(stream_), "comparing kept bytes")) || *host_flag_ != 0;
  }

 private:
  bool check(const Status& status) {
    if (!status.is_ok()) fail_(status);
    return status.is_ok();
  }
  cudaStream_t stream_;
  std::function<void(Status)> fail_;
  int* flag_ = nullptr;
  int* host_flag_ = nullptr;
};

class CudaModel final : public CompiledModel {
 public:
  CudaModel(const Graph& graph, const PlanOptions& options)
      : graph_(graph),
        options_(options),
        allow_tf32_(cuda_plan::tf32_allowed_by_environment()),
        sync_each_step_(env_flag("FAULTLINE_CUDA_SYNC")),
        profile_(env_flag("FAULTLINE_CUDA_PROFILE")),
        conv_search_(std::getenv("FAULTLINE_CUDA_CONV_SEARCH") == nullptr || env_flag("FAULTLINE_CUDA_CONV_SEARCH")),
        conv_search_faults_(std::getenv("FAULTLINE_CUDA_CONV_SEARCH") != nullptr &&
                            std::string_view(std::getenv("FAULTLINE_CUDA_CONV_SEARCH")) == "all") {}

  ~CudaModel() override {
    if (stream_ != nullptr) cudaStreamSynchronize(stream_);
    if (profile_) print_profile();
    kept_device_.reset();
    for (Step& step : steps_) {
      if (step.started != nullptr) cudaEventDestroy(step.started);
      if (step.finished != nullptr) cudaEventDestroy(step.finished);
    }
    steps_.clear();
    consts_.clear();
    if (cublas_ != nullptr) cublasDestroy(cublas_);
    if (cudnn_ != nullptr) cudnnDestroy(cudnn_);
    arena_.reset();
    workspace_.reset();
    if (stream_ != nullptr) cudaStreamDestroy(stream_);
  }

  Status build();

  const Graph& graph() const override { return graph_; }
  size_t num_steps() const override { return steps_.size(); }
  const StepInfo& step(size_t index) const override { return steps_[index].info; }

  void run_step(size_t index) override {
    if (index == 0) run_error_ = Status::ok();
    if (!run_error_.is_ok()) return;
    Step& step = steps_[index];
    if (profile_) cudaEventRecord(step.started, stream_);
    for (auto& action : step.actions) {
      Status status = action();
      if (status.is_ok() && sync_each_step_) status = cuda_status(cudaStreamSynchronize(stream_), "the step's kernels");
      if (!status.is_ok()) {
        run_error_ = status.with_context("step " + std::to_string(index) + " (" + describe_step(step) + ")");
        return;
      }
    }
    if (profile_) {
      cudaEventRecord(step.finished, stream_);
      step.timed = true;
    }
  }

  Status write_value(ValueId id, const Tensor& src) override;
  Status read_value(ValueId id, Tensor& dst) override;
  // keep_values: every value's device buffer, for the incremental executor through kept_device().
  std::span<std::byte> kept_storage(ValueId id) override {
    if (!options_.keep_values || id < 0 || static_cast<size_t>(id) >= kind_.size() ||
        kind_[static_cast<size_t>(id)] != ValueKind::kBuffer)
      return {};
    const Value& value = graph_.value(id);
    return {static_cast<std::byte*>(buffer(id)), static_cast<size_t>(numel(value.shape)) * dtype_size(value.dtype)};
  }
  KeptDevice* kept_device() override { return kept_device_.get(); }
  // Activation faults: the words patched in the value's device buffer by a kernel on the stream.
  Result<bool> patch_value_words(ValueId id, std::span<const WordPatch> patches) override;

 private:
  std::string describe_step(const Step& step) const {
    std::string nodes;
    for (NodeId n : step.info.nodes) nodes += (nodes.empty() ? "" : " + ") + graph_.describe(n);
    return nodes + ", " + step.kernel;
  }
  bool is_const(ValueId v) const { return v != kNoValue && graph_.value(v).is_constant(); }
  const Shape& shape_of(ValueId v) const {
    return is_const(v) ? graph_.value(v).constant.shape() : graph_.value(v).shape;
  }
  std::string value_name(ValueId v) const { return "value '" + graph_.value(v).name + "'"; }
  Status value_error(ValueId id) const;

  // The device pointer a GPU step reads for `v`: its arena buffer, or the constant's resident upload.
  Result<void*> operand(ValueId v);
  void* buffer(ValueId v) const { return value_ptr_[static_cast<size_t>(v)]; }
  // Registers `prepare` on each constant of `sources` and runs it once.
  Status add_prepare(const std::vector<ValueId>& sources, std::function<Status()> prepare);
  Status upload(void* device, const void* host, size_t bytes, const std::string& what) {
    return cuda_status(cudaMemcpyAsync(device, host, bytes, cudaMemcpyHostToDevice, stream_), what);
  }

  Status plan_memory(const std::vector<PlannedStep>& plan);
  Status build_step(const PlannedStep& planned, Step& step);
  Status build_conv(const PlannedStep& planned, Step& step);
  Result<std::vector<cudnnConvolutionFwdAlgoPerf_t>> conv_candidates(const ConvResources& r,
                                                                     const cuda_plan::ConvShape& s, bool tf32,
                                                                     bool search);
  Status build_affine(const PlannedStep& planned, Step& step);
  Status build_gemm(const PlannedStep& planned, Step& step);
  Status build_matmul(const PlannedStep& planned, Step& step);
  Status build_concat(const PlannedStep& planned, Step& step);
  void build_reference(const PlannedStep& planned, Step& step);

  Graph graph_;
  PlanOptions options_;
  bool allow_tf32_ = false;
  bool sync_each_step_ = false;
  // FAULTLINE_CUDA_PROFILE=1: each step's time between two events, summed at every synchronisation of
  // read_value, printed per step and per kernel at the model's end.
  bool profile_ = false;
  bool conv_search_ = true;  // clean inference plans time cuDNN's algorithms (conv_candidates)
  // FAULTLINE_CUDA_CONV_SEARCH=all: fault plans too (among the direct algorithms): faster where cuDNN's
  // heuristics rank a slow one first, but a rerun may time another algorithm and round otherwise.
  bool conv_search_faults_ = false;
  void collect_profile();
  void print_profile();
  cudaStream_t stream_ = nullptr;
  cudnnHandle_t cudnn_ = nullptr;
  cublasHandle_t cublas_ = nullptr;
  DeviceBuffer arena_, workspace_;
  size_t arena_bytes_ = 0, workspace_bytes_ = 0;
  std::vector<ValueKind> kind_;
  std::vector<int> value_step_;    // the producing (or absorbing) step of a value
  std::vector<void*> value_ptr_;   // device pointer of a kBuffer value
  std::vector<ConstState> consts_;
  std::vector<Step> steps_;
  Status run_error_;
  std::unique_ptr<CudaKeptDevice> kept_device_;  // with keep_values
};

// --- memory ----------------------------------------------------------------------------------------------

Status CudaModel::plan_memory(const std::vector<PlannedStep>& plan) {
  const size_t count = graph_.values().size();
  kind_.assign(count, ValueKind::kNone);
  value_step_.assign(count, -1);
  value_ptr_.assign(count, nullptr);
  std::vector<int> first(count, -1), last(count, -1);
  auto touch = [&](ValueId v, int s) {
    const size_t i = static_cast<size_t>(v);
    if (first[i] < 0 || s < first[i]) first[i] = s;
    last[i] = std::max(last[i], s);
  };
  for (size_t i = 0; i < count; ++i)
    if (graph_.values()[i].is_constant()) kind_[i] = ValueKind::kConstant;
  // Graph inputs keep their buffers for the whole pass: the plan can run again on the inputs it holds
  // (faultline bench --resident).
  const int final_step = static_cast<int>(plan.size());
  for (ValueId v : graph_.inputs())
    if (!is_const(v)) touch(v, 0), touch(v, final_step);
  for (size_t s = 0; s < plan.size(); ++s) {
    const PlannedStep& step = plan[s];
    for (size_t k = 0; k < step.nodes.size(); ++k) {
      const Node& node = graph_.node(step.nodes[k]);
      for (ValueId v : node.inputs)
        if (v != kNoValue && !is_const(v) && kind_[static_cast<size_t>(v)] != ValueKind::kFusedAway)
          touch(v, static_cast<int>(s));
      for (ValueId v : node.outputs) {
        value_step_[static_cast<size_t>(v)] = static_cast<int>(s);
        if (k + 1 < step.nodes.size()) {
          kind_[static_cast<size_t>(v)] = ValueKind::kFusedAway;
        } else {
          touch(v, static_cast<int>(s));
        }
      }
    }
  }
  for (ValueId v : graph_.outputs())
    if (!is_const(v)) touch(v, final_step);
  std::vector<ValueId> buffered;
  std::vector<BufferRequest> requests;
  for (size_t i = 0; i < count; ++i) {
    if (kind_[i] != ValueKind::kNone || first[i] < 0) continue;
    const Value& value = graph_.values()[i];
    Result<int64_t> elements = checked_numel(value.shape);
    if (!value.shape_known || !elements.is_ok())
      return invalid_argument("cuda backend: " + value_name(static_cast<ValueId>(i)) + " has no static shape " +
                              shape_to_string(value.shape) + " (run specialize() first)");
    buffered.push_back(static_cast<ValueId>(i));
    // keep_values: every value lives to the end, in a buffer of its own.
    requests.push_back({static_cast<size_t>(*elements) * dtype_size(value.dtype), first[i],
                        options_.keep_values ? final_step + 1 : last[i]});
  }
  const BufferPlan buffers = plan_buffers(requests, kArenaAlignment);
  arena_bytes_ = buffers.total_bytes;
  FL_ASSIGN_OR_RETURN(arena_, device_alloc(arena_bytes_, "the value arena"));
  FL_RETURN_IF_ERROR(cuda_status(cudaMemsetAsync(arena_.get(), 0, std::max<size_t>(arena_bytes_, 1), stream_),
                                 "clearing the value arena"));
  for (size_t i = 0; i < buffered.size(); ++i) {
    kind_[static_cast<size_t>(buffered[i])] = ValueKind::kBuffer;
    value_ptr_[static_cast<size_t>(buffered[i])] = static_cast<char*>(arena_.get()) + buffers.offsets[i];
  }
  return Status::ok();
}

Result<void*> CudaModel::operand(ValueId v) {
  if (v == kNoValue) return static_cast<void*>(nullptr);
  const size_t i = static_cast<size_t>(v);
  if (kind_[i] == ValueKind::kBuffer) return buffer(v);
  if (kind_[i] != ValueKind::kConstant) return internal_error("cuda backend: " + value_name(v) + " has no buffer");
  ConstState& c = consts_[i];
  if (!c.device) {
    FL_ASSIGN_OR_RETURN(c.device, device_alloc(c.current.nbytes(), value_name(v)));
    void* device = c.device.get();
    FL_RETURN_IF_ERROR(add_prepare({v}, [this, device, i]() {
      const Tensor& t = consts_[i].current;
      return upload(device, t.raw(), t.nbytes(), "uploading constant '" + graph_.values()[i].name + "'");
    }));
  }
  return c.device.get();
}

Status CudaModel::add_prepare(const std::vector<ValueId>& sources, std::function<Status()> prepare) {
  FL_RETURN_IF_ERROR(prepare());
  for (ValueId v : sources)
    if (is_const(v)) consts_[static_cast<size_t>(v)].prepare.push_back(prepare);
  return Status::ok();
}

// --- build -----------------------------------------------------------------------------------------------

Status CudaModel::build() {
  FL_ASSIGN_OR_RETURN(const std::vector<PlannedStep> plan, cuda_plan::plan_steps(graph_, options_));
  FL_RETURN_IF_ERROR(cuda_status(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "cudaStreamCreate"));
  FL_RETURN_IF_ERROR(cudnn_status(cudnnCreate(&cudnn_), "cudnnCreate"));
  FL_RETURN_IF_ERROR(cudnn_status(cudnnSetStream(cudnn_, stream_), "cudnnSetStream"));
  FL_RETURN_IF_ERROR(cublas_status(cublasCreate(&cublas_), "cublasCreate"));
  FL_RETURN_IF_ERROR(cublas_status(cublasSetStream(cublas_, stream_), "cublasSetStream"));
  FL_RETURN_IF_ERROR(cublas_status(
      cublasSetMathMode(cublas_, allow_tf32_ ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH), "cublasSetMathMode"));
  consts_.resize(graph_.values().size());
  for (size_t i = 0; i < graph_.values().size(); ++i)
    if (graph_.values()[i].is_constant()) consts_[i].current = graph_.values()[i].constant;
  FL_RETURN_IF_ERROR(plan_memory(plan));
  steps_.resize(plan.size());
  for (size_t s = 0; s < plan.size(); ++s) {
    Step& step = steps_[s];
    step.info.nodes = plan[s].nodes;
    step.info.outputs = graph_.node(plan[s].nodes.back()).outputs;
    step.kernel = cuda_plan::step_kind_name(plan[s].kind);
    Status status = build_step(plan[s], step);
    if (!status.is_ok()) return status.with_context("cuda backend: planning " + graph_.describe(plan[s].nodes[0]));
  }
  if (workspace_bytes_ > 0) {
    FL_ASSIGN_OR_RETURN(workspace_, device_alloc(workspace_bytes_, "the cuDNN workspace"));
  }
  if (profile_)
    for (Step& step : steps_) {
      FL_RETURN_IF_ERROR(cuda_status(cudaEventCreate(&step.started), "cudaEventCreate"));
      FL_RETURN_IF_ERROR(cuda_status(cudaEventCreate(&step.finished), "cudaEventCreate"));
    }
  FL_RETURN_IF_ERROR(cuda_status(cudaStreamSynchronize(stream_), "uploading the weights"));
  if (options_.keep_values)
    kept_device_ = std::make_unique<CudaKeptDevice>(stream_, [this](Status status) {
      if (run_error_.is_ok()) run_error_ = std::move(status);
    });
  if (env_flag("FAULTLINE_CUDA_VERBOSE")) {
    std::fprintf(stderr, "cuda plan: %zu steps, arena %zu bytes, cuDNN workspace %zu bytes, TF32 %s\n", steps_.size(),
                 arena_bytes_, workspace_bytes_, allow_tf32_ ? "allowed" : "off");
    for (size_t s = 0; s < steps_.size(); ++s)
      std::fprintf(stderr, "  step %zu: %s\n", s, describe_step(steps_[s]).c_str());
  }
  return Status::ok();
}

Status CudaModel::build_step(const PlannedStep& planned, Step& step) {
  const NodeId id = planned.nodes[0];
  const Node& node = graph_.node(id);
  auto input = [&](size_t slot) { return operand(node.inputs[slot]); };
  void* const out = buffer(node.outputs[0]);
  switch (planned.kind) {
    case StepKind::kConv: return build_conv(planned, step);
    case StepKind::kAffine: return build_affine(planned, step);
    case StepKind::kGemm: return build_gemm(planned, step);
    case StepKind::kMatMul: return build_matmul(planned, step);
    case StepKind::kConcat: return build_concat(planned, step);
    case StepKind::kReference: build_reference(planned, step); return Status::ok();
    case StepKind::kBinary: {
      FL_ASSIGN_OR_RETURN(void* a, input(0));
      FL_ASSIGN_OR_RETURN(void* b, input(1));
      FL_ASSIGN_OR_RETURN(const cuda_detail::BroadcastMap map,
                          cuda_plan::broadcast_map(shape_of(node.inputs[0]), shape_of(node.inputs[1]),
                                                   shape_of(node.outputs[0])));
      const int op = node.op == OpKind::kAdd ? 0 : node.op == OpKind::kSub ? 1 : node.op == OpKind::kMul ? 2 : 3;
      const int64_t count = numel(shape_of(node.outputs[0]));
      cuda_detail::ChannelAffine then;
      if (planned.activation != kNoNode) {
        FL_ASSIGN_OR_RETURN(then, cuda_plan::activation_of(graph_.node(planned.activation)));
        step.kernel += " +activation";
      }
      void* const result = buffer(graph_.node(planned.nodes.back()).outputs[0]);
      step.actions.push_back([=, this]() {
        return launch_status(cuda_detail::launch_binary(op, static_cast<const float*>(a), static_cast<const float*>(b),
                                                        static_cast<float*>(result), count, map, stream_, then),
                             "binary kernel");
      });
      return Status::ok();
    }
    case StepKind::kPool: {
      FL_ASSIGN_OR_RETURN(void* x, input(0));
      FL_ASSIGN_OR_RETURN(const cuda_detail::PoolWindow window, cuda_plan::pool_window(graph_, id));
      step.actions.push_back([=, this]() {
        return launch_status(
            cuda_detail::launch_pool(static_cast<const float*>(x), static_cast<float*>(out), window, stream_),
            "pool kernel");
      });
      return Status::ok();
    }
    case StepKind::kGlobalPool: {
      FL_ASSIGN_OR_RETURN(void* x, input(0));
      const Shape& shape = shape_of(node.inputs[0]);
      const int64_t planes = shape[0] * shape[1];
      const int64_t plane = planes == 0 ? 0 : numel(shape) / planes;
      const bool is_max = node.op == OpKind::kGlobalMaxPool;
      step.actions.push_back([=, this]() {
        return launch_status(cuda_detail::launch_global_pool(static_cast<const float*>(x), static_cast<float*>(out),
                                                             planes, plane, is_max, stream_),
                             "global pool kernel");
      });
      return Status::ok();
    }
    case StepKind::kSoftmax: {
      FL_ASSIGN_OR_RETURN(void* x, input(0));
      FL_ASSIGN_OR_RETURN(const cuda_plan::SoftmaxShape s, cuda_plan::softmax_shape(graph_, id));
      step.actions.push_back([=, this]() {
        return launch_status(cuda_detail::launch_softmax(static_cast<const float*>(x), static_cast<float*>(out),
                                                         s.outer, s.length, s.inner, stream_),
                             "softmax kernel");
      });
      return Status::ok();
    }
    case StepKind::kGather: {
      FL_ASSIGN_OR_RETURN(void* x, input(0));
      FL_ASSIGN_OR_RETURN(const cuda_detail::GatherMap map, cuda_plan::gather_map(graph_, id));
      const int64_t count = numel(shape_of(node.outputs[0]));
      const int bytes = static_cast<int>(dtype_size(graph_.value(node.outputs[0]).dtype));
      step.actions.push_back([=, this]() {
        return launch_status(cuda_detail::launch_gather(x, out, count, bytes, map, stream_), "gather kernel");
      });
      return Status::ok();
    }
    case StepKind::kCopy: {
      FL_ASSIGN_OR_RETURN(void* x, input(0));
      const size_t bytes = static_cast<size_t>(numel(shape_of(node.outputs[0]))) *
                           dtype_size(graph_.value(node.outputs[0]).dtype);
      step.actions.push_back([=, this]() {
        if (bytes == 0 || x == out) return Status::ok();
        return cuda_status(cudaMemcpyAsync(out, x, bytes, cudaMemcpyDeviceToDevice, stream_), "device copy");
      });
      return Status::ok();
    }
  }
  return internal_error("unknown step kind");
}

// cuDNN's forward algorithms for a convolution, best first: its heuristics, or (search) its own timings on this
// GPU, kept per problem for the process (a model planned at several batch sizes, the same shapes in one net).
Result<std::vector<cudnnConvolutionFwdAlgoPerf_t>> CudaModel::conv_candidates(const ConvResources& r,
                                                                              const cuda_plan::ConvShape& s,
                                                                              bool tf32, bool search) {
  std::vector<cudnnConvolutionFwdAlgoPerf_t> perf(CUDNN_CONVOLUTION_FWD_ALGO_COUNT);
  int returned = 0;
  if (!search) {
    FL_RETURN_IF_ERROR(cudnn_status(cudnnGetConvolutionForwardAlgorithm_v7(cudnn_, r.x.get(), r.w.get(), r.conv.get(),
                                                                           r.y.get(), static_cast<int>(perf.size()),
                                                                           &returned, perf.data()),
                                    "cudnnGetConvolutionForwardAlgorithm_v7"));
    perf.resize(static_cast<size_t>(returned));
    return perf;
  }
  static std::mutex mutex;
  static std::map<std::vector<int>, std::vector<cudnnConvolutionFwdAlgoPerf_t>> found;
  const std::vector<int> key = {s.n, s.c, s.h, s.w, s.k, s.r, s.s, s.pad_h, s.pad_w, s.stride_h, s.stride_w,
                                s.dilation_h, s.dilation_w, s.groups, tf32 ? 1 : 0};
  std::lock_guard<std::mutex> lock(mutex);
  if (auto it = found.find(key); it != found.end()) return it->second;
  FL_RETURN_IF_ERROR(cudnn_status(cudnnFindConvolutionForwardAlgorithm(cudnn_, r.x.get(), r.w.get(), r.conv.get(),
                                                                       r.y.get(), static_cast<int>(perf.size()),
                                                                       &returned, perf.data()),
                                  "cudnnFindConvolutionForwardAlgorithm"));
  perf.resize(static_cast<size_t>(returned));
  found.emplace(key, perf);
  return perf;
}

// Conv [+ folded BN] [+ residual Add] [+ activation]: weights (folded in double as the oneDNN backend folds them) prepared once and
// again whenever one of their constants is written.
Status CudaModel::build_conv(const PlannedStep& planned, Step& step) {
  const NodeId id = planned.nodes[0];
  const Node& node = graph_.node(id);
  FL_ASSIGN_OR_RETURN(const cuda_plan::ConvShape s, cuda_plan::conv_shape(graph_, id));
  auto r = std::make_shared<ConvResources>();
  cudnnTensorDescriptor_t td = nullptr;
  cudnnFilterDescriptor_t fd = nullptr;
  cudnnConvolutionDescriptor_t cd = nullptr;
  FL_RETURN_IF_ERROR(cudnn_status(cudnnCreateTensorDescriptor(&td), "cudnnCreateTensorDescriptor"));
  r->x.reset(td);
  FL_RETURN_IF_ERROR(cudnn_status(cudnnCreateTensorDescriptor(&td), "cudnnCreateTensorDescriptor"));
  r->y.reset(td);
  FL_RETURN_IF_ERROR(cudnn_status(cudnnCreateTensorDescriptor(&td), "cudnnCreateTensorDescriptor"));
  r->bias.reset(td);
  FL_RETURN_IF_ERROR(cudnn_status(cudnnCreateFilterDescriptor(&fd), "cudnnCreateFilterDescriptor"));
  r->w.reset(fd);
  FL_RETURN_IF_ERROR(cudnn_status(cudnnCreateConvolutionDescriptor(&cd), "cudnnCreateConvolutionDescriptor"));
  r->conv.reset(cd);
  FL_RETURN_IF_ERROR(cudnn_status(
      cudnnSetTensor4dDescriptor(r->x.get(), CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, s.n, s.c, s.h, s.w), "input descriptor"));
  FL_RETURN_IF_ERROR(cudnn_status(
      cudnnSetTensor4dDescriptor(r->y.get(), CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, s.n, s.k, s.out_h, s.out_w),
      "output descriptor"));
  FL_RETURN_IF_ERROR(cudnn_status(cudnnSetTensor4dDescriptor(r->bias.get(), CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, 1, s.k, 1, 1),
                                  "bias descriptor"));
  FL_RETURN_IF_ERROR(cudnn_status(cudnnSetFilter4dDescriptor(r->w.get(), CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, s.k,
                                                             s.c / s.groups, s.r, s.s),
                                  "filter descriptor"));
  FL_RETURN_IF_ERROR(cudnn_status(cudnnSetConvolution2dDescriptor(r->conv.get(), s.pad_h, s.pad_w, s.stride_h, s.stride_w,
                                                                  s.dilation_h, s.dilation_w, CUDNN_CROSS_CORRELATION,
                                                                  CUDNN_DATA_FLOAT),
                                  "convolution descriptor"));
  FL_RETURN_IF_ERROR(cudnn_status(cudnnSetConvolutionGroupCount(r->conv.get(), s.groups), "group count"));
  const cudnnMathType_t math = allow_tf32_ ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH;
  FL_RETURN_IF_ERROR(cudnn_status(cudnnSetConvolutionMathType(r->conv.get(), math), "math type"));
  int dims[4] = {};
  FL_RETURN_IF_ERROR(cudnn_status(
      cudnnGetConvolution2dForwardOutputDim(r->conv.get(), r->x.get(), r->w.get(), &dims[0], &dims[1], &dims[2], &dims[3]),
      "output size"));
  if (dims[0] != s.n || dims[1] != s.k || dims[2] != s.out_h || dims[3] != s.out_w)
    return internal_error("cuDNN computes output [" + std::to_string(dims[0]) + ", " + std::to_string(dims[1]) + ", " +
                          std::to_string(dims[2]) + ", " + std::to_string(dims[3]) + "], the graph says " +
                          shape_to_string(shape_of(node.outputs[0])));

  // Algorithm: the first candidate the fault policy allows and cuDNN accepts, among cuDNN's heuristics (fault
  // plans: the same choice in every run, so a resumed campaign computes the same bytes) or, for clean
  // inference plans, the algorithms cuDNN timed on this GPU (cudnnFindConvolutionForwardAlgorithm, once per
  // problem in the process; FAULTLINE_CUDA_CONV_SEARCH=0 keeps the heuristics).
  const bool fault_plan = options_.propagate_nan || options_.keep_values || !options_.observable.empty();
  FL_ASSIGN_OR_RETURN(const std::vector<cudnnConvolutionFwdAlgoPerf_t> perf,
                      conv_candidates(*r, s, allow_tf32_, fault_plan ? conv_search_faults_ : conv_search_));
  const int returned = static_cast<int>(perf.size());
  // CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION converts float32 operands to float16: never taken, TF32 or not.
  std::vector<cuda_plan::ConvAlgorithm> candidates;
  for (int i = 0; i < returned; ++i)
    candidates.push_back({static_cast<int>(perf[i].algo),
                          perf[i].status == CUDNN_STATUS_SUCCESS &&
                              perf[i].mathType != CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION,
                          perf[i].memory, perf[i].mathType == CUDNN_TENSOR_OP_MATH,
                          perf[i].determinism == CUDNN_DETERMINISTIC});
  const bool barrier = std::find(options_.observable.begin(), options_.observable.end(), node.outputs[0]) !=
                           options_.observable.end() ||
                       std::find(options_.observable.begin(), options_.observable.end(), node.inputs[0]) !=
                           options_.observable.end() ||
                       std::find(options_.observable.begin(), options_.observable.end(), node.inputs[1]) !=
                           options_.observable.end();
  const bool direct_only = options_.propagate_nan || options_.keep_values || barrier;
  bool chosen = false;
  while (!chosen) {
    const int pick = cuda_plan::choose_conv_algorithm(candidates, allow_tf32_, direct_only, kMaxWorkspaceBytes);
    if (pick < 0) break;
    const auto algo = static_cast<cudnnConvolutionFwdAlgo_t>(candidates[static_cast<size_t>(pick)].algo);
    // cuDNN decides tensor-core use from the algorithm and the descriptor's math type together, so with TF32
    // allowed the descriptor takes the math type the heuristics ranked this algorithm with (as PyTorch does);
    // without TF32 it stays CUDNN_FMA_MATH. The workspace size is asked for after that, for this pair.
    const cudnnMathType_t algo_math = allow_tf32_ ? perf[static_cast<size_t>(pick)].mathType : CUDNN_FMA_MATH;
    size_t bytes = 0;
    if (cudnnSetConvolutionMathType(r->conv.get(), algo_math) == CUDNN_STATUS_SUCCESS &&
        cudnnGetConvolutionForwardWorkspaceSize(cudnn_, r->x.get(), r->w.get(), r->conv.get(), r->y.get(), algo,
                                                &bytes) == CUDNN_STATUS_SUCCESS &&
        bytes <= kMaxWorkspaceBytes) {
      r->algo = algo;
      r->workspace = bytes;
      chosen = true;
    } else {
      candidates[static_cast<size_t>(pick)].ok = false;
    }
  }
  if (!chosen) {
    r->algo = CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM;  // always implemented for float32 NCHW
    FL_RETURN_IF_ERROR(cudnn_status(cudnnSetConvolutionMathType(r->conv.get(), math), "math type"));
    FL_RETURN_IF_ERROR(cudnn_status(cudnnGetConvolutionForwardWorkspaceSize(cudnn_, r->x.get(), r->w.get(), r->conv.get(),
                                                                            r->y.get(), r->algo, &r->workspace),
                                    "no cuDNN forward algorithm accepted (implicit GEMM)"));
  }
  workspace_bytes_ = std::max(workspace_bytes_, r->workspace);
  step.kernel += " algo " + std::to_string(static_cast<int>(r->algo));

  // Weights and bias: device copies (folded with the BN when there is one), or the device buffers of
  // non-constant operands.
  const ValueId w = node.inputs[1];
  const ValueId b = node.inputs.size() > 2 ? node.inputs[2] : kNoValue;
  const NodeId bn = planned.batch_norm;
  const bool has_bias = b != kNoValue || bn != kNoNode;
  const void* w_ptr = nullptr;
  const void* b_ptr = nullptr;
  if (bn != kNoNode || (is_const(w) && (b == kNoValue || is_const(b)))) {
    const int64_t w_count = numel(shape_of(w));
    FL_ASSIGN_OR_RETURN(r->prepared_w, device_alloc(static_cast<size_t>(w_count) * sizeof(float), value_name(w)));
    FL_ASSIGN_OR_RETURN(r->prepared_b, device_alloc(static_cast<size_t>(s.k) * sizeof(float), "the conv bias"));
    w_ptr = r->prepared_w.get();
    b_ptr = r->prepared_b.get();
    std::vector<ValueId> sources = {w, b};
    float epsilon = 0.0f;
    if (bn != kNoNode) {
      const Node& bn_node = graph_.node(bn);
      for (size_t i = 1; i < 5; ++i) sources.push_back(bn_node.inputs[i]);
      epsilon = attrs_or_default<BatchNormAttrs>(bn_node.attrs)->epsilon;
    }
    ConvResources* raw = r.get();
    const int64_t out_channels = s.k;
    FL_RETURN_IF_ERROR(add_prepare(sources, [this, raw, sources, w_count, out_channels, epsilon, bn]() {
      auto constant = [&](size_t i) { return consts_[static_cast<size_t>(sources[i])].current.data<float>(); };
      BatchNormParams params;
      if (bn != kNoNode) params = {constant(2), constant(3), constant(4), constant(5), epsilon};
      raw->host_w.resize(static_cast<size_t>(w_count));
      raw->host_b.resize(static_cast<size_t>(out_channels));
      fold_batch_norm({constant(0), static_cast<size_t>(w_count)}, sources[1] != kNoValue ? constant(1) : nullptr,
                      out_channels, bn != kNoNode ? &params : nullptr, raw->host_w, raw->host_b);
      FL_RETURN_IF_ERROR(upload(raw->prepared_w.get(), raw->host_w.data(), raw->host_w.size() * sizeof(float),
                                "uploading conv weights"));
      return upload(raw->prepared_b.get(), raw->host_b.data(), raw->host_b.size() * sizeof(float), "uploading conv bias");
    }));
  } else {
    FL_ASSIGN_OR_RETURN(void* wp, operand(w));
    FL_ASSIGN_OR_RETURN(void* bp, operand(b));
    w_ptr = wp;
    b_ptr = bp;
  }

  cuda_detail::ChannelAffine epilogue;
  if (planned.activation != kNoNode) {
    FL_ASSIGN_OR_RETURN(epilogue, cuda_plan::activation_of(graph_.node(planned.activation)));
  }
  epilogue.channels = s.k;
  epilogue.plane = static_cast<int64_t>(s.out_h) * s.out_w;
  epilogue.has_shift = has_bias;
  // cudnnConvolutionBiasActivationForward: y = act(conv(x) + z + bias), with a ReLU (planned only without
  // propagate_nan: cuDNN's ReLU maps NaN to a number), or with no activation in a clean inference plan
  // (cuDNN runs that only on the implicit precomputed GEMM); z is the residual, or y itself with weight 0.
  const bool identity = planned.activation == kNoNode && !options_.propagate_nan &&
                        r->algo == CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM;
  const bool cudnn_fused = (planned.cudnn_bias_activation || identity) && b_ptr != nullptr;
  void* const residual = planned.residual != kNoValue ? buffer(planned.residual) : nullptr;
  if (cudnn_fused) {
    cudnnActivationDescriptor_t ad = nullptr;
    FL_RETURN_IF_ERROR(cudnn_status(cudnnCreateActivationDescriptor(&ad), "cudnnCreateActivationDescriptor"));
    r->relu.reset(ad);
    FL_RETURN_IF_ERROR(cudnn_status(cudnnSetActivationDescriptor(ad, identity ? CUDNN_ACTIVATION_IDENTITY : CUDNN_ACTIVATION_RELU,
                                                                 CUDNN_NOT_PROPAGATE_NAN, 0.0),
                                    "activation descriptor"));
    step.kernel += std::string(" +bias") + (residual != nullptr ? "+residual" : "") + (identity ? "" : "+relu") +
                   " (cudnnConvolutionBiasActivationForward)";
  } else if (has_bias || epilogue.activation != cuda_detail::kActNone || residual != nullptr) {
    step.kernel += residual != nullptr ? " +epilogue kernel with residual" : " +epilogue kernel";
  }
  if (bn != kNoNode) step.kernel += " +folded BN";
  void* const x = buffer(node.inputs[0]);
  void* const y = buffer(graph_.node(planned.nodes.back()).outputs[0]);
  const int64_t count = static_cast<int64_t>(s.n) * epilogue.channels * epilogue.plane;
  const bool run_epilogue =
      !cudnn_fused && (has_bias || epilogue.activation != cuda_detail::kActNone || residual != nullptr);
  step.actions.push_back([this, r, x, y, w_ptr, b_ptr, residual, cudnn_fused, run_epilogue, epilogue, count]() {
    const float one = 1.0f, zero = 0.0f;
    if (cudnn_fused)
      return cudnn_status(cudnnConvolutionBiasActivationForward(
                              cudnn_, &one, r->x.get(), x, r->w.get(), w_ptr, r->conv.get(), r->algo, workspace_.get(),
                              r->workspace, residual != nullptr ? &one : &zero, r->y.get(),
                              residual != nullptr ? residual : y, r->bias.get(), b_ptr, r->relu.get(), r->y.get(), y),
                          "cudnnConvolutionBiasActivationForward");
    FL_RETURN_IF_ERROR(cudnn_status(cudnnConvolutionForward(cudnn_, &one, r->x.get(), x, r->w.get(), w_ptr, r->conv.get(),
                                                            r->algo, workspace_.get(), r->workspace, &zero, r->y.get(), y),
                                    "cudnnConvolutionForward"));
    if (!run_epilogue) return Status::ok();
    return launch_status(cuda_detail::launch_channel_affine(static_cast<const float*>(y), static_cast<float*>(y), count,
                                                            epilogue, nullptr, static_cast<const float*>(b_ptr),
                                                            stream_, static_cast<const float*>(residual)),
                         "conv epilogue kernel");
  });
  return Status::ok();
}

// Activations, and BatchNormalization as x * alpha + beta with alpha/beta computed on the host exactly as the
// reference does (float32), prepared again when a BN parameter is written.
Status CudaModel::build_affine(const PlannedStep& planned, Step& step) {
  const Node& node = graph_.node(planned.nodes[0]);
  void* const x = buffer(node.inputs[0]);
  void* const y = buffer(graph_.node(planned.nodes.back()).outputs[0]);  // a fused activation's output
  const Shape& shape = shape_of(node.inputs[0]);
  const int64_t count = numel(shape);
  cuda_detail::ChannelAffine affine;
  std::shared_ptr<DeviceBuffer> params;
  if (node.op == OpKind::kBatchNormalization) {
    affine.channels = shape[1];
    affine.plane = shape[0] * shape[1] == 0 ? 1 : count / (shape[0] * shape[1]);
    affine.has_scale = affine.has_shift = true;
    const int64_t channels = shape[1];
    FL_ASSIGN_OR_RETURN(DeviceBuffer scale_shift, device_alloc(static_cast<size_t>(2 * channels) * sizeof(float), "BN scale/shift"));
    params = std::make_shared<DeviceBuffer>(std::move(scale_shift));
    auto host = std::make_shared<std::vector<float>>(static_cast<size_t>(2 * channels));
    const std::vector<ValueId> sources(node.inputs.begin() + 1, node.inputs.end());
    const float epsilon = attrs_or_default<BatchNormAttrs>(node.attrs)->epsilon;
    void* device = params->get();
    FL_RETURN_IF_ERROR(add_prepare(sources, [this, host, sources, channels, epsilon, device]() {
      auto p = [&](size_t i) { return consts_[static_cast<size_t>(sources[i])].current.data<float>(); };
      for (int64_t c = 0; c < channels; ++c) {
        const BatchNormTerms terms = batch_norm_terms(p(0)[c], p(1)[c], p(2)[c], p(3)[c], epsilon);
        (*host)[static_cast<size_t>(c)] = terms.alpha;
        (*host)[static_cast<size_t>(channels + c)] = terms.beta;
      }
      return upload(device, host->data(), host->size() * sizeof(float), "uploading BN scale/shift");
    }));
    if (planned.activation != kNoNode) {  // BN, then an activation in the same kernel
      FL_ASSIGN_OR_RETURN(const cuda_detail::ChannelAffine then,
                          cuda_plan::activation_of(graph_.node(planned.activation)));
      affine.activation = then.activation;
      affine.alpha = then.alpha;
      affine.low = then.low;
      affine.high = then.high;
      step.kernel += " +activation";
    }
  } else {
    FL_ASSIGN_OR_RETURN(affine, cuda_plan::activation_of(node));
  }
  step.actions.push_back([this, x, y, count, affine, params]() {
    const float* scale = params ? static_cast<const float*>(params->get()) : nullptr;
    const float* shift = params ? scale + affine.channels : nullptr;
    return launch_status(cuda_detail::launch_channel_affine(static_cast<const float*>(x), static_cast<float*>(y), count,
                                                            affine, scale, shift, stream_),
                         "affine/activation kernel");
  });
  return Status::ok();
}

// Y = alpha op(A) op(B) + beta C, row-major: cuBLAS (column-major) computes Y^T = op(B)^T op(A)^T.
Status CudaModel::build_gemm(const PlannedStep& planned, Step& step) {
  const NodeId id = planned.nodes[0];
  const Node& node = graph_.node(id);
  FL_ASSIGN_OR_RETURN(const cuda_plan::GemmShape s, cuda_plan::gemm_shape(graph_, id));
  const GemmAttrs* attrs = attrs_or_default<GemmAttrs>(node.attrs);
  FL_ASSIGN_OR_RETURN(void* a, operand(node.inputs[0]));
  FL_ASSIGN_OR_RETURN(void* b, operand(node.inputs[1]));
  const ValueId c = node.inputs.size() > 2 ? node.inputs[2] : kNoValue;
  FL_ASSIGN_OR_RETURN(void* c_ptr, operand(c));
  void* const y = buffer(node.outputs[0]);
  cuda_detail::GatherMap c_map;
  if (c != kNoValue) {
    FL_ASSIGN_OR_RETURN(c_map, cuda_plan::broadcast_copy_map(shape_of(c), shape_of(node.outputs[0])));
  }
  const float alpha = attrs->alpha;
  const float beta = c != kNoValue ? attrs->beta : 0.0f;
  step.actions.push_back([=, this]() {
    if (c_ptr != nullptr)
      FL_RETURN_IF_ERROR(launch_status(
          cuda_detail::launch_gather(c_ptr, y, static_cast<int64_t>(s.m) * s.n, sizeof(float), c_map, stream_),
          "broadcasting C"));
    return cublas_status(cublasSgemm(cublas_, s.trans_b ? CUBLAS_OP_T : CUBLAS_OP_N, s.trans_a ? CUBLAS_OP_T : CUBLAS_OP_N,
                                     s.n, s.m, s.k, &alpha, static_cast<const float*>(b), s.ldb,
                                     static_cast<const float*>(a), s.lda, &beta, static_cast<float*>(y), s.n),
                         "cublasSgemm");
  });
  return Status::ok();
}

Status CudaModel::build_matmul(const PlannedStep& planned, Step& step) {
  const NodeId id = planned.nodes[0];
  const Node& node = graph_.node(id);
  FL_ASSIGN_OR_RETURN(const cuda_plan::MatMulShape s, cuda_plan::matmul_shape(graph_, id));
  FL_ASSIGN_OR_RETURN(void* a, operand(node.inputs[0]));
  FL_ASSIGN_OR_RETURN(void* b, operand(node.inputs[1]));
  void* const y = buffer(node.outputs[0]);
  step.actions.push_back([=, this]() {
    const float one = 1.0f, zero = 0.0f;
    return cublas_status(cublasSgemmStridedBatched(cublas_, CUBLAS_OP_N, CUBLAS_OP_N, s.n, s.m, s.k, &one,
                                                   static_cast<const float*>(b), s.n, s.b_stride,
                                                   static_cast<const float*>(a), s.k, s.a_stride, &zero,
                                                   static_cast<float*>(y), s.n, s.y_stride, s.batch),
                         "cublasSgemmStridedBatched");
  });
  return Status::ok();
}

// Each input is `outer` rows of its axis-slab, copied into its column of the output's rows.
Status CudaModel::build_concat(const PlannedStep& planned, Step& step) {
  const NodeId id = planned.nodes[0];
  const Node& node = graph_.node(id);
  const ConcatAttrs* attrs = attrs_or_default<ConcatAttrs>(node.attrs);
  if (attrs == nullptr) return invalid_argument("carries another op's attributes");
  const Shape& shape = shape_of(node.outputs[0]);
  const int64_t rank = static_cast<int64_t>(shape.size());
  if (attrs->axis < -rank || attrs->axis >= rank) return invalid_argument("axis out of range");
  const auto axis = static_cast<std::ptrdiff_t>(attrs->axis < 0 ? attrs->axis + rank : attrs->axis);
  const size_t outer = static_cast<size_t>(numel(Shape(shape.begin(), shape.begin() + axis)));
  const size_t element = dtype_size(graph_.value(node.outputs[0]).dtype);
  const size_t dst_row = outer == 0 ? 0 : static_cast<size_t>(numel(shape)) / outer * element;
  char* const y = static_cast<char*>(buffer(node.outputs[0]));
  size_t column = 0;
  for (ValueId v : node.inputs) {
    FL_ASSIGN_OR_RETURN(void* x, operand(v));
    const size_t src_row = outer == 0 ? 0 : static_cast<size_t>(numel(shape_of(v))) / outer * element;
    if (src_row > 0 && outer > 0)
      step.actions.push_back([=, this]() {
        return cuda_status(cudaMemcpy2DAsync(y + column, dst_row, x, src_row, src_row, outer, cudaMemcpyDeviceToDevice,
                                             stream_),
                           "cudaMemcpy2DAsync");
      });
    column += src_row;
  }
  if (column != dst_row) return invalid_argument("inputs do not add up to the output " + shape_to_string(shape));
  return Status::ok();
}

// The reference kernel on host copies: inputs copied down, the stream synchronised, outputs copied up.
void CudaModel::build_reference(const PlannedStep& planned, Step& step) {
  const NodeId id = planned.nodes[0];
  step.kernel += " (" + planned.reference_reason + ")";
  struct Call {
    std::vector<Tensor> staging;  // host copies of the non-constant inputs, then the outputs
    std::vector<const Tensor*> inputs;
    std::vector<Tensor*> outputs;
    std::vector<std::pair<ValueId, Tensor*>> downloads, uploads;
  };
  auto call = std::make_shared<Call>();
  const Node& node = graph_.node(id);
  call->staging.reserve(node.inputs.size() + node.outputs.size());
  for (ValueId v : node.inputs) {
    if (v == kNoValue) {
      call->inputs.push_back(nullptr);
    } else if (is_const(v)) {
      call->inputs.push_back(&consts_[static_cast<size_t>(v)].current);
    } else {
      Result<Tensor> t = Tensor::allocate(graph_.value(v).dtype, graph_.value(v).shape);
      call->staging.push_back(t.is_ok() ? std::move(t).value() : Tensor());
      call->inputs.push_back(&call->staging.back());
      call->downloads.emplace_back(v, &call->staging.back());
    }
  }
  for (ValueId v : node.outputs) {
    Result<Tensor> t = Tensor::allocate(graph_.value(v).dtype, graph_.value(v).shape);
    call->staging.push_back(t.is_ok() ? std::move(t).value() : Tensor());
    call->outputs.push_back(&call->staging.back());
    call->uploads.emplace_back(v, &call->staging.back());
  }
  step.actions.push_back([this, call, id]() {
    for (auto& [v, t] : call->downloads)
      FL_RETURN_IF_ERROR(cuda_status(cudaMemcpyAsync(t->raw(), buffer(v), t->nbytes(), cudaMemcpyDeviceToHost, stream_),
                                     "copying " + value_name(v) + " to the host"));
    FL_RETURN_IF_ERROR(cuda_status(cudaStreamSynchronize(stream_), "the kernels before a reference fallback"));
    FL_RETURN_IF_ERROR(run_reference_node(graph_.node(id), call->inputs, call->outputs));
    for (auto& [v, t] : call->uploads)
      FL_RETURN_IF_ERROR(cuda_status(cudaMemcpyAsync(buffer(v), t->raw(), t->nbytes(), cudaMemcpyHostToDevice, stream_),
                                     "copying " + value_name(v) + " to the device"));
    return Status::ok();
  });
}

// --- reading and writing values --------------------------------------------------------------------------

Status CudaModel::value_error(ValueId id) const {
  if (kind_[static_cast<size_t>(id)] == ValueKind::kFusedAway) {
    const Step& step = steps_[static_cast<size_t>(value_step_[static_cast<size_t>(id)])];
    return invalid_argument("cuda backend: " + value_name(id) + " does not exist: it was fused away inside step " +
                            std::to_string(value_step_[static_cast<size_t>(id)]) + " (" + describe_step(step) +
                            "); list it in PlanOptions.observable (or plan with fuse = false) to read or write it");
  }
  return not_found("cuda backend: " + value_name(id) + " is not computed by this plan");
}

Status CudaModel::read_value(ValueId id, Tensor& dst) {
  if (!run_error_.is_ok()) return run_error_;
  if (id < 0 || static_cast<size_t>(id) >= kind_.size())
    return out_of_range("cuda backend: no value with id " + std::to_string(id));
  const ValueKind kind = kind_[static_cast<size_t>(id)];
  if (kind == ValueKind::kConstant) {
    return consts_[static_cast<size_t>(id)].current.copy_to(dst, "cuda backend: cannot read " + value_name(id));
  }
  if (kind != ValueKind::kBuffer) return value_error(id);
  const Value& value = graph_.value(id);
  FL_RETURN_IF_ERROR(
      Tensor::prepare_destination(dst, value.dtype, value.shape, "cuda backend: cannot read " + value_name(id)));
  if (dst.nbytes() > 0)
    FL_RETURN_IF_ERROR(cuda_status(cudaMemcpyAsync(dst.raw(), buffer(id), dst.nbytes(), cudaMemcpyDeviceToHost, stream_),
                                   "reading " + value_name(id)));
  FL_RETURN_IF_ERROR(cuda_status(cudaStreamSynchronize(stream_), "the pass's kernels (reading " + value_name(id) +
                                                                     "; FAULTLINE_CUDA_SYNC=1 names the failing step)"));
  if (profile_) collect_profile();
  return Status::ok();
}

void CudaModel::collect_profile() {
  for (Step& step : steps_) {
    if (!step.timed) continue;
    float ms = 0;
    if (cudaEventElapsedTime(&ms, step.started, step.finished) == cudaSuccess) {
      step.milliseconds += ms;
      ++step.runs;
    }
    step.timed = false;
  }
}

void CudaModel::print_profile() {
  collect_profile();
  double total = 0;
  std::vector<size_t> order;
  std::vector<std::pair<std::string, double>> kinds;
  for (size_t s = 0; s < steps_.size(); ++s) {
    total += steps_[s].milliseconds;
    order.push_back(s);
    const std::string kind = steps_[s].kernel.substr(0, steps_[s].kernel.find(" ("));
    auto it = std::find_if(kinds.begin(), kinds.end(), [&](const auto& k) { return k.first == kind; });
    if (it == kinds.end()) kinds.emplace_back(kind, steps_[s].milliseconds);
    else it->second += steps_[s].milliseconds;
  }
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return steps_[a].milliseconds > steps_[b].milliseconds; });
  std::sort(kinds.begin(), kinds.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
  std::fprintf(stderr, "cuda profile: %zu steps, %.3f ms in all (events around each step)\n", steps_.size(), total);
  for (const auto& [kind, ms] : kinds)
    std::fprintf(stderr, "  %8.3f ms %5.1f %%  %s\n", ms, total > 0 ? 100 * ms / total : 0.0, kind.c_str());
  for (size_t i = 0; i < order.size() && i < 25; ++i) {
    const Step& step = steps_[order[i]];
    std::fprintf(stderr, "  step %3zu %8.3f ms in %lld runs  %s\n", order[i], step.milliseconds,
                 static_cast<long long>(step.runs), describe_step(step).c_str());
  }
}

Status CudaModel::write_value(ValueId id, const Tensor& src) {
  if (id < 0 || static_cast<size_t>(id) >= kind_.size())
    return out_of_range("cuda backend: no value with id " + std::to_string(id));
  const ValueKind kind = kind_[static_cast<size_t>(id)];
  const Value& value = graph_.value(id);
  if (kind == ValueKind::kConstant) {
    // A weight fault (or its restore): the new logical values, then every device copy re-derived.
    ConstState& c = consts_[static_cast<size_t>(id)];
    if (src.dtype() != c.current.dtype() || src.shape() != c.current.shape())
      return invalid_argument("cuda backend: cannot write a " + std::string(dtype_name(src.dtype())) + " " +
                              shape_to_string(src.shape()) + " tensor into " + value_name(id) + " (" +
                              std::string(dtype_name(c.current.dtype())) + " " + shape_to_string(c.current.shape()) + ")");
    if (!c.owned) {
      c.current = src.clone();
      c.owned = true;
    } else {
      std::memcpy(c.current.raw(), src.raw(), src.nbytes());
    }
    for (auto& prepare : c.prepare) FL_RETURN_IF_ERROR(prepare());
    return cuda_status(cudaStreamSynchronize(stream_), "re-uploading " + value_name(id));
  }
  if (kind != ValueKind::kBuffer) return value_error(id);
  if (src.dtype() != value.dtype || src.shape() != value.shape)
    return invalid_argument("cuda backend: cannot write a " + std::string(dtype_name(src.dtype())) + " " +
                            shape_to_string(src.shape()) + " tensor into " + value_name(id) + " (" +
                            std::string(dtype_name(value.dtype)) + " " + shape_to_string(value.shape) + ")");
  if (src.nbytes() > 0)
    FL_RETURN_IF_ERROR(cuda_status(cudaMemcpyAsync(buffer(id), src.raw(), src.nbytes(), cudaMemcpyHostToDevice, stream_),
                                   "writing " + value_name(id)));
  return cuda_status(cudaStreamSynchronize(stream_), "writing " + value_name(id));
}

Result<bool> CudaModel::patch_value_words(ValueId id, std::span<const WordPatch> patches) {
  if (!run_error_.is_ok()) return run_error_;
  if (id < 0 || static_cast<size_t>(id) >= kind_.size())
    return out_of_range("cuda backend: no value with id " + std::to_string(id));
  if (kind_[static_cast<size_t>(id)] != ValueKind::kBuffer) return false;  // a constant: write_value
  const Value& value = graph_.value(id);
  const int64_t count = numel(value.shape);
  for (const WordPatch& p : patches)
    if (p.element < 0 || p.element >= count)
      return out_of_range("cuda backend: element " + std::to_string(p.element) + " is outside " + value_name(id) +
                          " " + shape_to_string(value.shape));
  FL_RETURN_IF_ERROR(patch_device_words(buffer(id), static_cast<int>(dtype_size(value.dtype)), patches, stream_)
                         .with_context("cuda backend: patching " + value_name(id)));
  return true;
}

// --- the backend -----------------------------------------------------------------------------------------

class CudaBackend final : public Backend {
 public:
  std::string_view name() const override { return "cuda"; }
  Status check_support(const Graph& graph, NodeId id) const override { return cuda_plan::check_support(graph, id); }
  Result<std::unique_ptr<CompiledModel>> compile(const Graph& graph, const PlanOptions& options) const override {
    auto model = std::make_unique<CudaModel>(graph, options);
    FL_RETURN_IF_ERROR(model->build());
    return std::unique_ptr<CompiledModel>(std::move(model));
  }
};

}  // namespace

Result<std::unique_ptr<Backend>> make_cuda_backend() {
  int count = 0;
  const cudaError_t error = cudaGetDeviceCount(&count);
  if (error != cudaSuccess || count == 0) {
    cudaGetLastError();  // clear the sticky "no device" error
    return unsupported(std::string("backend 'cuda': no CUDA device (cudaGetDeviceCount: ") +
                       (error != cudaSuccess ? cudaGetErrorString(error) : "0 devices") + ")");
  }
  return std::unique_ptr<Backend>(std::make_unique<CudaBackend>());
}

void register_cuda_backend() { register_backend("cuda", make_cuda_backend); }

}  // namespace faultline

extern "C" faultline::BackendFactory faultline_cuda_backend_factory() { return faultline::make_cuda_backend; }
