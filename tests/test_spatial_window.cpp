// Window re-execution, piece by piece (engine/spatial_window.h, engine/kept_window.h,
// CompiledModel::run_step_window):
//   - the sliding-window geometry against brute force over every small case: the outputs an input range reaches
//     and the inputs (and zero padding) an output range reads;
//   - the per-op window rules on a hand-built graph;
//   - copy_box / differing_window against element-by-element loops on a dense and a channel-blocked layout, and
//     their image-list forms (gathering, scattering, comparing some images of a batch);
//   - the window policy, windows and image subsets timed apart;
//   - the oneDNN backend: on real CNN plans (ResNet20 with BatchNorm, the Inception net with its channel
//     concatenations, the DenseNet with concatenations and average pooling), for every step and
//     several one-element changes of its input in two images (corners included, where the crop pads), the step
//     run on the rules' window, of every image or of those two, or on the whole map of those two, writes exactly
//     the bytes the whole step writes, everywhere in its output.
#include <gtest/gtest.h>

#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "engine/kept_window.h"
#include "engine/session.h"
#include "engine/spatial_window.h"
#include "engine/window_policy.h"
#include "frontends/load_model.h"
#include "tests/support/graph_builder.h"
#include "tests/support/test_support.h"

namespace faultline {
namespace {

using testing::GraphBuilder;
using testing::random_tensor;
using testing::test_data;

TEST(SlidingAxis, OutputsReachedAndInputsReadMatchBruteForce) {
  int cases = 0;
  for (int64_t kernel : {1, 2, 3, 5})
    for (int64_t stride : {1, 2, 3})
      for (int64_t dilation : {1, 2})
        for (int64_t pad : {0, 1, 2})
          for (int64_t in = 1; in <= 9; ++in) {
            const int64_t span = (kernel - 1) * dilation + 1;
            if (in + 2 * pad < span) continue;
            const int64_t out = (in + 2 * pad - span) / stride + 1;
            const SlidingAxis axis{kernel, stride, dilation, pad, in, out};
            auto reads = [&](int64_t o, int64_t i) {
              for (int64_t j = 0; j < kernel; ++j)
                if (o * stride - pad + j * dilation == i) return true;
              return false;
            };
            for (int64_t a = 0; a < in; ++a)
              for (int64_t b = a + 1; b <= in; ++b) {
                std::set<int64_t> reached;
                for (int64_t o = 0; o < out; ++o)
                  for (int64_t i = a; i < b; ++i)
                    if (reads(o, i)) reached.insert(o);
                const auto [begin, end] = axis.outputs_reading(a, b);
                for (int64_t o : reached) EXPECT_TRUE(o >= begin && o < end) << "output " << o << " missed";
                if (dilation == 1 && !reached.empty()) {
                  EXPECT_EQ(begin, *reached.begin());
                  EXPECT_EQ(end, *reached.rbegin() + 1);
                }
                ++cases;
              }
            for (int64_t o0 = 0; o0 < out; ++o0)
              for (int64_t o1 = o0 + 1; o1 <= out; ++o1) {
                const SlidingAxis::Reads r = axis.inputs_read(o0, o1);
                int64_t lowest = INT64_MAX, highest = INT64_MIN;
                for (int64_t o = o0; o < o1; ++o)
                  for (int64_t j = 0; j < kernel; ++j) {
                    lowest = std::min(lowest, o * stride - pad + j * dilation);
                    highest = std::max(highest, o * stride - pad + j * dilation);
                  }
                EXPECT_EQ(r.first, std::max<int64_t>(0, lowest));
                EXPECT_EQ(r.last, std::min(in, highest + 1));
                EXPECT_EQ(r.pad_before, std::max<int64_t>(0, -lowest));
                EXPECT_EQ(r.pad_after, std::max<int64_t>(0, highest + 1 - in));
                // A convolution over the crop with these pads has exactly the window's outputs.
                EXPECT_EQ((r.last - r.first + r.pad_before + r.pad_after - span) / stride + 1, o1 - o0);
              }
          }
  EXPECT_GT(cases, 1000);
}

TEST(SpatialWindowRules, ConvReluAddPoolAndGemmGrowTheWindowAsTheirReceptiveFields) {
  GraphBuilder b;
  const ValueId x = b.input("x", {2, 4, 8, 8});
  const ValueId conv = testing::random_conv(b, x, 4, 4, testing::conv3x3(1), true, 1);
  const ValueId relu = b.node(OpKind::kRelu, {conv}, {}, "relu");
  const ValueId sum = b.node(OpKind::kAdd, {relu, x}, {}, "sum");
  const ValueId pool = b.node(OpKind::kMaxPool, {sum}, PoolAttrs{.kernel_shape = {2, 2}, .strides = {2, 2}}, "pool");
  const ValueId strided = testing::random_conv(b, pool, 4, 4, testing::conv3x3(2), false, 2);
  const ValueId flat = b.node(OpKind::kFlatten, {strided}, FlattenAttrs{.axis = 1}, "flat");
  b.output(flat);
  const Graph graph = b.build_with_shapes();

  std::map<ValueId, std::optional<SpatialWindow>> windows;
  auto window_of = [&](ValueId v) -> std::optional<SpatialWindow> {
    auto it = windows.find(v);
    return it == windows.end() ? std::nullopt : it->second;
  };
  windows[x] = SpatialWindow{3, 4, 0, 1};  // one pixel, row 3, column 0
  auto run = [&](ValueId out) {
    const NodeId id = graph.value(out).producer;
    windows[out] = node_output_window(graph, id, window_of);
    return windows[out];
  };
  EXPECT_EQ(run(conv), (SpatialWindow{2, 5, 0, 2}));  // 3x3 around it, clipped at column 0
  EXPECT_EQ(run(relu), (SpatialWindow{2, 5, 0, 2}));
  EXPECT_EQ(run(sum), (SpatialWindow{2, 5, 0, 2}));  // hull with x's own pixel
  EXPECT_EQ(run(pool), (SpatialWindow{1, 3, 0, 1}));  // rows 2-4 are pooled into 1 and 2
  EXPECT_EQ(run(strided), (SpatialWindow{0, 2, 0, 1}));  // 4x4 -> 2x2, pad 1: output row o reads rows 2o-1..2o+1
  EXPECT_EQ(run(flat), (SpatialWindow{0, 1, 0, 1}));  // not 4-D: differs as a whole

  // Nothing differs: no window. A changed weight: the whole output.
  windows.clear();
  EXPECT_FALSE(node_output_window(graph, graph.value(conv).producer, window_of).has_value());
  const ValueId weight = graph.node(graph.value(conv).producer).inputs[1];
  windows[weight] = SpatialWindow{0, 3, 0, 3};
  EXPECT_EQ(node_output_window(graph, graph.value(conv).producer, window_of), (SpatialWindow{0, 8, 0, 8}));
}

TEST(WindowPolicy, WindowsRunUntilTimedThenOnlyWhereTheyPay) {
  WindowPolicy policy(2);
  // Learning: windows until both kinds of run were timed three times.
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(policy.prefer_window(0, 0.25));
    policy.ran_window(0, 0.25, 1.0);  // 4 s per whole share
    policy.ran_whole(0, 2.0);
    policy.ran_window(1, 0.25, 0.1);  // 0.4 s per whole share
    policy.ran_whole(1, 2.0);
  }
  // Step 0: a quarter window costs 1 s against 2 s whole: it pays; a 0.6 share would not (2.4 s).
  EXPECT_TRUE(policy.prefer_window(0, 0.25));
  EXPECT_FALSE(policy.prefer_window(0, 0.6));
  EXPECT_TRUE(policy.prefer_window(1, 0.9));
  // A step whose windows cost more than a whole run is declined, and retried every 32nd time.
  for (int i = 0; i < 20; ++i) policy.ran_window(0, 0.25, 4.0);  // now about 16 s per share
  int tried = 0;
  for (int i = 0; i < 64; ++i) tried += policy.prefer_window(0, 0.25) ? 1 : 0;
  EXPECT_EQ(tried, 2);
}

TEST(WindowPolicy, ImageSubsetsAreTimedApartAndAgainstTimedWholeRuns) {
  WindowPolicy policy(1);
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(policy.prefer_window(0, 0.5, PartialRun::kImages));
    policy.ran_window(0, 0.5, 0.6, PartialRun::kImages);  // 1.2 s per whole share
  }
  EXPECT_FALSE(policy.prefer_window(0, 0.5, PartialRun::kImages)) << "whole runs are timed before choosing";
  for (int i = 0; i < 3; ++i) policy.ran_whole(0, 1.0);
  EXPECT_TRUE(policy.prefer_window(0, 0.5, PartialRun::kImages));   // 0.6 s against 1 s
  EXPECT_FALSE(policy.prefer_window(0, 0.9, PartialRun::kImages));  // 1.08 s
  EXPECT_TRUE(policy.prefer_window(0, 0.01, PartialRun::kWindow)) << "windows are learned apart";
}

