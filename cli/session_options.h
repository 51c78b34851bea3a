// The options every running command shares (--backend, --batch, --threads, --no-fuse, --weights) and how they
// become SessionOptions.
#pragma once

#include <set>
#include <string>

#include "cli/arguments.h"
#include "engine/session.h"

namespace faultline::cli {

// Adds the shared options to a command's OptionSpec.
OptionSpec with_session_options(OptionSpec spec);
// Help text lines for the shared options.
extern const char* const kSessionOptionsHelp;
Result<SessionOptions> session_options_from(const Arguments& args, int64_t default_batch);

}  // namespace faultline::cli
