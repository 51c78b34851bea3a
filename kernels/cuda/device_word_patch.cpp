#include "kernels/cuda/device_word_patch.h"

#include <vector>

#include "kernels/cuda/device_word_patch_kernel.h"

namespace faultline {

int cuda_device_count() {
  int count = 0;
  return cuda_detail::device_count(&count) == 0 ? count : 0;
}

Status patch_device_words(void* device_data, int word_bytes, std::span<const WordPatch> patches, void* stream) {
  if (word_bytes != 1 && word_bytes != 2 && word_bytes != 4 && word_bytes != 8)
    return invalid_argument("a device word is 1, 2, 4 or 8 bytes, not " + std::to_string(word_bytes));
  std::vector<cuda_detail::PatchRecord> records;
  records.reserve(patches.size());
  for (const WordPatch& p : patches) {
    if (p.element < 0) return out_of_range("device word patch at negative element " + std::to_string(p.element));
    records.push_back({p.element, p.keep, p.set, p.flip});
  }
  const int error = cuda_detail::launch_word_patches(device_data, word_bytes, records.data(),
                                                     static_cast<int64_t>(records.size()), stream);
  if (error != 0) return internal_error(std::string("CUDA word patch failed: ") + cuda_detail::error_string(error));
  return Status::ok();
}

}  // namespace faultline
