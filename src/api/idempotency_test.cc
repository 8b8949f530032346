// The Idempotency-Key memory on its own, with a clock the tests move (the pipeline's use of it is
// in api_test.cc).
#include "api/idempotency.h"

#include <gtest/gtest.h>

namespace tendril::api {
namespace {

using State = IdempotencyCache::State;

class IdempotencyCacheTest : public testing::Test {
 protected:
  IdempotencyCache make(IdempotencyLimits limits = {}) {
    return IdempotencyCache(limits, [this] { return now_ms_; });
  }

  static Response created(std::string body) {
    Response response = Response::text(201, std::move(body), "application/json");
    response.headers.emplace_back("Location", "/things/1");
    return response;
  }

  // Begins and completes `key` with a reply of `body`.
  static void remember(IdempotencyCache& cache, const std::string& key, std::string body) {
    IdempotencyCache::Begin begun = cache.begin(key, "fp");
    ASSERT_EQ(begun.state, State::kStarted);
    cache.complete(key, begun.ticket, created(std::move(body)));
  }

  store::TimeMs now_ms_ = 1'000'000;
};

TEST_F(IdempotencyCacheTest, ReplaysTheStoredReplyForTheSameFingerprint) {
  IdempotencyCache cache = make();
  IdempotencyCache::Begin first = cache.begin("k", "fp");
  ASSERT_EQ(first.state, State::kStarted);
  cache.complete("k", first.ticket, created(R"({"id":1})"));
  IdempotencyCache::Begin again = cache.begin("k", "fp");
  ASSERT_EQ(again.state, State::kReplay);
  EXPECT_EQ(again.stored.status, 201u);
  EXPECT_EQ(again.stored.body, R"({"id":1})");
  ASSERT_EQ(again.stored.headers.size(), 1u);
  EXPECT_EQ(again.stored.headers[0].second, "/things/1");
  EXPECT_EQ(cache.begin("k", "other").state, State::kMismatch);
  EXPECT_EQ(cache.begin("k2", "fp").state, State::kStarted);  // another key is another call
}

TEST_F(IdempotencyCacheTest, ARunningCallIsInProgressAndAnAbandonedOneRunsAgain) {
  IdempotencyCache cache = make();
  IdempotencyCache::Begin first = cache.begin("k", "fp");
  ASSERT_EQ(first.state, State::kStarted);
  EXPECT_EQ(cache.begin("k", "fp").state, State::kInProgress);
  EXPECT_EQ(cache.begin("k", "other").state, State::kMismatch);
  cache.abandon("k", first.ticket);
  EXPECT_EQ(cache.size(), 0u);
  IdempotencyCache::Begin retry = cache.begin("k", "other");
  EXPECT_EQ(retry.state, State::kStarted);
  EXPECT_NE(retry.ticket, first.ticket);
}

TEST_F(IdempotencyCacheTest, RepliesAreForgottenAfterTheirLifetime) {
  IdempotencyLimits limits;
  limits.ttl_ms = 1000;
  IdempotencyCache cache = make(limits);
  remember(cache, "k", "{}");
  now_ms_ += 999;
  EXPECT_EQ(cache.begin("k", "fp").state, State::kReplay);
  now_ms_ += 1;
  EXPECT_EQ(cache.begin("k", "fp").state, State::kStarted);
}

TEST_F(IdempotencyCacheTest, LeastRecentlyUsedEntriesGoFirst) {
  IdempotencyLimits limits;
  limits.max_entries = 2;
  IdempotencyCache cache = make(limits);
  remember(cache, "a", "{}");
  remember(cache, "b", "{}");
  EXPECT_EQ(cache.begin("a", "fp").state, State::kReplay);  // a is now used more recently
  remember(cache, "c", "{}");                                // evicts b
  EXPECT_EQ(cache.size(), 2u);
  EXPECT_EQ(cache.begin("a", "fp").state, State::kReplay);
  EXPECT_EQ(cache.begin("c", "fp").state, State::kReplay);
  EXPECT_EQ(cache.begin("b", "fp").state, State::kStarted);
}

TEST_F(IdempotencyCacheTest, ByteBudgetEvictsAndOversizedRepliesAreNotStored) {
  IdempotencyLimits limits;
  limits.max_bytes = 4096;
  IdempotencyCache cache = make(limits);
  remember(cache, "a", std::string(1500, 'x'));
  remember(cache, "b", std::string(1500, 'x'));
  remember(cache, "c", std::string(1500, 'x'));  // a no longer fits
  EXPECT_EQ(cache.begin("a", "fp").state, State::kStarted);
  EXPECT_EQ(cache.begin("c", "fp").state, State::kReplay);
  remember(cache, "huge", std::string(5000, 'x'));
  EXPECT_EQ(cache.begin("huge", "fp").state, State::kStarted);
}

// A call whose entry was evicted while it ran must not complete a later call's entry of the
// same key (which may have another fingerprint).
TEST_F(IdempotencyCacheTest, AStaleTicketChangesNothing) {
  IdempotencyLimits limits;
  limits.max_entries = 1;
  IdempotencyCache cache = make(limits);
  IdempotencyCache::Begin old_call = cache.begin("k", "fp1");
  ASSERT_EQ(cache.begin("other", "fp").state, State::kStarted);  // evicts k
  IdempotencyCache::Begin new_call = cache.begin("k", "fp2");
  ASSERT_EQ(new_call.state, State::kStarted);
  cache.complete("k", old_call.ticket, created("old"));
  cache.abandon("k", old_call.ticket);
  EXPECT_EQ(cache.begin("k", "fp2").state, State::kInProgress);
  cache.complete("k", new_call.ticket, created("new"));
  IdempotencyCache::Begin replay = cache.begin("k", "fp2");
  ASSERT_EQ(replay.state, State::kReplay);
  EXPECT_EQ(replay.stored.body, "new");
}

TEST(IdempotencyKeyTest, OneTo255PrintableAsciiCharacters) {
  EXPECT_TRUE(validIdempotencyKey("a"));
  EXPECT_TRUE(validIdempotencyKey("3f1c9a2e-0b7d-4a55-9d8e-2c1b0a9f8e7d"));
  EXPECT_TRUE(validIdempotencyKey(std::string(255, '~')));
  EXPECT_TRUE(validIdempotencyKey("with space"));
  EXPECT_FALSE(validIdempotencyKey(""));
  EXPECT_FALSE(validIdempotencyKey(std::string(256, 'a')));
  EXPECT_FALSE(validIdempotencyKey("tab\there"));
  EXPECT_FALSE(validIdempotencyKey("del\x7f"));
  EXPECT_FALSE(validIdempotencyKey("caf\xc3\xa9"));
}

}  // namespace
}  // namespace tendril::api
