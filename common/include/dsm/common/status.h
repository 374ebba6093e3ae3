// Errors as values.
//
// Status carries an errno-style code and a message; Result<T> is a value or a
// Status. Used everywhere below the tools' main functions so that code that
// runs under the OpenMP ABI or near a signal handler never throws. Creating a
// Status with a message allocates: not async-signal-safe.
#pragma once

#include <cerrno>
#include <cstring>
#include <string>
#include <utility>
#include <variant>

namespace dsm {

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(int code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }
  // An error from the current errno, prefixed with what was being done.
  static Status FromErrno(const std::string& what) { return FromErrno(what, errno); }
  static Status FromErrno(const std::string& what, int err) {
    return Status(err == 0 ? EIO : err, what + ": " + std::strerror(err));
  }

  [[nodiscard]] bool ok() const { return code_ == 0; }
  [[nodiscard]] int code() const { return code_; }
  [[nodiscard]] const std::string& message() const { return message_; }

 private:
  int code_ = 0;
  std::string message_;
};

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}
  Result(Status status) : v_(std::move(status)) {}

  [[nodiscard]] bool ok() const { return std::holds_alternative<T>(v_); }
  [[nodiscard]] const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(v_);
  }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  T& operator*() { return value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace dsm
