#include "engine/status.h"

namespace faultline {

Status Status::with_context(std::string_view prefix) const {
  if (is_ok() || prefix.empty()) return *this;
  return Status(code_, std::string(prefix) + ": " + message_);
}

}  // namespace faultline
