// Fault sites of Keras models are in Keras' order and carry Keras' names, as tf_injector's fault lists give them:
//   - `faultline layers` lists kernels as HWIO and activations as HWC, one activation per Keras layer (the
//     nodes a layer is made of inside the engine - a Conv2D's pre-activation sum, Flatten's layout Transpose -
//     are no sites of their own), input sites numbered in the order of the layer's inputs;
//   - a weight fault at a Keras index flips exactly the word that index names in the array h5py reads from the
//     file (checked against the file's bytes, read here with the HDF5 C API, for a Conv2D kernel, a depthwise
//     kernel with depth_multiplier 2 and a Dense kernel);
//   - an activation fault at an HWC index hits that element: on ACETONE's Concat model, the output element the
//     NumPy reading of Concatenate names; on ResNet-8, `faultline inject` with weight, activation and input
//     faults gives the outputs PyTorch gives (scripts/make_keras_reference.py, tests/data/keras/resnet8_faults.csv);
//   - engine_element() on a hand-computed case.
#include <gtest/gtest.h>
#include <hdf5.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "engine/session.h"
#include "faults/fault_injector.h"
#include "faults/fault_list.h"
#include "faults/fault_targets.h"
#include "frontends/load_model.h"
#include "tests/support/fault_comparison.h"
#include "tests/support/run_command.h"
#include "tests/support/test_support.h"

