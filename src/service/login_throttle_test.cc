#include "service/login_throttle.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "common/status_testing.h"

namespace tendril::service {
namespace {

using std::chrono::seconds;
using TimePoint = LoginThrottle::Clock::time_point;

const TimePoint kStart = TimePoint{} + std::chrono::hours(1000);

TimePoint at(double s) {
  return kStart + std::chrono::duration_cast<LoginThrottle::Clock::duration>(
                      std::chrono::duration<double>(s));
}

ThrottleSettings settings(int max_failures = 3, size_t max_keys = 1000) {
  ThrottleSettings result;
  result.max_failures = max_failures;
  result.window = seconds(300);
  result.lockout = seconds(60);
  result.max_tracked_keys = max_keys;
  return result;
}

// Records `count` failures for `name` from `address`, one per second from `start`.
void failTimes(LoginThrottle& throttle, std::string_view name, std::string_view address, int count,
               double start) {
  for (int i = 0; i < count; ++i) throttle.recordFailure(name, address, at(start + i));
}

// Passes when check() refuses `name` from `address` at `when` with a message containing `text`
// and a retry-after of `retry_s` seconds.
testing::AssertionResult refused(LoginThrottle& throttle, std::string_view name,
                                 std::string_view address, double when, std::string_view text,
                                 int retry_s) {
  int retry = -1;
  testing::AssertionResult result =
      failsWith(throttle.check(name, address, at(when), &retry), Code::kResourceExhausted, text);
  if (result && retry != retry_s) {
    return testing::AssertionFailure() << "retry after " << retry << " s, expected " << retry_s;
  }
  return result;
}

TEST(ThrottleSettingsTest, DefaultsAreValidAndNonsenseIsRefused) {
  EXPECT_TRUE(validateThrottleSettings(ThrottleSettings{}).ok());
  ThrottleSettings bad;
  bad.max_failures = 0;
  EXPECT_TRUE(failsWith(validateThrottleSettings(bad), Code::kInvalidArgument, "max_failures"));
  bad = {};
  bad.window = seconds(0);
  EXPECT_TRUE(failsWith(validateThrottleSettings(bad), Code::kInvalidArgument, "window"));
  bad = {};
  bad.lockout = seconds(3601);
  EXPECT_TRUE(failsWith(validateThrottleSettings(bad), Code::kInvalidArgument, "lockout"));
  bad = {};
  bad.max_tracked_keys = 1;
  EXPECT_TRUE(failsWith(validateThrottleSettings(bad), Code::kInvalidArgument, "max_tracked"));
}

TEST(LoginThrottleTest, NameIsLockedAfterMaxFailuresAndOthersAreNot) {
  LoginThrottle throttle(settings(3));
  failTimes(throttle, "alice", "10.0.0.1", 2, 0);
  EXPECT_TRUE(throttle.check("alice", "10.0.0.1", at(2)).ok());  // two failures: still open
  throttle.recordFailure("alice", "10.0.0.1", at(2));            // the third locks
  EXPECT_TRUE(refused(throttle, "alice", "10.0.0.1", 2, "for this user name; retry in 60 s", 60));
  // The same name from another address is locked too: the name is what is guessed at.
  EXPECT_TRUE(refused(throttle, "alice", "10.9.9.9", 3, "for this user name; retry in 59 s", 59));
  // Other names from other addresses, and from the same address, are unaffected.
  EXPECT_TRUE(throttle.check("bob", "10.0.0.2", at(3)).ok());
  EXPECT_TRUE(throttle.check("bob", "10.0.0.1", at(3)).ok());
  // Names are case-sensitive keys, exactly as the login compares them.
  EXPECT_TRUE(throttle.check("Alice", "10.0.0.2", at(3)).ok());
}

TEST(LoginThrottleTest, FailuresOutsideTheWindowDoNotCount) {
  LoginThrottle throttle(settings(3));
  failTimes(throttle, "alice", "10.0.0.1", 2, 0);
  throttle.recordFailure("alice", "10.0.0.1", at(300));  // the first two have left the window
  EXPECT_TRUE(throttle.check("alice", "10.0.0.1", at(300)).ok());
  throttle.recordFailure("alice", "10.0.0.1", at(301));
  EXPECT_TRUE(throttle.check("alice", "10.0.0.1", at(301)).ok());
  throttle.recordFailure("alice", "10.0.0.1", at(302));  // three within 300 s
  EXPECT_FALSE(throttle.check("alice", "10.0.0.1", at(302)).ok());
}

TEST(LoginThrottleTest, LockExpiresAndRetryAfterRoundsUp) {
  LoginThrottle throttle(settings(3));
  failTimes(throttle, "alice", "10.0.0.1", 3, 0);  // locked at 2 until 62
  // Half a second left: rounded up, never 0.
  EXPECT_TRUE(refused(throttle, "alice", "10.0.0.1", 61.5, "retry in 1 s", 1));
  EXPECT_TRUE(refused(throttle, "alice", "10.0.0.1", 61.999, "retry in 1 s", 1));
  int retry = -7;
  EXPECT_TRUE(throttle.check("alice", "10.0.0.1", at(62), &retry).ok());
  EXPECT_EQ(retry, -7);  // only written when refused
  // After the lock the count starts again: max_failures more tries before the next lock.
  failTimes(throttle, "alice", "10.0.0.1", 2, 62);
  EXPECT_TRUE(throttle.check("alice", "10.0.0.1", at(64)).ok());
}

TEST(LoginThrottleTest, FailuresWhileLockedAreNotCounted) {
  LoginThrottle throttle(settings(3));
  failTimes(throttle, "alice", "10.0.0.1", 3, 0);  // locked at 2 until 62
  // Racing requests that passed check() before the lock, from other addresses each (so that no
  // address reaches its own threshold).
  for (int i = 0; i < 10; ++i) {
    throttle.recordFailure("alice", "10.0.1." + std::to_string(i), at(10 + i));
  }
  EXPECT_TRUE(refused(throttle, "alice", "10.0.0.1", 20, "user name", 42));  // not extended
  EXPECT_TRUE(throttle.check("alice", "10.0.0.1", at(62)).ok());
}

TEST(LoginThrottleTest, FurtherLocksDoubleUpToOneHourAndResetAfterAQuietWindow) {
  LoginThrottle throttle(settings(2));
  double now = 0;
  const std::vector<int> expected = {60, 120, 240, 480, 960, 1920, 3600, 3600};
  for (int expected_lock : expected) {
    failTimes(throttle, "alice", "10.0.0.1", 2, now);
    now += 1;  // the lock started at the second failure
    ASSERT_TRUE(refused(throttle, "alice", "10.0.0.1", now, "user name", expected_lock));
    now += expected_lock;  // the lock has just ended: the next failures come at once
    ASSERT_TRUE(throttle.check("alice", "10.0.0.1", at(now)).ok());
  }
  // A lock that ended a whole window ago is forgotten: the next lock is the first again.
  now += 300;
  failTimes(throttle, "alice", "10.0.0.1", 2, now);
  EXPECT_TRUE(refused(throttle, "alice", "10.0.0.1", now + 1, "user name", 60));
  // Within the window after the lock ended, it doubles: the locking failure comes 299 s after.
  now += 1 + 60 + 298;
  failTimes(throttle, "alice", "10.0.0.1", 2, now);
  EXPECT_TRUE(refused(throttle, "alice", "10.0.0.1", now + 1, "user name", 120));
}

TEST(LoginThrottleTest, AddressIsLockedAfterFourTimesMaxFailuresAcrossNames) {
  LoginThrottle throttle(settings(3));
  // 11 failures over 11 names (one each, so no name is locked): the address is still open.
  for (int i = 0; i < 11; ++i) {
    throttle.recordFailure("user" + std::to_string(i), "203.0.113.7", at(i));
  }
  EXPECT_TRUE(throttle.check("user99", "203.0.113.7", at(11)).ok());
  throttle.recordFailure("user11", "203.0.113.7", at(11));  // the 12th = 4 x 3
  EXPECT_TRUE(
      refused(throttle, "user99", "203.0.113.7", 11, "from this address; retry in 60 s", 60));
  // Every name from that address is refused, a never-seen one included; other addresses not.
  EXPECT_FALSE(throttle.check("user0", "203.0.113.7", at(12)).ok());
  EXPECT_FALSE(throttle.check("nobody-at-all", "203.0.113.7", at(12)).ok());
  EXPECT_TRUE(throttle.check("user0", "198.51.100.1", at(12)).ok());
}

TEST(LoginThrottleTest, BothLockedReportsTheLongerWait) {
  LoginThrottle throttle(settings(1));
  // Max failures 1: the name locks on its first failure, the address on its fourth.
  throttle.recordFailure("a", "10.0.0.1", at(0));
  throttle.recordFailure("b", "10.0.0.1", at(1));
  throttle.recordFailure("c", "10.0.0.1", at(2));
  throttle.recordFailure("d", "10.0.0.1", at(30));  // the address locks until 90, "d" too
  EXPECT_TRUE(refused(throttle, "d", "10.0.0.1", 40, "for this user name and address", 50));
  // The address's lock is longer than the name's (which ends at 60).
  EXPECT_TRUE(refused(throttle, "a", "10.0.0.1", 40, "for this user name and address", 50));
}

TEST(LoginThrottleTest, SuccessClearsTheNameButNotTheAddress) {
  LoginThrottle throttle(settings(3));
  failTimes(throttle, "alice", "10.0.0.1", 2, 0);
  throttle.recordSuccess("alice", "10.0.0.1", at(2));
  failTimes(throttle, "alice", "10.0.0.1", 2, 3);  // two more: would lock without the success
  EXPECT_TRUE(throttle.check("alice", "10.0.0.1", at(5)).ok());

  // An attacker spraying names from one address, with a valid login of their own in between,
  // still gets the address locked at 12 failures.
  LoginThrottle sprayed(settings(3));
  for (int i = 0; i < 12; ++i) {
    sprayed.recordFailure("victim" + std::to_string(i), "10.6.6.6", at(i));
    if (i == 6) sprayed.recordSuccess("mallory", "10.6.6.6", at(i));
  }
  EXPECT_TRUE(failsWith(sprayed.check("mallory", "10.6.6.6", at(12)), Code::kResourceExhausted,
                        "from this address"));
  // The successful name's own earlier failures, and its lock history, are gone.
  failTimes(sprayed, "mallory", "10.7.7.7", 3, 20);
  sprayed.recordSuccess("mallory", "10.7.7.7", at(100));  // (as if after the lock)
  failTimes(sprayed, "mallory", "10.8.8.8", 3, 101);
  // A first lock again, not a doubled one.
  EXPECT_TRUE(refused(sprayed, "mallory", "10.9.9.9", 103, "user name", 60));
}

TEST(LoginThrottleTest, UnknownAndKnownNamesAreTreatedAlike) {
  // The throttle has no notion of which names exist; two names with the same history get the
  // same answers, word for word.
  LoginThrottle throttle(settings(3));
  failTimes(throttle, "alice", "10.0.0.1", 3, 0);
  failTimes(throttle, "no-such-user", "10.0.0.2", 3, 0);
  int retry_a = 0;
  int retry_b = 0;
  const Status a = throttle.check("alice", "10.0.0.1", at(5), &retry_a);
  const Status b = throttle.check("no-such-user", "10.0.0.2", at(5), &retry_b);
  EXPECT_EQ(a.toString(), b.toString());
  EXPECT_EQ(retry_a, retry_b);
}

TEST(LoginThrottleTest, LongKeysAreCutAndDoNotGrowMemory) {
  LoginThrottle throttle(settings(3));
  const std::string prefix(kMaxThrottleKeyBytes, 'x');
  failTimes(throttle, prefix + "1", "10.0.0.1", 2, 0);
  throttle.recordFailure(prefix + "2", "10.0.0.2", at(2));  // the same key as far as it counts
  EXPECT_FALSE(throttle.check(prefix, "10.0.0.3", at(3)).ok());
  EXPECT_EQ(throttle.trackedKeys(), 3u);  // one name and two addresses
}

TEST(LoginThrottleTest, RemembersAtMostMaxTrackedKeysForgettingTheLeastRecentlyTouched) {
  LoginThrottle throttle(settings(1, 4));
  // Max failures 1: each name locks on its first failure. Four keys: a, b and two addresses.
  throttle.recordFailure("a", "10.0.0.1", at(0));
  throttle.recordFailure("b", "10.0.0.2", at(1));
  EXPECT_EQ(throttle.trackedKeys(), 4u);
  EXPECT_FALSE(throttle.check("a", "10.0.0.9", at(2)).ok());
  EXPECT_FALSE(throttle.check("b", "10.0.0.9", at(2)).ok());
  // Touch a again (its address too): now b and 10.0.0.2 are the least recently touched.
  throttle.recordFailure("a", "10.0.0.1", at(3));
  throttle.recordFailure("c", "10.0.0.3", at(4));
  EXPECT_EQ(throttle.trackedKeys(), 4u);
  EXPECT_FALSE(throttle.check("a", "10.0.0.9", at(5)).ok());
  EXPECT_FALSE(throttle.check("c", "10.0.0.9", at(5)).ok());
  EXPECT_TRUE(throttle.check("b", "10.0.0.9", at(5)).ok());  // forgotten
  // A new name from a known address never forgets that address, even when it is the oldest.
  LoginThrottle two(settings(2, 2));
  two.recordFailure("a", "10.0.0.1", at(0));  // keys: a, 10.0.0.1
  for (int i = 0; i < 7; ++i) two.recordFailure("n" + std::to_string(i), "10.0.0.1", at(1 + i));
  EXPECT_EQ(two.trackedKeys(), 2u);
  // 8 failures = 4 x 2 from 10.0.0.1: locked although every new name pushed one key out.
  EXPECT_TRUE(
      failsWith(two.check("zz", "10.0.0.1", at(8)), Code::kResourceExhausted, "from this address"));
  // Neither does a new address forget a known name that is the least recently touched.
  LoginThrottle three(settings(2, 3));
  three.recordFailure("a", "10.0.0.1", at(0));
  three.recordFailure("b", "10.0.0.1", at(1));  // "a" is now the least recently touched
  three.recordFailure("a", "10.0.0.2", at(2));  // a new address pushes one key out: not "a"
  EXPECT_EQ(three.trackedKeys(), 3u);
  EXPECT_TRUE(failsWith(three.check("a", "10.0.0.9", at(3)), Code::kResourceExhausted,
                        "for this user name"));
  // Failures for many distinct names stay within the bound.
  LoginThrottle bounded(settings(5, 100));
  for (int i = 0; i < 1000; ++i) {
    bounded.recordFailure("name" + std::to_string(i), "10.1." + std::to_string(i), at(i));
  }
  EXPECT_EQ(bounded.trackedKeys(), 100u);
  // check() never creates records.
  for (int i = 0; i < 1000; ++i) {
    EXPECT_TRUE(
        bounded.check("other" + std::to_string(i), "10.2." + std::to_string(i), at(2000)).ok());
  }
  EXPECT_EQ(bounded.trackedKeys(), 100u);
}

TEST(LoginThrottleTest, ConcurrentUseIsSafeAndCountsEveryFailure) {
  // 8 threads, each failing 2 times for each of its own 50 names from one shared address, while
  // also calling check(). Max failures 3, so no name locks; the address (threshold 12) locks.
  LoginThrottle throttle(settings(3, 10000));
  std::atomic<int> refused{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) {
        const std::string name = "t" + std::to_string(t) + "-" + std::to_string(i);
        for (int k = 0; k < 2; ++k) {
          if (!throttle.check(name, "10.0.0.1", at(1)).ok()) ++refused;
          throttle.recordFailure(name, "10.0.0.1", at(1));
          if (!throttle.check(name, "10.0.0.2", at(1)).ok()) ++refused;
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(throttle.trackedKeys(), 8u * 50u + 1u);
  EXPECT_FALSE(throttle.check("fresh", "10.0.0.1", at(2)).ok());
  EXPECT_TRUE(throttle.check("fresh", "10.0.0.2", at(2)).ok());
  // No name reached 3 failures, so the other address never saw a refusal.
  for (int t = 0; t < 8; ++t) {
    EXPECT_TRUE(throttle.check("t" + std::to_string(t) + "-0", "10.0.0.2", at(2)).ok());
  }
  EXPECT_GT(refused.load(), 0);  // the shared address locked part-way through
}

}  // namespace
}  // namespace tendril::service
