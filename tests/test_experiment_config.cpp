// Experiment YAML files: a full file parses to the expected values, relative paths resolve against the
// file's folder, the three faults forms, and one test per kind of error, each checking the key path named.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "faults/experiment_config.h"
#include "support/test_support.h"

namespace faultline {
namespace {

namespace fs = std::filesystem;
using ::faultline::testing::temp_dir;

void write_file(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary);
  out << text;
  ASSERT_TRUE(out.good()) << path;
}

const char* const kFullExperiment = R"(
model: models/resnet20.onnx        # ONNX
backend: onednn
threads: 2
weights: bfloat16
dataset:
  format: npy
  inputs: data/x.npy
  labels: data/y.npy
  limit: 1000
  layout: nhwc
  preprocess: {scale: 0.00392156, mean: [0.4914, 0.4822, 0.4465], std: [0.2023, 0.1994, 0.2010]}
batch_size: 100
faults:
  generate: {target: weight, layers: ["layer*"], bits: "0-31", model: bitflip, count: 1000, seed: 7}
output: results/resnet20
seed: 1
save_outputs: true
golden_budget_mb: 512
)";

// A folder holding the placeholder files an experiment names.
class ExperimentConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = temp_dir();
    write_file(dir_ / "models/resnet20.onnx", "placeholder");
    write_file(dir_ / "data/x.npy", "placeholder");
    write_file(dir_ / "data/y.npy", "placeholder");
    write_file(dir_ / "faults.csv", "placeholder");
    fs::create_directories(dir_ / "cifar");
  }

  std::string yaml_path() const { return (dir_ / "experiment.yaml").string(); }
  std::string at(const std::string& relative) const { return (dir_ / relative).lexically_normal().string(); }

  Result<ExperimentConfig> load(const std::string& text) {
    write_file(yaml_path(), text);
    return load_experiment(yaml_path());
  }

  // A minimal valid file with `faults_block` (indented under faults:) and `extra` top-level lines.
  static std::string minimal(const std::string& faults_block = "  list: faults.csv\n",
                             const std::string& extra = "") {
    return "model: models/resnet20.onnx\n"
           "dataset:\n"
           "  format: npy\n"
           "  inputs: data/x.npy\n"
           "faults:\n" +
           faults_block + "output: out\n" + extra;
  }

  // Loading `text` fails with one line that starts "<file>: <key_path>: " and contains `detail`.
  void expect_error(const std::string& text, const std::string& key_path, const std::string& detail = "") {
    auto config = load(text);
    ASSERT_FALSE(config.is_ok()) << "expected an error at " << key_path;
    const std::string& message = config.status().message();
    const std::string prefix = yaml_path() + ": " + key_path + ": ";
    EXPECT_EQ(message.rfind(prefix, 0), 0u) << "message: " << message << "\nexpected prefix: " << prefix;
    EXPECT_NE(message.find(detail), std::string::npos) << "message: " << message << "\nmissing: " << detail;
    EXPECT_EQ(message.find('\n'), std::string::npos) << "not one line: " << message;
  }

  fs::path dir_;
};

TEST_F(ExperimentConfigTest, FullFileParsesToTheExpectedValues) {
  auto config = load(kFullExperiment);
  ASSERT_TRUE(config.is_ok()) << config.status().message();
  const ExperimentConfig& c = *config;
  EXPECT_EQ(c.path, yaml_path());
  EXPECT_EQ(c.model, at("models/resnet20.onnx"));
  EXPECT_EQ(c.session.backend, "onednn");
  EXPECT_EQ(c.session.batch, 100);
  EXPECT_EQ(c.session.threads, 2);
  ASSERT_TRUE(c.session.weight_dtype.has_value());
  EXPECT_EQ(*c.session.weight_dtype, DType::kBFloat16);

  EXPECT_EQ(c.dataset.format, "npy");
  EXPECT_EQ(c.dataset.inputs, at("data/x.npy"));
  EXPECT_EQ(c.dataset.labels, at("data/y.npy"));
  EXPECT_EQ(c.dataset.limit, 1000);
  EXPECT_EQ(c.dataset.layout, "nhwc");
  ASSERT_TRUE(c.dataset.scale.has_value());
  EXPECT_FLOAT_EQ(*c.dataset.scale, 0.00392156f);
  EXPECT_EQ(c.dataset.mean, (std::vector<float>{0.4914f, 0.4822f, 0.4465f}));
  EXPECT_EQ(c.dataset.std, (std::vector<float>{0.2023f, 0.1994f, 0.2010f}));

  EXPECT_FALSE(c.faults.list.has_value());
  EXPECT_FALSE(c.faults.error_rate.has_value());
  ASSERT_TRUE(c.faults.generate.has_value());
  const FaultGeneration& g = *c.faults.generate;
  EXPECT_EQ(g.options.target, SiteTarget::kWeight);
  EXPECT_EQ(g.options.layers, (std::vector<std::string>{"layer*"}));
  EXPECT_EQ(g.options.bits, "0-31");
  EXPECT_EQ(g.options.models, (std::vector<FaultModel>{FaultModel::kBitFlip}));
  EXPECT_EQ(g.options.seed, 7u);  // generate.seed wins over the top-level seed
  EXPECT_EQ(g.count, 1000);
  EXPECT_FALSE(g.statistical.has_value());
  EXPECT_FALSE(g.exhaustive);

  EXPECT_EQ(c.output, at("results/resnet20"));
  EXPECT_EQ(c.seed, 1u);
  EXPECT_TRUE(c.save_outputs);
  EXPECT_EQ(c.golden_budget_bytes, std::optional<size_t>(size_t{512} << 20));

  const std::string summary = describe_experiment(c);
  EXPECT_NE(summary.find("onednn"), std::string::npos) << summary;
  EXPECT_NE(summary.find("1000 random weight faults"), std::string::npos) << summary;
  EXPECT_NE(summary.find(at("results/resnet20")), std::string::npos) << summary;
}

