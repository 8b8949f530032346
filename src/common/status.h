// Errors as values at module boundaries.
//
// Every expected failure (invalid input, not found, conflict, quota, corrupt file, I/O) is
// returned as a Status or a Result<T>; exceptions never cross a module or thread boundary.
// Broken invariants are assertions, not Statuses. The service layer maps each Code to one
// HTTP status and problem+json type in a single place.
#pragma once

#include <cassert>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace tendril {

enum class Code {
  kOk = 0,
  kInvalidArgument,     // the caller's input is malformed or out of range
  kNotFound,            // a named thing does not exist
  kAlreadyExists,       // a conflict with an existing thing
  kFailedPrecondition,  // the request is valid but the state does not allow it
  kResourceExhausted,   // a limit or quota would be exceeded
  kCorrupt,             // stored or uploaded data failed validation (magic, checksum, size)
  kIo,                  // the operating system refused a file operation
  kCancelled,           // the work was cancelled on request
  kUnauthenticated,     // no credentials, or credentials that are invalid, expired or revoked
  kPermissionDenied,    // the caller is known but not allowed to do this
  kInternal,            // a bug: should never reach a user
};

// Stable lower-case name of a code, used in messages and logs ("invalid_argument").
constexpr std::string_view codeName(Code code) {
  switch (code) {
    case Code::kOk:
      return "ok";
    case Code::kInvalidArgument:
      return "invalid_argument";
    case Code::kNotFound:
      return "not_found";
    case Code::kAlreadyExists:
      return "already_exists";
    case Code::kFailedPrecondition:
      return "failed_precondition";
    case Code::kResourceExhausted:
      return "resource_exhausted";
    case Code::kCorrupt:
      return "corrupt";
    case Code::kIo:
      return "io";
    case Code::kCancelled:
      return "cancelled";
    case Code::kUnauthenticated:
      return "unauthenticated";
    case Code::kPermissionDenied:
      return "permission_denied";
    case Code::kInternal:
      return "internal";
  }
  return "unknown";
}

// A success or an error code with a human-readable message. Cheap to copy when ok.
class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return {}; }
  static Status Invalid(std::string message) {
    return {Code::kInvalidArgument, std::move(message)};
  }
  static Status NotFound(std::string message) { return {Code::kNotFound, std::move(message)}; }
  static Status Corrupt(std::string message) { return {Code::kCorrupt, std::move(message)}; }
  static Status Io(std::string message) { return {Code::kIo, std::move(message)}; }
  static Status Exhausted(std::string message) {
    return {Code::kResourceExhausted, std::move(message)};
  }
  static Status Precondition(std::string message) {
    return {Code::kFailedPrecondition, std::move(message)};
  }
  static Status Unauthenticated(std::string message) {
    return {Code::kUnauthenticated, std::move(message)};
  }
  static Status Denied(std::string message) {
    return {Code::kPermissionDenied, std::move(message)};
  }
  static Status Internal(std::string message) { return {Code::kInternal, std::move(message)}; }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }
  // "invalid_argument: line 3: ..." — for logs and the CLI.
  std::string toString() const {
    return ok() ? std::string("ok") : std::string(codeName(code_)) + ": " + message_;
  }

 private:
  Code code_ = Code::kOk;
  std::string message_;
};

// A value or the Status explaining why there is none. value() on an error is a bug (asserts).
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : state_(std::move(value)) {}        // NOLINT: implicit by design
  Result(Status status) : state_(std::move(status)) {  // NOLINT: implicit by design
    assert(!std::get<Status>(state_).ok() && "a Result holding a Status must hold an error");
  }

  bool ok() const { return std::holds_alternative<T>(state_); }
  const Status& status() const {
    static const Status kOkStatus;
    return ok() ? kOkStatus : std::get<Status>(state_);
  }
  T& value() & {
    assert(ok());
    return std::get<T>(state_);
  }
  const T& value() const& {
    assert(ok());
    return std::get<T>(state_);
  }
  T&& value() && {
    assert(ok());
    return std::get<T>(std::move(state_));
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> state_;
};

}  // namespace tendril

// Returns early from the enclosing function when `expr` (a Status) is an error.
#define TENDRIL_RETURN_IF_ERROR(expr)                  \
  do {                                                 \
    ::tendril::Status tendril_status_ = (expr);        \
    if (!tendril_status_.ok()) return tendril_status_; \
  } while (false)
