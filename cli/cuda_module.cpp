#include "cli/cuda_module.h"

#include <dlfcn.h>
#include <unistd.h>

#include <climits>
#include <mutex>
#include <string>

#include "engine/backend.h"

namespace faultline::cli {
namespace {

constexpr const char* kModuleName = "libfaultline_cuda.so";
constexpr const char* kEntryPoint = "faultline_cuda_backend_factory";

// The module's path: next to the running command.
std::string module_path() {
  char exe[PATH_MAX];
  const ssize_t length = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (length <= 0) return kModuleName;
  std::string path(exe, static_cast<size_t>(length));
  const size_t slash = path.rfind('/');
  return (slash == std::string::npos ? std::string() : path.substr(0, slash + 1)) + kModuleName;
}

// The module's factory, loaded once (kept loaded for the process's life).
Result<BackendFactory> module_factory() {
  static std::once_flag once;
  static Result<BackendFactory> factory = internal_error("the cuda module was not loaded");
  std::call_once(once, [] {
    const std::string path = module_path();
    void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr) {
      const char* reason = dlerror();
      factory = unsupported("backend 'cuda': cannot load " + path + ": " + (reason ? reason : "unknown error"));
      return;
    }
    using Entry = BackendFactory (*)();
    auto entry = reinterpret_cast<Entry>(dlsym(handle, kEntryPoint));
    if (entry == nullptr) {
      factory = unsupported("backend 'cuda': " + path + " has no " + kEntryPoint);
      return;
    }
    factory = entry();
  });
  return factory;
}

Result<std::unique_ptr<Backend>> make_loaded_cuda_backend() {
  FL_ASSIGN_OR_RETURN(BackendFactory factory, module_factory());
  return factory();
}

}  // namespace

void register_cuda_module() { register_backend("cuda", make_loaded_cuda_backend); }

}  // namespace faultline::cli
