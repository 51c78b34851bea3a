#include "engine/backend.h"
#include "kernels/onednn/onednn_backend.h"
#include "kernels/reference/reference_backend.h"

namespace faultline {

Result<std::unique_ptr<Backend>> create_backend(std::string_view name) {
  if (name == "reference") return make_reference_backend();
  if (name == "onednn") return make_onednn_backend();
  if (name == "cuda")
    return unsupported("backend 'cuda' is not built into this faultline (configure with FAULTLINE_CUDA=ON on a "
                       "machine with nvcc and cuDNN)");
  return invalid_argument("unknown backend '" + std::string(name) + "' (choose reference or onednn)");
}

std::vector<std::string> available_backends() { return {"reference", "onednn"}; }

}  // namespace faultline
