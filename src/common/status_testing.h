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