// Partial runs cost a fixed part per call besides their share: the policy fits both, so that tiny windows
// (where the fixed part dominates) do not price larger ones at many times their cost.
TEST(WindowPolicy, PartialRunsAreFittedAsFixedCostPlusShare) {
  WindowPolicy policy(1);
  const auto seconds = [](double share) { return 0.4 + 4.0 * share; };  // the runs' true cost
  for (double share : {0.01, 0.05, 0.02, 0.1}) policy.ran_window(0, share, seconds(share));
  for (int i = 0; i < 3; ++i) policy.ran_whole(0, 2.0);
  EXPECT_NEAR(policy.expected_partial(0, 0.3), seconds(0.3), 1e-9);
  // A share of 0.3 costs 1.6 s against 2 s whole (a proportional fit of these runs says 6.7 s); 0.45 does not pay.
  EXPECT_TRUE(policy.prefer_window(0, 0.3));
  EXPECT_FALSE(policy.prefer_window(0, 0.45));
  // Runs all of one share fit through the origin; a fit with a negative fixed part does too.
  WindowPolicy same(1);
  for (int i = 0; i < 3; ++i) same.ran_window(0, 0.25, 1.0);
  EXPECT_NEAR(same.expected_partial(0, 0.5), 2.0, 1e-9);
  WindowPolicy steep(1);
  steep.ran_window(0, 0.1, 0.1);
  steep.ran_window(0, 0.5, 1.0);  // the line through both crosses zero at 0.044: fixed part negative
  EXPECT_GT(steep.expected_partial(0, 0.01), 0.0);
}

