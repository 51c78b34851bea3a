// Session: batches split and re-joined, a smaller last batch planned on demand, inputs checked.
#include <gtest/gtest.h>

#include "engine/session.h"
#include "tests/support/graph_builder.h"

namespace faultline {
namespace {

using testing::GraphBuilder;

std::shared_ptr<const Graph> scale_and_relu(Shape input_shape) {
  GraphBuilder b;
  ValueId x = b.input("x", std::move(input_shape));
  ValueId two = b.constant("two", Tensor::from_floats({1}, {2.0f}));
  ValueId y = b.node(OpKind::kMul, {x, two});
  b.output(b.node(OpKind::kRelu, {y}, {}, "relu", "y"));
  return std::make_shared<const Graph>(b.build());
}

Tensor ramp(Shape shape) {
  Tensor t = Tensor::allocate(DType::kFloat32, std::move(shape)).value();
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = static_cast<float>(i % 7) - 3.0f;
  return t;
}

class SessionOnBackend : public ::testing::TestWithParam<std::string> {};

TEST_P(SessionOnBackend, SplitsIntoBatchesAndJoinsOutputs) {
  SessionOptions options;
  options.backend = GetParam();
  options.batch = 3;
  auto session = Session::create(scale_and_relu({kDynamicDim, 2, 2}), options);
  ASSERT_TRUE(session.is_ok()) << session.status().message();
  Tensor x = ramp({7, 2, 2});  // batches of 3, 3 and 1
  auto out = (*session)->run({x});
  ASSERT_TRUE(out.is_ok()) << out.status().message();
  ASSERT_EQ(out->at(0).shape(), (Shape{7, 2, 2}));
  for (int64_t i = 0; i < x.numel(); ++i)
    EXPECT_EQ(out->at(0).data<float>()[i], std::max(0.0f, 2.0f * x.data<float>()[i])) << i;
}

TEST_P(SessionOnBackend, RejectsInputsThatDoNotFit) {
  SessionOptions options;
  options.backend = GetParam();
  auto session = Session::create(scale_and_relu({kDynamicDim, 2, 2}), options);
  ASSERT_TRUE(session.is_ok());
  auto wrong_shape = (*session)->run({ramp({4, 2, 3})});
  ASSERT_FALSE(wrong_shape.is_ok());
  EXPECT_NE(wrong_shape.status().message().find("input 'x'"), std::string::npos);
  auto wrong_dtype = (*session)->run({Tensor::allocate(DType::kInt64, {4, 2, 2}).value()});
  ASSERT_FALSE(wrong_dtype.is_ok());
  EXPECT_NE(wrong_dtype.status().message().find("float32"), std::string::npos);
  EXPECT_FALSE((*session)->run({}).is_ok());
}

TEST_P(SessionOnBackend, FixedBatchModelsTakeMultiplesOfTheirBatch) {
  SessionOptions options;
  options.backend = GetParam();
  options.batch = 50;  // ignored: the model fixes 2
  auto session = Session::create(scale_and_relu({2, 3}), options);
  ASSERT_TRUE(session.is_ok()) << session.status().message();
  EXPECT_EQ((*session)->options().batch, 2);
  auto ok = (*session)->run({ramp({6, 3})});
  ASSERT_TRUE(ok.is_ok()) << ok.status().message();
  EXPECT_EQ(ok->at(0).shape(), (Shape{6, 3}));
  auto odd = (*session)->run({ramp({5, 3})});
  ASSERT_FALSE(odd.is_ok());
  EXPECT_NE(odd.status().message().find("multiple"), std::string::npos);
}

TEST(Session, UnknownBackendIsAClearError) {
  SessionOptions options;
  options.backend = "tpu";
  auto session = Session::create(scale_and_relu({kDynamicDim, 2}), options);
  ASSERT_FALSE(session.is_ok());
  EXPECT_NE(session.status().message().find("tpu"), std::string::npos);
}

INSTANTIATE_TEST_SUITE_P(Backends, SessionOnBackend, ::testing::Values("reference", "onednn"));

}  // namespace
}  // namespace faultline
