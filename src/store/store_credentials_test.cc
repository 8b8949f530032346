// Refresh tokens and API keys.
#include "store/store_test_support.h"

namespace tendril::store {
namespace {

class StoreCredentials : public StoreTest {
 protected:
  void SetUp() override {
    StoreTest::SetUp();
    ASSERT_TRUE(store().createUser(makeUser("u1", "ada")).ok());
    ASSERT_TRUE(store().createUser(makeUser("u2", "bob")).ok());
    ASSERT_TRUE(store().createProject(makeProject("p1", "vision")).ok());
  }
};
INSTANTIATE_TEST_SUITE_P(Backings, StoreCredentials,
                         testing::Values(Backing::kFile, Backing::kMemory), backingName);

TEST_P(StoreCredentials, RefreshTokenLifecycle) {
  ASSERT_TRUE(store().insertRefreshToken(RefreshToken{"h1", "u1", "p1", 10, 100, false}).ok());
  ASSERT_TRUE(store().insertRefreshToken(RefreshToken{"h2", "u1", "", 10, 200, false}).ok());
  ASSERT_TRUE(store().insertRefreshToken(RefreshToken{"h3", "u2", "p1", 10, 300, false}).ok());

  Result<RefreshToken> token = store().findRefreshToken("h1");
  ASSERT_TRUE(token.ok());
  EXPECT_EQ(token->user_id, "u1");
  EXPECT_EQ(token->project_id, "p1");
  EXPECT_EQ(token->created_ms, 10);
  EXPECT_EQ(token->expires_ms, 100);
  EXPECT_FALSE(token->revoked);
  EXPECT_TRUE(token->usableAt(99));
  EXPECT_FALSE(token->usableAt(100));
  EXPECT_EQ(store().findRefreshToken("h2")->project_id, "");

  ASSERT_TRUE(store().revokeRefreshToken("h1").ok());
  ASSERT_TRUE(store().revokeRefreshToken("h1").ok());  // idempotent
  EXPECT_TRUE(store().findRefreshToken("h1")->revoked);
  EXPECT_FALSE(store().findRefreshToken("h1")->usableAt(50));
  EXPECT_EQ(*store().revokeRefreshTokensForUser("u1"), 1);  // only h2 was still live
  EXPECT_TRUE(store().findRefreshToken("h2")->revoked);
  EXPECT_FALSE(store().findRefreshToken("h3")->revoked);

  EXPECT_EQ(*store().deleteExpiredRefreshTokens(200), 2);  // h1 (100) and h2 (200)
  EXPECT_TRUE(failsWith(store().findRefreshToken("h2").status(), Code::kNotFound, ""));
  EXPECT_TRUE(store().findRefreshToken("h3").ok());

  // Deleting a user deletes their tokens.
  ASSERT_TRUE(store().deleteUser("u2").ok());
  EXPECT_TRUE(failsWith(store().findRefreshToken("h3").status(), Code::kNotFound, ""));
}

TEST_P(StoreCredentials, RefreshTokenErrors) {
  ASSERT_TRUE(store().insertRefreshToken(RefreshToken{"h1", "u1", "", 1, 2, false}).ok());
  EXPECT_TRUE(failsWith(store().insertRefreshToken(RefreshToken{"h1", "u2", "", 1, 2, false}),
                        Code::kAlreadyExists, "hash"));
  EXPECT_TRUE(failsWith(store().insertRefreshToken(RefreshToken{"h2", "ghost", "", 1, 2, false}),
                        Code::kFailedPrecondition, "unknown user"));
  EXPECT_TRUE(failsWith(store().insertRefreshToken(RefreshToken{"h2", "u1", "ghost", 1, 2, false}),
                        Code::kFailedPrecondition, "project"));
  EXPECT_TRUE(failsWith(store().insertRefreshToken(RefreshToken{"", "u1", "", 1, 2, false}),
                        Code::kInvalidArgument, "hash"));
  EXPECT_TRUE(failsWith(store().findRefreshToken("nope").status(), Code::kNotFound, ""));
  EXPECT_TRUE(failsWith(store().revokeRefreshToken("nope"), Code::kNotFound, ""));
  EXPECT_EQ(*store().revokeRefreshTokensForUser("ghost"), 0);
}

// Sessions end by expiry (not revocation): the token stays known, unusable from now on.
TEST_P(StoreCredentials, ExpireTokens) {
  ASSERT_TRUE(store().insertRefreshToken(RefreshToken{"h1", "u1", "", 1, 99, false}).ok());
  ASSERT_TRUE(store().insertRefreshToken(RefreshToken{"h2", "u1", "", 1, 99, false}).ok());
  ASSERT_TRUE(store().insertRefreshToken(RefreshToken{"h3", "u1", "", 1, 40, false}).ok());
  ASSERT_TRUE(store().expireRefreshToken("h1", 50).ok());
  EXPECT_EQ(store().findRefreshToken("h1")->expires_ms, 50);
  EXPECT_FALSE(store().findRefreshToken("h1")->revoked);
  ASSERT_TRUE(store().expireRefreshToken("h3", 50).ok());
  EXPECT_EQ(store().findRefreshToken("h3")->expires_ms, 40);  // never extended
  EXPECT_TRUE(failsWith(store().expireRefreshToken("nope", 50), Code::kNotFound, ""));
  EXPECT_EQ(*store().expireRefreshTokensForUser("u1", "h1", 60), 1);  // h2 only: h3 is over
  EXPECT_EQ(store().findRefreshToken("h2")->expires_ms, 60);
  EXPECT_EQ(store().findRefreshToken("h1")->expires_ms, 50);
  EXPECT_EQ(*store().expireRefreshTokensForUser("u1", "", 70), 0);
}

// A password change ends every session of the user but the caller's own.
TEST_P(StoreCredentials, RevokeAllButOneToken) {
  ASSERT_TRUE(store().insertRefreshToken(RefreshToken{"h1", "u1", "", 1, 99, false}).ok());
  ASSERT_TRUE(store().insertRefreshToken(RefreshToken{"h2", "u1", "", 1, 99, false}).ok());
  ASSERT_TRUE(store().insertRefreshToken(RefreshToken{"h3", "u1", "", 1, 99, false}).ok());
  EXPECT_EQ(*store().revokeRefreshTokensForUser("u1", "h2"), 2);
  EXPECT_TRUE(store().findRefreshToken("h1")->revoked);
  EXPECT_FALSE(store().findRefreshToken("h2")->revoked);
  EXPECT_TRUE(store().findRefreshToken("h3")->revoked);
}

TEST_P(StoreCredentials, ApiKeyLifecycle) {
  ApiKey key{"k1", "p1", "ci runner", Role::kProjectAdmin, "hash1", "u1",
             5,    500,  false,       std::nullopt};
  ASSERT_TRUE(store().insertApiKey(key).ok());
  ASSERT_TRUE(store()
                  .insertApiKey(ApiKey{"k0", "p1", "ci runner", Role::kMember, "hash0", "", 5,
                                       std::nullopt, false, std::nullopt})
                  .ok());
  Result<ApiKey> read = store().findApiKeyByHash("hash1");
  ASSERT_TRUE(read.ok());
  EXPECT_EQ(read->id, "k1");
  EXPECT_EQ(read->project_id, "p1");
  EXPECT_EQ(read->name, "ci runner");
  EXPECT_EQ(read->role, Role::kProjectAdmin);
  EXPECT_EQ(read->created_by, "u1");
  EXPECT_EQ(read->created_ms, 5);
  EXPECT_EQ(read->expires_ms, std::optional<TimeMs>(500));
  EXPECT_FALSE(read->revoked);
  EXPECT_FALSE(read->last_used_ms.has_value());
  EXPECT_TRUE(read->usableAt(499));
  EXPECT_FALSE(read->usableAt(500));
  EXPECT_TRUE(store().findApiKeyByHash("hash0")->usableAt(1'000'000'000'000));

  Result<std::vector<ApiKey>> keys = store().listApiKeys("p1");
  ASSERT_TRUE(keys.ok());
  ASSERT_EQ(keys->size(), 2u);
  EXPECT_EQ((*keys)[0].id, "k0");  // (created_ms, id) order
  EXPECT_EQ((*keys)[1].id, "k1");
  EXPECT_TRUE(store().listApiKeys("ghost")->empty());

  ASSERT_TRUE(store().touchApiKey("k1", 77).ok());
  EXPECT_EQ(store().findApiKeyByHash("hash1")->last_used_ms, std::optional<TimeMs>(77));
  ASSERT_TRUE(store().revokeApiKey("k1").ok());
  ASSERT_TRUE(store().revokeApiKey("k1").ok());
  EXPECT_TRUE(store().findApiKeyByHash("hash1")->revoked);
  EXPECT_FALSE(store().findApiKeyByHash("hash1")->usableAt(1));

  // The creator's deletion keeps the key.
  ASSERT_TRUE(store().deleteUser("u1").ok());
  EXPECT_EQ(store().findApiKeyByHash("hash1")->created_by, "");
}

TEST_P(StoreCredentials, ApiKeyErrors) {
  ApiKey key{"k1", "p1", "ci", Role::kMember, "hash1", "u1", 5, std::nullopt, false, std::nullopt};
  ASSERT_TRUE(store().insertApiKey(key).ok());
  ApiKey same_hash = key;
  same_hash.id = "k2";
  EXPECT_TRUE(failsWith(store().insertApiKey(same_hash), Code::kAlreadyExists, ""));
  ApiKey same_id = key;
  same_id.key_hash = "hash2";
  EXPECT_TRUE(failsWith(store().insertApiKey(same_id), Code::kAlreadyExists, "k1"));
  ApiKey no_project = key;
  no_project.id = "k3";
  no_project.key_hash = "hash3";
  no_project.project_id = "ghost";
  EXPECT_TRUE(failsWith(store().insertApiKey(no_project), Code::kFailedPrecondition, "project"));
  no_project.project_id = "";
  EXPECT_TRUE(failsWith(store().insertApiKey(no_project), Code::kInvalidArgument, "project"));
  EXPECT_TRUE(failsWith(store().findApiKeyByHash("nope").status(), Code::kNotFound, ""));
  EXPECT_TRUE(failsWith(store().revokeApiKey("nope"), Code::kNotFound, "nope"));
  EXPECT_TRUE(failsWith(store().touchApiKey("nope", 1), Code::kNotFound, "nope"));
}

TEST_P(StoreCredentials, HostileTextRoundTripsVerbatim) {
  ASSERT_TRUE(store().insertRefreshToken(RefreshToken{kHostile, "u1", "p1", 1, 2, false}).ok());
  EXPECT_EQ(store().findRefreshToken(kHostile)->token_hash, kHostile);
  ASSERT_TRUE(store()
                  .insertApiKey(ApiKey{kHostile, "p1", kHostile, Role::kMember, kHostile, "u1", 1,
                                       std::nullopt, false, std::nullopt})
                  .ok());
  Result<ApiKey> key = store().findApiKeyByHash(kHostile);
  ASSERT_TRUE(key.ok());
  EXPECT_EQ(key->id, kHostile);
  EXPECT_EQ(key->name, kHostile);
  ASSERT_TRUE(store().revokeApiKey(kHostile).ok());
  EXPECT_TRUE(store().findApiKeyByHash(kHostile)->revoked);
}

}  // namespace
}  // namespace tendril::store
