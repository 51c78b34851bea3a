// Runs the faultline binary (or any shell command) and captures its exit code, stdout and stderr.
#pragma once

#include <string>

namespace faultline::testing {

struct CommandResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// Runs `arguments` (already shell-quoted) after the faultline binary built with the tests.
CommandResult run_faultline(const std::string& arguments);
CommandResult run_shell(const std::string& command);

}  // namespace faultline::testing
