// CompiledModel::kept_element_offset (engine/backend.h): for every kept value of real CNN plans, on the reference
// backend (dense) and the oneDNN backend (blocked nChw16c / nChw8c and plain layouts alike), every element's
// offset holds that element: a value written with distinct numbers (its own row-major index) through
// write_value() is found, element by element, at the offsets the backend gives. Values not kept, and plans
// without keep_values, give no offset.
#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <string>

#include "engine/session.h"
#include "frontends/load_model.h"
#include "tests/support/test_support.h"

namespace faultline {
namespace {

using testing::test_data;

TEST(KeptElementOffset, EveryElementOfEveryKeptValueIsWhereTheBackendSays) {
  for (const char* file : {"models/resnet20_bn.onnx", "models/googlenet_small.onnx", "models/densenet_small.onnx"}) {
    auto model = load_model(test_data(file));
    ASSERT_TRUE(model.is_ok()) << model.status().message();
    for (const char* backend : {"reference", "onednn"}) {
      SessionOptions options;
      options.backend = backend;
      options.batch = 2;
      options.threads = 1;
      options.keep_values = true;
      auto session = Session::create(*model, options);
      ASSERT_TRUE(session.is_ok()) << session.status().message();
      CompiledModel& compiled = (*session)->compiled();
      const Graph& graph = compiled.graph();
      size_t checked = 0;
      for (size_t v = 0; v < graph.values().size(); ++v) {
        const auto id = static_cast<ValueId>(v);
        const Value& value = graph.value(id);
        const std::span<std::byte> kept = compiled.kept_storage(id);
        if (kept.empty()) {
          EXPECT_FALSE(compiled.kept_element_offset(id, 0).has_value()) << value.name;
          continue;
        }
        ASSERT_EQ(value.dtype, DType::kFloat32) << value.name;
        auto numbered = Tensor::allocate(DType::kFloat32, value.shape);
        ASSERT_TRUE(numbered.is_ok());
        for (int64_t i = 0; i < numbered->numel(); ++i) numbered->data<float>()[i] = static_cast<float>(i);
        ASSERT_TRUE(compiled.write_value(id, *numbered).is_ok()) << value.name;
        for (int64_t i = 0; i < numbered->numel(); ++i) {
          const std::optional<size_t> offset = compiled.kept_element_offset(id, i);
          ASSERT_TRUE(offset.has_value()) << value.name << " element " << i;
          ASSERT_LE(*offset + sizeof(float), kept.size()) << value.name << " element " << i;
          float stored = 0;
          std::memcpy(&stored, kept.data() + *offset, sizeof stored);
          ASSERT_EQ(stored, static_cast<float>(i)) << file << " on " << backend << ": " << value.name << " element " << i;
        }
        EXPECT_FALSE(compiled.kept_element_offset(id, numbered->numel()).has_value()) << value.name;
        ++checked;
      }
      EXPECT_GT(checked, 20u) << file << " on " << backend;
    }
  }
}

TEST(KeptElementOffset, PlansWithoutKeptValuesGiveNoOffset) {
  auto model = load_model(test_data("models/resnet20_bn.onnx"));
  ASSERT_TRUE(model.is_ok());
  for (const char* backend : {"reference", "onednn"}) {
    SessionOptions options;
    options.backend = backend;
    options.batch = 2;
    auto session = Session::create(*model, options);
    ASSERT_TRUE(session.is_ok());
    const Graph& graph = (*session)->compiled().graph();
    for (size_t v = 0; v < graph.values().size(); ++v)
      EXPECT_FALSE((*session)->compiled().kept_element_offset(static_cast<ValueId>(v), 0).has_value()) << backend;
  }
}

}  // namespace
}  // namespace faultline
