// BatchNormalization as PyTorch computes it, bit for bit (kernels/reference/batch_norm_terms.h), against torch's
// own outputs (scripts/make_batch_norm_reference.py -> tests/data/ops/batch_norm_*.npy: inputs holding NaN,
// +-inf, -0.0, subnormals and 1e30s, parameters holding what faults make: a negative and a zero variance, a
// scale whose alpha overflows, an inf and a NaN mean, a -0.0 scale). Checked: the reference kernel; the oneDNN
// fault plan's NaN-exact chain on a plain input, BatchNormalization alone and BN -> Add -> Relu fused into one
// step as in a ResNet block; onednn::PointwiseChain itself on channel-blocked and channels-last layouts, whole
// and over ranges that start and end anywhere; and a rewritten parameter reaching the chain.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <memory>
#include <oneapi/dnnl/dnnl.hpp>
#include <vector>

#include "engine/npy.h"
#include "kernels/onednn/onednn_backend.h"
#include "kernels/onednn/onednn_pointwise_chain.h"
#include "kernels/reference/reference_backend.h"
#include "tests/support/graph_builder.h"
#include "tests/support/test_support.h"

namespace faultline {
namespace {

using testing::GraphBuilder;
using testing::compile_or_fail;
using testing::run_model;
using testing::test_data;

Tensor load(const std::string& name) {
  Result<Tensor> t = read_npy(test_data("ops/" + name + ".npy"));
  EXPECT_TRUE(t.is_ok()) << t.status().message();
  return t.is_ok() ? std::move(*t) : Tensor();
}

// Every float equal bit for bit, or both NaN.
::testing::AssertionResult same_floats(const float* expected, const float* actual, int64_t count) {
  int64_t differing = 0, first = -1;
  for (int64_t i = 0; i < count; ++i) {
    const bool equal = std::memcmp(&expected[i], &actual[i], sizeof(float)) == 0 ||
                       (std::isnan(expected[i]) && std::isnan(actual[i]));
    if (!equal && differing++ == 0) first = i;
  }
  if (differing == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << differing << " of " << count << " floats differ, first at " << first
                                       << ": expected " << expected[first] << ", got " << actual[first];
}
::testing::AssertionResult same_floats(const Tensor& expected, const Tensor& actual) {
  if (expected.shape() != actual.shape()) return ::testing::AssertionFailure() << "shapes differ";
  return same_floats(expected.data<float>(), actual.data<float>(), expected.numel());
}

struct Reference {
  Tensor x = load("batch_norm_x"), other = load("batch_norm_other"), params = load("batch_norm_params");
  Tensor y = load("batch_norm_y"), add_relu_y = load("batch_norm_add_relu_y");
  int64_t channels() const { return x.dim(1); }
  Tensor param(int64_t k) const {
    Tensor row = std::move(Tensor::allocate(DType::kFloat32, {channels()})).value();
    std::memcpy(row.raw(), params.data<float>() + k * channels(), row.nbytes());
    return row;
  }
  std::vector<BatchNormTerms> terms() const {
    std::vector<BatchNormTerms> t;
    const float* p = params.data<float>();
    const int64_t c = channels();
    for (int64_t i = 0; i < c; ++i) t.push_back(batch_norm_terms(p[i], p[c + i], p[2 * c + i], p[3 * c + i], 1e-5f));
    return t;
  }
};

// x -> BatchNormalization [-> Add other -> Relu].
Graph bn_graph(const Reference& r, bool add_relu) {
  GraphBuilder b;
  const ValueId x = b.input("x", r.x.shape());
  std::vector<ValueId> inputs{x};
  for (int64_t k = 0; k < 4; ++k) inputs.push_back(b.constant("p" + std::to_string(k), r.param(k)));
  ValueId y = b.node(OpKind::kBatchNormalization, inputs, BatchNormAttrs{1e-5f}, "bn");
  if (add_relu) {
    const ValueId other = b.input("other", r.other.shape());
    y = b.node(OpKind::kRelu, {b.node(OpKind::kAdd, {y, other}, {}, "add")}, {}, "relu");
  }
  b.output(y);
  return b.build_with_shapes();
}

PlanOptions fault_plan() {
  PlanOptions options;
  options.threads = 2;
  options.propagate_nan = true;
  options.keep_values = true;
  return options;
}

TEST(BatchNormExact, ReferenceKernelAndOnednnFaultPlanAreTorchBitForBit) {
  const Reference r;
  const std::pair<std::unique_ptr<Backend>, PlanOptions> plans[] = {{make_reference_backend(), PlanOptions{}},
                                                                    {make_onednn_backend(), fault_plan()}};
  for (const auto& [backend, options] : plans) {
    std::unique_ptr<CompiledModel> model = compile_or_fail(*backend, bn_graph(r, false), options);
    ASSERT_TRUE(model);
    const std::vector<Tensor> out = run_model(*model, {r.x});
    ASSERT_EQ(out.size(), 1u);
    EXPECT_TRUE(same_floats(r.y, out[0])) << backend->name();
  }
}

TEST(BatchNormExact, ResidualTailIsOneStepAndTorchBitForBit) {
  const Reference r;
  const Graph graph = bn_graph(r, true);
  std::unique_ptr<CompiledModel> model = compile_or_fail(*make_onednn_backend(), graph, fault_plan());
  ASSERT_TRUE(model);
  ASSERT_EQ(model->num_steps(), 1u);  // BN + Add + Relu, the intermediate values never written
  EXPECT_EQ(model->step(0).nodes.size(), 3u);
  const std::vector<Tensor> out = run_model(*model, {r.x, r.other});
  ASSERT_EQ(out.size(), 1u);
  EXPECT_TRUE(same_floats(r.add_relu_y, out[0]));
  // Without propagate_nan the oneDNN primitives run (no chain): the fault plan is what changed.
  PlanOptions plain = fault_plan();
  plain.propagate_nan = false;
  std::unique_ptr<CompiledModel> plain_model = compile_or_fail(*make_onednn_backend(), graph, plain);
  ASSERT_TRUE(plain_model);
  EXPECT_GT(plain_model->num_steps(), 1u);
}

TEST(BatchNormExact, RewrittenParameterReachesTheChain) {
  // A fault on a BatchNorm parameter: the plan re-derives its terms (the prepare hook), as the reference does.
  Reference r;
  const Graph graph = bn_graph(r, false);
  std::unique_ptr<CompiledModel> model = compile_or_fail(*make_onednn_backend(), graph, fault_plan());
  std::unique_ptr<CompiledModel> reference = compile_or_fail(*make_reference_backend(), graph, {});
  ASSERT_TRUE(model && reference);
  Tensor scale = r.param(0);
  scale.data<float>()[2] = 3.0e38f;  // alpha overflows to inf
  scale.data<float>()[11] = -scale.data<float>()[11];
  for (CompiledModel* m : {model.get(), reference.get()})
    ASSERT_TRUE(m->write_value(*graph.find_value("p0"), scale).is_ok());
  const std::vector<Tensor> expected = run_model(*reference, {r.x});
  const std::vector<Tensor> actual = run_model(*model, {r.x});
  ASSERT_EQ(actual.size(), 1u);
  EXPECT_TRUE(same_floats(expected[0], actual[0]));
  EXPECT_FALSE(same_floats(r.y, actual[0]));  // the rewrite changed something
}

// The chain on a layout `tag` of x's dims, against torch: whole, then over ranges of odd lengths.
void check_layout(dnnl::memory::format_tag tag) {
  const Reference r;
  using dnnl::memory;
  const memory::dims dims(r.x.shape().begin(), r.x.shape().end());
  const memory::desc plain(dims, memory::data_type::f32, memory::format_tag::nchw);
  const memory::desc laid(dims, memory::data_type::f32, tag);
  const dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  dnnl::stream stream(engine);
  auto to_layout = [&](const Tensor& t) {
    std::vector<float> words(laid.get_size() / sizeof(float), 0.0f);
    memory from(plain, engine, const_cast<void*>(t.raw())), to(laid, engine, words.data());
    dnnl::reorder(from, to).execute(stream, from, to);
    stream.wait();
    return words;
  };
  auto to_plain = [&](std::vector<float>& words) {
    std::vector<float> values(static_cast<size_t>(r.x.numel()));
    memory from(laid, engine, words.data()), to(plain, engine, values.data());
    dnnl::reorder(from, to).execute(stream, from, to);
    stream.wait();
    return values;
  };
  const std::vector<float> x = to_layout(r.x), other = to_layout(r.other);
  for (const bool add_relu : {false, true}) {
    onednn::PointwiseChain::Ops ops;
    ops.batch_norm = true;
    ops.add = add_relu;
    if (add_relu) ops.activation = onednn::NanEltwise{onednn::NanEltwise::Kind::kRelu};
    std::unique_ptr<onednn::PointwiseChain> chain = onednn::PointwiseChain::create(laid, ops);
    ASSERT_TRUE(chain);
    EXPECT_EQ(chain->images(), r.x.dim(0));
    chain->set_batch_norm(r.terms());
    const Tensor& expected = add_relu ? r.add_relu_y : r.y;
    const int64_t words = static_cast<int64_t>(x.size());
    std::vector<float> out(x.size(), -7.0f);
    chain->run(x.data(), add_relu ? other.data() : nullptr, out.data(), 0, words);
    EXPECT_TRUE(same_floats(expected.data<float>(), to_plain(out).data(), r.x.numel())) << "whole, tag " << int(tag);
    std::vector<float> parts(x.size(), -7.0f);
    for (int64_t first = 0, step = 1; first < words; first += step, step = step * 3 % 1001 + 1) {
      const int64_t count = std::min(step, words - first);
      chain->run(x.data() + first, add_relu ? other.data() + first : nullptr, parts.data() + first, first, count);
    }
    EXPECT_TRUE(same_floats(out.data(), parts.data(), words)) << "ranges, tag " << int(tag);
    if (laid.get_size() != plain.get_size()) {  // the padding of the last channel block stays +0
      const std::vector<float> from_zero = to_layout(expected);  // reorders write zeros in the padding
      for (size_t w = 0; w < out.size(); ++w)
        if (from_zero[w] == 0.0f && !std::signbit(from_zero[w]) && std::isnan(out[w])) ADD_FAILURE() << "padding word " << w;
    }
  }
}

TEST(BatchNormExact, PointwiseChainOnBlockedLayoutIsTorchBitForBit) { check_layout(dnnl::memory::format_tag::nChw16c); }
TEST(BatchNormExact, PointwiseChainOnChannelsLastIsTorchBitForBit) { check_layout(dnnl::memory::format_tag::nhwc); }
TEST(BatchNormExact, PointwiseChainOnPlainIsTorchBitForBit) { check_layout(dnnl::memory::format_tag::nchw); }

TEST(BatchNormExact, PointwiseChainRefusesImagesBlockedTogether) {
  const dnnl::memory::desc md({16, 32, 4, 4}, dnnl::memory::data_type::f32, dnnl::memory::format_tag::NChw16n16c);
  onednn::PointwiseChain::Ops ops;
  ops.add = true;
  EXPECT_FALSE(onednn::PointwiseChain::create(md, ops));
  EXPECT_FALSE(onednn::PointwiseChain::create(dnnl::memory::desc({2, 16, 4, 4}, dnnl::memory::data_type::f32,
                                                                  dnnl::memory::format_tag::nchw),
                                              onednn::PointwiseChain::Ops{}));
}

}  // namespace
}  // namespace faultline
