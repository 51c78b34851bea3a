// The "onednn" backend: oneDNN primitives created at compile time, blocked layouts chosen by the
// primitives (format_tag::any) and kept between layers, reorders only at the edges, fused post-ops
// (conv + folded BatchNorm + activation, conv + residual sum) wherever no observable value forbids it.
#pragma once

#include <memory>

#include "engine/backend.h"

namespace faultline {

std::unique_ptr<Backend> make_onednn_backend();

}  // namespace faultline
