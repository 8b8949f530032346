#include "common/status.h"

#include <gtest/gtest.h>

namespace tendril {
namespace {

Result<int> half(int value) {
  if (value % 2 != 0) return Status::Invalid("odd value " + std::to_string(value));
  return value / 2;
}

Status chain(int value) {
  TENDRIL_RETURN_IF_ERROR(half(value).status());
  return Status::Ok();
}

TEST(StatusTest, OkAndErrorCarryCodeAndMessage) {
  EXPECT_TRUE(Status::Ok().ok());
  Status error = Status::Corrupt("bad checksum");
  EXPECT_FALSE(error.ok());
  EXPECT_EQ(error.code(), Code::kCorrupt);
  EXPECT_EQ(error.toString(), "corrupt: bad checksum");
}

TEST(StatusTest, ResultHoldsValueOrStatus) {
  Result<int> good = half(8);
  ASSERT_TRUE(good.ok());
  EXPECT_EQ(*good, 4);
  Result<int> bad = half(3);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(), "odd value 3");
  EXPECT_EQ(chain(3).code(), Code::kInvalidArgument);
  EXPECT_TRUE(chain(4).ok());
}

}  // namespace
}  // namespace tendril
