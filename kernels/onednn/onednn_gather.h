// Data movement directly on oneDNN layouts (plain, nhwc-like or blocked with one inner block such as
// nChw16c), so that Slice, Pad and Transpose (and chains of them, e.g. the option-A ResNet shortcut
// x[:, :, ::2, ::2] -> channel pad) need no reorder to plain order and back.
//
// All three are "axis gathers": along every destination axis the source index depends on that axis alone,
// and in a layout with at most one inner block the memory offset of an element is a sum of one term per
// logical axis. So a gather is two small tables per axis and a loop over the destination in its physical
// order.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include <oneapi/dnnl/dnnl.hpp>

namespace faultline::onednn {

// Destination axis d reads source axis `src_axis`; src_index[i] is the source index for destination index i
// along d, or -1 for the pad value. Each source axis is read by exactly one destination axis.
struct AxisGather {
  int src_axis = 0;
  std::vector<int64_t> src_index;
};

// A float32 memory layout as outer strides plus at most one inner block (nullopt for anything else:
// several inner blocks, non-blocked formats).
struct BlockedLayout {
  std::vector<int64_t> dims;          // logical
  std::vector<int64_t> padded_dims;   // dims rounded up to the inner block
  std::vector<int64_t> strides;       // in elements, of the outer (block) index along each axis
  int64_t offset0 = 0;
  int block_axis = -1;  // the axis with an inner block, -1 if none
  int64_t block = 1;
};
std::optional<BlockedLayout> describe_layout(const dnnl::memory::desc& md);

// The same format as `like` (plain, channels-last or a channel-blocked tag) with other dims of the same rank;
// plain row-major when `like` is none of the known tags.
dnnl::memory::desc same_format(const dnnl::memory::desc& like, const dnnl::memory::dims& dims);

class GatherKernel {
 public:
  // Nullopt when either layout is not a BlockedLayout or `axes` does not fit the two descs.
  static std::optional<GatherKernel> create(const dnnl::memory::desc& src, const dnnl::memory::desc& dst,
                                            const std::vector<AxisGather>& axes, float pad_value);
  // Writes every element of dst (its zero padding included).
  void run(const float* src, float* dst) const { run_part(src, dst, 0, outer_extent()); }
  // The outermost loop's extent, and the part of dst whose outermost index lies in [begin, end): disjoint
  // parts may run on different threads.
  int64_t outer_extent() const { return levels_.empty() ? 1 : levels_.front().count; }
  void run_part(const float* src, float* dst, int64_t begin, int64_t end) const;

 private:
  struct Level {
    int64_t count = 0;
    int64_t dst_stride = 0;
    int axis = 0;
  };
  void run_level(size_t level, int64_t dst_offset, int64_t src_offset, int64_t block_index, const float* src,
                 float* dst) const;

  // The innermost loop as runs: a copy of consecutive source elements, the pad value or the layout's zero
  // padding; one list per dst block index (or a single list for a non-blocked innermost axis).
  struct Segment {
    enum Kind : uint8_t { kCopy, kPad, kZero } kind;
    int64_t dst = 0, length = 0, src = 0;
  };
  void build_segments();

  std::vector<Segment> segments_;
  std::vector<size_t> segment_begin_;
  bool use_segments_ = false;
  std::vector<Level> levels_;               // outer loops, dst-stride descending
  std::vector<std::vector<int64_t>> src_terms_;  // per dst axis and index: source offset term (negative = pad)
  int inner_axis_ = 0;                      // the innermost loop's axis
  int64_t inner_count_ = 0;
  int64_t inner_dst_stride_ = 1;
  bool inner_is_block_ = false;             // innermost loop runs over the dst's inner block
  int64_t block_ = 1;
  int64_t block_axis_dim_ = 0;              // logical size of the blocked axis (zero padding beyond)
  int64_t src_offset0_ = 0;
  int64_t dst_offset0_ = 0;
  float pad_value_ = 0.0f;
};

}  // namespace faultline::onednn
