// Device word patching (the GPU side of the fault hooks) against the host definition of every word fault
// (faults/bit_ops.h faulted_word_bits). Needs a CUDA device; skips itself with a message when there is none.
#include <gtest/gtest.h>
#include <cuda_runtime.h>

#include <random>
#include <vector>

#include "faults/bit_ops.h"
#include "kernels/cuda/device_word_patch.h"
#include "tests/cuda/cuda_test_support.h"

namespace faultline {
namespace {

TEST(CudaWordPatch, EveryModelAndWidthMatchesTheHost) {
  FAULTLINE_SKIP_WITHOUT_GPU();
  std::mt19937_64 rng(11);
  const struct {
    DType dtype;
    int bit;
  } words[] = {{DType::kFloat32, 30}, {DType::kFloat16, 14}, {DType::kBFloat16, 7}, {DType::kInt8, 6}};
  for (const auto& w : words) {
    const int bytes = static_cast<int>(dtype_size(w.dtype));
    std::vector<WordFault> faults = {{FaultModel::kBitFlip, w.bit},    {FaultModel::kStuckAt0, w.bit},
                                     {FaultModel::kStuckAt1, w.bit},   {FaultModel::kZero},
                                     {FaultModel::kMultiBitFlip, -1, 0x41}, {FaultModel::kValue, -1, 0, -2.5},
                                     {FaultModel::kRandomValue, -1, 0, 0, rng()}};
    const int64_t n = 257;
    std::vector<uint8_t> host(static_cast<size_t>(n * bytes));
    for (auto& b : host) b = static_cast<uint8_t>(rng());
    std::vector<uint8_t> expected = host;
    std::vector<WordPatch> patches;
    for (size_t f = 0; f < faults.size(); ++f) {
      const int64_t element = static_cast<int64_t>(f * 31 + 5);
      void* word = expected.data() + element * bytes;
      write_word_bits(w.dtype, word, faulted_word_bits(w.dtype, read_word_bits(w.dtype, word), faults[f]));
      const WordMasks masks = word_masks(w.dtype, faults[f]);
      patches.push_back({element, masks.keep, masks.set, masks.flip});
    }
    void* device = nullptr;
    ASSERT_EQ(cudaMalloc(&device, host.size()), cudaSuccess);
    ASSERT_EQ(cudaMemcpy(device, host.data(), host.size(), cudaMemcpyHostToDevice), cudaSuccess);
    Status status = patch_device_words(device, bytes, patches);
    std::vector<uint8_t> back(host.size());
    ASSERT_EQ(cudaMemcpy(back.data(), device, back.size(), cudaMemcpyDeviceToHost), cudaSuccess);
    cudaFree(device);
    ASSERT_TRUE(status.is_ok()) << status.message();
    EXPECT_EQ(back, expected) << dtype_name(w.dtype);
  }
}

TEST(CudaWordPatch, RejectsBadWordSizes) {
  EXPECT_FALSE(patch_device_words(nullptr, 3, {}).is_ok());
}

}  // namespace
}  // namespace faultline
