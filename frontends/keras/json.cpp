#include "frontends/keras/json.h"

#include <cmath>
#include <cstdlib>
#include <limits>

namespace faultline::keras {

namespace {

constexpr int kMaxDepth = 512;  // nesting deeper than any Keras config; guards the recursion

class Parser {
 public:
  Parser(std::string_view text, const std::string& source) : text_(text), source_(source) {}

  Result<JsonValue> document() {
    skip_space();
    FL_ASSIGN_OR_RETURN(JsonValue root, value(0));
    skip_space();
    if (pos_ != text_.size()) return error("unexpected text after the JSON document");
    return root;
  }

 private:
  Status error(const std::string& message) const {
    int64_t line = 1, column = 1;
    for (size_t i = 0; i < pos_ && i < text_.size(); ++i) {
      if (text_[i] == '\n') {
        ++line;
        column = 1;
      } else {
        ++column;
      }
    }
    return invalid_argument(source_ + ": line " + std::to_string(line) + ", column " + std::to_string(column) + ": " +
                            message);
  }

  void skip_space() {
    while (pos_ < text_.size() &&
           (text_[pos_] == ' ' || text_[pos_] == '\t' || text_[pos_] == '\n' || text_[pos_] == '\r'))
      ++pos_;
  }

  bool consume(std::string_view word) {
    if (text_.substr(pos_, word.size()) != word) return false;
    pos_ += word.size();
    return true;
  }

  Result<JsonValue> value(int depth) {
    if (depth > kMaxDepth) return error("nesting is too deep");
    if (pos_ >= text_.size()) return error("unexpected end of the text");
    const char c = text_[pos_];
    if (c == '{') return object(depth);
    if (c == '[') return array(depth);
    if (c == '"') {
      FL_ASSIGN_OR_RETURN(std::string s, string());
      return JsonValue::string(std::move(s));
    }
    if (consume("true")) return JsonValue::boolean(true);
    if (consume("false")) return JsonValue::boolean(false);
    if (consume("null")) return JsonValue::null();
    if (consume("NaN")) return JsonValue::number(std::numeric_limits<double>::quiet_NaN());
    if (consume("Infinity")) return JsonValue::number(std::numeric_limits<double>::infinity());
    if (consume("-Infinity")) return JsonValue::number(-std::numeric_limits<double>::infinity());
    if (c == '-' || (c >= '0' && c <= '9')) return number();
    return error(std::string("unexpected character '") + c + "'");
  }

  Result<JsonValue> number() {
    const size_t start = pos_;
    if (text_[pos_] == '-') ++pos_;
    auto digits = [&] {
      const size_t first = pos_;
      while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9') ++pos_;
      return pos_ > first;
    };
    if (!digits()) return error("expected a digit");
    if (pos_ < text_.size() && text_[pos_] == '.') {
      ++pos_;
      if (!digits()) return error("expected a digit after '.'");
    }
    if (pos_ < text_.size() && (text_[pos_] == 'e' || text_[pos_] == 'E')) {
      ++pos_;
      if (pos_ < text_.size() && (text_[pos_] == '+' || text_[pos_] == '-')) ++pos_;
      if (!digits()) return error("expected a digit in the exponent");
    }
    const std::string literal(text_.substr(start, pos_ - start));
    return JsonValue::number(std::strtod(literal.c_str(), nullptr));
  }

