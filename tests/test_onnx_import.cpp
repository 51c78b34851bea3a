// The ONNX frontend: real files (mnist-8, the ONNX project's "light" model-zoo graphs), hand-built models
// for names, opset-dependent attributes and folding, and every kind of bad input.
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "engine/file_io.h"
#include "frontends/onnx/onnx_import.h"
#include "tests/support/test_support.h"

namespace faultline {
namespace {

using testing::temp_dir;
using testing::test_data;

std::map<std::string, int> count_ops(const Graph& graph) {
  std::map<std::string, int> counts;
  for (const Node& node : graph.nodes()) ++counts[std::string(op_name(node.op))];
  return counts;
}

const Node* node_named(const Graph& graph, const std::string& name) {
  std::optional<NodeId> id = graph.find_node(name);
  return id ? &graph.node(*id) : nullptr;
}

// --- a small ModelProto builder ---------------------------------------------------------------------------

class ModelBuilder {
 public:
  explicit ModelBuilder(int64_t opset = 13) {
    model_.set_ir_version(8);
    onnx::OperatorSetIdProto* entry = model_.add_opset_import();
    entry->set_domain("");
    entry->set_version(opset);
  }

  // dims: kDynamicDim becomes dim_param "N".
  ModelBuilder& input(const std::string& name, const Shape& dims, int32_t elem_type = onnx::TensorProto::FLOAT) {
    set_type(graph()->add_input(), name, dims, elem_type);
    return *this;
  }
  ModelBuilder& output(const std::string& name, const Shape& dims = {}, int32_t elem_type = onnx::TensorProto::FLOAT) {
    set_type(graph()->add_output(), name, dims, elem_type);
    return *this;
  }
  ModelBuilder& floats(const std::string& name, const Shape& dims, const std::vector<float>& values) {
    onnx::TensorProto* tensor = graph()->add_initializer();
    fill(tensor, name, dims, onnx::TensorProto::FLOAT);
    for (float value : values) tensor->add_float_data(value);
    return *this;
  }
  ModelBuilder& int64s(const std::string& name, const std::vector<int64_t>& values) {
    onnx::TensorProto* tensor = graph()->add_initializer();
    fill(tensor, name, {static_cast<int64_t>(values.size())}, onnx::TensorProto::INT64);
    for (int64_t value : values) tensor->add_int64_data(value);
    return *this;
  }
  onnx::NodeProto& node(const std::string& op, const std::vector<std::string>& inputs,
                        const std::vector<std::string>& outputs, const std::string& name = "") {
    onnx::NodeProto* node = graph()->add_node();
    node->set_op_type(op);
    node->set_name(name);
    for (const std::string& input : inputs) node->add_input(input);
    for (const std::string& output : outputs) node->add_output(output);
    return *node;
  }

  onnx::GraphProto* graph() { return model_.mutable_graph(); }
  onnx::ModelProto& model() { return model_; }
  std::string bytes() const { return model_.SerializeAsString(); }
  Result<Graph> import(const std::string& source = "test.onnx") const { return import_onnx_bytes(bytes(), source); }

