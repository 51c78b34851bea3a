#include "engine/backend.h"
#include "kernels/onednn/onednn_backend.h"
#include "kernels/reference/reference_backend.h"

namespace faultline {

Result<std::unique_ptr<Backend>> create_backend(std::string_view name) {
  if (name == "reference") return make_reference_backend();
  if (name == "onednn") return make_onednn_backend();
  if (name == "cuda") {
#ifdef FAULTLINE_HAVE_CUDA
    return unsupported("backend 'cuda': this faultline is built with CUDA, but only device word patching exists so "
                       "far; the cuDNN/cuBLAS kernels are not written yet");
#else
    return unsupported("backend 'cuda' is not built into this faultline (configure with FAULTLINE_CUDA=ON on a "
                       "machine with nvcc and cuDNN)");
#endif
  }
  return invalid_argument("unknown backend '" + std::string(name) + "' (choose reference or onednn)");
}

std::vector<std::string> available_backends() { return {"reference", "onednn"}; }

}  // namespace faultline
