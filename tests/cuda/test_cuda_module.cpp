// The faultline command loads the CUDA backend as a module on first use (cli/cuda_module.h): the command itself
// needs none of the CUDA libraries, the module needs them, and `--backend cuda` reaches the module's backend (it
// runs on a GPU; without one, the module's own "no CUDA device" error shows that it loaded and its engine
// symbols resolved against the command). A command without its module still runs the CPU backends and says
// what is missing. Runs without a GPU.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "tests/cuda/cuda_test_support.h"
#include "tests/support/run_command.h"
#include "tests/support/test_support.h"

namespace faultline {
namespace {

using testing::run_faultline;
using testing::run_shell;
using testing::test_data;

std::string infer_arguments(const std::string& output, const char* backend) {
  return "infer " + test_data("models/resnet20_bn.onnx") + " --input " + test_data("models/resnet20_input.npy") +
         " --output " + output + " --batch 4 --threads 1 --backend " + backend;
}

TEST(CudaModule, OnlyBackendCudaLoadsTheCudaLibraries) {
  const std::filesystem::path command(FAULTLINE_BINARY);
  const std::filesystem::path module = command.parent_path() / "libfaultline_cuda.so";
  ASSERT_TRUE(std::filesystem::exists(module)) << module;
  const auto command_needs = run_shell("ldd " + command.string());
  ASSERT_EQ(command_needs.exit_code, 0) << command_needs.err;
  for (const char* library : {"libcudart", "libcublas", "libcudnn"})
    EXPECT_EQ(command_needs.out.find(library), std::string::npos) << library << " in\n" << command_needs.out;
  const auto module_needs = run_shell("ldd " + module.string());
  ASSERT_EQ(module_needs.exit_code, 0) << module_needs.err;
  for (const char* library : {"libcudart", "libcublas", "libcudnn"})
    EXPECT_NE(module_needs.out.find(library), std::string::npos) << library << " not in\n" << module_needs.out;

  const std::string dir = testing::temp_dir();
  const auto cuda = run_faultline(infer_arguments(dir + "/cuda.npy", "cuda"));
  const std::string no_gpu = testing::cuda_unavailable_reason();
  if (no_gpu.empty()) {
    EXPECT_EQ(cuda.exit_code, 0) << cuda.err;
  } else {
    EXPECT_EQ(cuda.exit_code, 1);
    EXPECT_NE(cuda.err.find("backend 'cuda': no CUDA device (cudaGetDeviceCount: "), std::string::npos) << cuda.err;
  }
}

TEST(CudaModule, ACommandWithoutItsModuleRunsTheCpuBackendsAndSaysWhatIsMissing) {
  const std::string dir = testing::temp_dir();
  const std::filesystem::path alone = std::filesystem::path(dir) / "faultline";
  std::filesystem::copy_file(FAULTLINE_BINARY, alone);
  const auto cpu = run_shell(alone.string() + " " + infer_arguments(dir + "/cpu.npy", "onednn"));
  EXPECT_EQ(cpu.exit_code, 0) << cpu.err;
  const auto cuda = run_shell(alone.string() + " " + infer_arguments(dir + "/cuda.npy", "cuda"));
  EXPECT_EQ(cuda.exit_code, 1);
  EXPECT_NE(cuda.err.find("backend 'cuda': cannot load " + dir + "/libfaultline_cuda.so: "), std::string::npos)
      << cuda.err;
  EXPECT_FALSE(std::filesystem::exists(dir + "/cuda.npy"));
}

}  // namespace
}  // namespace faultline
