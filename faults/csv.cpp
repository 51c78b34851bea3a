#include "faults/csv.h"

#include <cctype>
#include <charconv>
#include <cmath>

namespace faultline {

namespace {

bool is_blank(const std::vector<std::string>& fields) {
  return fields.size() == 1 && trim(fields[0]).empty();
}

}  // namespace

Result<std::vector<CsvRecord>> parse_csv(std::string_view text, std::string_view source) {
  std::vector<CsvRecord> records;
  size_t pos = 0;
  int64_t line = 1;
  if (text.substr(0, 3) == "\xEF\xBB\xBF") pos = 3;  // UTF-8 byte order mark
  while (pos < text.size()) {
    CsvRecord record;
    record.line = line;
    std::string field;
    bool record_done = false;
    while (!record_done) {
      field.clear();
      if (pos < text.size() && text[pos] == '"') {
        const int64_t quote_line = line;
        ++pos;
        for (;;) {
          if (pos >= text.size()) {
            return invalid_argument(std::string(source) + ":" + std::to_string(quote_line) +
                                    ": a quoted field is never closed");
          }
          char c = text[pos++];
          if (c == '"') {
            if (pos < text.size() && text[pos] == '"') {
              field += '"';
              ++pos;
            } else {
              break;
            }
          } else {
            if (c == '\n') ++line;
            field += c;
          }
        }
        if (pos < text.size() && text[pos] != ',' && text[pos] != '\n' && text[pos] != '\r') {
          return invalid_argument(std::string(source) + ":" + std::to_string(line) +
                                  ": unexpected text after a closing quote");
        }
      } else {
        while (pos < text.size() && text[pos] != ',' && text[pos] != '\n' && text[pos] != '\r') {
          if (text[pos] == '"') {
            return invalid_argument(std::string(source) + ":" + std::to_string(line) +
                                    ": a quote inside an unquoted field");
          }
          field += text[pos++];
        }
      }
      record.fields.push_back(field);
      if (pos >= text.size()) {
        record_done = true;
      } else if (text[pos] == ',') {
        ++pos;
      } else {  // line end
        if (text[pos] == '\r') ++pos;
        if (pos < text.size() && text[pos] == '\n') ++pos;
        ++line;
        record_done = true;
      }
    }
    if (!is_blank(record.fields)) records.push_back(std::move(record));
  }
  return records;
}

std::string csv_quote(std::string_view field) {
  bool needs = field.find_first_of(",\"\r\n") != std::string_view::npos ||
               (!field.empty() && (field.front() == ' ' || field.back() == ' '));
  if (!needs) return std::string(field);
  std::string out = "\"";
  for (char c : field) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
  return out;
}

std::string csv_line(const std::vector<std::string>& fields) {
  std::string out;
  for (size_t i = 0; i < fields.size(); ++i) {
    if (i > 0) out += ',';
    out += csv_quote(fields[i]);
  }
  out += '\n';
  return out;
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) text.remove_prefix(1);
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.remove_suffix(1);
  return text;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

Result<int64_t> parse_int64(std::string_view text) {
  std::string_view t = trim(text);
  if (!t.empty() && t.front() == '+') t.remove_prefix(1);
  int64_t value = 0;
  auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), value);
  if (t.empty() || ec != std::errc() || end != t.data() + t.size()) {
    return invalid_argument(std::string("'").append(text).append("' is not an integer"));
  }
  return value;
}

Result<double> parse_double(std::string_view text) {
  std::string_view t = trim(text);
  if (!t.empty() && t.front() == '+') t.remove_prefix(1);
  double value = 0;
  auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), value);
  if (t.empty() || ec != std::errc() || end != t.data() + t.size()) {
    return invalid_argument(std::string("'").append(text).append("' is not a number"));
  }
  return value;
}

}  // namespace faultline
