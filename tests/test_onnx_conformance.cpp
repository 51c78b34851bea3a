// The ONNX project's own node conformance cases (Debian package libonnx-testdata) for every op faultline
// supports, through the ONNX frontend and a Session on each backend.
//
// A case is a model.onnx with one node and test_data_set_0/{input_N,output_N}.pb. faultline plans with
// constant operands (weights, Clip bounds, Pad pads, Slice ranges, Reshape shapes, axes), while the cases feed
// everything as graph inputs; so the harness turns every input but the first into an initializer holding the
// case's data before importing ("run" cases), or every input ("fold" cases: shape arithmetic, which faultline
// folds at import and never runs, and dtypes only the folding evaluator handles). "run" cases go through
// Session on "reference" and "onednn"; "fold" cases, and "import" cases (Shape of a static shape, Constant)
// whose outputs are constants after import, are compared directly. Each case x backend is its own test,
// named after the case.
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "engine/file_io.h"
#include "engine/session.h"
#include "frontends/onnx/onnx_import.h"
#include "frontends/onnx/onnx_tensor.h"
#include "tests/support/test_support.h"

namespace faultline {
namespace {

struct Tolerance {
  double rtol;
  double atol;
};

// Per op family: reference sums in double; oneDNN accumulates in float32 with its own summation order and
// vectorized transcendental functions.
struct Tolerances {
  Tolerance reference;
  Tolerance onednn;
};
constexpr Tolerances kExact{{0, 0}, {0, 0}};                     // data movement, shape arithmetic
constexpr Tolerances kPointwise{{1e-5, 1e-6}, {1e-5, 1e-6}};     // activations, Add/Sub/Mul/Div
constexpr Tolerances kReduction{{1e-5, 1e-6}, {1e-5, 1e-5}};     // pools, softmax, batch norm
constexpr Tolerances kAccumulating{{1e-5, 1e-6}, {1e-4, 1e-5}};  // conv, gemm, matmul
// Cast to float16 / bfloat16: the expected outputs round once from the source type (double) or truncate
// (ONNX's bfloat16 reference drops the low 16 bits); faultline rounds to nearest even. Both are within one
// unit in the last place of the target type.
constexpr Tolerances kHalfCast{{1.0 / 1024, 0}, {1.0 / 1024, 0}};
constexpr Tolerances kBFloat16Cast{{1.0 / 128, 0}, {1.0 / 128, 0}};

enum class Mode {
  kRun,     // the first input at run time, on reference and onednn
  kRunReference,  // the first input at run time, on reference only: int8 ops (onednn refuses them at plan time)
  kImport,  // the first input at run time, yet every output is a constant after import (Shape of a static shape)
  kFold,    // every input constant: the graph folds at import
};

struct ConformanceCase {
  const char* name;  // directory under node/
  Tolerances tolerances;
  Mode mode = Mode::kRun;
};

// Left out, and why:
//   test_add_uint8, test_sub_uint8, test_mul_uint8, test_div_uint8, test_clip_default_int8_*,
//   test_maxpool_2d_uint8: these compute ops run on float32 only (int8/uint8 data run through the integer ops).
//   The integer ops (QuantizeLinear, DequantizeLinear of run-time data, ConvInteger, MatMulInteger, QLinearConv,
//   QLinearMatMul) run on the reference backend only: onednn refuses int8 models at plan time, naming the node
//   (engine/session.cpp: "int8 ops run on the reference backend (--backend reference)").
//   test_batchnorm_*_training_mode: training-mode statistics (faultline runs inference).
//   test_dropout_default_mask, test_dropout_default_mask_ratio, test_maxpool_with_argmax_*: a second output
//   (mask, indices) that faultline does not compute; the importer refuses a used second output.
//   test_cast_FLOAT_to_STRING, test_cast_STRING_to_FLOAT: string tensors.
//   test_softmax_*_expanded, test_range_*_expanded, test_castlike_*: other ops (ReduceMax, Exp, Loop, CastLike).
const ConformanceCase kCases[] = {
    // Conv
    {"test_basic_conv_with_padding", kAccumulating},
    {"test_basic_conv_without_padding", kAccumulating},
    {"test_conv_with_autopad_same", kAccumulating},
    {"test_conv_with_strides_and_asymmetric_padding", kAccumulating},
    {"test_conv_with_strides_no_padding", kAccumulating},
    {"test_conv_with_strides_padding", kAccumulating},
    // BatchNormalization
    {"test_batchnorm_epsilon", kReduction},
    {"test_batchnorm_example", kReduction},
    // Activations
    {"test_relu", kPointwise},
    {"test_leakyrelu", kPointwise},
    {"test_leakyrelu_default", kPointwise},
    {"test_leakyrelu_example", kPointwise},
    {"test_clip", kPointwise},
    {"test_clip_default_inbounds", kPointwise},
    {"test_clip_default_max", kPointwise},
    {"test_clip_default_min", kPointwise},
    {"test_clip_example", kPointwise},
    {"test_clip_inbounds", kPointwise},
    {"test_clip_outbounds", kPointwise},
    {"test_clip_splitbounds", kPointwise},
    {"test_sigmoid", kPointwise},
    {"test_sigmoid_example", kPointwise},
    {"test_tanh", kPointwise},
    {"test_tanh_example", kPointwise},
    // Softmax
    {"test_softmax_axis_0", kReduction},
    {"test_softmax_axis_1", kReduction},
    {"test_softmax_axis_2", kReduction},
    {"test_softmax_default_axis", kReduction},
    {"test_softmax_example", kReduction},
    {"test_softmax_large_number", kReduction},
    {"test_softmax_negative_axis", kReduction},
    // MaxPool
    {"test_maxpool_1d_default", kReduction},
    {"test_maxpool_2d_ceil", kReduction},
    {"test_maxpool_2d_default", kReduction},
    {"test_maxpool_2d_dilations", kReduction},
    {"test_maxpool_2d_pads", kReduction},
    {"test_maxpool_2d_precomputed_pads", kReduction},
    {"test_maxpool_2d_precomputed_same_upper", kReduction},
    {"test_maxpool_2d_precomputed_strides", kReduction},
    {"test_maxpool_2d_same_lower", kReduction},
    {"test_maxpool_2d_same_upper", kReduction},
    {"test_maxpool_2d_strides", kReduction},
    {"test_maxpool_3d_default", kReduction},
    // AveragePool
    {"test_averagepool_1d_default", kReduction},
    {"test_averagepool_2d_ceil", kReduction},
    {"test_averagepool_2d_default", kReduction},
    {"test_averagepool_2d_pads", kReduction},
    {"test_averagepool_2d_pads_count_include_pad", kReduction},
    {"test_averagepool_2d_precomputed_pads", kReduction},
    {"test_averagepool_2d_precomputed_pads_count_include_pad", kReduction},
    {"test_averagepool_2d_precomputed_same_upper", kReduction},
    {"test_averagepool_2d_precomputed_strides", kReduction},
    {"test_averagepool_2d_same_lower", kReduction},
    {"test_averagepool_2d_same_upper", kReduction},
    {"test_averagepool_2d_strides", kReduction},
    {"test_averagepool_3d_default", kReduction},
    // GlobalAveragePool, GlobalMaxPool (opset 1 models)
    {"test_globalaveragepool", kReduction},
    {"test_globalaveragepool_precomputed", kReduction},
    {"test_globalmaxpool", kReduction},
    {"test_globalmaxpool_precomputed", kReduction},
    // Add, Sub, Mul, Div
    {"test_add", kPointwise},
    {"test_sum_example", kPointwise},  // Sum imports as a chain of Adds
    {"test_sum_one_input", kPointwise},
    {"test_sum_two_inputs", kPointwise},
    {"test_add_bcast", kPointwise},
    {"test_sub", kPointwise},
    {"test_sub_bcast", kPointwise},
    {"test_sub_example", kPointwise},
    {"test_mul", kPointwise},
    {"test_mul_bcast", kPointwise},
    {"test_mul_example", kPointwise},
    {"test_div", kPointwise},
    {"test_div_bcast", kPointwise},
    {"test_div_example", kPointwise},
    // Concat
    {"test_concat_1d_axis_0", kExact},
    {"test_concat_1d_axis_negative_1", kExact},
    {"test_concat_2d_axis_0", kExact},
    {"test_concat_2d_axis_1", kExact},
    {"test_concat_2d_axis_negative_1", kExact},
    {"test_concat_2d_axis_negative_2", kExact},
    {"test_concat_3d_axis_0", kExact},
    {"test_concat_3d_axis_1", kExact},
    {"test_concat_3d_axis_2", kExact},
    {"test_concat_3d_axis_negative_1", kExact},
    {"test_concat_3d_axis_negative_2", kExact},
    {"test_concat_3d_axis_negative_3", kExact},
    // Flatten
    {"test_flatten_axis0", kExact},
    {"test_flatten_axis1", kExact},
    {"test_flatten_axis2", kExact},
    {"test_flatten_axis3", kExact},
    {"test_flatten_default_axis", kExact},
    {"test_flatten_negative_axis1", kExact},
    {"test_flatten_negative_axis2", kExact},
    {"test_flatten_negative_axis3", kExact},
    {"test_flatten_negative_axis4", kExact},
    // Reshape (allowzero_reordered reshapes a [0, 3, 4] tensor: no images to run, so it is folded)
    {"test_reshape_extended_dims", kExact},
    {"test_reshape_negative_dim", kExact},
    {"test_reshape_negative_extended_dims", kExact},
    {"test_reshape_one_dim", kExact},
    {"test_reshape_reduced_dims", kExact},
    {"test_reshape_reordered_all_dims", kExact},
    {"test_reshape_reordered_last_dims", kExact},
    {"test_reshape_zero_and_negative_dim", kExact},
    {"test_reshape_zero_dim", kExact},
    {"test_reshape_allowzero_reordered", kExact, Mode::kFold},
    // Transpose
    {"test_transpose_all_permutations_0", kExact},
    {"test_transpose_all_permutations_1", kExact},
    {"test_transpose_all_permutations_2", kExact},
    {"test_transpose_all_permutations_3", kExact},
    {"test_transpose_all_permutations_4", kExact},
    {"test_transpose_all_permutations_5", kExact},
    {"test_transpose_default", kExact},
    // Gemm, MatMul
    {"test_gemm_all_attributes", kAccumulating},
    {"test_gemm_alpha", kAccumulating},
    {"test_gemm_beta", kAccumulating},
    {"test_gemm_default_matrix_bias", kAccumulating},
    {"test_gemm_default_no_bias", kAccumulating},
    {"test_gemm_default_scalar_bias", kAccumulating},
    {"test_gemm_default_single_elem_vector_bias", kAccumulating},
    {"test_gemm_default_vector_bias", kAccumulating},
    {"test_gemm_default_zero_bias", kAccumulating},
    {"test_gemm_transposeA", kAccumulating},
    {"test_gemm_transposeB", kAccumulating},
    {"test_matmul_2d", kAccumulating},
    {"test_matmul_3d", kAccumulating},
    {"test_matmul_4d", kAccumulating},
    // Integer ops (int8/uint8 data, int32 accumulators): reference backend only
    {"test_quantizelinear", kExact, Mode::kRunReference},
    {"test_quantizelinear_axis", kExact, Mode::kRunReference},
    {"test_dequantizelinear", kExact, Mode::kRunReference},
    {"test_dequantizelinear_axis", kExact, Mode::kRunReference},
    {"test_convinteger_with_padding", kExact, Mode::kRunReference},
    {"test_convinteger_without_padding", kExact, Mode::kRunReference},
    {"test_matmulinteger", kExact, Mode::kRunReference},
    {"test_qlinearconv", kExact, Mode::kRunReference},
    {"test_qlinearmatmul_2D", kExact, Mode::kRunReference},
    {"test_qlinearmatmul_3D", kExact, Mode::kRunReference},
    // Pad (edge and reflect cases pad int32 data, which backends do not run: folded)
    {"test_constant_pad", kExact},
    {"test_edge_pad", kExact, Mode::kFold},
    {"test_reflect_pad", kExact, Mode::kFold},
    // Slice
    {"test_slice", kExact},
    {"test_slice_default_axes", kExact},
    {"test_slice_default_steps", kExact},
    {"test_slice_end_out_of_bounds", kExact},
    {"test_slice_neg", kExact},
    {"test_slice_neg_steps", kExact},
    {"test_slice_negative_axes", kExact},
    {"test_slice_start_out_of_bounds", kExact},
    // Identity, Dropout (inference: identity), Constant
    {"test_identity", kExact},
    {"test_dropout_default", kExact},
    {"test_dropout_default_ratio", kExact},
    {"test_dropout_default_old", kExact},
    {"test_dropout_random_old", kExact},
    {"test_constant", kExact, Mode::kImport},
    // Shape (the input's shape is static, so Shape folds at import)
    {"test_shape", kExact, Mode::kImport},
    {"test_shape_clip_end", kExact, Mode::kImport},
    {"test_shape_clip_start", kExact, Mode::kImport},
    {"test_shape_end_1", kExact, Mode::kImport},
    {"test_shape_end_negative_1", kExact, Mode::kImport},
    {"test_shape_example", kExact, Mode::kImport},
    {"test_shape_start_1", kExact, Mode::kImport},
    {"test_shape_start_1_end_2", kExact, Mode::kImport},
    {"test_shape_start_1_end_negative_1", kExact, Mode::kImport},
    {"test_shape_start_negative_1", kExact, Mode::kImport},
    // Shape arithmetic: folded at import, never run
    {"test_gather_0", kExact, Mode::kFold},
    {"test_gather_1", kExact, Mode::kFold},
    {"test_gather_2d_indices", kExact, Mode::kFold},
    {"test_gather_negative_indices", kExact, Mode::kFold},
    {"test_unsqueeze_axis_0", kExact, Mode::kFold},
    {"test_unsqueeze_axis_1", kExact, Mode::kFold},
    {"test_unsqueeze_axis_2", kExact, Mode::kFold},
    {"test_unsqueeze_axis_3", kExact, Mode::kFold},
    {"test_unsqueeze_negative_axes", kExact, Mode::kFold},
    {"test_unsqueeze_three_axes", kExact, Mode::kFold},
    {"test_unsqueeze_two_axes", kExact, Mode::kFold},
    {"test_unsqueeze_unsorted_axes", kExact, Mode::kFold},
    {"test_squeeze", kExact, Mode::kFold},
    {"test_squeeze_negative_axes", kExact, Mode::kFold},
    {"test_cast_FLOAT_to_DOUBLE", kExact, Mode::kFold},
    {"test_cast_DOUBLE_to_FLOAT", kPointwise, Mode::kFold},
    {"test_cast_FLOAT16_to_FLOAT", kExact, Mode::kFold},
    {"test_cast_FLOAT16_to_DOUBLE", kExact, Mode::kFold},
    {"test_cast_FLOAT_to_FLOAT16", kHalfCast, Mode::kFold},
    {"test_cast_DOUBLE_to_FLOAT16", kHalfCast, Mode::kFold},
    {"test_cast_BFLOAT16_to_FLOAT", kExact, Mode::kFold},
    {"test_cast_FLOAT_to_BFLOAT16", kBFloat16Cast, Mode::kFold},
    {"test_constantofshape_float_ones", kExact, Mode::kFold},
    {"test_constantofshape_int_zeros", kExact, Mode::kFold},
    {"test_constantofshape_int_shape_zero", kExact, Mode::kFold},
    {"test_range_float_type_positive_delta", kPointwise, Mode::kFold},
    {"test_range_int32_type_negative_delta", kExact, Mode::kFold},
};

struct ConformanceParam {
  const ConformanceCase* test_case;
  const char* backend;  // "reference", "onednn"; "import" or "folded" where no backend runs
};

std::vector<ConformanceParam> all_params() {
  std::vector<ConformanceParam> params;
  for (const ConformanceCase& test_case : kCases) {
    switch (test_case.mode) {
      case Mode::kRun:
        params.push_back({&test_case, "reference"});
        params.push_back({&test_case, "onednn"});
        break;
      case Mode::kRunReference:
        params.push_back({&test_case, "reference"});
        break;
      case Mode::kImport:
        params.push_back({&test_case, "import"});
        break;
      case Mode::kFold:
        params.push_back({&test_case, "folded"});
        break;
    }
  }
  return params;
}

const std::string kTestDataDir = FAULTLINE_ONNX_TESTDATA_DIR;

std::string case_dir(const ConformanceCase& test_case) {
  return kTestDataDir + "/node/" + test_case.name;
}

// test_data_set_0/input_<i>.pb or output_<i>.pb.
std::string data_file(const std::string& dir, const char* prefix, int index) {
  return dir + "/test_data_set_0/" + prefix + "_" + std::to_string(index) + ".pb";
}

// The test data of a value the model declares as `declared` (a ValueInfoProto). ONNX 1.12 stores bfloat16
// test data as UINT16 bit patterns; such data is read as the bfloat16 the model declares.
Result<onnx::TensorProto> read_tensor_proto(const std::string& path, const onnx::ValueInfoProto& declared) {
  FL_ASSIGN_OR_RETURN(std::string bytes, read_file(path));
  onnx::TensorProto proto;
  if (!proto.ParseFromString(bytes)) return invalid_argument(path + ": cannot parse");
  if (proto.data_type() == onnx::TensorProto::UINT16 &&
      declared.type().tensor_type().elem_type() == onnx::TensorProto::BFLOAT16)
    proto.set_data_type(onnx::TensorProto::BFLOAT16);
  return proto;
}

// The case's model with graph inputs [first_constant, n) turned into initializers holding the case's inputs.
std::string freeze_inputs(const onnx::ModelProto& model, const std::vector<onnx::TensorProto>& inputs,
                          int first_constant) {
  onnx::ModelProto frozen = model;
  onnx::GraphProto* graph = frozen.mutable_graph();
  auto* graph_inputs = graph->mutable_input();
  for (int i = graph_inputs->size() - 1; i >= first_constant; --i) {
    onnx::TensorProto* initializer = graph->add_initializer();
    *initializer = inputs[static_cast<size_t>(i)];
    initializer->set_name(graph_inputs->Get(i).name());
    graph_inputs->DeleteSubrange(i, 1);
  }
  return frozen.SerializeAsString();
}

void PrintTo(const ConformanceParam& param, std::ostream* out) {
  *out << param.test_case->name << " on " << param.backend;
}

class OnnxConformance : public ::testing::TestWithParam<ConformanceParam> {};

TEST_P(OnnxConformance, MatchesExpectedOutputs) {
  if (!std::filesystem::is_directory(kTestDataDir + "/node"))
    GTEST_SKIP() << "the ONNX conformance data is not installed (Debian package libonnx-testdata, expected at "
                 << kTestDataDir << ")";
  const ConformanceCase& test_case = *GetParam().test_case;
  const std::string backend = GetParam().backend;
  const std::string dir = case_dir(test_case);
  if (!std::filesystem::is_directory(dir)) GTEST_SKIP() << dir << " is not in this version of libonnx-testdata";

  Result<std::string> model_bytes = read_file(dir + "/model.onnx");
  ASSERT_TRUE(model_bytes.is_ok()) << model_bytes.status().message();
  onnx::ModelProto model;
  ASSERT_TRUE(model.ParseFromString(*model_bytes));
  std::vector<onnx::TensorProto> input_protos;
  std::vector<Tensor> inputs;
  for (int i = 0; i < model.graph().input_size(); ++i) {
    Result<onnx::TensorProto> proto = read_tensor_proto(data_file(dir, "input", i), model.graph().input(i));
    ASSERT_TRUE(proto.is_ok()) << proto.status().message();
    Result<Tensor> tensor = tensor_from_onnx(*proto);
    ASSERT_TRUE(tensor.is_ok()) << tensor.status().message();
    input_protos.push_back(std::move(proto).value());
    inputs.push_back(std::move(tensor).value());
  }
  std::vector<Tensor> expected;
  for (int i = 0; i < model.graph().output_size(); ++i) {
    Result<onnx::TensorProto> proto = read_tensor_proto(data_file(dir, "output", i), model.graph().output(i));
    ASSERT_TRUE(proto.is_ok()) << proto.status().message();
    Result<Tensor> tensor = tensor_from_onnx(*proto);
    ASSERT_TRUE(tensor.is_ok()) << tensor.status().message();
    expected.push_back(std::move(tensor).value());
  }

  const int runtime_inputs = test_case.mode == Mode::kFold ? 0 : std::min(1, model.graph().input_size());
  Result<Graph> imported = import_onnx_bytes(freeze_inputs(model, input_protos, runtime_inputs), dir + "/model.onnx");
  ASSERT_TRUE(imported.is_ok()) << imported.status().message();
  auto graph = std::make_shared<const Graph>(std::move(imported).value());
  ASSERT_EQ(graph->outputs().size(), expected.size());

  bool all_constant = true;
  for (ValueId id : graph->outputs()) all_constant = all_constant && graph->value(id).is_constant();
  std::vector<Tensor> actual;
  if (test_case.mode != Mode::kRun && test_case.mode != Mode::kRunReference) {
    ASSERT_TRUE(all_constant) << "the graph did not fold at import: " << graph->nodes().size() << " nodes left";
    for (ValueId id : graph->outputs()) actual.push_back(graph->value(id).constant);
  } else {
    ASSERT_FALSE(all_constant) << "the graph folded at import: no backend would run";
    inputs.resize(static_cast<size_t>(runtime_inputs));
    SessionOptions options;
    options.backend = backend;
    options.batch = !inputs.empty() && inputs[0].rank() > 0 ? inputs[0].dim(0) : 1;
    Result<std::unique_ptr<Session>> session = Session::create(graph, options);
    ASSERT_TRUE(session.is_ok()) << session.status().message();
    Result<std::vector<Tensor>> outputs = (*session)->run(inputs);
    ASSERT_TRUE(outputs.is_ok()) << outputs.status().message();
    actual = std::move(outputs).value();
  }
  ASSERT_EQ(actual.size(), expected.size());
  const Tolerance tolerance = backend == "onednn" ? test_case.tolerances.onednn : test_case.tolerances.reference;
  for (size_t i = 0; i < expected.size(); ++i)
    EXPECT_TRUE(testing::tensors_near(expected[i], actual[i], tolerance.rtol, tolerance.atol)) << "output " << i;
}

INSTANTIATE_TEST_SUITE_P(Node, OnnxConformance, ::testing::ValuesIn(all_params()),
                         [](const ::testing::TestParamInfo<ConformanceParam>& info) {
                           return std::string(info.param.test_case->name) + "_" + info.param.backend;
                         });

}  // namespace
}  // namespace faultline