  static void append_utf8(std::string& out, uint32_t code) {
    if (code < 0x80) {
      out += static_cast<char>(code);
    } else if (code < 0x800) {
      out += static_cast<char>(0xC0 | (code >> 6));
      out += static_cast<char>(0x80 | (code & 0x3F));
    } else if (code < 0x10000) {
      out += static_cast<char>(0xE0 | (code >> 12));
      out += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (code & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (code >> 18));
      out += static_cast<char>(0x80 | ((code >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (code & 0x3F));
    }
  }

  Result<uint32_t> hex4() {
    if (pos_ + 4 > text_.size()) return error("truncated \\u escape");
    uint32_t code = 0;
    for (int i = 0; i < 4; ++i) {
      const char h = text_[pos_++];
      code <<= 4;
      if (h >= '0' && h <= '9')
        code |= static_cast<uint32_t>(h - '0');
      else if (h >= 'a' && h <= 'f')
        code |= static_cast<uint32_t>(h - 'a' + 10);
      else if (h >= 'A' && h <= 'F')
        code |= static_cast<uint32_t>(h - 'A' + 10);
      else
        return error("bad hex digit in a \\u escape");
    }
    return code;
  }

  Result<std::string> string() {
    ++pos_;  // the opening quote
    std::string out;
    while (true) {
      if (pos_ >= text_.size()) return error("unterminated string");
      const char c = text_[pos_++];
      if (c == '"') return out;
      if (static_cast<unsigned char>(c) < 0x20) return error("control character in a string");
      if (c != '\\') {
        out += c;
        continue;
      }
      if (pos_ >= text_.size()) return error("unterminated string");
      const char e = text_[pos_++];
      switch (e) {
        case '"':
          out += '"';
          break;
        case '\\':
          out += '\\';
          break;
        case '/':
          out += '/';
          break;
        case 'b':
          out += '\b';
          break;
        case 'f':
          out += '\f';
          break;
        case 'n':
          out += '\n';
          break;
        case 'r':
          out += '\r';
          break;
        case 't':
          out += '\t';
          break;
        case 'u': {
          FL_ASSIGN_OR_RETURN(uint32_t code, hex4());
          if (code >= 0xD800 && code < 0xDC00 && consume("\\u")) {  // a surrogate pair
            FL_ASSIGN_OR_RETURN(uint32_t low, hex4());
            if (low < 0xDC00 || low >= 0xE000) return error("bad low surrogate in a \\u escape");
            code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
          }
          append_utf8(out, code);
          break;
        }
        default:
          return error(std::string("bad escape '\\") + e + "'");
      }
    }
  }

  Result<JsonValue> array(int depth) {
    ++pos_;
    std::vector<JsonValue> items;
    skip_space();
    if (consume("]")) return JsonValue::array(std::move(items));
    while (true) {
      skip_space();
      FL_ASSIGN_OR_RETURN(JsonValue item, value(depth + 1));
      items.push_back(std::move(item));
      skip_space();
      if (consume("]")) return JsonValue::array(std::move(items));
      if (!consume(",")) return error("expected ',' or ']'");
    }
  }

  Result<JsonValue> object(int depth) {
    ++pos_;
    std::vector<std::pair<std::string, JsonValue>> members;
    skip_space();
    if (consume("}")) return JsonValue::object(std::move(members));
    while (true) {
      skip_space();
      if (pos_ >= text_.size() || text_[pos_] != '"') return error("expected a string key");
      FL_ASSIGN_OR_RETURN(std::string key, string());
      skip_space();
      if (!consume(":")) return error("expected ':'");
      skip_space();
      FL_ASSIGN_OR_RETURN(JsonValue item, value(depth + 1));
      members.emplace_back(std::move(key), std::move(item));
      skip_space();
      if (consume("}")) return JsonValue::object(std::move(members));
      if (!consume(",")) return error("expected ',' or '}'");
    }
  }

  std::string_view text_;
  const std::string& source_;
  size_t pos_ = 0;
};

std::string kind_name(JsonValue::Kind kind) {
  switch (kind) {
    case JsonValue::Kind::kNull:
      return "null";
    case JsonValue::Kind::kBool:
      return "a boolean";
    case JsonValue::Kind::kNumber:
      return "a number";
    case JsonValue::Kind::kString:
      return "a string";
    case JsonValue::Kind::kArray:
      return "an array";
    case JsonValue::Kind::kObject:
      return "an object";
  }
  return "?";
}

}  // namespace

const JsonValue* JsonValue::find(std::string_view key) const {
  for (const auto& [name, value] : members_)
    if (name == key) return &value;
  return nullptr;
}

JsonValue JsonValue::boolean(bool value) {
  JsonValue v;
  v.kind_ = Kind::kBool;
  v.bool_ = value;
  return v;
}

JsonValue JsonValue::number(double value) {
  JsonValue v;
  v.kind_ = Kind::kNumber;
  v.number_ = value;
  return v;
}

JsonValue JsonValue::string(std::string value) {
  JsonValue v;
  v.kind_ = Kind::kString;
  v.string_ = std::move(value);
  return v;
}

JsonValue JsonValue::array(std::vector<JsonValue> items) {
  JsonValue v;
  v.kind_ = Kind::kArray;
  v.items_ = std::move(items);
  return v;
}

JsonValue JsonValue::object(std::vector<std::pair<std::string, JsonValue>> members) {
  JsonValue v;
  v.kind_ = Kind::kObject;
  // A repeated key keeps its first value (find() returns the first match).
  v.members_ = std::move(members);
  return v;
}

Result<JsonValue> parse_json(std::string_view text, const std::string& source) {
  return Parser(text, source).document();
}

Status JsonCursor::error(const std::string& message) const {
  return invalid_argument(source_ + ": " + (path_.empty() ? "" : path_ + ": ") + message);
}

Result<JsonCursor> JsonCursor::at(std::string_view key) const {
  const std::string path = path_.empty() ? std::string(key) : path_ + "." + std::string(key);
  if (!value_->is_object()) return error("expected an object, got " + kind_name(value_->kind()));
  const JsonValue* member = value_->find(key);
  if (member == nullptr) return invalid_argument(source_ + ": " + path + ": missing");
  return JsonCursor(*member, source_, path);
}

std::optional<JsonCursor> JsonCursor::find(std::string_view key) const {
  const JsonValue* member = value_->find(key);
  if (member == nullptr || member->is_null()) return std::nullopt;
  return JsonCursor(*member, source_, path_.empty() ? std::string(key) : path_ + "." + std::string(key));
}

JsonCursor JsonCursor::item(size_t index) const {
  return JsonCursor(value_->items()[index], source_, path_ + "[" + std::to_string(index) + "]");
}

Result<std::string> JsonCursor::as_string() const {
  if (!value_->is_string()) return error("expected a string, got " + kind_name(value_->kind()));
  return value_->as_string();
}

Result<bool> JsonCursor::as_bool() const {
  if (!value_->is_bool()) return error("expected true or false, got " + kind_name(value_->kind()));
  return value_->as_bool();
}

Result<double> JsonCursor::as_number() const {
  if (!value_->is_number()) return error("expected a number, got " + kind_name(value_->kind()));
  return value_->as_number();
}

Result<int64_t> JsonCursor::as_int() const {
  constexpr double kLimit = 9.0e15;  // integers a double holds exactly
  if (!value_->is_number()) return error("expected an integer, got " + kind_name(value_->kind()));
  const double v = value_->as_number();
  if (!std::isfinite(v) || std::floor(v) != v || std::fabs(v) > kLimit) return error("expected an integer");
  return static_cast<int64_t>(v);
}

Result<std::vector<int64_t>> JsonCursor::as_int_tuple(size_t count) const {
  if (value_->is_number()) {
    FL_ASSIGN_OR_RETURN(int64_t v, as_int());
    return std::vector<int64_t>(count, v);
  }
  if (!value_->is_array() || value_->items().size() != count)
    return error("expected an integer or an array of " + std::to_string(count) + " integers");
  std::vector<int64_t> out;
  for (size_t i = 0; i < count; ++i) {
    FL_ASSIGN_OR_RETURN(int64_t v, item(i).as_int());
    out.push_back(v);
  }
  return out;
}

Result<std::vector<JsonCursor>> JsonCursor::as_array() const {
  if (!value_->is_array()) return error("expected an array, got " + kind_name(value_->kind()));
  std::vector<JsonCursor> out;
  for (size_t i = 0; i < value_->items().size(); ++i) out.push_back(item(i));
  return out;
}

}  // namespace faultline::keras