// Fills a layout's words with distinct values (word i holds i) in a byte buffer of its size.
std::vector<float> numbered(const KeptLayout& layout) {
  std::vector<float> words(static_cast<size_t>(layout.images * layout.image_stride));
  for (size_t i = 0; i < words.size(); ++i) words[i] = static_cast<float>(i);
  return words;
}

size_t word_index(const KeptLayout& l, int64_t n, int64_t c, int64_t y, int64_t x) {
  return static_cast<size_t>(n * l.image_stride + c / l.channel_block * l.block_stride + y * l.row_stride +
                             x * l.column_stride + c % l.channel_block);
}

TEST(KeptWindow, CopyBoxAndDifferingWindowMatchElementLoops) {
  // Dense NCHW; channels blocked by 4 (6 channels: two blocks, the second padded); channels-last (column stride C).
  KeptLayout nhwc;
  nhwc.images = 2, nhwc.channels = 3, nhwc.height = 5, nhwc.width = 7, nhwc.channel_block = 1;
  nhwc.image_stride = 5 * 7 * 3, nhwc.row_stride = 7 * 3, nhwc.column_stride = 3, nhwc.block_stride = 1;
  const KeptLayout layouts[] = {KeptLayout::dense(2, 3, 5, 7, 1, 4), KeptLayout::dense(2, 6, 5, 7, 4, 4), nhwc};
  for (const KeptLayout& layout : layouts) {
    const std::vector<float> from = numbered(layout);
    // copy_box into a dense crop of the same blocking, then back into zeros at another place.
    const int64_t h = 3, w = 4;
    const KeptLayout crop = KeptLayout::dense(layout.images, layout.channels, h, w, layout.channel_block, 4);
    std::vector<float> cropped(static_cast<size_t>(crop.images * crop.image_stride), -1.0f);
    copy_box(layout, reinterpret_cast<const std::byte*>(from.data()), 1, 2, crop,
             reinterpret_cast<std::byte*>(cropped.data()), 0, 0, h, w);
    for (int64_t n = 0; n < layout.images; ++n)
      for (int64_t c = 0; c < layout.channels; ++c)
        for (int64_t y = 0; y < h; ++y)
          for (int64_t x = 0; x < w; ++x)
            ASSERT_EQ(cropped[word_index(crop, n, c, y, x)], from[word_index(layout, n, c, 1 + y, 2 + x)]);
    std::vector<float> back(from.size(), 0.0f);
    copy_box(crop, reinterpret_cast<const std::byte*>(cropped.data()), 0, 0, layout,
             reinterpret_cast<std::byte*>(back.data()), 2, 3, h, w);
    for (int64_t n = 0; n < layout.images; ++n)
      for (int64_t c = 0; c < layout.channels; ++c)
        for (int64_t y = 0; y < layout.height; ++y)
          for (int64_t x = 0; x < layout.width; ++x) {
            const bool inside = y >= 2 && y < 2 + h && x >= 3 && x < 3 + w;
            ASSERT_EQ(back[word_index(layout, n, c, y, x)],
                      inside ? from[word_index(layout, n, c, y - 1, x - 1)] : 0.0f);
          }

    // differing_window: the bounding box of changed elements, within the window asked about.
    const SpatialWindow whole{0, layout.height, 0, layout.width};
    std::vector<float> other = from;
    const auto a = reinterpret_cast<const std::byte*>(from.data());
    const auto b = reinterpret_cast<const std::byte*>(other.data());
    EXPECT_FALSE(differing_window(layout, a, b, whole).has_value());
    other[word_index(layout, 1, layout.channels - 1, 3, 1)] += 1.0f;
    other[word_index(layout, 0, 0, 1, 5)] += 2.0f;
    EXPECT_EQ(differing_window(layout, a, b, whole), (SpatialWindow{1, 4, 1, 6}));
    EXPECT_EQ(differing_window(layout, a, b, SpatialWindow{2, 5, 0, 7}), (SpatialWindow{3, 4, 1, 2}));
    EXPECT_FALSE(differing_window(layout, a, b, SpatialWindow{0, 1, 0, 7}).has_value());

    // copy_window restores exactly the window.
    const ParallelFor serial = [](int64_t count, const std::function<void(int64_t, int64_t)>& body) { body(0, count); };
    copy_window(serial, layout, a, reinterpret_cast<std::byte*>(other.data()), SpatialWindow{3, 4, 0, 2},
                all_images(layout.images));
    EXPECT_EQ(differing_window(layout, a, b, whole), (SpatialWindow{1, 2, 5, 6}));
  }
}

