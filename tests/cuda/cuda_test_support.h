// Shared by the GPU tests in tests/cuda: skip a test (with a message naming cudaGetDeviceCount's answer) when
// no CUDA device is visible, and the "cuda" backend for tests that run. Run every CUDA test with `ctest -L cuda`.
#pragma once

#include <gtest/gtest.h>
#include <cuda_runtime.h>

#include <memory>
#include <string>

#include "engine/backend.h"
#include "kernels/cuda/cuda_backend.h"

namespace faultline::testing {

// Every GPU test program knows the "cuda" backend by name (create_backend, Session, the CLI helpers).
inline const bool kCudaBackendRegistered = (register_cuda_backend(), true);

// "" when a CUDA device is visible, else cudaGetDeviceCount's answer ("no CUDA-capable device is detected").
inline std::string cuda_unavailable_reason() {
  int count = 0;
  const cudaError_t error = cudaGetDeviceCount(&count);
  if (error != cudaSuccess) {
    cudaGetLastError();
    return cudaGetErrorString(error);
  }
  return count == 0 ? "0 devices" : "";
}

// The "cuda" backend; a test failure and nullptr when it cannot be created on a machine with a GPU.
inline std::unique_ptr<Backend> cuda_backend_or_fail() {
  auto backend = make_cuda_backend();
  EXPECT_TRUE(backend.is_ok()) << backend.status().message();
  return backend.is_ok() ? std::move(backend).value() : nullptr;
}

}  // namespace faultline::testing

// Skips the calling test when no CUDA device is visible.
#define FAULTLINE_SKIP_WITHOUT_GPU()                                                                      \
  do {                                                                                                    \
    const std::string fl_no_gpu_ = ::faultline::testing::cuda_unavailable_reason();                       \
    if (!fl_no_gpu_.empty())                                                                              \
      GTEST_SKIP() << "no CUDA device (cudaGetDeviceCount: " << fl_no_gpu_ << "): GPU test skipped";     \
  } while (0)
