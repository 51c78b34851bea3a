// Stored weights (engine/weight_storage.h): store_weights_as() names, dtypes and the int8 formula on
// hand-worked numbers; DequantizeLinear's shape inference and reference kernel by hand; specialize() folding
// decodes except for observable (fault-site) parameters; and sessions on both backends running a model whose
// decodes stay at run time exactly as the folded one.
#include <gtest/gtest.h>

#include <cstring>
#include <memory>

#include "engine/session.h"
#include "engine/shape_inference.h"
#include "engine/specialize.h"
#include "engine/weight_storage.h"
#include "faults/fault_targets.h"
#include "kernels/reference/reference_ops.h"
#include "tests/support/graph_builder.h"
#include "tests/support/test_support.h"

namespace faultline {
namespace {

using testing::GraphBuilder;

int count_op(const Graph& g, OpKind op) {
  int n = 0;
  for (const Node& node : g.nodes()) n += node.op == op;
  return n;
}

const Node* producer_of(const Graph& g, const std::string& value) {
  auto id = g.find_value(value);
  if (!id || g.value(*id).producer == kNoNode) return nullptr;
  return &g.node(g.value(*id).producer);
}

// x [1,3,4,4] -> Conv(w [2,3,1,1], b [2]) -> BatchNorm(scale, bias, mean, var) -> Flatten -> Gemm(fc_w, fc_b);
// `extra` is a parameter read by an Add (never stored).
Graph small_cnn() {
  GraphBuilder b;
  ValueId x = b.input("x", {kDynamicDim, 3, 4, 4});
  ValueId w = b.constant("w", Tensor::from_floats({2, 3, 1, 1}, {0.5f, -1.27f, 0.01f, 0.25f, 0.125f, -0.75f}));
  ValueId bias = b.constant("b", Tensor::from_floats({2}, {0.1f, -0.2f}));
  ValueId conv = b.node(OpKind::kConv, {x, w, bias}, ConvAttrs{}, "conv", "conv_out");
  ValueId scale = b.constant("bn.weight", Tensor::from_floats({2}, {1.5f, 0.5f}));
  ValueId shift = b.constant("bn.bias", Tensor::from_floats({2}, {0.25f, -0.25f}));
  ValueId mean = b.constant("bn.running_mean", Tensor::from_floats({2}, {0.1f, 0.2f}));
  ValueId var = b.constant("bn.running_var", Tensor::from_floats({2}, {1.1f, 0.9f}));
  ValueId bn = b.node(OpKind::kBatchNormalization, {conv, scale, shift, mean, var}, BatchNormAttrs{}, "bn", "bn_out");
  ValueId extra = b.constant("extra", Tensor::from_floats({1}, {0.5f}));
  ValueId added = b.node(OpKind::kAdd, {bn, extra}, {}, "add", "add_out");
  ValueId flat = b.node(OpKind::kFlatten, {added}, FlattenAttrs{1}, "flatten", "flat");
  std::vector<float> fc(3 * 32);
  for (size_t i = 0; i < fc.size(); ++i) fc[i] = static_cast<float>(static_cast<int>(i % 7) - 3) * 0.0625f;
  ValueId fc_w = b.constant("fc.weight", Tensor::from_floats({3, 32}, fc));
  ValueId fc_b = b.constant("fc.bias", Tensor::from_floats({3}, {0.0f, 1.0f, -1.0f}));
  GemmAttrs gemm;
  gemm.trans_b = true;
  b.output(b.node(OpKind::kGemm, {flat, fc_w, fc_b}, gemm, "fc", "logits"));
  return b.build();
}

Tensor image(int64_t n) {
  std::vector<float> v(static_cast<size_t>(n * 48));
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>((i * 37) % 23) / 11.0f - 1.0f;
  return Tensor::from_floats({n, 3, 4, 4}, v);
}

TEST(StoreWeightsAs, Float16KeepsNamesAndDecodesBeforeUse) {
  Graph g = small_cnn();
  ASSERT_TRUE(store_weights_as(g, DType::kFloat16).is_ok());
  for (const char* name : {"w", "b", "bn.weight", "bn.bias", "bn.running_mean", "bn.running_var", "fc.weight", "fc.bias"}) {
    SCOPED_TRACE(name);
    auto id = g.find_value(name);
    ASSERT_TRUE(id);
    EXPECT_EQ(g.value(*id).dtype, DType::kFloat16);
    EXPECT_EQ(g.value(*id).constant.dtype(), DType::kFloat16);
    EXPECT_TRUE(g.value(*id).is_parameter);
    const Node* decode = producer_of(g, std::string(name) + "_float32");
    ASSERT_NE(decode, nullptr);
    EXPECT_EQ(decode->op, OpKind::kCast);
    EXPECT_EQ(decode->name, std::string(name) + "_decode");
    EXPECT_EQ(decode->inputs, std::vector<ValueId>{*id});
  }
  EXPECT_EQ(g.value(*g.find_value("extra")).dtype, DType::kFloat32) << "read by an Add: not a weight";
  const Node& conv = g.node(*g.find_node("conv"));
  EXPECT_EQ(g.value(conv.inputs[1]).name, "w_float32");
  EXPECT_EQ(g.value(conv.inputs[2]).name, "b_float32");
  EXPECT_EQ(producer_of(g, "w_float32")->layer, "conv");
  // -1.27 as a half: 1.27 = 1 + 276.48 / 1024 -> mantissa 276 = 0x114, so 0xBD14 (-1.26953125)
  EXPECT_EQ(g.value(*g.find_value("w")).constant.data<uint16_t>()[1], float_to_half_bits(-1.27f));
  EXPECT_EQ(float_to_half_bits(-1.27f), 0xBD14);
}

TEST(StoreWeightsAs, Int8QuantizesConvGemmWeightsOnly) {
  Graph g = small_cnn();
  ASSERT_TRUE(store_weights_as(g, DType::kInt8).is_ok());
  // w = [0.5, -1.27, 0.01, 0.25, 0.125, -0.75]: scale = 1.27 / 127 = 0.01, q = rint(w / 0.01)
  const Value& w = g.value(*g.find_value("w"));
  ASSERT_EQ(w.dtype, DType::kInt8);
  const int8_t* q = w.constant.data<int8_t>();
  EXPECT_EQ(std::vector<int>(q, q + 6), (std::vector<int>{50, -127, 1, 25, 12, -75}));  // 12.5 -> 12 (half to even)
  const Value& scale = g.value(*g.find_value("w_scale"));
  EXPECT_FALSE(scale.is_parameter);
  EXPECT_EQ(scale.constant.numel(), 1);
  EXPECT_EQ(scale.constant.data<float>()[0], 1.27f / 127.0f);
  const Node* decode = producer_of(g, "w_float32");
  ASSERT_NE(decode, nullptr);
  EXPECT_EQ(decode->op, OpKind::kDequantizeLinear);
  EXPECT_EQ(g.value(*g.find_value("fc.weight")).dtype, DType::kInt8);
  for (const char* name : {"b", "bn.weight", "bn.running_var", "fc.bias", "extra"})
    EXPECT_EQ(g.value(*g.find_value(name)).dtype, DType::kFloat32) << name << ": biases and BatchNorm stay float32";
}

TEST(StoreWeightsAs, HandWorkedInt8Example) {
  GraphBuilder b;
  ValueId x = b.input("x", {1, 3});
  ValueId w = b.constant("w", Tensor::from_floats({3, 1}, {0.5f, -1.27f, 0.01f}));
  b.output(b.node(OpKind::kMatMul, {x, w}, {}, "mm", "y"));
  Graph g = b.build();
  ASSERT_TRUE(store_weights_as(g, DType::kInt8).is_ok());
  const int8_t* q = g.value(*g.find_value("w")).constant.data<int8_t>();
  EXPECT_EQ(std::vector<int>(q, q + 3), (std::vector<int>{50, -127, 1}));
  EXPECT_NEAR(g.value(*g.find_value("w_scale")).constant.data<float>()[0], 0.01f, 1e-9);
}

TEST(StoreWeightsAs, IsIdempotentAndRefusesOtherDtypes) {
  Graph g = small_cnn();
  ASSERT_TRUE(store_weights_as(g, DType::kBFloat16).is_ok());
  const size_t nodes = g.nodes().size();
  ASSERT_TRUE(store_weights_as(g, DType::kBFloat16).is_ok());
  EXPECT_EQ(g.nodes().size(), nodes);
  EXPECT_FALSE(store_weights_as(g, DType::kFloat64).is_ok());
  auto parsed = weight_storage_dtype_from_name("float64");
  ASSERT_FALSE(parsed.is_ok());
  EXPECT_NE(parsed.status().message().find("float16, bfloat16 or int8"), std::string::npos);
  EXPECT_EQ(weight_storage_dtype_from_name("bfloat16").value(), DType::kBFloat16);
}

TEST(StoreWeightsAs, SpecializeFoldsDecodesExceptObservedOnes) {
  Graph g = small_cnn();
  ASSERT_TRUE(store_weights_as(g, DType::kInt8).is_ok());
  SpecializeOptions keep;  // default: decodes stay (fault targets keep their stored dtype)
  auto kept = specialize(g, keep);
  ASSERT_TRUE(kept.is_ok()) << kept.status().message();
  EXPECT_EQ(count_op(*kept, OpKind::kDequantizeLinear), 2);

  SpecializeOptions fold;
  fold.fold_weight_decodes = true;
  auto folded = specialize(g, fold);
  ASSERT_TRUE(folded.is_ok()) << folded.status().message();
  EXPECT_EQ(count_op(*folded, OpKind::kDequantizeLinear), 0);
  EXPECT_EQ(folded->value(*folded->find_value("w_float32")).constant.dtype(), DType::kFloat32);

  fold.observable = {"w"};
  auto observed = specialize(g, fold);
  ASSERT_TRUE(observed.is_ok()) << observed.status().message();
  EXPECT_EQ(count_op(*observed, OpKind::kDequantizeLinear), 1);
  EXPECT_EQ(observed->value(*observed->find_value("w")).constant.dtype(), DType::kInt8);
}

TEST(StoreWeightsAs, FaultTargetsListTheStoredDtype) {
  Graph g = small_cnn();
  ASSERT_TRUE(store_weights_as(g, DType::kFloat16).is_ok());
  auto targets = list_fault_targets(g);
  ASSERT_TRUE(targets.is_ok()) << targets.status().message();
  bool found = false;
  for (const FaultTarget& t : *targets) {
    if (t.kind != TargetKind::kWeight || t.name != "w") continue;
    found = true;
    EXPECT_EQ(t.dtype, DType::kFloat16);
    EXPECT_EQ(t.layer, "conv");
    EXPECT_EQ(t.elements, 6);
  }
  EXPECT_TRUE(found);
}

// Every dtype on both backends: the plan that decodes the observable weights at run time gives the logits of
// the plan that folded them (up to summation order: oneDNN fuses the folded plan), and a write_value of the stored word (a weight fault) reaches the output.
TEST(StoreWeightsAs, RunTimeDecodesMatchFoldedOnBothBackends) {
  auto model = std::make_shared<const Graph>(small_cnn());
  for (DType dtype : {DType::kFloat16, DType::kBFloat16, DType::kInt8}) {
    for (const char* backend : {"reference", "onednn"}) {
      SCOPED_TRACE(std::string(dtype_name(dtype)) + " on " + backend);
      SessionOptions options;
      options.backend = backend;
      options.batch = 2;
      options.weight_dtype = dtype;
      auto folded = Session::create(model, options);
      ASSERT_TRUE(folded.is_ok()) << folded.status().message();
      options.observable = {"w", "fc.weight"};
      auto observed = Session::create(model, options);
      ASSERT_TRUE(observed.is_ok()) << observed.status().message();
      auto a = (*folded)->run({image(2)});
      auto b = (*observed)->run({image(2)});
      ASSERT_TRUE(a.is_ok()) << a.status().message();
      ASSERT_TRUE(b.is_ok()) << b.status().message();
      EXPECT_TRUE(testing::tensors_near(a->front(), b->front(), 1e-6, 1e-6));

      // Flip the sign bit of w[0] through the compiled model, as the injector does.
      CompiledModel& compiled = (*observed)->compiled();
      const ValueId w = *compiled.graph().find_value("w");
      Tensor patched = compiled.graph().value(w).constant.clone();
      ASSERT_EQ(patched.dtype(), dtype);
      auto* word = patched.data<std::byte>();
      const int sign_byte = static_cast<int>(dtype_size(dtype)) - 1;
      word[sign_byte] ^= std::byte{0x80};
      ASSERT_TRUE(compiled.write_value(w, patched).is_ok());
      auto faulty = (*observed)->run({image(2)});
      ASSERT_TRUE(faulty.is_ok()) << faulty.status().message();
      EXPECT_FALSE(testing::tensors_near(a->front(), faulty->front(), 1e-6, 1e-6));
      ASSERT_TRUE(compiled.write_value(w, compiled.graph().value(w).constant).is_ok());
      auto restored = (*observed)->run({image(2)});
      ASSERT_TRUE(restored.is_ok());
      EXPECT_TRUE(testing::tensors_near(b->front(), restored->front(), 0, 0)) << "restored bit for bit";
    }
  }
}

// --- DequantizeLinear -------------------------------------------------------------------------------------

Result<Tensor> dequantize(Tensor x, Tensor scale, Tensor zero_point, int64_t axis) {
  GraphBuilder b;
  std::vector<ValueId> inputs = {b.constant("x", std::move(x), false), b.constant("s", std::move(scale), false)};
  if (!zero_point.empty()) inputs.push_back(b.constant("z", std::move(zero_point), false));
  ValueId y = b.node(OpKind::kDequantizeLinear, inputs, DequantizeAttrs{axis}, "dq", "y");
  Graph g = b.build();
  FL_RETURN_IF_ERROR(infer_output_shapes(g, 0));
  FL_ASSIGN_OR_RETURN(Tensor out, Tensor::allocate(g.value(y).dtype, g.value(y).shape));
  std::vector<const Tensor*> in;
  for (ValueId id : g.node(0).inputs) in.push_back(&g.value(id).constant);
  Tensor* out_ptr = &out;
  FL_RETURN_IF_ERROR(run_reference_node(g.node(0), in, {&out_ptr, 1}));
  return out;
}

Tensor int8s(Shape shape, std::vector<int8_t> v) {
  Tensor t = Tensor::allocate(DType::kInt8, std::move(shape)).value();
  std::memcpy(t.raw(), v.data(), v.size());
  return t;
}

TEST(DequantizeLinear, PerTensorByHand) {
  // (x - 1) * 0.5
  auto y = dequantize(int8s({2, 2}, {-3, 0, 5, 127}), Tensor::from_floats({}, {0.5f}), int8s({}, {1}), 1);
  ASSERT_TRUE(y.is_ok()) << y.status().message();
  EXPECT_EQ(y->dtype(), DType::kFloat32);
  EXPECT_EQ(y->shape(), (Shape{2, 2}));
  EXPECT_TRUE(testing::tensors_near(Tensor::from_floats({2, 2}, {-2.0f, -0.5f, 2.0f, 63.0f}), *y, 0, 0));
  auto no_zero = dequantize(int8s({3}, {-127, 1, 50}), Tensor::from_floats({}, {0.25f}), Tensor(), 0);
  ASSERT_TRUE(no_zero.is_ok()) << no_zero.status().message();
  EXPECT_TRUE(testing::tensors_near(Tensor::from_floats({3}, {-31.75f, 0.25f, 12.5f}), *no_zero, 0, 0));
}

TEST(DequantizeLinear, PerAxisAndUint8ByHand) {
  // axis 0 of [2, 3]: row 0 * 1, row 1 * 2
  auto y = dequantize(int8s({2, 3}, {1, 2, 3, 4, 5, 6}), Tensor::from_floats({2}, {1.0f, 2.0f}), Tensor(), 0);
  ASSERT_TRUE(y.is_ok()) << y.status().message();
  EXPECT_TRUE(testing::tensors_near(Tensor::from_floats({2, 3}, {1, 2, 3, 8, 10, 12}), *y, 0, 0));
  Tensor u = Tensor::allocate(DType::kUInt8, {2}).value();
  u.data<uint8_t>()[0] = 128;
  u.data<uint8_t>()[1] = 255;
  Tensor zp = Tensor::allocate(DType::kUInt8, {}).value();
  zp.data<uint8_t>()[0] = 128;
  auto yu = dequantize(u, Tensor::from_floats({}, {0.5f}), zp, 1);
  ASSERT_TRUE(yu.is_ok()) << yu.status().message();
  EXPECT_TRUE(testing::tensors_near(Tensor::from_floats({2}, {0.0f, 63.5f}), *yu, 0, 0));
}

TEST(DequantizeLinear, ShapeInferenceRefusesBadOperands) {
  auto float_x = dequantize(Tensor::from_floats({2}, {1, 2}), Tensor::from_floats({}, {1.0f}), Tensor(), 0);
  ASSERT_FALSE(float_x.is_ok());
  EXPECT_NE(float_x.status().message().find("int8, uint8 or int32"), std::string::npos) << float_x.status().message();
  auto bad_scale = dequantize(int8s({2, 3}, {1, 2, 3, 4, 5, 6}), Tensor::from_floats({3}, {1, 2, 3}), Tensor(), 0);
  ASSERT_FALSE(bad_scale.is_ok());
  EXPECT_NE(bad_scale.status().message().find("x_scale"), std::string::npos) << bad_scale.status().message();
  EXPECT_NE(bad_scale.status().message().find("'dq'"), std::string::npos) << bad_scale.status().message();
}

}  // namespace
}  // namespace faultline
