// CompiledModel::patch_value_words on a constant (a weight fault that rewrites only the faulted words): on oneDNN
// the patched words and every copy prepared from the weight (its reorder, the BatchNorm folded into it) must
// give the bytes that writing the whole patched weight gives, and the restoring patches the original bytes.
// Backends that cannot (the reference) answer false and change nothing.
#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <vector>

#include "engine/backend.h"
#include "engine/session.h"
#include "faults/bit_ops.h"
#include "tests/support/backend_comparison.h"
#include "tests/support/graph_builder.h"
#include "tests/support/test_support.h"

namespace faultline {
namespace {

using testing::GraphBuilder;
using testing::random_tensor;

struct ConvBn {
  Graph graph;
  ValueId weight;
};

ConvBn conv_bn_relu() {
  GraphBuilder b;
  const ValueId x = b.input("x", {2, 8, 6, 6});
  const ValueId w = b.constant("w", random_tensor({16, 8, 3, 3}, 1, -0.3f, 0.3f));
  const ValueId c = b.node(OpKind::kConv, {x, w}, ConvAttrs{{3, 3}, {1, 1}, {1, 1}, {1, 1, 1, 1}, 1});
  b.output(b.node(OpKind::kRelu, {testing::random_batch_norm(b, c, 16, 4)}));
  return {b.build_with_shapes(), w};
}

std::unique_ptr<CompiledModel> compile(const std::string& backend, const Graph& graph) {
  auto created = create_backend(backend);
  EXPECT_TRUE(created.is_ok());
  auto compiled = (*created)->compile(graph, {});
  EXPECT_TRUE(compiled.is_ok()) << compiled.status().message();
  return compiled.is_ok() ? std::move(compiled).value() : nullptr;
}

TEST(ConstantWordPatch, OnednnPatchesTheWordsAndEveryPreparedCopy) {
  const ConvBn m = conv_bn_relu();
  std::unique_ptr<CompiledModel> patched_model = compile("onednn", m.graph);
  std::unique_ptr<CompiledModel> written_model = compile("onednn", m.graph);
  ASSERT_TRUE(patched_model && written_model);
  const std::vector<Tensor> inputs = testing::random_inputs(m.graph, 3);
  const std::vector<Tensor> golden = testing::run_model(*patched_model, inputs);

  // An exponent flip, a stuck-at-0 on the sign and a value, on three elements (the last one, too).
  const Tensor& original = m.graph.value(m.weight).constant;
  const int64_t last = original.numel() - 1;
  const std::vector<WordPatch> patches = {{5, ~uint64_t{0}, 0, uint64_t{1} << 30},
                                          {17, ~(uint64_t{1} << 31), 0, 0},
                                          {last, 0, 0x3F800000u, 0}};
  Tensor expected = original.clone();
  std::vector<WordPatch> restores;
  for (const WordPatch& p : patches) {
    uint32_t word;
    std::memcpy(&word, &expected.data<float>()[p.element], 4);
    restores.push_back({p.element, 0, word, 0});
    word = static_cast<uint32_t>(apply_word_masks(word, WordMasks{p.keep, p.set, p.flip}, 32));
    std::memcpy(&expected.data<float>()[p.element], &word, 4);
  }
  Result<bool> patched = patched_model->patch_value_words(m.weight, patches);
  ASSERT_TRUE(patched.is_ok()) << patched.status().message();
  ASSERT_TRUE(*patched);
  ASSERT_TRUE(written_model->write_value(m.weight, expected).is_ok());
  Tensor read_back;
  ASSERT_TRUE(patched_model->read_value(m.weight, read_back).is_ok());
  EXPECT_EQ(std::memcmp(read_back.raw(), expected.raw(), expected.nbytes()), 0);
  const std::vector<Tensor> faulty = testing::run_model(*patched_model, inputs);
  const std::vector<Tensor> written = testing::run_model(*written_model, inputs);
  ASSERT_EQ(faulty[0].nbytes(), written[0].nbytes());
  EXPECT_EQ(std::memcmp(faulty[0].raw(), written[0].raw(), faulty[0].nbytes()), 0)
      << "the folded copy follows the patched words as it follows a written weight";
  EXPECT_NE(std::memcmp(faulty[0].raw(), golden[0].raw(), faulty[0].nbytes()), 0) << "the fault acts";

  Result<bool> restored_words = patched_model->patch_value_words(m.weight, restores);
  ASSERT_TRUE(restored_words.is_ok() && *restored_words);
  ASSERT_TRUE(patched_model->read_value(m.weight, read_back).is_ok());
  EXPECT_EQ(std::memcmp(read_back.raw(), original.raw(), original.nbytes()), 0);
  const std::vector<Tensor> restored = testing::run_model(*patched_model, inputs);
  EXPECT_EQ(std::memcmp(restored[0].raw(), golden[0].raw(), golden[0].nbytes()), 0);
  EXPECT_EQ(std::memcmp(m.graph.value(m.weight).constant.raw(), original.raw(), original.nbytes()), 0)
      << "the graph's own constant is never written";
  EXPECT_FALSE(patched_model->patch_value_words(m.weight, {{WordPatch{original.numel()}}}).is_ok())
      << "an element outside the weight";
}

TEST(ConstantWordPatch, TheReferenceBackendDeclines) {
  const ConvBn m = conv_bn_relu();
  std::unique_ptr<CompiledModel> model = compile("reference", m.graph);
  ASSERT_TRUE(model);
  Result<bool> patched = model->patch_value_words(m.weight, {{WordPatch{0, 0, 0, 0}}});
  ASSERT_TRUE(patched.is_ok());
  EXPECT_FALSE(*patched);
  Tensor read_back;
  ASSERT_TRUE(model->read_value(m.weight, read_back).is_ok());
  EXPECT_EQ(std::memcmp(read_back.raw(), m.graph.value(m.weight).constant.raw(), read_back.nbytes()), 0);
}

}  // namespace
}  // namespace faultline
