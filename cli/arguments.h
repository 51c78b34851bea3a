// A small command-line parser: positional arguments, `--option value` / `--option=value`, and flags.
// Every option a command accepts is declared up front, so an unknown or incomplete option is an error
// naming it.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "engine/status.h"

namespace faultline::cli {

struct OptionSpec {
  std::set<std::string> valued;  // options that take a value, without the leading "--"
  std::set<std::string> flags;   // options that take none
  std::map<std::string, std::string> short_names = {};  // "-o" -> "output"
};

class Arguments {
 public:
  // Parses argv[first..argc). "--help" and "-h" are always accepted as a flag named "help".
  static Result<Arguments> parse(int argc, char** argv, int first, const OptionSpec& spec);

  const std::vector<std::string>& positional() const { return positional_; }
  bool flag(const std::string& name) const { return flags_.count(name) > 0; }
  // The option's value (the last one when it was given more than once).
  std::optional<std::string> get(const std::string& name) const;
  // Every value the option was given, in command-line order.
  std::vector<std::string> get_all(const std::string& name) const;
  std::string get_or(const std::string& name, const std::string& fallback) const;
  // The option's value as an integer in [min, max], `fallback` if absent; errors name the option.
  Result<int64_t> get_int(const std::string& name, int64_t fallback, int64_t min, int64_t max) const;

 private:
  std::vector<std::string> positional_;
  std::map<std::string, std::vector<std::string>> values_;
  std::set<std::string> flags_;
};

}  // namespace faultline::cli
