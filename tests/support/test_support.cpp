#include "tests/support/test_support.h"

#include <unistd.h>

#include <atomic>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <random>
#include <sstream>
#include <vector>

namespace faultline::testing {

namespace {

// Folders handed out by temp_dir(), removed when the test binary exits.
class TempDirs {
 public:
  ~TempDirs() {
    std::error_code ignored;
    for (const std::filesystem::path& dir : dirs_) std::filesystem::remove_all(dir, ignored);
  }
  std::string create() {
    static std::atomic<int> counter{0};
    std::filesystem::path dir = std::filesystem::temp_directory_path() /
                                ("faultline_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    std::lock_guard<std::mutex> lock(mutex_);
    dirs_.push_back(dir);
    return dir.string();
  }

 private:
  std::mutex mutex_;
  std::vector<std::filesystem::path> dirs_;
};

bool element_near(double expected, double actual, double rtol, double atol) {
  if (std::isnan(expected) || std::isnan(actual)) return std::isnan(expected) && std::isnan(actual);
  if (std::isinf(expected) || std::isinf(actual)) return expected == actual;
  return std::abs(expected - actual) <= atol + rtol * std::abs(expected);
}

}  // namespace

std::string test_data(const std::string& relative) {
  return std::string(FAULTLINE_TEST_DATA_DIR) + "/" + relative;
}

::testing::AssertionResult tensors_near(const Tensor& expected, const Tensor& actual, double rtol, double atol) {
  if (expected.dtype() != actual.dtype())
    return ::testing::AssertionFailure() << "dtype " << dtype_name(actual.dtype()) << ", expected "
                                         << dtype_name(expected.dtype());
  if (expected.shape() != actual.shape())
    return ::testing::AssertionFailure() << "shape " << shape_to_string(actual.shape()) << ", expected "
                                         << shape_to_string(expected.shape());
  std::vector<double> want = expected.to_doubles();
  std::vector<double> got = actual.to_doubles();
  int64_t mismatches = 0;
  size_t worst = 0;
  double worst_excess = -1.0;
  for (size_t i = 0; i < want.size(); ++i) {
    if (element_near(want[i], got[i], rtol, atol)) continue;
    ++mismatches;
    double excess = std::abs(want[i] - got[i]) - (atol + rtol * std::abs(want[i]));
    if (std::isnan(excess) || excess > worst_excess) {
      worst_excess = std::isnan(excess) ? INFINITY : excess;
      worst = i;
    }
  }
  if (mismatches == 0) return ::testing::AssertionSuccess();
  std::ostringstream message;
  message.precision(9);
  message << mismatches << " of " << want.size() << " elements differ (rtol " << rtol << ", atol " << atol
          << "); worst at flat index " << worst << ": expected " << want[worst] << ", got " << got[worst];
  return ::testing::AssertionFailure() << message.str();
}

std::string temp_dir() {
  static TempDirs dirs;
  return dirs.create();
}

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream content;
  content << in.rdbuf();
  return content.str();
}

Tensor random_tensor(Shape shape, uint32_t seed, float lo, float hi) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> values(static_cast<size_t>(numel(shape)));
  for (float& v : values) v = dist(rng);
  return Tensor::from_floats(std::move(shape), values);
}

std::unique_ptr<CompiledModel> compile_or_fail(const Backend& backend, const Graph& graph, const PlanOptions& options) {
  Result<std::unique_ptr<CompiledModel>> model = backend.compile(graph, options);
  EXPECT_TRUE(model.is_ok()) << backend.name() << ": " << model.status().message();
  return model.is_ok() ? std::move(model).value() : nullptr;
}

std::vector<Tensor> run_model(CompiledModel& model, const std::vector<Tensor>& inputs, StepObserver* observer) {
  const Graph& graph = model.graph();
  for (size_t i = 0; i < inputs.size(); ++i) {
    Status status = model.write_value(graph.inputs()[i], inputs[i]);
    EXPECT_TRUE(status.is_ok()) << status.message();
  }
  Status status = execute(model, observer);
  EXPECT_TRUE(status.is_ok()) << status.message();
  std::vector<Tensor> outputs;
  for (ValueId id : graph.outputs()) {
    Tensor out;
    Status read = model.read_value(id, out);
    EXPECT_TRUE(read.is_ok()) << read.message();
    outputs.push_back(out);
  }
  return outputs;
}

SessionOptions onednn_campaign_options(int64_t batch, int threads, std::vector<std::string> observable) {
  SessionOptions options;
  options.backend = "onednn";
  options.batch = batch;
  options.threads = threads;
  options.keep_values = true;
  options.propagate_nan = true;
  options.observable = std::move(observable);
  return options;
}

}  // namespace faultline::testing
