// KernelFaultHook: the executor side of kernel-level faults (faults/kernel_sites.h), owned and driven by
// FaultInjector (faults/fault_injector.h), which forwards its step hooks.
//
// For each faulted node (a kernel target), in the compiled model it runs on:
//   before_step(s) of the step that computes the node: the node's inputs are read back (dense, logical order);
//   after_step(s): the node's output is read back; for every armed fault and every image it hits (all images
//     of the batch, or only FaultSite::batch, counted from `first_image`), each element of the fault's
//     footprint is recomputed by the fault-aware MAC arithmetic (kernels/reference/fault_aware_mac.h) with and
//     without the fault; an element whose faulty bits differ from the fault-free ones takes the faulty value.
//     Pattern faults apply their word fault to the footprint's elements of the output as computed. The output
//     is then written back, before any reader of it runs. Output words are handled as their dtype's bits
//     (float32; an integer op's int32, int8 or uint8), and an integer op's operands are centred once per step
//     (MacKernel::prepare_integer) when some fault needs its arithmetic.
// The node's output must be the output of a step (plan it observable: faulted_value_names() does), and its
// non-constant inputs readable. Faults of one node are applied in arming order; two arithmetic faults on one
// element: the later one's value stands (each is computed from the fault-free inputs).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <unordered_map>
#include <vector>

#include "engine/backend.h"
#include "engine/status.h"
#include "faults/fault.h"
#include "faults/fault_targets.h"
#include "faults/kernel_sites.h"

namespace faultline {

class KernelFaultHook {
 public:
  struct Armed {
    const Fault* fault = nullptr;
    const FaultTarget* target = nullptr;  // a kernel target
    int64_t element = -1;                 // check_kernel_fault's element (element sites), else -1
    WordTransform32 word;
  };

  KernelFaultHook() = default;
  // The faults must be checked (check_kernel_fault) and their pointers outlive the hook.
  explicit KernelFaultHook(std::vector<Armed> faults);
  bool empty() const { return faults_.empty(); }

  // The steps of `model` that compute a faulted node, ascending.
  Result<std::vector<size_t>> acting_steps(CompiledModel& model);
  Status before_step(CompiledModel& model, size_t index);
  Status after_step(CompiledModel& model, size_t index, int64_t first_image);

 private:
  // One faulted node in one compiled model.
  struct Site {
    std::vector<size_t> faults;  // indexes into faults_
    size_t step = 0;
    ValueId output = kNoValue;
    std::vector<ValueId> inputs;  // node.inputs (kNoValue for an omitted one)
    std::vector<Tensor> input_values;
    Tensor output_value;
    std::optional<MacKernel> kernel;
    std::vector<KernelFootprint> footprints;  // per fault of the site
    bool arithmetic = false;                  // some fault needs the inputs
  };
  struct ModelState {
    std::vector<Site> sites;
    std::vector<std::vector<size_t>> at_step;  // per step: the sites it computes
  };

  Result<ModelState*> state_for(CompiledModel& model);
  Result<Site> make_site(CompiledModel& model, const FaultTarget& target) const;
  Status apply(Site& site, int64_t first_image) const;

  std::vector<Armed> faults_;
  std::unordered_map<CompiledModel*, ModelState> models_;
};

}  // namespace faultline
