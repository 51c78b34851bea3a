// Status and Result<T>: how errors cross module boundaries in faultline.
//
// Every fallible function that can fail because of its input (a file, a model, a YAML key, a CSV line)
// returns Status or Result<T>. The message names what is wrong and where; callers add context with
// Status::with_context ("model.onnx: node '/layer1/Conv': ..."). Assertions are for programmer errors only.
#pragma once

#include <cassert>
#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace faultline {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,  // bad input: malformed file, wrong shape, bad option value
  kNotFound,         // a missing file, value, layer or key
  kUnsupported,      // valid input that faultline does not implement (an op, a dtype, an attribute)
  kIoError,          // the OS refused a read or write
  kOutOfRange,       // an index, bit or size outside what the object allows
  kInternal,         // a bug in faultline
};

class [[nodiscard]] Status {
 public:
  Status() = default;  // ok
  static Status ok() { return Status(); }
  static Status error(StatusCode code, std::string message) { return Status(code, std::move(message)); }

  bool is_ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }

  // "prefix: message"; a no-op on an ok status.
  Status with_context(std::string_view prefix) const;

 private:
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

inline Status invalid_argument(std::string message) { return Status::error(StatusCode::kInvalidArgument, std::move(message)); }
inline Status not_found(std::string message) { return Status::error(StatusCode::kNotFound, std::move(message)); }
inline Status unsupported(std::string message) { return Status::error(StatusCode::kUnsupported, std::move(message)); }
inline Status io_error(std::string message) { return Status::error(StatusCode::kIoError, std::move(message)); }
inline Status out_of_range(std::string message) { return Status::error(StatusCode::kOutOfRange, std::move(message)); }
inline Status internal_error(std::string message) { return Status::error(StatusCode::kInternal, std::move(message)); }

// A byte count for messages, in whole MiB rounded up: "13 MB".
std::string megabytes(size_t bytes);

// A value or the Status that explains why there is none.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : state_(std::move(value)) {}                      // NOLINT(implicit)
  Result(Status status) : state_(std::move(status)) { assert(!std::get<Status>(state_).is_ok()); }  // NOLINT

  bool is_ok() const { return std::holds_alternative<T>(state_); }
  const Status& status() const {
    static const Status kOk;
    return is_ok() ? kOk : std::get<Status>(state_);
  }
  T& value() & { assert(is_ok()); return std::get<T>(state_); }
  const T& value() const& { assert(is_ok()); return std::get<T>(state_); }
  T value() && { assert(is_ok()); return std::get<T>(std::move(state_)); }  // by value: no dangling
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }

 private:
  std::variant<T, Status> state_;
};

}  // namespace faultline

#define FL_CONCAT_INNER_(a, b) a##b
#define FL_CONCAT_(a, b) FL_CONCAT_INNER_(a, b)

// Returns the Status from the enclosing function if `expr` is not ok.
#define FL_RETURN_IF_ERROR(expr)                       \
  do {                                                 \
    ::faultline::Status fl_status_ = (expr);           \
    if (!fl_status_.is_ok()) return fl_status_;        \
  } while (0)

// `lhs = value of expr`, or returns its Status. lhs may declare a variable: FL_ASSIGN_OR_RETURN(auto x, f());
#define FL_ASSIGN_OR_RETURN(lhs, expr) FL_ASSIGN_OR_RETURN_IMPL_(FL_CONCAT_(fl_result_, __LINE__), lhs, expr)
#define FL_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                              \
  if (!tmp.is_ok()) return tmp.status();          \
  lhs = std::move(tmp).value()
