// Assigns arena offsets to buffers with known lifetimes so that buffers whose lifetimes do not overlap
// share memory (greedy by size, first fit).
#pragma once

#include <cstddef>
#include <vector>

namespace faultline {

struct BufferRequest {
  size_t bytes = 0;
  int first_step = 0;  // the step that writes it
  int last_step = 0;   // the last step that reads it (inclusive)
};

struct BufferPlan {
  std::vector<size_t> offsets;  // one per request, aligned
  size_t total_bytes = 0;
};

BufferPlan plan_buffers(const std::vector<BufferRequest>& requests, size_t alignment = 64);

}  // namespace faultline
