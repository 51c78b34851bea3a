// Whole-file reads and crash-safe writes. A file written with write_file_atomically() either has its
// complete new content or does not exist / keeps its old content: it is written to a temporary file in the
// same folder, flushed to disk, and renamed over the destination.
#pragma once

#include <string>
#include <string_view>

#include "engine/status.h"

namespace faultline {

// The file's bytes; errors name the path ("no such file", "is a directory", ...).
Result<std::string> read_file(const std::string& path);
Status write_file_atomically(const std::string& path, std::string_view bytes);

}  // namespace faultline
