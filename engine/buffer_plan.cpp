#include "engine/buffer_plan.h"

#include <algorithm>
#include <numeric>

namespace faultline {

BufferPlan plan_buffers(const std::vector<BufferRequest>& requests, size_t alignment) {
  BufferPlan plan;
  plan.offsets.assign(requests.size(), 0);
  std::vector<size_t> order(requests.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return requests[a].bytes > requests[b].bytes; });
  struct Placed {
    size_t offset, end;
    int first, last;
  };
  std::vector<Placed> placed;
  for (size_t index : order) {
    const BufferRequest& r = requests[index];
    size_t bytes = (std::max<size_t>(r.bytes, 1) + alignment - 1) / alignment * alignment;
    std::vector<std::pair<size_t, size_t>> busy;
    for (const Placed& p : placed)
      if (p.first <= r.last_step && r.first_step <= p.last) busy.emplace_back(p.offset, p.end);
    std::sort(busy.begin(), busy.end());
    size_t offset = 0;
    for (const auto& [begin, end] : busy) {
      if (offset + bytes <= begin) break;
      offset = std::max(offset, end);
    }
    plan.offsets[index] = offset;
    placed.push_back({offset, offset + bytes, r.first_step, r.last_step});
    plan.total_bytes = std::max(plan.total_bytes, offset + bytes);
  }
  return plan;
}

}  // namespace faultline
