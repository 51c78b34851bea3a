// The Keras frontend computes what the same layers compute in PyTorch: every model of tests/data/keras (real
// tf.keras files: MLPerf Tiny ResNet-8, ACETONE's two-branch Concat model and LeNet-5; synthetic legacy .h5
// files for DepthwiseConv2D, SeparableConv2D, ZeroPadding2D, relu6, swish, BatchNormalization without center
// and scale, a layer called twice, 3-input Add, Reshape, an old-style Sequential, ...; and the Keras 3 archive
// resnet8.keras) runs on both CPU backends and its outputs match scripts/make_keras_reference.py's (PyTorch
// functional ops on the weights as h5py reads them), in Keras' NHWC layout. Then: the graph's structure (names,
// layouts, model_axes), and the errors for bad files (one line naming the file and the layer).
#include <gtest/gtest.h>
#include <hdf5.h>
#include <zip.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "engine/session.h"
#include "engine/tensor.h"
#include "frontends/load_model.h"
#include "tests/support/fault_comparison.h"
#include "tests/support/test_support.h"

namespace faultline {
namespace {

using faultline::testing::read_npy_or_fail;
using faultline::testing::temp_dir;
using faultline::testing::tensors_near;
using faultline::testing::test_data;

constexpr double kRelTol = 1e-4;
constexpr double kAbsTol = 1e-5;

std::string keras_data(const std::string& name) {
  return test_data("keras/" + name);
}

std::vector<Tensor> run(const std::string& model_path, const std::string& backend, const Tensor& input) {
  auto model = load_model(model_path);
  if (!model.is_ok()) {
    ADD_FAILURE() << model.status().message();
    return {};
  }
  SessionOptions options;
  options.backend = backend;
  options.batch = input.dim(0);
  auto session = Session::create(model.value(), options);
  if (!session.is_ok()) {
    ADD_FAILURE() << session.status().message();
    return {};
  }
  auto outputs = session.value()->run({input});
  if (!outputs.is_ok()) {
    ADD_FAILURE() << outputs.status().message();
    return {};
  }
  return std::move(outputs).value();
}

struct ReferenceCase {
  std::string model;   // under tests/data/keras
  std::string prefix;  // <prefix>_input.npy, <prefix>_output.npy, <prefix>_output1.npy, ...
  int outputs;
};

class KerasReference : public ::testing::TestWithParam<std::tuple<ReferenceCase, std::string>> {};

TEST_P(KerasReference, MatchesPyTorch) {
  const auto& [c, backend] = GetParam();
  Tensor input = read_npy_or_fail(keras_data(c.prefix + "_input.npy"));
  std::vector<Tensor> outputs = run(keras_data(c.model), backend, input);
  ASSERT_EQ(static_cast<int>(outputs.size()), c.outputs);
  for (int k = 0; k < c.outputs; ++k) {
    Tensor expected = read_npy_or_fail(keras_data(c.prefix + "_output" + (k == 0 ? "" : std::to_string(k)) + ".npy"));
    EXPECT_TRUE(tensors_near(expected, outputs[static_cast<size_t>(k)], kRelTol, kAbsTol))
        << c.model << " output " << k << " on " << backend;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Models, KerasReference,
    ::testing::Combine(::testing::Values(ReferenceCase{"mlperf_tiny_ic_pretrainedResnet.h5", "resnet8", 1},
                                         ReferenceCase{"resnet8.keras", "resnet8", 1},
                                         ReferenceCase{"acetone_concat.h5", "acetone_concat", 1},
                                         ReferenceCase{"acetone_lenet5_trained.h5", "lenet5", 1},
                                         ReferenceCase{"synthetic_mobile.h5", "synthetic_mobile", 1},
                                         ReferenceCase{"synthetic_branches.h5", "synthetic_branches", 2},
                                         ReferenceCase{"synthetic_dense.h5", "synthetic_dense", 1}),
                       ::testing::Values("reference", "onednn")),
    [](const auto& info) {
      std::string name = std::get<0>(info.param).model + "_" + std::get<1>(info.param);
      for (char& ch : name)
        if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
      return name;
    });

// The Keras 3 archive holds ResNet-8's weights: it computes bit for bit what the .h5 computes.
TEST(KerasImport, Keras3ArchiveEqualsLegacyH5) {
  Tensor input = read_npy_or_fail(keras_data("resnet8_input.npy"));
  std::vector<Tensor> h5 = run(keras_data("mlperf_tiny_ic_pretrainedResnet.h5"), "reference", input);
  std::vector<Tensor> keras3 = run(keras_data("resnet8.keras"), "reference", input);
  ASSERT_EQ(h5.size(), 1u);
  ASSERT_EQ(keras3.size(), 1u);
  EXPECT_TRUE(tensors_near(h5[0], keras3[0], 0.0, 0.0));
}

const Value* find(const Graph& g, const std::string& name) {
  auto id = g.find_value(name);
  return id ? &g.value(*id) : nullptr;
}

// Layouts and names: the NHWC input, OIHW kernels named as Keras names them with HWIO model axes, Dense
// kernels as stored, NCHW activations marked NHWC, a 4-D output transposed back to NHWC.
TEST(KerasImport, GraphKeepsKerasNamesAndLayouts) {
  auto model = load_model(keras_data("acetone_concat.h5"));
  ASSERT_TRUE(model.is_ok()) << model.status().message();
  const Graph& g = *model.value();
  ASSERT_EQ(g.inputs().size(), 1u);
  EXPECT_EQ(g.value(g.inputs()[0]).name, "input_5");
  EXPECT_EQ(g.value(g.inputs()[0]).shape, (Shape{kDynamicDim, 10, 10, 3}));
  const Value* kernel = find(g, "conv2d_1/kernel:0");
  ASSERT_NE(kernel, nullptr);
  EXPECT_TRUE(kernel->is_parameter);
  EXPECT_EQ(kernel->shape, (Shape{3, 3, 3, 3}));
  EXPECT_EQ(kernel->model_axes, (std::vector<int>{2, 3, 1, 0}));
  const Value* conv = find(g, "conv2d_1:0");
  ASSERT_NE(conv, nullptr);
  EXPECT_EQ(conv->model_axes, (std::vector<int>{0, 2, 3, 1}));
  ASSERT_EQ(g.outputs().size(), 1u);
  const Value& out = g.value(g.outputs()[0]);
  EXPECT_TRUE(out.model_axes.empty());  // already in Keras' order
  EXPECT_EQ(g.node(out.producer).op, OpKind::kTranspose);
  EXPECT_EQ(g.node(out.producer).layer, "concatenate");

  auto lenet = load_model(keras_data("acetone_lenet5_trained.h5"));
  ASSERT_TRUE(lenet.is_ok()) << lenet.status().message();
  const Value* dense = find(*lenet.value(), "dense/kernel:0");
  ASSERT_NE(dense, nullptr);
  EXPECT_EQ(dense->shape, (Shape{256, 120}));  // (in, out) as stored: Gemm with trans_b = 0
  EXPECT_TRUE(dense->model_axes.empty());
  EXPECT_EQ(lenet.value()->value(lenet.value()->inputs()[0]).name, "conv2d_input");  // Sequential's input
}

// The conv kernel's bytes are the file's, moved: engine[o][i][h][w] == file[h][w][i][o] (h5py's HWIO array).
TEST(KerasImport, ConvKernelIsTheFilesKernelTransposed) {
  auto model = load_model(keras_data("acetone_lenet5_trained.h5"));
  ASSERT_TRUE(model.is_ok()) << model.status().message();
  const Value* kernel = find(*model.value(), "conv2d_1/kernel:0");
  ASSERT_NE(kernel, nullptr);
  hid_t file = H5Fopen(keras_data("acetone_lenet5_trained.h5").c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  ASSERT_GE(file, 0);
  hid_t dataset = H5Dopen2(file, "model_weights/conv2d_1/conv2d_1/kernel:0", H5P_DEFAULT);
  ASSERT_GE(dataset, 0);
  std::vector<float> hwio(5 * 5 * 6 * 16);
  ASSERT_GE(H5Dread(dataset, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, hwio.data()), 0);
  H5Dclose(dataset);
  H5Fclose(file);
  const float* oihw = kernel->constant.data<float>();
  int mismatches = 0;
  for (int h = 0; h < 5; ++h)
    for (int w = 0; w < 5; ++w)
      for (int i = 0; i < 6; ++i)
        for (int o = 0; o < 16; ++o)
          mismatches += oihw[((o * 6 + i) * 5 + h) * 5 + w] != hwio[((h * 5 + w) * 6 + i) * 16 + o];
  EXPECT_EQ(mismatches, 0);
}

// --- errors ---

// A copy of `source` whose model_config attribute is `config` (HDF5 C API: delete and rewrite the attribute).
std::string with_config(const std::string& source, const std::string& config, const std::string& name) {
  const std::string path = temp_dir() + "/" + name;
  std::filesystem::copy_file(source, path);
  hid_t file = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  EXPECT_GE(file, 0);
  H5Adelete(file, "model_config");
  hid_t type = H5Tcopy(H5T_C_S1);
  H5Tset_size(type, H5T_VARIABLE);
  hid_t space = H5Screate(H5S_SCALAR);
  hid_t attribute = H5Acreate2(file, "model_config", type, space, H5P_DEFAULT, H5P_DEFAULT);
  const char* text = config.c_str();
  EXPECT_GE(H5Awrite(attribute, type, &text), 0);
  H5Aclose(attribute);
  H5Sclose(space);
  H5Tclose(type);
  H5Fclose(file);
  return path;
}

// LeNet-5's config, read back from the file.
std::string lenet_config() {
  hid_t file = H5Fopen(keras_data("acetone_lenet5_trained.h5").c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  hid_t attribute = H5Aopen(file, "model_config", H5P_DEFAULT);
  hid_t type = H5Aget_type(attribute);
  hid_t memory = H5Tcopy(H5T_C_S1);
  H5Tset_size(memory, H5T_VARIABLE);
  char* text = nullptr;
  H5Aread(attribute, memory, &text);
  std::string config = text ? text : "";
  H5free_memory(text);
  H5Tclose(memory);
  H5Tclose(type);
  H5Aclose(attribute);
  H5Fclose(file);
  return config;
}

std::string replaced(std::string text, const std::string& from, const std::string& to) {
  const size_t at = text.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  if (at != std::string::npos) text.replace(at, from.size(), to);
  return text;
}

void expect_error(const std::string& path, const std::vector<std::string>& parts) {
  auto model = load_model(path);
  ASSERT_FALSE(model.is_ok()) << path;
  const std::string& message = model.status().message();
  EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  EXPECT_EQ(message.rfind(path, 0), 0u) << message;  // starts with the file
  for (const std::string& part : parts) EXPECT_NE(message.find(part), std::string::npos) << message;
}

TEST(KerasImportErrors, UnsupportedLayerClassNamesTheLayer) {
  const std::string config = replaced(lenet_config(), "\"class_name\": \"Flatten\"", "\"class_name\": \"LSTM\"");
  expect_error(with_config(keras_data("acetone_lenet5_trained.h5"), config, "lstm.h5"),
               {"layer 'flatten' (LSTM)", "unsupported layer class 'LSTM'"});
}

TEST(KerasImportErrors, UnsupportedActivationNamesTheLayer) {
  const std::string config = replaced(lenet_config(), "\"activation\": \"softmax\"", "\"activation\": \"gelu\"");
  expect_error(with_config(keras_data("acetone_lenet5_trained.h5"), config, "gelu.h5"),
               {"layer 'dense_2' (Dense)", "unsupported activation 'gelu'"});
}

TEST(KerasImportErrors, MissingWeightNamesTheLayer) {
  // use_bias false on a layer whose file has a bias: the weight count does not fit.
  std::string config = lenet_config();
  const size_t dense_1 = config.find("\"name\": \"dense_1\"");
  ASSERT_NE(dense_1, std::string::npos);
  config.replace(config.find("\"use_bias\": true", dense_1), 16, "\"use_bias\": false");
  expect_error(with_config(keras_data("acetone_lenet5_trained.h5"), config, "bias.h5"),
               {"layer 'dense_1' (Dense)", "expects 1 weights (kernel)", "the file has 2"});
}

TEST(KerasImportErrors, WeightShapeThatDoesNotFitNamesTheLayer) {
  const std::string config = replaced(lenet_config(), "\"units\": 84", "\"units\": 80");
  expect_error(with_config(keras_data("acetone_lenet5_trained.h5"), config, "units.h5"),
               {"layer 'dense_1' (Dense)", "dense_1/kernel:0", "[120, 84]"});
}

TEST(KerasImportErrors, InputShapeThatDoesNotFitNamesTheLayer) {
  // A 32x32 input makes the flattened features 400, not the 256 rows of dense's kernel.
  const std::string config = replaced(replaced(lenet_config(), "[null, 28, 28, 1]", "[null, 32, 32, 1]"),
                                      "[null, 28, 28, 1]", "[null, 32, 32, 1]");
  expect_error(with_config(keras_data("acetone_lenet5_trained.h5"), config, "input.h5"), {"'dense'"});
}

TEST(KerasImportErrors, BadJsonNamesTheLineAndColumn) {
  const std::string config = replaced(lenet_config(), "\"layers\": [", "\"layers\": [,");
  expect_error(with_config(keras_data("acetone_lenet5_trained.h5"), config, "json.h5"),
               {"model_config: line 1, column", "unexpected character ','"});
}

TEST(KerasImportErrors, BadConfigValueNamesTheJsonPath) {
  const std::string config = replaced(lenet_config(), "\"kernel_size\": [5, 5]", "\"kernel_size\": \"5\"");
  expect_error(with_config(keras_data("acetone_lenet5_trained.h5"), config, "path.h5"),
               {"layer 'conv2d' (Conv2D)", "config.layers[1].config.kernel_size",
                "expected an integer or an array of 2 integers"});
}

TEST(KerasImportErrors, ChannelsFirstIsRefused) {
  const std::string config =
      replaced(lenet_config(), "\"data_format\": \"channels_last\"", "\"data_format\": \"channels_first\"");
  expect_error(with_config(keras_data("acetone_lenet5_trained.h5"), config, "nchw.h5"),
               {"layer 'conv2d' (Conv2D)", "channels_first"});
}

TEST(KerasImportErrors, FilesThatAreNotModels) {
  const std::string dir = temp_dir();
  std::ofstream(dir + "/text.h5") << "not hdf5";
  expect_error(dir + "/text.h5", {"not an HDF5 file"});
  std::ofstream(dir + "/text.keras") << "not a zip";
  expect_error(dir + "/text.keras", {"not a zip archive"});
  expect_error(dir + "/missing.h5", {"no such file"});
  // A weights-only file (no model_config).
  const std::string weights_only = dir + "/weights.h5";
  std::filesystem::copy_file(keras_data("acetone_lenet5_trained.h5"), weights_only);
  hid_t file = H5Fopen(weights_only.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  ASSERT_GE(file, 0);
  H5Adelete(file, "model_config");
  H5Fclose(file);
  expect_error(weights_only, {"no 'model_config' attribute"});
}

TEST(KerasImportErrors, ArchiveWithoutWeights) {
  const std::string path = temp_dir() + "/no_weights.keras";
  int error = 0;
  zip_t* archive = zip_open(path.c_str(), ZIP_CREATE | ZIP_TRUNCATE, &error);
  ASSERT_NE(archive, nullptr);
  static const char kConfig[] = "{}";
  zip_source_t* source = zip_source_buffer(archive, kConfig, sizeof(kConfig) - 1, 0);
  ASSERT_GE(zip_file_add(archive, "config.json", source, ZIP_FL_OVERWRITE), 0);
  ASSERT_EQ(zip_close(archive), 0);
  expect_error(path, {"the archive has no 'model.weights.h5'"});
}

}  // namespace
}  // namespace faultline