TEST_F(ExperimentConfigTest, DefaultsOfAMinimalFile) {
  auto config = load(minimal());
  ASSERT_TRUE(config.is_ok()) << config.status().message();
  EXPECT_EQ(config->session.backend, "onednn");
  EXPECT_EQ(config->session.batch, 1);
  EXPECT_EQ(config->session.threads, 0);
  EXPECT_FALSE(config->session.weight_dtype.has_value());
  EXPECT_EQ(config->seed, kDefaultExperimentSeed);
  EXPECT_FALSE(config->save_outputs);
  EXPECT_FALSE(config->golden_budget_bytes.has_value());
  EXPECT_EQ(config->dataset.labels, "");
  EXPECT_FALSE(config->dataset.limit.has_value());
}

TEST_F(ExperimentConfigTest, RelativePathsResolveAgainstTheYamlFolder) {
  // The YAML file lives in a sub-folder; its paths reach back up with "..".
  const fs::path sub = dir_ / "experiments";
  const std::string abs_model = at("models/resnet20.onnx");
  write_file(sub / "e.yaml",
             "model: " + abs_model + "\n"  // absolute: kept
             "dataset: {format: npy, inputs: ../data/x.npy, labels: ../data/y.npy}\n"
             "faults: {list: ../faults.csv}\n"
             "output: ../results/run1\n");
  auto config = load_experiment((sub / "e.yaml").string());
  ASSERT_TRUE(config.is_ok()) << config.status().message();
  EXPECT_EQ(config->model, abs_model);
  EXPECT_EQ(config->dataset.inputs, at("data/x.npy"));
  EXPECT_EQ(config->dataset.labels, at("data/y.npy"));
  EXPECT_EQ(config->faults.list, at("faults.csv"));
  EXPECT_EQ(config->output, at("results/run1"));

  // The same text, with relative paths, from parse_experiment anchored at the same file.
  auto text = parse_experiment(minimal(), (dir_ / "x.yaml").string());
  ASSERT_TRUE(text.is_ok()) << text.status().message();
  EXPECT_EQ(text->model, abs_model);
  EXPECT_EQ(text->output, at("out"));
}

TEST_F(ExperimentConfigTest, FaultsList) {
  auto config = load(minimal("  list: faults.csv\n"));
  ASSERT_TRUE(config.is_ok()) << config.status().message();
  EXPECT_EQ(config->faults.list, at("faults.csv"));
  EXPECT_FALSE(config->faults.generate.has_value());
  EXPECT_FALSE(config->faults.error_rate.has_value());
  EXPECT_NE(describe_experiment(*config).find("list " + at("faults.csv")), std::string::npos);
}

