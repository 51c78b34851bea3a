#include <mutex>
#include <utility>

#include "engine/backend.h"
#include "kernels/onednn/onednn_backend.h"
#include "kernels/reference/reference_backend.h"

namespace faultline {
namespace {

struct Registry {
  std::mutex mutex;
  std::vector<std::pair<std::string, BackendFactory>> factories;
};

Registry& registry() {
  static Registry instance;
  return instance;
}

BackendFactory registered(std::string_view name) {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  for (const auto& [registered_name, factory] : r.factories)
    if (registered_name == name) return factory;
  return nullptr;
}

}  // namespace

void register_backend(std::string name, BackendFactory factory) {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  for (auto& [registered_name, registered_factory] : r.factories) {
    if (registered_name != name) continue;
    registered_factory = factory;
    return;
  }
  r.factories.emplace_back(std::move(name), factory);
}

Result<std::unique_ptr<Backend>> create_backend(std::string_view name) {
  if (name == "reference") return make_reference_backend();
  if (name == "onednn") return make_onednn_backend();
  if (BackendFactory factory = registered(name)) return factory();
  if (name == "cuda")
    return unsupported("backend 'cuda' is not built into this faultline (configure with FAULTLINE_CUDA=ON on a "
                       "machine with nvcc and cuDNN)");
  std::string choices;
  for (const std::string& backend : available_backends()) choices += (choices.empty() ? "" : ", ") + backend;
  return invalid_argument("unknown backend '" + std::string(name) + "' (choose " + choices + ")");
}

std::vector<std::string> available_backends() {
  std::vector<std::string> names = {"reference", "onednn"};
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  for (const auto& [name, factory] : r.factories) names.push_back(name);
  return names;
}

}  // namespace faultline
