// CompiledModel::value_storage / value_element_offset (engine/backend.h): for every value of real CNN plans, on
// the reference backend (dense) and the oneDNN backend (blocked nChw16c / nChw8c and plain layouts alike),
// every element's offset holds that element: a value written with distinct numbers (its own row-major index)
// through write_value() is found, element by element, at the offsets the backend gives. Plans with
// keep_values expose the same bytes as kept_storage(); plain plans (shared buffers) expose each value's
// current bytes and no kept storage.
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

// Checks every value of a plan of `file` on `backend`; returns how many had bytes to check.
size_t check_every_value(const char* file, const char* backend, bool keep_values) {
  auto model = load_model(test_data(file));
  EXPECT_TRUE(model.is_ok()) << model.status().message();
  if (!model.is_ok()) return 0;
  SessionOptions options;
  options.backend = backend;
  options.batch = 2;
  options.threads = 1;
  options.keep_values = keep_values;
  auto session = Session::create(*model, options);
  EXPECT_TRUE(session.is_ok()) << session.status().message();
  if (!session.is_ok()) return 0;
  CompiledModel& compiled = (*session)->compiled();
  const Graph& graph = compiled.graph();
  const std::string where = std::string(file) + " on " + backend + (keep_values ? ", kept" : ", plain");
  size_t checked = 0;
  for (size_t v = 0; v < graph.values().size(); ++v) {
    const auto id = static_cast<ValueId>(v);
    const Value& value = graph.value(id);
    const std::span<std::byte> bytes = compiled.value_storage(id);
    const std::span<std::byte> kept = compiled.kept_storage(id);
    if (keep_values) {
      EXPECT_EQ(kept.data(), bytes.data()) << where << ": " << value.name;
    } else {
      EXPECT_TRUE(kept.empty()) << where << ": " << value.name;
    }
    if (bytes.empty()) {
      EXPECT_FALSE(compiled.value_element_offset(id, 0).has_value()) << where << ": " << value.name;
      continue;
    }
    EXPECT_FALSE(value.is_constant()) << where << ": " << value.name;
    if (value.dtype != DType::kFloat32) {
      ADD_FAILURE() << where << ": " << value.name << " is not float32";
      continue;
    }
    auto numbered = Tensor::allocate(DType::kFloat32, value.shape);
    EXPECT_TRUE(numbered.is_ok());
    if (!numbered.is_ok()) continue;
    for (int64_t i = 0; i < numbered->numel(); ++i) numbered->data<float>()[i] = static_cast<float>(i);
    const Status written = compiled.write_value(id, *numbered);
    EXPECT_TRUE(written.is_ok()) << where << ": " << value.name << ": " << written.message();
    if (!written.is_ok()) continue;
    for (int64_t i = 0; i < numbered->numel(); ++i) {
      const std::optional<size_t> offset = compiled.value_element_offset(id, i);
      if (!offset || *offset + sizeof(float) > bytes.size()) {
        ADD_FAILURE() << where << ": " << value.name << " element " << i << " has no offset within its bytes";
        break;
      }
      float stored = 0;
      std::memcpy(&stored, bytes.data() + *offset, sizeof stored);
      if (stored != static_cast<float>(i)) {
        ADD_FAILURE() << where << ": " << value.name << " element " << i << " holds " << stored;
        break;
      }
    }
    EXPECT_FALSE(compiled.value_element_offset(id, numbered->numel()).has_value()) << where << ": " << value.name;
    ++checked;
  }
  return checked;
}

TEST(ValueElementOffset, EveryElementOfEveryKeptValueIsWhereTheBackendSays) {
  for (const char* file : {"models/resnet20_bn.onnx", "models/googlenet_small.onnx", "models/densenet_small.onnx"})
    for (const char* backend : {"reference", "onednn"})
      EXPECT_GT(check_every_value(file, backend, true), 20u) << file << " on " << backend;
}

TEST(ValueElementOffset, PlainPlansExposeEachValuesCurrentBytesAndNoKeptStorage) {
  for (const char* file : {"models/resnet20_bn.onnx", "models/googlenet_small.onnx"})
    for (const char* backend : {"reference", "onednn"})
      EXPECT_GT(check_every_value(file, backend, false), 5u) << file << " on " << backend;
}

}  // namespace
}  // namespace faultline
