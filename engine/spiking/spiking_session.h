// SpikingSession: runs a spiking model (a Graph that computes one time step, with state links: engine/graph.h
// StateLink; frontends/nir/nir_import.h builds them) over T time steps.
//
// Plan once, run many: the graph is specialized and compiled ONCE per batch size on any backend
// (create_backend); then, for t = 0 .. T-1, the session writes x[t] and every state input (zeros at t = 0,
// afterwards the value its link names, read after the previous step), runs execute(model, observer), and
// reads the next states and the outputs. Fault hooks therefore work per time step as they do per image:
// the StepObserver runs around every step of every time step, and time_step() tells it which one is running
// (SpikingJET's `Step`). Parameters (weights, thresholds, taus, ...) are constants of the compiled model and
// stay faulted across time steps until the observer restores them; a fault written into a state value (an
// activation fault on `<node>.v`) is carried to the next step by the link.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/backend.h"
#include "engine/executor.h"
#include "engine/graph.h"
#include "engine/op_attrs.h"
#include "engine/status.h"
#include "engine/tensor.h"

namespace faultline {

struct SpikingOptions {
  std::string backend = "reference";  // "reference", "onednn", "cuda"
  int64_t batch = 1;                  // samples per executed batch (the plan's batch size)
  int threads = 0;                    // 0 = backend default
  bool fuse = true;
  bool propagate_nan = false;           // see PlanOptions::propagate_nan
  std::vector<std::string> observable;  // value names that must stay observable (fault sites)
  // Override every neuron's time step and reset mode (engine/op_attrs.h NeuronAttrs); unset keeps the model's.
  std::optional<float> dt;
  std::optional<ResetMode> reset;
  bool keep_values = false;  // PlanOptions::keep_values: every value in a buffer of its own (StepSelection runs)
};

// A part of the compiled one-step graph to run (SpikingSession::run_steps): only the steps with run[s] set
// (step indexes of the batch's plan, SpikingSession::compiled_for), each after load(model, t, s), which writes
// the values step s reads from skipped steps (engine/spiking/step_cone.h lists them) as they are at time
// step t. The data and state inputs are written only when a running step reads them, and only the next
// values and outputs that running steps produce are read back: the other states keep the values they had,
// and an output no running step produces reaches after_step as an empty tensor. Plan with keep_values, so
// that the values skipped steps would produce have buffers no running step uses.
struct StepSelection {
  std::vector<char> run;
  std::function<Status(CompiledModel& model, int64_t t, size_t s)> load;
};

// What run() returns, one tensor per model output (the graph outputs that are not next states).
enum class SpikeRecord {
  kCounts,    // [N, out...]: the output summed over the T steps (spike counts for a spiking output)
  kSteps,     // [T, N, out...]: the output of every step
  kMembrane,  // [T, N, out...]: the membrane potential v (after reset) of the neuron feeding each output
};

class SpikingSession {
 public:
  static Result<std::unique_ptr<SpikingSession>> create(std::shared_ptr<const Graph> model, SpikingOptions options);

  // Runs T = inputs[0].dim(0) steps. `inputs` holds one [T, N, features...] tensor per data input (graph inputs
  // that are not state inputs, in graph order), float32 or any type read_npy gives (converted to float32);
  // all agree on T and N. The N samples run in batches of options.batch (a smaller last batch is planned on
  // demand); every sample starts from zero state.
  Result<std::vector<Tensor>> run(const std::vector<Tensor>& inputs, SpikeRecord record,
                                  StepObserver* observer = nullptr);

  // One executed batch driven time step by time step, for replays that start a faulty run from a kept golden
  // state and stop once it is golden again (faults/spiking_replay.h). Runs time steps start, start + 1, ... of
  // the samples [first, first + count) of `inputs` (as run() takes them; count <= options.batch, another batch
  // size is planned on demand), from `states`: one float32 tensor per state link (Graph::state_links order,
  // shaped as initial_states(count) gives them) holding what the links carry into step `start`. After each
  // step t, `states` holds what they carry into step t + 1, and after_step(t, outputs, states) gets the step's
  // model outputs as `record` reads them (the outputs, or the membranes for kMembrane: [count, out...], valid
  // during the call); it returns whether to go on (false ends the batch after step t); the caller may change
  // its `states` tensors in it (in place), and step t + 1 reads what they then hold. run() runs every batch
  // as run_steps(..., start 0, initial_states(count), ...): the same passes, the same bits.
  using StepCallback =
      std::function<Result<bool>(int64_t t, const std::vector<Tensor>& outputs, const std::vector<Tensor>& states)>;
  // With a `selection`, only its steps run (see StepSelection).
  Status run_steps(const std::vector<Tensor>& inputs, int64_t first, int64_t count, int64_t start,
                   std::vector<Tensor>& states, SpikeRecord record, StepObserver* observer,
                   const StepCallback& after_step, const StepSelection* selection = nullptr);
  // The compiled plan that runs batches of `count` samples (planned on demand).
  Result<CompiledModel*> compiled_for(int64_t count);
  // The states every batch of `count` samples starts from (zeros), one per state link.
  Result<std::vector<Tensor>> initial_states(int64_t count);

  // The time step executing now (during run(); -1 outside), for observers that act on a time-step range.
  int64_t time_step() const { return time_step_; }
  // The first sample of the batch executing now (during run()).
  int64_t first_sample() const { return first_sample_; }
  const SpikingOptions& options() const { return options_; }
  // The model as run (dt and reset applied) and the compiled main plan, for fault hooks.
  const Graph& model() const { return *model_; }
  CompiledModel& compiled() { return *plans_.front().compiled; }
  // Names of the data inputs and of the model outputs, in the order run() takes and returns them.
  const std::vector<std::string>& data_inputs() const { return data_inputs_; }
  const std::vector<std::string>& model_outputs() const { return model_outputs_; }

 private:
  // One compiled batch size and the ids, in its specialized graph, of everything the loop touches.
  struct Plan {
    int64_t batch = 0;
    std::unique_ptr<CompiledModel> compiled;
    std::vector<ValueId> data_inputs, model_outputs, membranes;
    std::vector<ValueId> state_inputs, next_values;  // one pair per state link
  };
  SpikingSession() = default;
  Result<Plan*> plan_for(int64_t batch);
  // `given` checked against the data inputs' shapes, as float32.
  Result<std::vector<Tensor>> checked_inputs(const std::vector<Tensor>& given) const;
  Status check_record(SpikeRecord record) const;

  std::shared_ptr<const Graph> model_;
  SpikingOptions options_;
  std::unique_ptr<Backend> backend_;
  std::vector<Plan> plans_;
  std::vector<std::string> data_inputs_, model_outputs_;
  int64_t time_step_ = -1;
  int64_t first_sample_ = 0;
};

// The value whose membrane potential SpikeRecord::kMembrane reports for model output `output`: the last output
// (v) of the neuron feeding it (through Identity/Output nodes). An error names the output when no neuron does.
Result<std::string> membrane_of_output(const Graph& graph, const std::string& output);

}  // namespace faultline
