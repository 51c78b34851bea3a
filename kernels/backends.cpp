#include "engine/backend.h"
#include "kernels/onednn/onednn_backend.h"
#include "kernels/reference/reference_backend.h"
#ifdef FAULTLINE_HAVE_CUDA
#include "kernels/cuda/cuda_backend.h"
#endif

namespace faultline {

Result<std::unique_ptr<Backend>> create_backend(std::string_view name) {
  if (name == "reference") return make_reference_backend();
  if (name == "onednn") return make_onednn_backend();
  if (name == "cuda") {
#ifdef FAULTLINE_HAVE_CUDA
    return make_cuda_backend();
#else
    return unsupported("backend 'cuda' is not built into this faultline (configure with FAULTLINE_CUDA=ON on a "
                       "machine with nvcc and cuDNN)");
#endif
  }
  std::string choices;
  for (const std::string& backend : available_backends()) choices += (choices.empty() ? "" : ", ") + backend;
  return invalid_argument("unknown backend '" + std::string(name) + "' (choose " + choices + ")");
}

std::vector<std::string> available_backends() {
#ifdef FAULTLINE_HAVE_CUDA
  return {"reference", "onednn", "cuda"};
#else
  return {"reference", "onednn"};
#endif
}

}  // namespace faultline