namespace faultline {
namespace {

using faultline::testing::compare_fault_logits;
using faultline::testing::read_npy_or_fail;
using faultline::testing::run_faultline;
using faultline::testing::temp_dir;
using faultline::testing::test_data;

std::string keras_data(const std::string& name) {
  return test_data("keras/" + name);
}

std::vector<FaultTarget> targets_of(const std::string& model_file) {
  auto model = load_model(keras_data(model_file));
  if (!model.is_ok()) {
    ADD_FAILURE() << model.status().message();
    return {};
  }
  auto targets = list_fault_targets(*model.value());
  if (!targets.is_ok()) {
    ADD_FAILURE() << targets.status().message();
    return {};
  }
  return std::move(targets).value();
}

const FaultTarget* site(const std::vector<FaultTarget>& targets, TargetKind kind, const std::string& layer) {
  for (const FaultTarget& t : targets)
    if (t.kind == kind && t.layer == layer) return &t;
  return nullptr;
}

TEST(KerasFaultSites, LayersCommandShowsKerasNamesAndOrder) {
  auto result = run_faultline("layers " + keras_data("acetone_lenet5_trained.h5") + " --csv");
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const std::string& out = result.out;
  EXPECT_NE(out.find("weight,conv2d_1,conv2d_1/kernel:0,Conv,\"[5, 5, 6, 16]\",float32,2400"), std::string::npos)
      << out;
  EXPECT_NE(out.find("weight,dense,dense/kernel:0,Gemm,\"[256, 120]\",float32,30720"), std::string::npos) << out;
  EXPECT_NE(out.find("activation,conv2d,conv2d/Tanh:0,Tanh,\"[24, 24, 6]\",float32,3456"), std::string::npos) << out;
  EXPECT_NE(out.find("activation,average_pooling2d_1,average_pooling2d_1:0,AveragePool,\"[4, 4, 16]\""),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("activation,flatten,flatten:0,Flatten,\"[256]\""), std::string::npos) << out;
  // One activation per Keras layer: no pre-activation Conv output, no layout Transpose.
  EXPECT_EQ(out.find("conv2d:0"), std::string::npos) << out;
  EXPECT_EQ(out.find("to_nhwc"), std::string::npos) << out;
}

TEST(KerasFaultSites, OneActivationPerLayerAndInputsInKerasOrder) {
  std::vector<FaultTarget> targets = targets_of("mlperf_tiny_ic_pretrainedResnet.h5");
  std::set<std::string> seen;
  for (const FaultTarget& t : targets)
    if (t.kind == TargetKind::kActivation) EXPECT_TRUE(seen.insert(t.layer).second) << t.layer;
  EXPECT_EQ(seen.size(), 30u);  // every layer of the model (its InputLayer included)
  // add_1 = Add([conv2d_5, batch_normalization_4]) in the config: slot 0 the shortcut conv, slot 1 the branch.
  const FaultTarget* add = site(targets, TargetKind::kInput, "add_1");
  ASSERT_NE(add, nullptr);
  EXPECT_EQ(add->name, "conv2d_5:0");
  const FaultTarget* add1 = site(targets, TargetKind::kInput, "add_1:1");
  ASSERT_NE(add1, nullptr);
  EXPECT_EQ(add1->name, "batch_normalization_4:0");
  EXPECT_EQ(add1->shape, (Shape{16, 16, 32}));
  // A 3-input Add is two engine nodes; its inputs are add, add:1, add:2, and the partial sum is no site.
  std::vector<FaultTarget> branches = targets_of("synthetic_branches.h5");
  for (const char* layer : {"sum3", "sum3:1", "sum3:2"}) EXPECT_NE(site(branches, TargetKind::kInput, layer), nullptr);
  EXPECT_EQ(site(branches, TargetKind::kInput, "sum3:3"), nullptr);
  for (const FaultTarget& t : branches) EXPECT_EQ(t.name.find("partial"), std::string::npos) << t.name;
  // The second call of a shared layer is "<layer>@1" and reads the same weights.
  const FaultTarget* second = site(branches, TargetKind::kActivation, "shared@1");
  ASSERT_NE(second, nullptr);
  EXPECT_EQ(second->shape, (Shape{5, 5, 3}));
  int shared_kernels = 0;
  for (const FaultTarget& t : branches) shared_kernels += t.name == "shared/kernel:0";
  EXPECT_EQ(shared_kernels, 1);
}

TEST(KerasFaultSites, EngineElementHandComputed) {
  // A model tensor [H=2, W=3, C=4] stored NCHW per image as [C=4, H=2, W=3]: model axis k is engine axis
  // {1, 2, 0}[k]. Model index (1, 2, 3) is row-major 1*12 + 2*4 + 3 = 23; in the engine it is
  // c*6 + h*3 + w = 3*6 + 1*3 + 2 = 23 too by chance, so take (0, 1, 2): model 6, engine 2*6 + 0 + 1 = 13.
  FaultTarget target{TargetKind::kActivation, "x", "x:0", "Conv", {2, 3, 4}, DType::kFloat32, 24};
  target.model_axes = {1, 2, 0};
  EXPECT_EQ(engine_element(target, 6), 13);
  EXPECT_EQ(engine_element(target, 23), 23);
  EXPECT_EQ(engine_element(target, 1), 6);  // (0, 0, 1) -> c = 1
  target.model_axes.clear();
  EXPECT_EQ(engine_element(target, 6), 6);
}

// The value of `name` as the FaultInjector patched it for the first pass of a compiled model, read back.
Tensor faulted_parameter(const std::string& model_file, const std::string& fault_csv, const std::string& name) {
  auto model = load_model(keras_data(model_file));
  EXPECT_TRUE(model.is_ok()) << model.status().message();
  if (!model.is_ok()) return {};
  auto targets = list_fault_targets(*model.value());
  auto list = parse_fault_list(fault_csv, "faults.csv");
  EXPECT_TRUE(targets.is_ok() && list.is_ok());
  if (!targets.is_ok() || !list.is_ok()) return {};
  auto resolved = resolve_fault_list(list.value(), targets.value());
  EXPECT_TRUE(resolved.is_ok()) << resolved.status().message();
  if (!resolved.is_ok()) return {};
  std::vector<ArmedFault> armed;
  for (const ResolvedFault& r : resolved.value())
    armed.push_back({&list.value().entries[r.entry].fault, &targets.value()[r.target], r.element, 0});
  auto injector = FaultInjector::create(armed);
  EXPECT_TRUE(injector.is_ok()) << injector.status().message();
  SessionOptions options;
  options.backend = "reference";
  options.observable = {name};
  auto session = Session::create(model.value(), options);
  EXPECT_TRUE(session.is_ok()) << session.status().message();
  if (!session.is_ok() || !injector.is_ok()) return {};
  CompiledModel& compiled = session.value()->compiled();
  auto id = compiled.graph().find_value(name);
  EXPECT_TRUE(id.has_value()) << name;
  if (!id) return {};
  EXPECT_TRUE(injector.value().begin_pass(compiled).is_ok());
  Tensor value;
  EXPECT_TRUE(compiled.read_value(*id, value).is_ok());
  EXPECT_TRUE(injector.value().end_pass(compiled).is_ok());
  return value;
}

// The dataset at `path` of `file`, as h5py reads it (row-major in the file's order), as raw float32 words.
std::vector<uint32_t> file_words(const std::string& file, const std::string& path) {
  hid_t f = H5Fopen(keras_data(file).c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  hid_t d = H5Dopen2(f, path.c_str(), H5P_DEFAULT);
  hid_t space = H5Dget_space(d);
  std::vector<uint32_t> words(static_cast<size_t>(H5Sget_simple_extent_npoints(space)));
  EXPECT_GE(H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, words.data()), 0) << path;
  H5Sclose(space);
  H5Dclose(d);
  H5Fclose(f);
  return words;
}

std::vector<uint32_t> words_of(const Tensor& t) {
  std::vector<uint32_t> words(static_cast<size_t>(t.numel()));
  if (t.numel() > 0) std::memcpy(words.data(), t.raw(), t.nbytes());
  return words;
}

// Compares the engine tensor (its words, in engine order) with the file's words where `flat` (Keras
// row-major) has bit `bit` flipped; `engine_index(model_flat)` maps a Keras flat index to the engine's.
template <typename Map>
void expect_one_flip(const std::vector<uint32_t>& engine, std::vector<uint32_t> file, int64_t flat, int bit,
                     Map engine_index) {
  ASSERT_EQ(engine.size(), file.size());
  file[static_cast<size_t>(flat)] ^= 1u << bit;
  int mismatches = 0;
  for (size_t k = 0; k < file.size(); ++k) mismatches += engine[static_cast<size_t>(engine_index(k))] != file[k];
  EXPECT_EQ(mismatches, 0);
}

TEST(KerasFaultSites, WeightFaultFlipsTheWordTheKerasIndexNamesInTheFile) {
  // LeNet-5 conv2d_1 kernel [5, 5, 6, 16] (HWIO): (3, 1, 4, 9) bit 22.
  Tensor faulted =
      faulted_parameter("acetone_lenet5_trained.h5",
                        "Injection,Layer,TensorIndex,Bit\n0,conv2d_1,\"(3, 1, 4, 9)\",22\n", "conv2d_1/kernel:0");
  ASSERT_EQ(faulted.shape(), (Shape{16, 6, 5, 5}));
  const int64_t flat = ((3 * 5 + 1) * 6 + 4) * 16 + 9;
  expect_one_flip(words_of(faulted),
                  file_words("acetone_lenet5_trained.h5", "model_weights/conv2d_1/conv2d_1/kernel:0"), flat, 22,
                  [](size_t k) {
                    const size_t o = k % 16, i = (k / 16) % 6, w = (k / 96) % 5, h = k / 480;
                    return ((o * 6 + i) * 5 + h) * 5 + w;
                  });
  // A Dense kernel keeps the file's order: (200, 7) of [256, 120], bit 31.
  Tensor dense =
      faulted_parameter("acetone_lenet5_trained.h5",
                        "Injection,Layer,TensorIndex,Bit\n0,dense/kernel:0,\"(200, 7)\",31\n", "dense/kernel:0");
  expect_one_flip(words_of(dense), file_words("acetone_lenet5_trained.h5", "model_weights/dense/dense/kernel:0"),
                  200 * 120 + 7, 31, [](size_t k) { return k; });
}

TEST(KerasFaultSites, DepthwiseKernelFaultByFlatKerasIndex) {
  // synthetic_mobile's DepthwiseConv2D kernel [3, 3, 3, 2] (depth_multiplier 2): its site is [3, 3, 6, 1] with
  // Keras' flat order; flat index 41 = (2, 0, 2, 1) in Keras' [kh, kw, in, m].
  Tensor faulted = faulted_parameter("synthetic_mobile.h5", "Injection,Layer,TensorIndex,Bit\n0,dw,41,30\n",
                                     "dw/depthwise_kernel:0");
  ASSERT_EQ(faulted.shape(), (Shape{6, 1, 3, 3}));
  expect_one_flip(words_of(faulted), file_words("synthetic_mobile.h5", "model_weights/dw/dw/depthwise_kernel:0"), 41,
                  30, [](size_t k) {
                    const size_t m = k % 2, c = (k / 2) % 3, w = (k / 6) % 3, h = k / 18;
                    return ((c * 2 + m) * 3 + h) * 3 + w;  // output channel c*m_count + m, as TensorFlow orders it
                  });
}

TEST(KerasFaultSites, ActivationFaultHitsTheHwcElement) {
  // Concat model: concatenate = [conv2d_1, conv2d_2] over channels (NHWC), so a value fault at conv2d_1's
  // (h, w, c) is the model output's (h, w, c), and conv2d_2's (h, w, c) is the output's (h, w, 3 + c).
  const std::string dir = temp_dir();
  {
    std::ofstream csv(dir + "/faults.csv");
    csv << "Injection,Layer,TensorIndex,Bit,Target,Model,Value\n"
        << "0,conv2d_1,\"(2, 7, 1)\",,activation,value,100\n"
        << "1,conv2d_2,\"(9, 0, 2)\",,activation,value,-100\n";
  }
  auto result =
      run_faultline("inject " + keras_data("acetone_concat.h5") + " --faults " + dir + "/faults.csv --input " +
                    keras_data("acetone_concat_input.npy") + " --output " + dir + "/out.npy --backend onednn");
  ASSERT_EQ(result.exit_code, 0) << result.err;
  Tensor clean = read_npy_or_fail(keras_data("acetone_concat_output.npy"));  // [1, 10, 10, 6]
  Tensor faulty = read_npy_or_fail(dir + "/out.npy");                        // [2, 1, 10, 10, 6]
  ASSERT_EQ(faulty.shape(), (Shape{2, 1, 10, 10, 6}));
  const float* c = clean.data<float>();
  const float* f = faulty.data<float>();
  auto at = [](int h, int w, int ch) { return (h * 10 + w) * 6 + ch; };
  const int hit[2] = {at(2, 7, 1), at(9, 0, 5)};
  const float value[2] = {100.0f, -100.0f};
  for (int fault = 0; fault < 2; ++fault) {
    int others_changed = 0;
    for (int k = 0; k < 600; ++k) {
      const float got = f[fault * 600 + k];
      if (k == hit[fault]) {
        EXPECT_EQ(got, value[fault]);
      } else {
        others_changed += std::fabs(got - c[k]) > 1e-5f;
      }
    }
    EXPECT_EQ(others_changed, 0) << "fault " << fault;
  }
}

TEST(KerasFaultSites, ResNet8FaultsMatchPyTorch) {
  const std::string dir = temp_dir();
  for (const std::string model : {"mlperf_tiny_ic_pretrainedResnet.h5", "resnet8.keras"}) {
    for (const std::string backend : {"reference", "onednn"}) {
      const std::string out = dir + "/" + backend + "_" + model + ".npy";
      auto result =
          run_faultline("inject " + keras_data(model) + " --faults " + keras_data("resnet8_faults.csv") + " --input " +
                        keras_data("resnet8_input.npy") + " --output " + out + " --backend " + backend);
      ASSERT_EQ(result.exit_code, 0) << result.err;
      auto list = read_fault_list(keras_data("resnet8_faults.csv"));
      ASSERT_TRUE(list.is_ok()) << list.status().message();
      EXPECT_EQ(compare_fault_logits(read_npy_or_fail(keras_data("resnet8_faults_output.npy")), read_npy_or_fail(out),
                                     list.value(), model + " " + backend, 1e-4, 1e-5),
                0);
    }
  }
}

}  // namespace
}  // namespace faultline
