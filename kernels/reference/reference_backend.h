// The "reference" backend: one step per node, reference kernels, dense logical buffers in one arena
// (lifetimes planned by engine/buffer_plan.h). No fusion. Slow and obviously right.
#pragma once

#include <memory>

#include "engine/backend.h"

namespace faultline {

std::unique_ptr<Backend> make_reference_backend();

}  // namespace faultline