TEST_F(ExperimentConfigTest, FaultsGenerateStatistical) {
  auto config = load(minimal(
      "  generate:\n"
      "    target: activations\n"
      "    layers: \"conv*\"\n"
      "    model: [stuck-at-0, sa1]\n"
      "    persistence: inference\n"
      "    statistical: {error: 0.05, confidence: 0.95, scope: layer-bit, polarities: 1}\n",
      "seed: 3\n"));
  ASSERT_TRUE(config.is_ok()) << config.status().message();
  ASSERT_TRUE(config->faults.generate.has_value());
  const FaultGeneration& g = *config->faults.generate;
  EXPECT_EQ(g.options.target, SiteTarget::kActivation);
  EXPECT_EQ(g.options.layers, (std::vector<std::string>{"conv*"}));
  EXPECT_EQ(g.options.models, (std::vector<FaultModel>{FaultModel::kStuckAt0, FaultModel::kStuckAt1}));
  EXPECT_EQ(g.options.persistence, Persistence::kInference);
  EXPECT_EQ(g.options.seed, 3u);  // from the top-level seed
  EXPECT_FALSE(g.count.has_value());
  ASSERT_TRUE(g.statistical.has_value());
  EXPECT_EQ(g.statistical->scope, SampleScope::kLayerBit);
  EXPECT_DOUBLE_EQ(g.statistical->sample.error_margin, 0.05);
  EXPECT_DOUBLE_EQ(g.statistical->sample.confidence, 0.95);
  EXPECT_EQ(g.statistical->sample.polarities, 1);
}

TEST_F(ExperimentConfigTest, FaultsGenerateExhaustive) {
  auto config = load(minimal("  generate: {bits: 31, exhaustive: true, parameters: all}\n"));
  ASSERT_TRUE(config.is_ok()) << config.status().message();
  const FaultGeneration& g = *config->faults.generate;
  EXPECT_TRUE(g.exhaustive);
  EXPECT_EQ(g.options.bits, "31");
  EXPECT_EQ(g.options.parameters, ParameterSet::kAllParameters);
}

TEST_F(ExperimentConfigTest, FaultsErrorRate) {
  auto config = load(minimal("  error_rate: {min_exp: -10, max_exp: -6, repetitions: 2, layers: [\"fc*\"]}\n"));
  ASSERT_TRUE(config.is_ok()) << config.status().message();
  ASSERT_TRUE(config->faults.error_rate.has_value());
  const ErrorRateSweep& e = *config->faults.error_rate;
  EXPECT_EQ(e.min_exp, -10);
  EXPECT_EQ(e.max_exp, -6);
  EXPECT_EQ(e.repetitions, 2);
  EXPECT_EQ(e.layers, (std::vector<std::string>{"fc*"}));
}

// --- errors: one test per kind, each naming its key path ---------------------------------------------------

TEST_F(ExperimentConfigTest, UnknownKeysAtEveryLevelListTheAllowedOnes) {
  expect_error(minimal("  list: faults.csv\n", "modle: x\n"), "modle", "allowed: model, backend");
  expect_error("model: models/resnet20.onnx\ndataset: {format: npy, inputs: data/x.npy, input: y}\n"
               "faults: {list: faults.csv}\noutput: o\n",
               "dataset.input", "allowed: format, inputs");
  expect_error(minimal("  list: faults.csv\n  lists: x\n"), "faults.lists", "allowed: list, generate, error_rate");
  expect_error(minimal("  generate: {count: 1, bit: 3}\n"), "faults.generate.bit", "unknown key");
  expect_error(minimal("  generate: {statistical: {eror: 0.1}}\n"), "faults.generate.statistical.eror");
  expect_error(minimal("  error_rate: {min_exp: -3, max_exp: -1, layer: x}\n"), "faults.error_rate.layer");
  std::string text = kFullExperiment;
  text.replace(text.find("std:"), 4, "sd:");
  expect_error(text, "dataset.preprocess.sd", "allowed: scale, mean, std");
}

TEST_F(ExperimentConfigTest, DuplicateKeysAreRefused) {
  expect_error(minimal("  list: faults.csv\n", "output: again\n"), "output", "given twice");
}

TEST_F(ExperimentConfigTest, WrongTypes) {
  std::string text = kFullExperiment;
  text.replace(text.find("std: [0.2023"), 12, "std: [abc");
  expect_error(text, "dataset.preprocess.std[0]", "expected a finite number, got 'abc'");
  text = kFullExperiment;
  text.replace(text.find("std: [0.2023, 0.1994, 0.2010]"), 29, "std: 0.2");
  expect_error(text, "dataset.preprocess.std", "expected a list of numbers");
  expect_error(minimal("  list: faults.csv\n", "batch_size: ten\n"), "batch_size", "expected an integer, got 'ten'");
  expect_error(minimal("  list: faults.csv\n", "batch_size: 2.5\n"), "batch_size", "expected an integer");
  expect_error(minimal("  list: faults.csv\n", "save_outputs: maybe\n"), "save_outputs", "true or false");
  expect_error(minimal("  list: faults.csv\n", "golden_budget_mb: lots\n"), "golden_budget_mb", "expected an integer");
  expect_error(minimal("  list: faults.csv\n", "golden_budget_mb: -1\n"), "golden_budget_mb", "");
  expect_error(minimal("  list: faults.csv\n", "seed: [1]\n"), "seed", "got a list");
  expect_error(minimal("  generate: {count: many}\n"), "faults.generate.count", "expected an integer");
  expect_error(minimal("  list: [a, b]\n"), "faults.list", "expected a string");
  expect_error("model: models/resnet20.onnx\ndataset: npy\nfaults: {list: faults.csv}\noutput: o\n", "dataset",
               "expected a mapping");
}

