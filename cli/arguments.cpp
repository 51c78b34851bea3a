#include "cli/arguments.h"

#include <charconv>

namespace faultline::cli {

Result<Arguments> Arguments::parse(int argc, char** argv, int first, const OptionSpec& spec) {
  Arguments args;
  for (int i = first; i < argc; ++i) {
    std::string token = argv[i];
    if (token == "-h" || token == "--help") {
      args.flags_.insert("help");
      continue;
    }
    if (auto alias = spec.short_names.find(token); alias != spec.short_names.end()) token = "--" + alias->second;
    if (token.rfind("--", 0) != 0 || token == "--") {
      args.positional_.push_back(token);
      continue;
    }
    std::string name = token.substr(2);
    std::optional<std::string> inline_value;
    if (auto eq = name.find('='); eq != std::string::npos) {
      inline_value = name.substr(eq + 1);
      name = name.substr(0, eq);
    }
    if (spec.flags.count(name)) {
      if (inline_value) return invalid_argument("option --" + name + " takes no value");
      args.flags_.insert(name);
    } else if (spec.valued.count(name)) {
      if (inline_value) {
        args.values_[name].push_back(*inline_value);
      } else {
        if (i + 1 >= argc) return invalid_argument("option --" + name + " needs a value");
        args.values_[name].push_back(argv[++i]);
      }
    } else {
      return invalid_argument("unknown option --" + name + " (see --help)");
    }
  }
  return args;
}

std::optional<std::string> Arguments::get(const std::string& name) const {
  auto it = values_.find(name);
  if (it == values_.end()) return std::nullopt;
  return it->second.back();
}

std::vector<std::string> Arguments::get_all(const std::string& name) const {
  auto it = values_.find(name);
  return it == values_.end() ? std::vector<std::string>{} : it->second;
}

std::string Arguments::get_or(const std::string& name, const std::string& fallback) const {
  return get(name).value_or(fallback);
}

Result<int64_t> Arguments::get_int(const std::string& name, int64_t fallback, int64_t min, int64_t max) const {
  auto text = get(name);
  if (!text) return fallback;
  int64_t value = 0;
  auto [end, error] = std::from_chars(text->data(), text->data() + text->size(), value);
  if (error != std::errc() || end != text->data() + text->size())
    return invalid_argument("option --" + name + ": '" + *text + "' is not an integer");
  if (value < min || value > max)
    return invalid_argument("option --" + name + ": " + *text + " is outside [" + std::to_string(min) + ", " +
                            std::to_string(max) + "]");
  return value;
}

}  // namespace faultline::cli