 private:
  static void fill(onnx::TensorProto* tensor, const std::string& name, const Shape& dims, int32_t elem_type) {
    tensor->set_name(name);
    tensor->set_data_type(elem_type);
    for (int64_t dim : dims) tensor->add_dims(dim);
  }
  static void set_type(onnx::ValueInfoProto* info, const std::string& name, const Shape& dims, int32_t elem_type) {
    info->set_name(name);
    onnx::TypeProto::Tensor* type = info->mutable_type()->mutable_tensor_type();
    type->set_elem_type(elem_type);
    onnx::TensorShapeProto* shape = type->mutable_shape();
    for (int64_t dim : dims) {
      if (dim == kDynamicDim)
        shape->add_dim()->set_dim_param("N");
      else
        shape->add_dim()->set_dim_value(dim);
    }
  }
  onnx::ModelProto model_;
};

void set_int(onnx::NodeProto& node, const std::string& name, int64_t value) {
  onnx::AttributeProto* attribute = node.add_attribute();
  attribute->set_name(name);
  attribute->set_type(onnx::AttributeProto::INT);
  attribute->set_i(value);
}
void set_float(onnx::NodeProto& node, const std::string& name, float value) {
  onnx::AttributeProto* attribute = node.add_attribute();
  attribute->set_name(name);
  attribute->set_type(onnx::AttributeProto::FLOAT);
  attribute->set_f(value);
}
void set_ints(onnx::NodeProto& node, const std::string& name, const std::vector<int64_t>& values) {
  onnx::AttributeProto* attribute = node.add_attribute();
  attribute->set_name(name);
  attribute->set_type(onnx::AttributeProto::INTS);
  for (int64_t value : values) attribute->add_ints(value);
}

Graph import_or_die(const ModelBuilder& builder) {
  Result<Graph> graph = builder.import();
  EXPECT_TRUE(graph.is_ok()) << graph.status().message();
  return graph.is_ok() ? std::move(graph).value() : Graph();
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// --- real files -------------------------------------------------------------------------------------------

// Expected node counts after import (Constant nodes and constant-fed subgraphs folded, Dropout as Identity).
// Obtained once with python3-onnx 1.12 (/usr/bin/python3): for each file, walk graph.node in order, treat a
// node whose inputs are all initializers or outputs of earlier such nodes (or a Constant) as folded, count the
// op types of the rest with Dropout renamed Identity. Raw counts in the file are in the comments.
TEST(OnnxImport, Mnist8) {
  const std::string path = test_data("onnx/mnist_onnx2c/model.onnx");
  Result<Graph> imported = import_onnx_file(path);
  ASSERT_TRUE(imported.is_ok()) << imported.status().message();
  const Graph& graph = *imported;
  // File: Add 3, Conv 2, MatMul 1, MaxPool 2, Relu 2, Reshape 2 (one reshapes the Parameter193 weight).
  std::map<std::string, int> expected{{"Add", 3},     {"Conv", 2}, {"MatMul", 1},
                                      {"MaxPool", 2}, {"Relu", 2}, {"Reshape", 1}};
  EXPECT_EQ(count_ops(graph), expected);
  EXPECT_EQ(graph.source, path);

  ASSERT_EQ(graph.inputs().size(), 1u);  // 9 graph inputs in the file, 8 of them initializers (IR 3)
  const Value& input = graph.value(graph.inputs()[0]);
  EXPECT_EQ(input.name, "Input3");
  EXPECT_EQ(input.dtype, DType::kFloat32);
  EXPECT_EQ(input.shape, (Shape{1, 1, 28, 28}));
  ASSERT_EQ(graph.outputs().size(), 1u);
  EXPECT_EQ(graph.value(graph.outputs()[0]).name, "Plus214_Output_0");

  const std::map<std::string, Shape> parameters{{"Parameter5", {8, 1, 5, 5}},
                                                {"Parameter6", {8, 1, 1}},
                                                {"Parameter87", {16, 8, 5, 5}},
                                                {"Parameter88", {16, 1, 1}},
                                                {"Parameter194", {1, 10}}};
  for (const auto& [name, shape] : parameters) {
    std::optional<ValueId> id = graph.find_value(name);
    ASSERT_TRUE(id.has_value()) << name;
    EXPECT_TRUE(graph.value(*id).is_parameter) << name;
    EXPECT_TRUE(graph.value(*id).is_constant()) << name;
    EXPECT_EQ(graph.value(*id).constant.shape(), shape) << name;
  }
  // The reshaped MatMul weight is folded into a [256, 10] constant.
  const Node* matmul = node_named(graph, "Times212");
  ASSERT_NE(matmul, nullptr);
  ASSERT_EQ(matmul->inputs.size(), 2u);
  EXPECT_TRUE(graph.value(matmul->inputs[1]).is_constant());
  EXPECT_EQ(graph.value(matmul->inputs[1]).constant.shape(), (Shape{256, 10}));

  // CNTK names nodes without scopes or ".weight" parameters: the layer is the node name.
  const Node* conv = node_named(graph, "Convolution28");
  ASSERT_NE(conv, nullptr);
  EXPECT_EQ(conv->layer, "Convolution28");
  const auto& attrs = std::get<ConvAttrs>(conv->attrs);
  EXPECT_EQ(attrs.kernel_shape, (std::vector<int64_t>{5, 5}));
  // auto_pad SAME_UPPER in the file; folding may already resolve it, the input shape being static.
  EXPECT_TRUE(attrs.auto_pad == AutoPad::kSameUpper ||
              (attrs.auto_pad == AutoPad::kNotSet && attrs.pads == std::vector<int64_t>{2, 2, 2, 2}));
  EXPECT_TRUE(graph.topological_order().is_ok());
}

TEST(OnnxImport, ReadsTensorFiles) {
  Result<Tensor> input = read_onnx_tensor_file(test_data("onnx/mnist_onnx2c/test_data_set_0/input_0.pb"));
  ASSERT_TRUE(input.is_ok()) << input.status().message();
  EXPECT_EQ(input->dtype(), DType::kFloat32);
  EXPECT_EQ(input->shape(), (Shape{1, 1, 28, 28}));
  Result<Tensor> output = read_onnx_tensor_file(test_data("onnx/mnist_onnx2c/test_data_set_0/output_0.pb"));
  ASSERT_TRUE(output.is_ok()) << output.status().message();
  EXPECT_EQ(output->shape(), (Shape{1, 10}));

  Result<Tensor> missing = read_onnx_tensor_file(temp_dir() + "/absent.pb");
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
}

struct LightModel {
  const char* file;
  const char* input;
  std::map<std::string, int> ops;  // after import; see the comment above TEST(OnnxImport, Mnist8)
};

void PrintTo(const LightModel& model, std::ostream* out) {
  *out << model.file;
}

class OnnxLightModel : public ::testing::TestWithParam<LightModel> {};

TEST_P(OnnxLightModel, ImportsAndFoldsConstantOfShapeWeights) {
  const LightModel& model = GetParam();
  Result<Graph> imported = import_onnx_file(test_data(std::string("onnx/light/") + model.file));
  ASSERT_TRUE(imported.is_ok()) << imported.status().message();
  EXPECT_EQ(count_ops(*imported), model.ops);
  ASSERT_EQ(imported->inputs().size(), 1u);
  const Value& input = imported->value(imported->inputs()[0]);
  EXPECT_EQ(input.name, model.input);
  EXPECT_EQ(input.shape, (Shape{1, 3, 224, 224}));
  EXPECT_EQ(imported->outputs().size(), 1u);
  for (const Node& node : imported->nodes()) EXPECT_FALSE(node.layer.empty()) << node.name;
}

// Raw file counts: resnet50 415 nodes (239 ConstantOfShape, 16 Sum); densenet121 1746 nodes (836 ConstantOfShape, 242 Unsqueeze folded); squeezenet 105
// (39 ConstantOfShape, Dropout 1); vgg19 82 (36 ConstantOfShape, Dropout 2).
INSTANTIATE_TEST_SUITE_P(Light, OnnxLightModel,
                         ::testing::Values(LightModel{"light_densenet121.onnx",
                                                      "data_0",
                                                      {{"Add", 121},
                                                       {"AveragePool", 3},
                                                       {"BatchNormalization", 121},
                                                       {"Concat", 58},
                                                       {"Conv", 121},
                                                       {"GlobalAveragePool", 1},
                                                       {"MaxPool", 1},
                                                       {"Mul", 121},
                                                       {"Relu", 121}}},
                                           // 16 two-input Sum nodes import as Add.
                                           LightModel{"light_resnet50.onnx",
                                                      "gpu_0/data_0",
                                                      {{"Add", 16},
                                                       {"AveragePool", 1},
                                                       {"BatchNormalization", 53},
                                                       {"Conv", 53},
                                                       {"Gemm", 1},
                                                       {"MaxPool", 1},
                                                       {"Relu", 49},
                                                       {"Reshape", 1},
                                                       {"Softmax", 1}}},
                                           LightModel{"light_squeezenet.onnx",
                                                      "data_0",
                                                      {{"Concat", 8},
                                                       {"Conv", 26},
                                                       {"GlobalAveragePool", 1},
                                                       {"Identity", 1},
                                                       {"MaxPool", 3},
                                                       {"Relu", 26},
                                                       {"Softmax", 1}}},
                                           LightModel{"light_vgg19.onnx",
                                                      "data_0",
                                                      {{"Conv", 16},
                                                       {"Gemm", 3},
                                                       {"Identity", 2},
                                                       {"MaxPool", 5},
                                                       {"Relu", 18},
                                                       {"Reshape", 1},
                                                       {"Softmax", 1}}}),
                         [](const ::testing::TestParamInfo<LightModel>& info) {
                           std::string name = info.param.file;
                           return name.substr(0, name.find('.'));
                         });

// light_inception_v1 uses LRN, which faultline does not run: the error names the file, the op and the first
// such node (node names from python3-onnx).
TEST(OnnxImport, LightModelsWithUnsupportedOps) {
  const std::string inception = test_data("onnx/light/light_inception_v1.onnx");
  Result<Graph> graph = import_onnx_file(inception);
  EXPECT_EQ(graph.status().code(), StatusCode::kUnsupported);
  EXPECT_EQ(graph.status().message(), inception + ": unsupported op 'LRN' at node 'n3'");
}

// --- names ------------------------------------------------------------------------------------------------

TEST(OnnxImport, CanonicalLayerNames) {
  ModelBuilder builder;
  builder.input("x", {kDynamicDim, 3, 8, 8}).output("y");
  builder.floats("conv.w", {3, 3, 1, 1}, std::vector<float>(9, 1.0f));
  builder.floats("fc.weight", {3, 3, 1, 1}, std::vector<float>(9, 1.0f));
  builder.node("Conv", {"x", "conv.w"}, {"a"}, "/layer1/layer1.0/conv1/Conv");
  builder.node("Relu", {"a"}, {"b"}, "/layer1/layer1.0/relu/Relu");
  builder.node("Relu", {"b"}, {"c"}, "/layer1/layer1.0/downsample/downsample.0/Relu");
  builder.node("Add", {"c", "b"}, {"d"}, "/layer1/layer1.0/Add");
  builder.node("Add", {"d", "b"}, {"e"}, "/layer1/layer1.0/Add_1");
  builder.node("Conv", {"e", "fc.weight"}, {"f"}, "Conv_5");
  builder.node("Relu", {"f"}, {"g"});           // unnamed: "Relu_6"
  builder.node("Relu", {"g"}, {"y"}, "/Relu");  // top-level op: no module path
  Graph graph = import_or_die(builder);
  std::vector<std::pair<std::string, std::string>> expected{
      {"/layer1/layer1.0/conv1/Conv", "layer1.0.conv1"},
      {"/layer1/layer1.0/relu/Relu", "layer1.0.relu"},
      {"/layer1/layer1.0/downsample/downsample.0/Relu", "layer1.0.downsample.0"},
      {"/layer1/layer1.0/Add", "layer1.0"},
      {"/layer1/layer1.0/Add_1", "layer1.0_1"},
      {"Conv_5", "fc"},
      {"Relu_6", "Relu_6"},
      {"/Relu", "/Relu"}};
  ASSERT_EQ(graph.nodes().size(), expected.size());
  for (const auto& [name, layer] : expected) {
    const Node* node = node_named(graph, name);
    ASSERT_NE(node, nullptr) << name;
    EXPECT_EQ(node->layer, layer) << name;
  }
  EXPECT_EQ(graph.value(graph.inputs()[0]).shape, (Shape{kDynamicDim, 3, 8, 8}));
}

// --- dynamic batch, folding, opset-dependent attributes ---------------------------------------------------

TEST(OnnxImport, DynamicBatchAndMissingDims) {
  ModelBuilder builder;
  builder.input("x", {kDynamicDim, 4}).output("y", {kDynamicDim, 4});
  builder.graph()->mutable_input(0)->mutable_type()->mutable_tensor_type()->mutable_shape()->add_dim();  // no value
  builder.node("Relu", {"x"}, {"y"});
  Graph graph = import_or_die(builder);
  EXPECT_EQ(graph.value(graph.inputs()[0]).shape, (Shape{kDynamicDim, 4, kDynamicDim}));
  EXPECT_TRUE(graph.value(graph.inputs()[0]).shape_known);
}

// Reshape(x, Concat(Unsqueeze(Gather(Shape(w), 0)), Constant(-1))) + Constant: every shape op and Constant
// is folded at import, leaving the Reshape (shape absorbed into its attributes) and the Add.
TEST(OnnxImport, FoldsConstantsAndShapeSubgraphs) {
  ModelBuilder builder(13);
  builder.input("x", {kDynamicDim, 2, 6}).output("y");
  builder.floats("w", {3, 4}, std::vector<float>(12, 0.5f));
  builder.int64s("axes", {0});
  builder.node("Shape", {"w"}, {"w_shape"});
  set_int(builder.node("Constant", {}, {"zero"}), "value_int", 0);  // a scalar index
  onnx::NodeProto& gather = builder.node("Gather", {"w_shape", "zero"}, {"rows"});
  set_int(gather, "axis", 0);
  builder.node("Unsqueeze", {"rows", "axes"}, {"rows_1d"});
  onnx::NodeProto& minus_one = builder.node("Constant", {}, {"minus_one"});
  set_ints(minus_one, "value_ints", {-1});
  onnx::NodeProto& concat = builder.node("Concat", {"minus_one", "rows_1d"}, {"target"});
  set_int(concat, "axis", 0);
  onnx::NodeProto& cast = builder.node("Cast", {"target"}, {"target_i64"});
  set_int(cast, "to", onnx::TensorProto::INT64);
  builder.node("Reshape", {"x", "target_i64"}, {"r"}, "reshape");
  onnx::NodeProto& bias = builder.node("Constant", {}, {"bias"});
  set_float(bias, "value_float", 2.0f);
  builder.node("Add", {"r", "bias"}, {"y"}, "add");

  Graph graph = import_or_die(builder);
  EXPECT_EQ(count_ops(graph), (std::map<std::string, int>{{"Add", 1}, {"Reshape", 1}}));
  const Node* reshape = node_named(graph, "reshape");
  ASSERT_NE(reshape, nullptr);
  const auto& attrs = std::get<ReshapeAttrs>(reshape->attrs);
  EXPECT_FALSE(attrs.shape_from_input);
  EXPECT_EQ(attrs.shape, (std::vector<int64_t>{-1, 3}));
  const Node* add = node_named(graph, "add");
  ASSERT_NE(add, nullptr);
  const Value& bias_value = graph.value(add->inputs[1]);
  ASSERT_TRUE(bias_value.is_constant());
  EXPECT_FALSE(bias_value.is_parameter);
  EXPECT_EQ(bias_value.constant.to_doubles(), (std::vector<double>{2.0}));
}

TEST(OnnxImport, OpsetDependentAttributes) {
  for (int64_t opset : {11, 13}) {
    ModelBuilder builder(opset);
    builder.input("x", {1, 4}).output("y");
    builder.node("Softmax", {"x"}, {"y"}, "softmax");
    Graph graph = import_or_die(builder);
    const auto& attrs = std::get<SoftmaxAttrs>(graph.node(0).attrs);
    EXPECT_EQ(attrs.axis, opset < 13 ? 1 : -1) << "opset " << opset;
    EXPECT_EQ(attrs.coerce_to_2d, opset < 13) << "opset " << opset;
  }
  {  // Clip bounds and Pad pads are attributes before opset 11.
    ModelBuilder builder(9);
    builder.input("x", {1, 1, 2, 2}).output("y");
    onnx::NodeProto& clip = builder.node("Clip", {"x"}, {"c"}, "clip");
    set_float(clip, "min", -1.0f);
    set_float(clip, "max", 6.0f);
    onnx::NodeProto& pad = builder.node("Pad", {"c"}, {"y"}, "pad");
    set_ints(pad, "pads", {0, 0, 1, 1, 0, 0, 1, 1});
    set_float(pad, "value", 0.5f);
    Graph graph = import_or_die(builder);
    const auto& clip_attrs = std::get<ClipAttrs>(node_named(graph, "clip")->attrs);
    EXPECT_EQ(clip_attrs.min, -1.0f);
    EXPECT_EQ(clip_attrs.max, 6.0f);
    EXPECT_FALSE(clip_attrs.bounds_from_inputs);
    const auto& pad_attrs = std::get<PadAttrs>(node_named(graph, "pad")->attrs);
    EXPECT_EQ(pad_attrs.pads, (std::vector<int64_t>{0, 0, 1, 1, 0, 0, 1, 1}));
    EXPECT_EQ(pad_attrs.value, 0.5f);
  }
  {  // Squeeze axes: an attribute before opset 13.
    ModelBuilder builder(11);
    builder.input("x", {1, 4, 1}).output("y");
    onnx::NodeProto& squeeze = builder.node("Squeeze", {"x"}, {"y"}, "squeeze");
    set_ints(squeeze, "axes", {2});
    Graph graph = import_or_die(builder);
    const auto& attrs = std::get<AxesAttrs>(graph.node(0).attrs);
    EXPECT_EQ(attrs.axes, (std::vector<int64_t>{2}));
    EXPECT_FALSE(attrs.axes_from_input);
  }
}

// Opsets before 7: semantics mapped where they agree with today's, refused where they do not.
TEST(OnnxImport, LegacyOpsets) {
  {
    ModelBuilder builder(3);
    builder.input("x", {1, 2}).output("y");
    builder.node("Concat", {"x", "x"}, {"c"}, "concat");  // axis optional (default 1) before opset 4
    onnx::NodeProto& cast = builder.node("Cast", {"c"}, {"y"}, "cast");
    onnx::AttributeProto* to = cast.add_attribute();  // a type name before opset 6
    to->set_name("to");
    to->set_type(onnx::AttributeProto::STRING);
    to->set_s("DOUBLE");
    Graph graph = import_or_die(builder);
    EXPECT_EQ(std::get<ConcatAttrs>(node_named(graph, "concat")->attrs).axis, 1);
    EXPECT_EQ(std::get<CastAttrs>(node_named(graph, "cast")->attrs).to, DType::kFloat64);
  }
  {
    ModelBuilder builder(6);
    builder.input("x", {1, 1, 2, 2}).output("y");
    builder.floats("p", {1}, {1.0f});
    builder.node("BatchNormalization", {"x", "p", "p", "p", "p"}, {"y"}, "bn");  // is_test defaults to 0
    Result<Graph> graph = builder.import("m.onnx");
    EXPECT_EQ(graph.status().code(), StatusCode::kUnsupported);
    EXPECT_EQ(graph.status().message(),
              "m.onnx: node 'bn' (BatchNormalization): attribute 'is_test' = 0 (training mode, the default before "
              "opset 7) is not supported");
  }
}

TEST(OnnxImport, DropoutBecomesIdentity) {
  ModelBuilder builder(12);
  builder.input("x", {kDynamicDim, 4}).output("y");
  builder.node("Dropout", {"x"}, {"y", "unused_mask"}, "drop");
  Graph graph = import_or_die(builder);
  ASSERT_EQ(graph.nodes().size(), 1u);
  EXPECT_EQ(graph.node(0).op, OpKind::kIdentity);
  EXPECT_EQ(graph.node(0).inputs.size(), 1u);
}

// --- bad input --------------------------------------------------------------------------------------------

TEST(OnnxImportErrors, MissingFile) {
  const std::string path = temp_dir() + "/model.onnx";
  Result<Graph> graph = import_onnx_file(path);
  EXPECT_EQ(graph.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(graph.status().message(), path + ": no such file");
}

TEST(OnnxImportErrors, TruncatedFile) {
  Result<std::string> bytes = read_file(test_data("onnx/mnist_onnx2c/model.onnx"));
  ASSERT_TRUE(bytes.is_ok());
  const std::string path = temp_dir() + "/truncated.onnx";
  write_bytes(path, bytes->substr(0, bytes->size() / 2));
  Result<Graph> graph = import_onnx_file(path);
  EXPECT_EQ(graph.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(graph.status().message(), path + ": cannot parse: truncated or corrupt protobuf");
}

TEST(OnnxImportErrors, GarbageBytes) {
  std::mt19937 random(1234);
  for (int trial = 0; trial < 20; ++trial) {
    std::string bytes(1 + random() % 4096, '\0');
    for (char& byte : bytes) byte = static_cast<char>(random());
    const std::string source = "garbage" + std::to_string(trial) + ".onnx";
    Result<Graph> graph = import_onnx_bytes(bytes, source);
    ASSERT_FALSE(graph.is_ok()) << source;
    EXPECT_EQ(graph.status().message().rfind(source + ": ", 0), 0u) << graph.status().message();
  }
  Result<Graph> empty = import_onnx_bytes("", "empty.onnx");
  EXPECT_EQ(empty.status().message(), "empty.onnx: cannot parse: not an ONNX model (no IR version or no graph)");
}

// Bit flips in a real model file: the import either succeeds or fails with a message naming the source; it
// never crashes (run under FAULTLINE_SANITIZE to check memory safety too).
TEST(OnnxImportErrors, BitFlippedFilesNeverCrash) {
  Result<std::string> original = read_file(test_data("onnx/mnist_onnx2c/model.onnx"));
  ASSERT_TRUE(original.is_ok());
  std::mt19937 random(42);
  constexpr int kTrials = 300;
  int failures = 0;
  for (int trial = 0; trial < kTrials; ++trial) {
    std::string bytes = *original;
    for (int flip = 0; flip <= trial % 4; ++flip)
      bytes[random() % bytes.size()] ^= static_cast<char>(1u << (random() % 8));
    Result<Graph> graph = import_onnx_bytes(bytes, "flipped.onnx");
    if (graph.is_ok()) continue;
    ++failures;
    EXPECT_EQ(graph.status().message().rfind("flipped.onnx: ", 0), 0u) << graph.status().message();
  }
  EXPECT_GT(failures, 0);
}

TEST(OnnxImportErrors, UnsupportedOpNamesOpAndNode) {
  ModelBuilder builder;
  builder.input("x", {5, 1, 4}).output("y");
  builder.floats("w", {1, 32, 4}, std::vector<float>(128, 0.0f));
  builder.floats("r", {1, 32, 8}, std::vector<float>(256, 0.0f));
  builder.node("LSTM", {"x", "w", "r"}, {"y"}, "lstm_1");
  Result<Graph> graph = builder.import("model.onnx");
  EXPECT_EQ(graph.status().code(), StatusCode::kUnsupported);
  EXPECT_EQ(graph.status().message(), "model.onnx: unsupported op 'LSTM' at node 'lstm_1'");

  ModelBuilder custom;
  custom.input("x", {1}).output("y");
  custom.node("FusedConv", {"x"}, {"y"}, "fused").set_domain("com.microsoft");
  graph = custom.import("model.onnx");
  EXPECT_EQ(graph.status().message(), "model.onnx: unsupported op 'com.microsoft::FusedConv' at node 'fused'");
}

TEST(OnnxImportErrors, ExternalData) {
  ModelBuilder builder;
  builder.input("x", {4}).output("y");
  onnx::TensorProto* weight = builder.graph()->add_initializer();
  weight->set_name("big.weight");
  weight->set_data_type(onnx::TensorProto::FLOAT);
  weight->add_dims(4);
  weight->set_data_location(onnx::TensorProto::EXTERNAL);
  onnx::StringStringEntryProto* location = weight->add_external_data();
  location->set_key("location");
  location->set_value("weights.bin");
  builder.node("Add", {"x", "big.weight"}, {"y"});
  Result<Graph> graph = builder.import("model.onnx");
  EXPECT_EQ(graph.status().code(), StatusCode::kUnsupported);
  EXPECT_NE(graph.status().message().find("model.onnx: tensor 'big.weight' keeps its data in an external file "
                                          "('weights.bin')"),
            std::string::npos)
      << graph.status().message();
}

TEST(OnnxImportErrors, MalformedModels) {
  struct Case {
    const char* what;
    std::function<void(ModelBuilder&)> edit;
    StatusCode code;
    const char* message;
  };
  const std::vector<Case> cases{
      {"data size mismatch",
       [](ModelBuilder& b) {
         b.floats("w", {2, 3}, {1, 2, 3});
         b.node("Add", {"x", "w"}, {"y"}, "add");
       },
       StatusCode::kInvalidArgument, "m.onnx: tensor 'w' has shape [2, 3] (6 elements) but stores 3 values"},
      {"raw data size mismatch",
       [](ModelBuilder& b) {
         onnx::TensorProto* w = b.graph()->add_initializer();
         w->set_name("w");
         w->set_data_type(onnx::TensorProto::FLOAT);
         w->add_dims(2);
         w->set_raw_data(std::string(7, '\0'));
         b.node("Add", {"x", "w"}, {"y"}, "add");
       },
       StatusCode::kInvalidArgument, "m.onnx: tensor 'w' has shape [2] (float32, 8 bytes) but stores 7 bytes"},
      {"undefined input", [](ModelBuilder& b) { b.node("Relu", {"nowhere"}, {"y"}, "relu"); },
       StatusCode::kInvalidArgument,
       "m.onnx: node 'relu' (Relu): reads 'nowhere', which no earlier node, graph input or initializer defines"},
      {"used Dropout mask",
       [](ModelBuilder& b) {
         b.node("Dropout", {"x"}, {"d", "mask"}, "drop");
         b.node("Add", {"d", "mask"}, {"y"}, "add");
       },
       StatusCode::kUnsupported,
       "m.onnx: node 'drop' (Dropout): output 1 ('mask') of Dropout is used, but faultline computes only the "
       "first output"},
      {"bad auto_pad",
       [](ModelBuilder& b) {
         onnx::NodeProto& pool = b.node("MaxPool", {"x"}, {"y"}, "pool");
         set_ints(pool, "kernel_shape", {2});
         onnx::AttributeProto* pad = pool.add_attribute();
         pad->set_name("auto_pad");
         pad->set_type(onnx::AttributeProto::STRING);
         pad->set_s("SOMETIMES");
       },
       StatusCode::kInvalidArgument,
       "m.onnx: node 'pool' (MaxPool): attribute 'auto_pad' is 'SOMETIMES', not one of NOTSET, SAME_UPPER, "
       "SAME_LOWER, VALID"},
      {"storage order",
       [](ModelBuilder& b) {
         onnx::NodeProto& pool = b.node("MaxPool", {"x"}, {"y"}, "pool");
         set_ints(pool, "kernel_shape", {2});
         set_int(pool, "storage_order", 1);
       },
       StatusCode::kUnsupported,
       "m.onnx: node 'pool' (MaxPool): attribute 'storage_order' = 1 (column-major indices) is not supported; "
       "only 0"},
      {"Dropout in training mode",
       [](ModelBuilder& b) {
         onnx::TensorProto* training = b.graph()->add_initializer();
         training->set_name("training");
         training->set_data_type(onnx::TensorProto::BOOL);
         training->add_int32_data(1);
         b.node("Dropout", {"x", "", "training"}, {"y"}, "drop");
       },
       StatusCode::kUnsupported,
       "m.onnx: node 'drop' (Dropout): training_mode = true is not supported (faultline runs inference)"},
      {"missing graph output", [](ModelBuilder& b) { b.node("Relu", {"x"}, {"z"}, "relu"); },
       StatusCode::kInvalidArgument, "m.onnx: graph output 'y' is not computed by any node"},
  };
  for (const Case& c : cases) {
    ModelBuilder builder;
    builder.input("x", {1, 1, 2}).output("y");
    c.edit(builder);
    Result<Graph> graph = builder.import("m.onnx");
    EXPECT_EQ(graph.status().code(), c.code) << c.what;
    EXPECT_EQ(graph.status().message(), c.message) << c.what;
  }
}

TEST(OnnxImportErrors, OpsetOutsideSupportedRange) {
  ModelBuilder builder(18);
  builder.input("x", {1}).output("y");
  builder.node("Relu", {"x"}, {"y"});
  Result<Graph> graph = builder.import("m.onnx");
  EXPECT_EQ(graph.status().code(), StatusCode::kUnsupported);
  EXPECT_EQ(graph.status().message(), "m.onnx: opset 18 is not supported (faultline reads opset 1 to 17)");
}

}  // namespace
}  // namespace faultline