TEST_F(ExperimentConfigTest, OutOfRangeNumbers) {
  expect_error(minimal("  list: faults.csv\n", "batch_size: -4\n"), "batch_size", "got -4");
  expect_error(minimal("  list: faults.csv\n", "batch_size: 0\n"), "batch_size");
  expect_error(minimal("  list: faults.csv\n", "seed: -1\n"), "seed", ">= 0");
  std::string text = kFullExperiment;
  text.replace(text.find("limit: 1000"), 11, "limit: 0");
  expect_error(text, "dataset.limit", ">= 1");
  expect_error(minimal("  generate: {count: 0}\n"), "faults.generate.count", ">= 1");
  expect_error(minimal("  error_rate: {min_exp: -3, max_exp: 1}\n"), "faults.error_rate.max_exp");
  expect_error(minimal("  error_rate: {min_exp: -3, max_exp: -5}\n"), "faults.error_rate.max_exp", "below min_exp");
  expect_error(minimal("  error_rate: {min_exp: -3, max_exp: -1, repetitions: 0}\n"),
               "faults.error_rate.repetitions");
}

TEST_F(ExperimentConfigTest, MissingRequiredKeys) {
  expect_error("dataset: {format: npy, inputs: data/x.npy}\nfaults: {list: faults.csv}\noutput: o\n", "model",
               "missing");
  expect_error("model: models/resnet20.onnx\nfaults: {list: faults.csv}\noutput: o\n", "dataset", "missing");
  expect_error("model: models/resnet20.onnx\ndataset: {inputs: data/x.npy}\nfaults: {list: faults.csv}\noutput: o\n",
               "dataset.format", "missing");
  expect_error("model: models/resnet20.onnx\ndataset: {format: npy}\nfaults: {list: faults.csv}\noutput: o\n",
               "dataset.inputs", "missing");
  expect_error("model: models/resnet20.onnx\ndataset: {format: npy, inputs: data/x.npy}\noutput: o\n", "faults",
               "missing");
  expect_error("model: models/resnet20.onnx\ndataset: {format: npy, inputs: data/x.npy}\nfaults: {list: faults.csv}\n",
               "output", "missing");
  expect_error(minimal("  error_rate: {max_exp: -1}\n"), "faults.error_rate.min_exp", "missing");
}

TEST_F(ExperimentConfigTest, ExactlyOneFaultsForm) {
  expect_error(minimal("  list: faults.csv\n  error_rate: {min_exp: -3, max_exp: -1}\n"), "faults",
               "one of list, generate, error_rate");
  expect_error(minimal("  {}\n"), "faults", "needs one of list, generate, error_rate");
}

TEST_F(ExperimentConfigTest, GenerateNeedsExactlyOneOfCountStatisticalExhaustive) {
  expect_error(minimal("  generate: {layers: [\"*\"]}\n"), "faults.generate", "needs one of count, statistical");
  expect_error(minimal("  generate: {count: 5, exhaustive: true}\n"), "faults.generate", "takes only one of");
  expect_error(minimal("  generate: {exhaustive: false}\n"), "faults.generate.exhaustive", "must be true");
}

TEST_F(ExperimentConfigTest, StatisticalConfidenceAndErrorInOpenUnitInterval) {
  expect_error(minimal("  generate: {statistical: {error: 0.01, confidence: 1.0}}\n"),
               "faults.generate.statistical.confidence", "(0, 1)");
  expect_error(minimal("  generate: {statistical: {error: 0, confidence: 0.99}}\n"),
               "faults.generate.statistical.error", "(0, 1)");
  expect_error(minimal("  generate: {statistical: {scope: everything}}\n"), "faults.generate.statistical.scope",
               "network, layer, layer-bit");
}

