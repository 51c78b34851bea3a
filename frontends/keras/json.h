// A small JSON reader for the Keras frontend (the `model_config` attribute of a legacy .h5 file, config.json
// of a .keras archive). RFC 8259 plus what Python's json module writes by default: NaN, Infinity and
// -Infinity as numbers. Objects keep their key order; a repeated key keeps its first value.
//
// Errors name the source and the place: parse errors "model.h5: model_config: line 3, column 17: expected ','
// or '}'", lookups through JsonCursor "model.h5: model_config: config.layers[3].config.strides: expected an
// array of integers".
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "engine/status.h"

namespace faultline::keras {

class JsonValue {
 public:
  enum class Kind { kNull, kBool, kNumber, kString, kArray, kObject };

  Kind kind() const { return kind_; }
  bool is_null() const { return kind_ == Kind::kNull; }
  bool is_bool() const { return kind_ == Kind::kBool; }
  bool is_number() const { return kind_ == Kind::kNumber; }
  bool is_string() const { return kind_ == Kind::kString; }
  bool is_array() const { return kind_ == Kind::kArray; }
  bool is_object() const { return kind_ == Kind::kObject; }

  bool as_bool() const { return bool_; }
  double as_number() const { return number_; }
  const std::string& as_string() const { return string_; }
  const std::vector<JsonValue>& items() const { return items_; }                              // arrays
  const std::vector<std::pair<std::string, JsonValue>>& members() const { return members_; }  // objects
  // The member `key` of an object, or null when absent (or when this is not an object).
  const JsonValue* find(std::string_view key) const;

  static JsonValue null() { return JsonValue(); }
  static JsonValue boolean(bool value);
  static JsonValue number(double value);
  static JsonValue string(std::string value);
  static JsonValue array(std::vector<JsonValue> items);
  static JsonValue object(std::vector<std::pair<std::string, JsonValue>> members);

 private:
  Kind kind_ = Kind::kNull;
  bool bool_ = false;
  double number_ = 0.0;
  std::string string_;
  std::vector<JsonValue> items_;
  std::vector<std::pair<std::string, JsonValue>> members_;
};

// Parses a whole document (trailing whitespace only). `source` starts the error messages.
Result<JsonValue> parse_json(std::string_view text, const std::string& source);

// A JSON value with its path from the document root, for lookups whose errors say where they are.
class JsonCursor {
 public:
  JsonCursor(const JsonValue& value, std::string source, std::string path = "")
      : value_(&value), source_(std::move(source)), path_(std::move(path)) {}

  const JsonValue& value() const { return *value_; }
  const std::string& path() const { return path_; }
  // "<source>: <path>: <message>" (the path left out at the root).
  Status error(const std::string& message) const;

  // The member `key` (an error when absent or when this is not an object).
  Result<JsonCursor> at(std::string_view key) const;
  // The member `key`, or nothing when it is absent or null.
  std::optional<JsonCursor> find(std::string_view key) const;
  // Element `index` of an array.
  JsonCursor item(size_t index) const;
  size_t size() const { return value_->items().size(); }

  Result<std::string> as_string() const;
  Result<bool> as_bool() const;
  Result<double> as_number() const;
  Result<int64_t> as_int() const;
  // An integer, or an array of `count` integers; an integer n stands for [n, n, ...] (Keras' "int or tuple").
  Result<std::vector<int64_t>> as_int_tuple(size_t count) const;
  // An array (an error otherwise).
  Result<std::vector<JsonCursor>> as_array() const;

 private:
  const JsonValue* value_;
  std::string source_;
  std::string path_;
};

}  // namespace faultline::keras
