// The CSV dialect of fault lists (RFC 4180, as Python's csv module writes it) and field parsers.
//
// Fields are separated by commas; a field holding a comma, a quote or a line break is quoted, with quotes
// doubled inside. Lines end in "\n" or "\r\n". Records keep the number of the line they start on, so errors
// can name it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "engine/status.h"

namespace faultline {

struct CsvRecord {
  int64_t line = 0;  // 1-based line the record starts on
  std::vector<std::string> fields;
};

// Every non-blank record of `text`. Fails on a quote that is never closed or on characters after a closing
// quote; the message starts with "<source>:<line>: ".
Result<std::vector<CsvRecord>> parse_csv(std::string_view text, std::string_view source);

// `field` quoted if it must be (comma, quote, CR/LF, or leading/trailing space), else as is.
std::string csv_quote(std::string_view field);
// The fields joined by commas and quoted as needed, with "\n".
std::string csv_line(const std::vector<std::string>& fields);

// Whole-field parsers (surrounding spaces allowed); the message says what was expected ("'4x' is not an
// integer").
Result<int64_t> parse_int64(std::string_view text);
Result<double> parse_double(std::string_view text);
std::string_view trim(std::string_view text);
bool iequals(std::string_view a, std::string_view b);

}  // namespace faultline