TEST_F(ExperimentConfigTest, BitSpecsFaultModelsTargetsAndBackends) {
  expect_error(minimal("  generate: {count: 1, bits: \"0-64\"}\n"), "faults.generate.bits", "outside 0-63");
  expect_error(minimal("  generate: {count: 1, bits: \"5-2\"}\n"), "faults.generate.bits", "ends before");
  expect_error(minimal("  generate: {count: 1, model: bitflop}\n"), "faults.generate.model", "'bitflop'");
  expect_error(minimal("  generate: {count: 1, model: [bitflip, ber]}\n"), "faults.generate.model", "error_rate");
  expect_error(minimal("  generate: {count: 1, target: neuron}\n"), "faults.generate.target", "'neuron'");
  expect_error(minimal("  generate: {count: 1, persistence: steps}\n"), "faults.generate.persistence");
  expect_error(minimal("  list: faults.csv\n", "backend: tpu\n"), "backend", "'tpu' is not one of onednn");
  expect_error(minimal("  list: faults.csv\n", "weights: float8\n"), "weights", "float16");
  expect_error("model: models/resnet20.onnx\ndataset: {format: jpeg, inputs: data/x.npy}\nfaults: {list: faults.csv}\n"
               "output: o\n",
               "dataset.format", "'jpeg' is not one of npy, hdf5");
}

TEST_F(ExperimentConfigTest, FilesThatMustExist) {
  expect_error("model: models/missing.onnx\ndataset: {format: npy, inputs: data/x.npy}\nfaults: {list: faults.csv}\n"
               "output: o\n",
               "model", at("models/missing.onnx") + ": no such file");
  expect_error("model: models/resnet20.onnx\ndataset: {format: npy, inputs: data/nope.npy}\n"
               "faults: {list: faults.csv}\noutput: o\n",
               "dataset.inputs", "no such file");
  expect_error("model: models/resnet20.onnx\ndataset: {format: npy, inputs: data/x.npy, labels: data/nope.npy}\n"
               "faults: {list: faults.csv}\noutput: o\n",
               "dataset.labels", "no such file");
  expect_error(minimal("  list: nope.csv\n"), "faults.list", at("nope.csv") + ": no such file");
  // A folder is a file only for CIFAR; the output folder need not exist.
  expect_error("model: models\ndataset: {format: npy, inputs: data/x.npy}\nfaults: {list: faults.csv}\noutput: o\n",
               "model", "is a folder");
  auto cifar = load("model: models/resnet20.onnx\ndataset: {format: cifar10, inputs: cifar}\n"
                    "faults: {list: faults.csv}\noutput: no/such/folder/yet\n");
  ASSERT_TRUE(cifar.is_ok()) << cifar.status().message();
  EXPECT_EQ(cifar->dataset.inputs, at("cifar"));
}

TEST_F(ExperimentConfigTest, DatasetOptionsThatDoNotFitTheFormat) {
  expect_error("model: models/resnet20.onnx\ndataset: {format: cifar10, inputs: cifar, layout: nhwc}\n"
               "faults: {list: faults.csv}\noutput: o\n",
               "dataset.layout", "npy and hdf5");
  expect_error("model: models/resnet20.onnx\ndataset: {format: npy, inputs: data/x.npy, hdf5_images: x}\n"
               "faults: {list: faults.csv}\noutput: o\n",
               "dataset.hdf5_images", "hdf5");
  std::string text = kFullExperiment;
  text.replace(text.find("std: [0.2023, 0.1994, 0.2010]"), 29, "std: [0.2, 0.2]");
  expect_error(text, "dataset.preprocess.std", "2 entries but mean has 3");
  auto hdf5 = load("model: models/resnet20.onnx\n"
                   "dataset: {format: hdf5, inputs: data/x.npy, hdf5_images: x_test, hdf5_labels: y_test}\n"
                   "faults: {list: faults.csv}\noutput: o\n");
  ASSERT_TRUE(hdf5.is_ok()) << hdf5.status().message();
  EXPECT_EQ(hdf5->dataset.hdf5_images, "x_test");
  EXPECT_EQ(hdf5->dataset.hdf5_labels, "y_test");
}

TEST_F(ExperimentConfigTest, YamlSyntaxErrorsNameLineAndColumn) {
  auto config = load("model: models/resnet20.onnx\ndataset: {format: npy, inputs: [data/x.npy}\n");
  ASSERT_FALSE(config.is_ok());
  const std::string& message = config.status().message();
  EXPECT_EQ(message.rfind(yaml_path() + ": line 2, column ", 0), 0u) << message;
  EXPECT_EQ(message.find('\n'), std::string::npos) << message;
}

TEST_F(ExperimentConfigTest, MissingExperimentFile) {
  auto config = load_experiment(at("nope.yaml"));
  ASSERT_FALSE(config.is_ok());
  EXPECT_EQ(config.status().message().rfind(at("nope.yaml") + ": ", 0), 0u) << config.status().message();
}

}  // namespace
}  // namespace faultline
