#include "tests/support/run_command.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "tests/support/test_support.h"

namespace faultline::testing {

CommandResult run_shell(const std::string& command) {
  static int counter = 0;
  const auto dir = std::filesystem::temp_directory_path();
  const std::string stem =
      (dir / ("faultline_cmd_" + std::to_string(::getpid()) + "_" + std::to_string(counter++))).string();
  const std::string out_path = stem + ".out", err_path = stem + ".err";
  int status = std::system((command + " >" + out_path + " 2>" + err_path).c_str());
  CommandResult result;
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  result.out = read_text(out_path);
  result.err = read_text(err_path);
  std::filesystem::remove(out_path);
  std::filesystem::remove(err_path);
  return result;
}

CommandResult run_faultline(const std::string& arguments) {
  return run_shell(std::string(FAULTLINE_BINARY) + " " + arguments);
}

}  // namespace faultline::testing
