// check_images_independent (engine/image_independence.h): the real CNNs of the test data keep the images of a
// batch apart (so inference faults may share passes, one per image); hand-built graphs with an op that mixes
// images, or one that is not known to act image by image, are refused with the node's name.
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "engine/image_independence.h"
#include "engine/session.h"
#include "frontends/load_model.h"
#include "tests/support/graph_builder.h"
#include "tests/support/spiking_fixtures.h"
#include "tests/support/test_support.h"

namespace faultline {
namespace {

using testing::GraphBuilder;
using testing::random_tensor;
using testing::test_data;

TEST(ImageIndependence, RealCnnsKeepImagesApartOnEveryBackend) {
  for (const char* file : {"models/resnet20_bn.onnx", "models/resnet20.onnx", "models/googlenet_small.onnx",
                           "models/densenet_small.onnx"}) {
    auto model = load_model(test_data(file));
    ASSERT_TRUE(model.is_ok()) << model.status().message();
    for (const char* backend : {"reference", "onednn"}) {
      SessionOptions options;
      options.backend = backend;
      options.batch = 3;
      options.keep_values = true;
      auto session = Session::create(*model, options);
      ASSERT_TRUE(session.is_ok()) << session.status().message();
      const Status status = check_images_independent((*session)->compiled().graph());
      EXPECT_TRUE(status.is_ok()) << file << " on " << backend << ": " << status.message();
    }
  }
}

// x [4, 6] -> `op` -> output; the error (if any) of check_images_independent.
Status check_one(OpKind op, OpAttrs attrs, bool second_input_from_images = false, Shape shape = {4, 6}) {
  GraphBuilder b;
  const ValueId x = b.input("x", shape);
  std::vector<ValueId> inputs = {x};
  if (op == OpKind::kGemm || op == OpKind::kMatMul)
    inputs.push_back(second_input_from_images ? b.node(OpKind::kRelu, {x}, {}, "other")
                                              : b.constant("w", random_tensor({shape.back(), 6}, 1)));
  if (op == OpKind::kConcat) inputs.push_back(x);
  b.output(b.node(op, inputs, std::move(attrs), "mixer"));
  return check_images_independent(b.build_with_shapes());
}

TEST(ImageIndependence, OpsThatActImageByImageAreAccepted) {
  EXPECT_TRUE(check_one(OpKind::kSoftmax, SoftmaxAttrs{.axis = 1}).is_ok());
  EXPECT_TRUE(check_one(OpKind::kSoftmax, SoftmaxAttrs{.axis = -1}).is_ok());
  EXPECT_TRUE(check_one(OpKind::kConcat, ConcatAttrs{.axis = 1}).is_ok());
  EXPECT_TRUE(check_one(OpKind::kGemm, GemmAttrs{}).is_ok());
  EXPECT_TRUE(check_one(OpKind::kMatMul, {}).is_ok());
  EXPECT_TRUE(check_one(OpKind::kTranspose, TransposeAttrs{.perm = {0, 2, 1}}, false, {4, 6, 5}).is_ok());
  EXPECT_TRUE(check_one(OpKind::kFlatten, FlattenAttrs{.axis = 1}, false, {4, 2, 3}).is_ok());
  EXPECT_TRUE(check_one(OpKind::kReshape, ReshapeAttrs{.shape = {4, 3, 2}, .shape_from_input = false}).is_ok());
  // One product per image: both operands carry images with the image axis first.
  GraphBuilder b;
  const ValueId x = b.input("x", {4, 2, 3});
  const ValueId y = b.node(OpKind::kTranspose, {x}, TransposeAttrs{.perm = {0, 2, 1}}, "t");
  b.output(b.node(OpKind::kMatMul, {x, y}, {}, "batched"));
  EXPECT_TRUE(check_images_independent(b.build_with_shapes()).is_ok());
}

TEST(ImageIndependence, OpsThatMixImagesAreRefusedNamingTheNode) {
  struct Case {
    const char* what;
    Status status;
  };
  const Case cases[] = {
      {"softmax over the images", check_one(OpKind::kSoftmax, SoftmaxAttrs{.axis = 0})},
      {"concatenation along the image axis", check_one(OpKind::kConcat, ConcatAttrs{.axis = 0})},
      {"product across the images", check_one(OpKind::kGemm, GemmAttrs{.trans_a = true}, false, {6, 6})},
      {"product across the images", check_one(OpKind::kGemm, GemmAttrs{}, true, {6, 6})},
      {"product across the images", check_one(OpKind::kMatMul, {}, true, {6, 6})},
      {"transpose that moves the image axis", check_one(OpKind::kTranspose, TransposeAttrs{.perm = {1, 0}})},
      {"transpose that moves the image axis", check_one(OpKind::kTranspose, TransposeAttrs{})},
      {"flattened over the images", check_one(OpKind::kFlatten, FlattenAttrs{.axis = 0})},
      {"flattened over the images", check_one(OpKind::kFlatten, FlattenAttrs{.axis = 2}, false, {4, 2, 3})},
      {"reshape that moves the image axis",
       check_one(OpKind::kReshape, ReshapeAttrs{.shape = {2, 12}, .shape_from_input = false})},
      {"padding along the image axis", check_one(OpKind::kPad, PadAttrs{.pads = {1, 0, 0, 0}})},
      {"slice along the image axis",
       check_one(OpKind::kSlice, SliceAttrs{.starts = {0}, .ends = {2}, .axes = {0}, .steps = {1}})},
  };
  for (const Case& c : cases) {
    ASSERT_FALSE(c.status.is_ok()) << c.what;
    EXPECT_NE(c.status.message().find("node 'mixer'"), std::string::npos) << c.status.message();
    EXPECT_NE(c.status.message().find(c.what), std::string::npos) << c.status.message();
  }
}

TEST(ImageIndependence, SpikingNeuronsAreNotKnownToActImageByImage) {
  const Status status = check_images_independent(*testing::lif_layer());
  ASSERT_FALSE(status.is_ok());
  EXPECT_NE(status.message().find("(LIF)"), std::string::npos) << status.message();
  EXPECT_NE(status.message().find("not known to act image by image"), std::string::npos) << status.message();
}

}  // namespace
}  // namespace faultline
