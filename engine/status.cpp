#include "engine/status.h"

namespace faultline {

Status Status::with_context(std::string_view prefix) const {
  if (is_ok() || prefix.empty()) return *this;
  return Status(code_, std::string(prefix) + ": " + message_);
}

std::string megabytes(size_t bytes) { return std::to_string((bytes + (size_t{1} << 20) - 1) >> 20) + " MB"; }

}  // namespace faultline
