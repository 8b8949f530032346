// Test helpers for Status values (tests only; include after <gtest/gtest.h>).
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include "common/status.h"

namespace tendril {

// Passes when `status` is an error with `code` whose message contains `text`; the failure
// message shows what came instead.
inline testing::AssertionResult failsWith(const Status& status, Code code, std::string_view text) {
  if (status.ok()) return testing::AssertionFailure() << "succeeded, expected an error";
  if (status.code() != code || status.message().find(text) == std::string::npos) {
    return testing::AssertionFailure() << "got " << status.toString() << ", expected "
                                       << codeName(code) << " containing '" << text << "'";
  }
  return testing::AssertionSuccess() << status.toString();
}

}  // namespace tendril

// Status (or Result) checks that show the error on failure.
#define TENDRIL_STATUS_OF_(expr) ::tendril::statusOf(expr)
#define ASSERT_OK(expr)                                                 \
  do {                                                                  \
    const ::tendril::Status tendril_status_ = ::tendril::statusOf(expr); \
    ASSERT_TRUE(tendril_status_.ok()) << tendril_status_.toString();    \
  } while (false)
#define EXPECT_OK(expr)                                                 \
  do {                                                                  \
    const ::tendril::Status tendril_status_ = ::tendril::statusOf(expr); \
    EXPECT_TRUE(tendril_status_.ok()) << tendril_status_.toString();    \
  } while (false)
// ASSERT_OK_AND_ASSIGN(Type name, expr): asserts that the Result `expr` holds a value and
// declares `name` with it.
#define TENDRIL_CONCAT_INNER_(a, b) a##b
#define TENDRIL_CONCAT_(a, b) TENDRIL_CONCAT_INNER_(a, b)
#define ASSERT_OK_AND_ASSIGN(declaration, expr) \
  TENDRIL_ASSIGN_OR_ASSERT_(TENDRIL_CONCAT_(tendril_result_, __LINE__), declaration, expr)
#define TENDRIL_ASSIGN_OR_ASSERT_(result, declaration, expr)   \
  auto result = (expr);                                        \
  ASSERT_TRUE(result.ok()) << result.status().toString();      \
  declaration = std::move(result).value()

namespace tendril {
inline Status statusOf(const Status& status) { return status; }
template <typename T>
Status statusOf(const Result<T>& result) {
  return result.status();
}
}  // namespace tendril
