// Session: the high-level way to run a model. It specializes the imported graph for a batch size,
// compiles it on a backend once, and runs any number of images through it in batches.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/backend.h"
#include "engine/executor.h"
#include "engine/graph.h"
#include "engine/status.h"
#include "engine/tensor.h"

namespace faultline {

struct SessionOptions {
  std::string backend = "onednn";  // "reference", "onednn", "cuda"
  int64_t batch = 1;               // images per executed batch (the plan's batch size)
  int threads = 0;                 // 0 = backend default
  bool fuse = true;
  // NaN in, NaN out through every op, as PyTorch/aten computes: fault-injection runs set it; plain inference
  // keeps the faster fused kernels. See PlanOptions::propagate_nan.
  bool propagate_nan = false;
  std::vector<std::string> observable;  // value names that must stay observable (fault sites)
  // Store the model's weights as float16, bfloat16 or int8 (engine/weight_storage.h) and decode them to float32
  // right before use; a weight named in `observable` is decoded at run time, so a fault hits the stored word.
  std::optional<DType> weight_dtype;
  // Keep every step's outputs in buffers of their own (PlanOptions::keep_values): for incremental fault
  // passes (engine/incremental_executor.h).
  bool keep_values = false;
};

// Specializes `model` for batches of `batch` images (weight decodes folded, `observable` value names kept) and
// compiles it on `backend` with `options` (threads, fuse, propagate_nan, keep_values), `options.observable`
// resolved from those names in the specialized graph. The compiled model holds the specialized graph. Errors
// name the model's source. Session and SpikingSession (engine/spiking) plan through it.
Result<std::unique_ptr<CompiledModel>> compile_for_batch(const Backend& backend, const Graph& model, int64_t batch,
                                                         PlanOptions options, const std::vector<std::string>& observable);

class Session {
 public:
  // Stores the weights as options.weight_dtype (when set), specializes for options.batch and compiles. Errors name the node that cannot be planned.
  static Result<std::unique_ptr<Session>> create(std::shared_ptr<const Graph> model, SessionOptions options);

  // Runs every image of `inputs` (one tensor per graph input, first dimension = images; all inputs must
  // agree on it), in batches of options.batch (a smaller last batch is planned on demand). Returns one
  // tensor per graph output, images concatenated along the first dimension.
  Result<std::vector<Tensor>> run(const std::vector<Tensor>& inputs, StepObserver* observer = nullptr);

  // Runs exactly one batch of options.batch images on the main plan (no splitting, no copy of outputs
  // beyond read_value). For benchmarks and campaigns that drive batches themselves.
  Status run_batch(const std::vector<Tensor>& inputs, std::vector<Tensor>& outputs, StepObserver* observer = nullptr);

  // The model as run: with options.weight_dtype, the graph whose weights are stored in that dtype.
  const Graph& model() const { return *model_; }
  CompiledModel& compiled() { return *plans_.front().compiled; }
  // The plan for batches of `batch` images (the main plan, or one planned now and kept), for callers that
  // drive batches themselves. Errors name the node that cannot be planned.
  Result<CompiledModel*> compiled_for(int64_t batch);
  const SessionOptions& options() const { return options_; }

 private:
  struct Plan {
    int64_t batch;
    std::unique_ptr<CompiledModel> compiled;
  };
  Session() = default;
  Result<Plan*> plan_for(int64_t batch);

  std::shared_ptr<const Graph> model_;
  SessionOptions options_;
  std::unique_ptr<Backend> backend_;
  std::vector<Plan> plans_;
};

}  // namespace faultline