TEST(KeptWindow, SplitCopiesAndComparisonsMatchTheWholeOnes) {
  // Parts of one element each, in reverse order: any split must give the whole-range answer.
  const ParallelFor one_by_one = [](int64_t count, const std::function<void(int64_t, int64_t)>& body) {
    for (int64_t i = count; i-- > 0;) body(i, i + 1);
  };
  const KeptLayout layout = KeptLayout::dense(5, 6, 7, 9, 4, 4);
  const std::vector<float> a = numbered(layout);
  std::vector<float> b = a;
  b[word_index(layout, 1, 2, 2, 7)] = -1.0f;
  b[word_index(layout, 4, 5, 5, 1)] = -2.0f;
  const auto pa = reinterpret_cast<const std::byte*>(a.data());
  const auto pb = reinterpret_cast<const std::byte*>(b.data());
  const SpatialWindow whole{0, 7, 0, 9};
  const ImageList all = all_images(layout.images);
  const ImageDifferences split = differing_images(one_by_one, layout, pa, pb, whole, all, true);
  EXPECT_EQ(split.images, (ImageList{1, 4}));
  EXPECT_EQ(split.window, (SpatialWindow{2, 6, 1, 8}));
  EXPECT_EQ(split.window, differing_window(layout, pa, pb, whole));
  EXPECT_TRUE(differing_images(one_by_one, layout, pa, pa, whole, all, true).images.empty());
  std::vector<float> c = b;
  copy_window(one_by_one, layout, pa, reinterpret_cast<std::byte*>(c.data()), SpatialWindow{5, 6, 0, 2}, all);
  EXPECT_EQ(differing_window(layout, pa, reinterpret_cast<const std::byte*>(c.data()), whole), (SpatialWindow{2, 3, 7, 8}));
  // Byte copies and comparisons over several 256 KiB parts, the difference in the last one.
  std::vector<std::byte> big(700'000, std::byte{7}), other(big.size());
  copy_bytes(one_by_one, big.data(), other.data(), big.size());
  EXPECT_EQ(big, other);
  EXPECT_FALSE(bytes_differ(one_by_one, big.data(), other.data(), big.size()));
  other.back() = std::byte{8};
  EXPECT_TRUE(bytes_differ(one_by_one, big.data(), other.data(), big.size()));
}

TEST(KeptWindow, ImageListCopiesAndComparisonsMatchElementLoops) {
  EXPECT_EQ(all_images(4), (ImageList{0, 1, 2, 3}));
  EXPECT_EQ(image_union({1, 4, 6}, {0, 4, 7}), (ImageList{0, 1, 4, 6, 7}));
  const ParallelFor one_by_one = [](int64_t count, const std::function<void(int64_t, int64_t)>& body) {
    for (int64_t i = count; i-- > 0;) body(i, i + 1);
  };
  KeptLayout nhwc;  // channels-last: columns are not contiguous runs of a block
  nhwc.images = 5, nhwc.channels = 3, nhwc.height = 4, nhwc.width = 6, nhwc.channel_block = 1;
  nhwc.image_stride = 4 * 6 * 3, nhwc.row_stride = 6 * 3, nhwc.column_stride = 3, nhwc.block_stride = 1;
  for (const KeptLayout& layout : {KeptLayout::dense(5, 6, 4, 6, 4, 4), nhwc}) {
    const std::vector<float> from = numbered(layout);
    const auto a = reinterpret_cast<const std::byte*>(from.data());
    const ImageList picked = {1, 3, 4}, dense = {0, 1, 2};
    // Gather rows 1-2 x columns 2-4 of images 1, 3, 4 into a 3-image crop; then the whole maps (one copy per
    // image when the layout is dense).
    for (const SpatialWindow box : {SpatialWindow{1, 3, 2, 5}, SpatialWindow{0, 4, 0, 6}}) {
      KeptLayout crop = KeptLayout::dense(3, layout.channels, box.height(), box.width(), layout.channel_block, 4);
      if (box == SpatialWindow{0, 4, 0, 6}) crop = layout.with_images(3);
      std::vector<float> cropped(static_cast<size_t>(crop.images * crop.image_stride), -1.0f);
      copy_box(one_by_one, layout, a, picked, box.y0, box.x0, crop, reinterpret_cast<std::byte*>(cropped.data()),
               dense, 0, 0, box.height(), box.width());
      for (size_t i = 0; i < picked.size(); ++i)
        for (int64_t c = 0; c < layout.channels; ++c)
          for (int64_t y = 0; y < box.height(); ++y)
            for (int64_t x = 0; x < box.width(); ++x)
              ASSERT_EQ(cropped[word_index(crop, static_cast<int64_t>(i), c, y, x)],
                        from[word_index(layout, picked[i], c, box.y0 + y, box.x0 + x)]);
      // Scattered back into zeros: the listed images' box only.
      std::vector<float> back(from.size(), 0.0f);
      copy_box(one_by_one, crop, reinterpret_cast<const std::byte*>(cropped.data()), dense, 0, 0, layout,
               reinterpret_cast<std::byte*>(back.data()), picked, box.y0, box.x0, box.height(), box.width());
      for (int64_t n = 0; n < layout.images; ++n)
        for (int64_t c = 0; c < layout.channels; ++c)
          for (int64_t y = 0; y < layout.height; ++y)
            for (int64_t x = 0; x < layout.width; ++x) {
              const bool listed = n == 1 || n == 3 || n == 4;
              const bool inside = y >= box.y0 && y < box.y1 && x >= box.x0 && x < box.x1;
              ASSERT_EQ(back[word_index(layout, n, c, y, x)], listed && inside ? from[word_index(layout, n, c, y, x)] : 0.0f);
            }
    }
    // differing_images: the images that differ within the window, and the box of their differences.
    std::vector<float> other = from;
    const auto b = reinterpret_cast<const std::byte*>(other.data());
    const SpatialWindow whole{0, layout.height, 0, layout.width};
    other[word_index(layout, 1, layout.channels - 1, 2, 1)] += 1.0f;
    other[word_index(layout, 4, 0, 0, 4)] -= 1.0f;
    const ImageList all = all_images(layout.images);
    ImageDifferences found = differing_images(one_by_one, layout, a, b, whole, all, true);
    EXPECT_EQ(found.images, (ImageList{1, 4}));
    EXPECT_EQ(found.window, (SpatialWindow{0, 3, 1, 5}));
    found = differing_images(one_by_one, layout, a, b, SpatialWindow{1, 4, 0, 6}, all, true);
    EXPECT_EQ(found.images, (ImageList{1}));
    EXPECT_EQ(found.window, (SpatialWindow{2, 3, 1, 2}));
    found = differing_images(one_by_one, layout, a, b, SpatialWindow{1, 4, 0, 6}, all, false);
    EXPECT_EQ(found.images, (ImageList{1}));
    EXPECT_EQ(found.window, (SpatialWindow{1, 4, 0, 6})) << "without find_window: the window asked about";
    EXPECT_TRUE(differing_images(one_by_one, layout, a, b, whole, ImageList{0, 2, 3}, true).images.empty());
    EXPECT_TRUE(window_differs(layout, a, b, SpatialWindow{0, 1, 4, 5}));
    EXPECT_FALSE(window_differs(layout, a, b, SpatialWindow{0, 2, 0, 4}));
    // copy_window of listed images restores those only.
    copy_window(one_by_one, layout, a, reinterpret_cast<std::byte*>(other.data()), whole, ImageList{4});
    EXPECT_EQ(differing_images(one_by_one, layout, a, b, whole, all, false).images, (ImageList{1}));
  }
}

// Every step of `file`'s oneDNN plan (keep_values, batch 10, `threads`) with a window runner: a one-element change of
// its first input in images 1 and 7 at each of `positions`, then the step run on the rules' window (of every image,
// of those two) or on the whole map of those two, must leave its output with the bytes of the whole step. Returns
// the op names of the steps that ran on part of their output ("Conv"; "Conv@images": the whole map of some images).
std::set<std::string> check_windows_match_whole_steps(const char* file, int threads = 1) {
  std::set<std::string> windowed;
  auto model = load_model(test_data(file));
  EXPECT_TRUE(model.is_ok()) << model.status().message();
  if (!model.is_ok()) return windowed;
  const int64_t batch = 10;
  const ImageList changed_images = {1, 7};
  // As a campaign plans it: the convolutions' outputs are fault sites, so BatchNorm and Add run as steps.
  std::vector<std::string> sites;
  for (const Node& node : (*model)->nodes())
    if (node.op == OpKind::kConv) sites.push_back((*model)->value(node.outputs[0]).name);
  auto session = Session::create(*model, testing::onednn_campaign_options(batch, threads, sites));
  EXPECT_TRUE(session.is_ok()) << session.status().message();
  if (!session.is_ok()) return windowed;
  CompiledModel& compiled = (*session)->compiled();
  const Graph& graph = compiled.graph();
  const Shape& in_shape = graph.value(graph.inputs()[0]).shape;
  const Tensor input = random_tensor(in_shape, 5);
  EXPECT_TRUE(compiled.write_value(graph.inputs()[0], input).is_ok());
  for (size_t s = 0; s < compiled.num_steps(); ++s) compiled.run_step(s);

  auto bytes = [&](ValueId v) {
    const std::span<std::byte> kept = compiled.kept_storage(v);
    return std::vector<std::byte>(kept.begin(), kept.end());
  };
  auto put = [&](ValueId v, const std::vector<std::byte>& b) {
    std::memcpy(compiled.kept_storage(v).data(), b.data(), b.size());
  };
  for (size_t s = 0; s < compiled.num_steps(); ++s) {
    const StepInfo& step = compiled.step(s);
    if (step.outputs.size() != 1) continue;
    const ValueId out = step.outputs[0];
    const ValueId in = graph.node(step.nodes[0]).inputs[0];
    const std::optional<KeptLayout> in_layout = compiled.kept_layout(in);
    if (!compiled.kept_layout(out) || !in_layout) continue;
    const std::vector<std::byte> golden_in = bytes(in), golden_out = bytes(out);
    const int64_t H = in_layout->height, W = in_layout->width;
    const std::pair<int64_t, int64_t> positions[] = {{0, 0}, {H - 1, W - 1}, {H / 2, W / 3}, {0, W - 1}, {H - 1, 1 % W}};
    for (const auto& [py, px] : positions) {
      // One word of channel 0 of images 1 and 7 at (py, px) made larger.
      std::vector<std::byte> changed = golden_in;
      for (int64_t image : changed_images) {
        const size_t word = word_index(*in_layout, image, 0, py, px);
        float value = 0;
        std::memcpy(&value, changed.data() + word * 4, 4);
        value = value * 1.5f + 0.75f;
        std::memcpy(changed.data() + word * 4, &value, 4);
      }
      put(in, changed);
      compiled.run_step(s);
      const std::vector<std::byte> whole = bytes(out);
      // The rules' window of the output, from the one-pixel window of the input.
      std::vector<std::pair<ValueId, std::optional<SpatialWindow>>> known = {{in, SpatialWindow{py, py + 1, px, px + 1}}};
      auto window_of = [&](ValueId v) -> std::optional<SpatialWindow> {
        for (const auto& [value_id, window] : known)
          if (value_id == v) return window;
        return std::nullopt;
      };
      for (NodeId n : step.nodes) known.emplace_back(graph.node(n).outputs[0], node_output_window(graph, n, window_of));
      const std::optional<SpatialWindow> window = window_of(out);
      EXPECT_TRUE(window.has_value());
      if (!window) continue;
      // The window of every image, the window of the changed images, the whole map of the changed images
      // (a crop batch smaller than the step's: 8 of 10).
      const KeptLayout out_layout = *compiled.kept_layout(out);
      const std::pair<SpatialWindow, ImageList> parts[] = {
          {*window, all_images(batch)},
          {*window, changed_images},
          {SpatialWindow{0, out_layout.height, 0, out_layout.width}, changed_images}};
      for (const auto& [part, images] : parts) {
        put(out, golden_out);
        if (!compiled.run_step_window(s, part, images)) {
          EXPECT_EQ(bytes(out), golden_out) << "a declined window changed nothing";
          continue;
        }
        const bool whole_map = part == SpatialWindow{0, out_layout.height, 0, out_layout.width};
        for (NodeId n : step.nodes)  // a fused step (BatchNorm + Add + Relu) counts for each of its ops
          windowed.insert(std::string(op_name(graph.node(n).op)) + (whole_map ? "@images" : ""));
        EXPECT_EQ(bytes(out), whole) << file << ": step " << s << " (" << graph.describe(step.nodes[0])
                                     << ") on window rows " << part.y0 << "-" << part.y1 << ", columns " << part.x0
                                     << "-" << part.x1 << " of " << images.size() << " images";
      }
    }
    put(in, golden_in);
    put(out, golden_out);
  }
  return windowed;
}

TEST(OnednnWindows, StepsOnTheRulesWindowWriteTheWholeStepsBytes) {
  const std::set<std::string> resnet = check_windows_match_whole_steps("models/resnet20_bn.onnx");
  for (const std::string op : {"Conv", "BatchNormalization", "Relu", "Add"}) {
    EXPECT_TRUE(resnet.count(op)) << op << " never ran on a window";
    EXPECT_TRUE(resnet.count(op + "@images")) << op << " never ran on some images";
  }
  const std::set<std::string> inception = check_windows_match_whole_steps("models/googlenet_small.onnx");
  for (const std::string op : {"Conv", "Concat", "MaxPool"}) {
    EXPECT_TRUE(inception.count(op)) << op << " never ran on a window";
    EXPECT_TRUE(inception.count(op + "@images")) << op << " never ran on some images";
  }
  const std::set<std::string> densenet = check_windows_match_whole_steps("models/densenet_small.onnx");
  for (const std::string op : {"Conv", "Concat", "AveragePool"}) {
    EXPECT_TRUE(densenet.count(op)) << op << " never ran on a window";
    EXPECT_TRUE(densenet.count(op + "@images")) << op << " never ran on some images";
  }
  // 1x1 convolutions of 512 input channels on 28x28 maps (oneDNN's jit_1x1 kernels, whose crops of a window
  // would sum the channels in other chunks): they run on the whole maps of some images only (a crop of 8
  // images for a step of 10), everything else on its window too.
  const std::set<std::string> bottleneck = check_windows_match_whole_steps("models/bottleneck_1x1.onnx");
  EXPECT_TRUE(bottleneck.count("Relu")) << "the element-wise steps still run on windows";
  EXPECT_TRUE(bottleneck.count("Conv@images")) << "the 1x1 convolutions run on the whole maps of some images";
}

TEST(OnednnWindows, TwoThreadsSplitTheWindowCopiesAndLoopsOverTheImages) {
  const std::set<std::string> resnet = check_windows_match_whole_steps("models/resnet20_bn.onnx", 2);
  for (const std::string op : {"Conv", "BatchNormalization", "Relu", "Add"})
    EXPECT_TRUE(resnet.count(op) && resnet.count(op + "@images")) << op;
  EXPECT_TRUE(resnet.count("AveragePool@images")) << "the 8x8 average pool: its 1x1 output is the whole map";
  const std::set<std::string> densenet = check_windows_match_whole_steps("models/densenet_small.onnx", 2);
  EXPECT_TRUE(densenet.count("Concat") && densenet.count("Concat@images"));
}

// Every convolution of ResNet20's fault plan (its weights fault sites, as a weight campaign plans it): with the
// weights of output channel c made larger, the step run on channel c alone (its 16-channel block) writes the
// bytes of the whole faulty step in that block and leaves the others as they were (golden).
TEST(OnednnChannels, ConvolutionsOnTheChannelsOfAChangedWeightWriteTheWholeStepsBytes) {
  auto model = load_model(test_data("models/resnet20_bn.onnx"));
  ASSERT_TRUE(model.is_ok()) << model.status().message();
  std::vector<std::string> weight_sites;
  for (const Node& node : (*model)->nodes())
    if (node.op == OpKind::kConv) weight_sites.push_back((*model)->value(node.inputs[1]).name);
  auto session = Session::create(*model, testing::onednn_campaign_options(4, 2, weight_sites));
  ASSERT_TRUE(session.is_ok()) << session.status().message();
  CompiledModel& compiled = (*session)->compiled();
  const Graph& graph = compiled.graph();
  ASSERT_TRUE(compiled.write_value(graph.inputs()[0], random_tensor(graph.value(graph.inputs()[0]).shape, 9)).is_ok());
  for (size_t s = 0; s < compiled.num_steps(); ++s) compiled.run_step(s);
  auto bytes = [&](ValueId v) {
    const std::span<std::byte> kept = compiled.kept_storage(v);
    return std::vector<std::byte>(kept.begin(), kept.end());
  };
  int ran = 0;
  for (size_t s = 0; s < compiled.num_steps(); ++s) {
    const Node& conv = graph.node(compiled.step(s).nodes.front());
    if (conv.op != OpKind::kConv || compiled.step(s).outputs.size() != 1) continue;
    const ValueId out = compiled.step(s).outputs[0];
    const ValueId weights = conv.inputs[1];
    const Tensor original = graph.value(weights).constant.clone();
    const int64_t channels = original.dim(0), per_channel = original.numel() / channels;
    const std::vector<std::byte> golden = bytes(out);
    for (const int64_t c : {int64_t{0}, channels / 2 + 1, channels - 1}) {
      Tensor faulty = original.clone();
      for (int64_t k = 0; k < per_channel; ++k) faulty.data<float>()[c * per_channel + k] += 0.5f;
      ASSERT_TRUE(compiled.write_value(weights, faulty).is_ok());
      compiled.run_step(s);
      const std::vector<std::byte> whole = bytes(out);
      EXPECT_NE(whole, golden) << "the changed weights must show";
      std::memcpy(compiled.kept_storage(out).data(), golden.data(), golden.size());
      if (compiled.run_step_channels(s, c, c + 1)) {
        ++ran;
        EXPECT_EQ(bytes(out), whole) << graph.describe(compiled.step(s).nodes.front()) << ": output channel " << c;
      } else {
        EXPECT_EQ(bytes(out), golden) << "a declined channel run changed nothing";
      }
      ASSERT_TRUE(compiled.write_value(weights, original).is_ok());
    }
    std::memcpy(compiled.kept_storage(out).data(), golden.data(), golden.size());
  }
  EXPECT_GE(ran, 16 * 3) << "the convolutions without a fused sum run on a channel block";
}

}  // namespace
}  // namespace faultline
