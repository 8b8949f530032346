#include "service/clock.h"

#include <gtest/gtest.h>

#include <string>

#include "common/status_testing.h"

namespace tendril::service {
namespace {

// 2026-11-21T08:46:17.123Z, computed independently: 20'778 days after the epoch.
constexpr store::TimeMs kSample = ((20'778LL * 24 + 8) * 60 + 46) * 60'000 + 17'123;

TEST(ClockTest, FormatsUtcWithMilliseconds) {
  EXPECT_EQ(formatIsoTime(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(formatIsoTime(kSample), "2026-11-21T08:46:17.123Z");
  EXPECT_EQ(formatIsoTime(951'782'400'000), "2000-02-29T00:00:00.000Z");  // a leap day
  EXPECT_EQ(formatIsoTime(253'402'300'799'999), "9999-12-31T23:59:59.999Z");
}

TEST(ClockTest, ParsesWhatItFormats) {
  for (store::TimeMs time : {store::TimeMs{0}, store::TimeMs{1}, kSample,
                             store::TimeMs{951'782'400'000}, store::TimeMs{253'402'300'799'999}}) {
    Result<store::TimeMs> back = parseIsoTime(formatIsoTime(time));
    ASSERT_TRUE(back.ok()) << back.status().toString();
    EXPECT_EQ(*back, time) << formatIsoTime(time);
  }
}

TEST(ClockTest, AcceptsShortFractionsNoFractionAndExplicitUtcOffset) {
  const store::TimeMs whole = kSample - 123;
  EXPECT_EQ(*parseIsoTime("2026-11-21T08:46:17Z"), whole);
  EXPECT_EQ(*parseIsoTime("2026-11-21T08:46:17.1Z"), whole + 100);
  EXPECT_EQ(*parseIsoTime("2026-11-21T08:46:17.12Z"), whole + 120);
  EXPECT_EQ(*parseIsoTime("2026-11-21T08:46:17.123+00:00"), kSample);
}

TEST(ClockTest, RejectsImpossibleDatesAndTimes) {
  for (const char* text : {"2026-02-30T00:00:00Z", "2025-02-29T00:00:00Z", "2026-13-01T00:00:00Z",
                           "2026-00-10T00:00:00Z", "2026-04-31T00:00:00Z", "2026-01-00T00:00:00Z",
                           "2026-01-01T24:00:00Z", "2026-01-01T00:60:00Z", "2026-01-01T00:00:60Z",
                           "1969-12-31T23:59:59Z"}) {
    EXPECT_TRUE(failsWith(parseIsoTime(text).status(), Code::kInvalidArgument, "ISO-8601")) << text;
  }
  EXPECT_TRUE(parseIsoTime("2024-02-29T00:00:00Z").ok());  // leap years still work
}

TEST(ClockTest, RejectsOtherZonesMissingZoneAndJunk) {
  for (const char* text :
       {"2026-11-21T08:46:17", "2026-11-21T08:46:17.123", "2026-11-21T08:46:17+01:00",
        "2026-11-21T08:46:17z", "2026-11-21 08:46:17Z", "2026-11-21T08:46:17.Z",
        "2026-11-21T08:46:17.1234Z", "2026-11-21T08:46:17ZZ", "2026-11-21", "", "junk",
        "+026-11-21T08:46:17Z", "2026-1-21T08:46:17.000Z", "2026-11-21T08:46:1xZ",
        "2026-11-21T08:46:17Z\n"}) {
    EXPECT_TRUE(failsWith(parseIsoTime(text).status(), Code::kInvalidArgument, "ISO-8601"))
        << "'" << text << "'";
  }
  // A NUL inside the text is not a terminator.
  EXPECT_FALSE(parseIsoTime(std::string("2026-11-21T08:46:17Z\0", 21)).ok());
}

TEST(ClockTest, SystemClockIsNearTheFormattedPresent) {
  Clock clock = systemClock();
  store::TimeMs now = clock();
  EXPECT_GT(now, *parseIsoTime("2024-01-01T00:00:00Z"));
  EXPECT_LE(now, clock());
}

}  // namespace
}  // namespace tendril::service
