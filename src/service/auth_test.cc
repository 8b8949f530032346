#include "service/auth.h"

#include <gtest/gtest.h>

#include "common/status_testing.h"

namespace tendril::service {
namespace {

constexpr std::string_view kKey = "an-hs256-test-key-of-at-least-32-bytes!";

// A store with an admin, a project-admin and a member of project P, a member of Q, and a user
// in no project; time is a variable the tests move.
class AuthTest : public testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(initCredentials().ok());
    auto opened = store::openSqliteMemoryStore();
    ASSERT_TRUE(opened.ok());
    store_ = std::move(*opened);
    AuthSettings settings;
    settings.token_key = std::string(kKey);
    settings.access_ttl_s = 60;
    settings.refresh_ttl_s = 3600;
    settings.hash_cost = HashCost::kTesting;
    settings.throttle.max_failures = 3;
    auth_ = std::make_unique<AuthService>(
        *store_, [this] { return now_ms_; }, settings);
    admin_ = addUser("root", true);
    lead_ = addUser("lead", false);
    member_ = addUser("member", false);
    other_ = addUser("other", false);
    loner_ = addUser("loner", false);
    addProject("p-1", "alpha");
    addProject("q-1", "beta");
    ASSERT_TRUE(store_->setMembership("p-1", lead_, store::Role::kProjectAdmin, now_ms_).ok());
    ASSERT_TRUE(store_->setMembership("p-1", member_, store::Role::kMember, now_ms_).ok());
    ASSERT_TRUE(store_->setMembership("q-1", other_, store::Role::kMember, now_ms_).ok());
  }

  std::string addUser(const std::string& name, bool admin) {
    store::User user;
    user.id = "id-" + name;
    user.name = name;
    user.password_hash = *hashPassword("password-of-" + name, HashCost::kTesting);
    user.is_admin = admin;
    user.created_ms = user.updated_ms = now_ms_;
    EXPECT_TRUE(store_->createUser(user).ok());
    return user.id;
  }

  void addProject(const std::string& id, const std::string& name) {
    EXPECT_TRUE(store_->createProject(store::Project{id, name, admin_, now_ms_}).ok());
  }

  Result<SessionTokens> login(const std::string& name, std::string_view project = "",
                              std::string_view address = "10.0.0.1") {
    return auth_->login(name, "password-of-" + name, project, address, nullptr);
  }

  std::unique_ptr<store::MetadataStore> store_;
  std::unique_ptr<AuthService> auth_;
  store::TimeMs now_ms_ = 1'700'000'000'000;
  std::string admin_, lead_, member_, other_, loner_;
};

TEST_F(AuthTest, LoginPicksTheFirstProjectAndTheRole) {
  Result<SessionTokens> session = login("member");
  ASSERT_TRUE(session.ok()) << session.status().toString();
  EXPECT_EQ(session->project_id, "p-1");
  EXPECT_EQ(session->role, PolicyRole::kMember);
  EXPECT_TRUE(session->user.password_hash.empty());
  EXPECT_EQ(session->access_expires_ms, now_ms_ + 60'000);

  Result<Principal> principal = auth_->authenticateToken(session->access_token);
  ASSERT_TRUE(principal.ok()) << principal.status().toString();
  EXPECT_EQ(principal->user_id, member_);
  EXPECT_EQ(principal->project_id, "p-1");
  EXPECT_EQ(principal->role, PolicyRole::kMember);
  EXPECT_EQ(principal->method, AuthMethod::kAccessToken);
  EXPECT_FALSE(principal->is_admin);

  EXPECT_EQ(login("lead")->role, PolicyRole::kProjectAdmin);
  Result<SessionTokens> admin = login("root");
  EXPECT_EQ(admin->role, PolicyRole::kAdmin);
  EXPECT_EQ(admin->project_id, "");
  EXPECT_EQ(login("root", "q-1")->project_id, "q-1");
  Result<SessionTokens> loner = login("loner");
  EXPECT_EQ(loner->role, PolicyRole::kUser);
  EXPECT_EQ(loner->project_id, "");
}

TEST_F(AuthTest, WrongNameAndWrongPasswordLookTheSame) {
  Result<SessionTokens> wrong_password = auth_->login("member", "nope-nope", "", "a", nullptr);
  Result<SessionTokens> wrong_name = auth_->login("nobody", "nope-nope", "", "b", nullptr);
  ASSERT_FALSE(wrong_password.ok());
  ASSERT_FALSE(wrong_name.ok());
  EXPECT_EQ(wrong_password.status().code(), Code::kUnauthenticated);
  EXPECT_EQ(wrong_password.status().toString(), wrong_name.status().toString());
}

TEST_F(AuthTest, LoginIntoAProjectOfSomeoneElseIsDenied) {
  EXPECT_TRUE(failsWith(login("member", "q-1").status(), Code::kPermissionDenied, "member"));
  EXPECT_TRUE(failsWith(login("root", "no-such").status(), Code::kNotFound, ""));
}

TEST_F(AuthTest, RepeatedFailuresAreThrottledEvenForTheRightPassword) {
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(auth_->login("member", "wrong-pass", "", "10.0.0.9", nullptr).status().code(),
              Code::kUnauthenticated);
  }
  int retry_after = 0;
  Result<SessionTokens> locked =
      auth_->login("member", "password-of-member", "", "10.0.0.9", &retry_after);
  EXPECT_EQ(locked.status().code(), Code::kResourceExhausted);
  EXPECT_GE(retry_after, 1);
  EXPECT_TRUE(login("lead", "", "10.0.0.7").ok());  // someone else is not affected
}

TEST_F(AuthTest, TokensExpireAndForgedOnesAreRefused) {
  Result<SessionTokens> session = login("member");
  ASSERT_TRUE(session.ok());
  now_ms_ += 61'000;
  EXPECT_TRUE(failsWith(auth_->authenticateToken(session->access_token).status(),
                        Code::kUnauthenticated, "expired"));
  std::string forged = session->access_token;
  forged[forged.size() - 3] = forged[forged.size() - 3] == 'A' ? 'B' : 'A';
  EXPECT_EQ(auth_->authenticateToken(forged).status().code(), Code::kUnauthenticated);
  EXPECT_EQ(auth_->authenticateToken("").status().code(), Code::kUnauthenticated);
  EXPECT_EQ(auth_->authenticateToken("a.b.c").status().code(), Code::kUnauthenticated);
}

TEST_F(AuthTest, RefreshRotatesAndAReusedTokenEndsEverySession) {
  Result<SessionTokens> first = login("member");
  Result<SessionTokens> other_device = login("member");
  ASSERT_TRUE(first.ok() && other_device.ok());
  Result<SessionTokens> second = auth_->refresh(first->refresh_token);
  ASSERT_TRUE(second.ok()) << second.status().toString();
  EXPECT_NE(second->refresh_token, first->refresh_token);
  EXPECT_EQ(second->project_id, "p-1");
  // The old access token belonged to the rotated session.
  EXPECT_EQ(auth_->authenticateToken(first->access_token).status().code(), Code::kUnauthenticated);
  EXPECT_TRUE(auth_->authenticateToken(second->access_token).ok());
  // Replaying the first refresh token: theft assumed, every session ends.
  EXPECT_TRUE(failsWith(auth_->refresh(first->refresh_token).status(), Code::kUnauthenticated,
                        "already used"));
  EXPECT_EQ(auth_->authenticateToken(second->access_token).status().code(), Code::kUnauthenticated);
  EXPECT_EQ(auth_->authenticateToken(other_device->access_token).status().code(),
            Code::kUnauthenticated);
  EXPECT_EQ(auth_->refresh("never-issued").status().code(), Code::kUnauthenticated);
}

TEST_F(AuthTest, LogoutEndsTheSessionAtOnce) {
  Result<SessionTokens> session = login("member");
  Result<SessionTokens> other_device = login("member");
  Principal caller = *auth_->authenticateToken(session->access_token);
  ASSERT_TRUE(auth_->logout(caller, "", false).ok());
  EXPECT_EQ(auth_->authenticateToken(session->access_token).status().code(),
            Code::kUnauthenticated);
  // A logged-out refresh token is refused, without the theft alarm of a rotated one.
  EXPECT_TRUE(failsWith(auth_->refresh(session->refresh_token).status(), Code::kUnauthenticated,
                        "expired"));
  EXPECT_TRUE(auth_->authenticateToken(other_device->access_token).ok());

  Principal other = *auth_->authenticateToken(other_device->access_token);
  ASSERT_TRUE(auth_->logout(other, "", true).ok());
  EXPECT_EQ(auth_->authenticateToken(other_device->access_token).status().code(),
            Code::kUnauthenticated);
  EXPECT_EQ(auth_->refresh(session->refresh_token).status().code(), Code::kUnauthenticated);
  EXPECT_EQ(auth_->refresh(other_device->refresh_token).status().code(), Code::kUnauthenticated);
}

TEST_F(AuthTest, SwitchProjectChecksMembership) {
  Result<SessionTokens> session = login("root");
  Principal admin = *auth_->authenticateToken(session->access_token);
  Result<SessionTokens> switched = auth_->switchProject(admin, "q-1");
  ASSERT_TRUE(switched.ok());
  EXPECT_EQ(switched->project_id, "q-1");
  EXPECT_EQ(auth_->authenticateToken(session->access_token).status().code(),
            Code::kUnauthenticated);

  Principal member = *auth_->authenticateToken(login("member")->access_token);
  EXPECT_TRUE(failsWith(auth_->switchProject(member, "q-1").status(), Code::kPermissionDenied, ""));
}

TEST_F(AuthTest, RemovedMembershipTakesEffectOnTheNextRequest) {
  Result<SessionTokens> session = login("member");
  ASSERT_TRUE(store_->removeMembership("p-1", member_).ok());
  Result<Principal> principal = auth_->authenticateToken(session->access_token);
  ASSERT_TRUE(principal.ok());
  EXPECT_EQ(principal->project_id, "");
  EXPECT_EQ(principal->role, PolicyRole::kUser);
  ASSERT_TRUE(store_->deleteUser(member_).ok());
  EXPECT_EQ(auth_->authenticateToken(session->access_token).status().code(),
            Code::kUnauthenticated);
}

TEST_F(AuthTest, PasswordChangeEndsTheOtherSessions) {
  Result<SessionTokens> here = login("member");
  Result<SessionTokens> elsewhere = login("member");
  Principal caller = *auth_->authenticateToken(here->access_token);
  EXPECT_TRUE(failsWith(auth_->changePassword(caller, "wrong-password", "new-password-1"),
                        Code::kUnauthenticated, "current password"));
  ASSERT_TRUE(auth_->changePassword(caller, "password-of-member", "new-password-1").ok());
  EXPECT_TRUE(auth_->authenticateToken(here->access_token).ok());
  EXPECT_EQ(auth_->authenticateToken(elsewhere->access_token).status().code(),
            Code::kUnauthenticated);
  EXPECT_FALSE(login("member").ok());
  EXPECT_TRUE(auth_->login("member", "new-password-1", "", "x", nullptr).ok());
}

TEST_F(AuthTest, ApiKeysActAsTheirCreatorCappedByTheCreatorsRole) {
  const std::string secret = std::string(kApiKeyPrefix) + randomSecret(32);
  store::ApiKey key;
  key.id = "key-1";
  key.project_id = "p-1";
  key.name = "ci";
  key.role = store::Role::kProjectAdmin;
  key.key_hash = sha256Hex(secret);
  key.created_by = member_;  // a member holding a project-admin key: capped to member
  key.created_ms = now_ms_;
  key.expires_ms = now_ms_ + 10'000;
  ASSERT_TRUE(store_->insertApiKey(key).ok());

  Result<Principal> principal = auth_->authenticateApiKey(secret);
  ASSERT_TRUE(principal.ok()) << principal.status().toString();
  EXPECT_EQ(principal->user_id, member_);
  EXPECT_EQ(principal->project_id, "p-1");
  EXPECT_EQ(principal->role, PolicyRole::kMember);
  EXPECT_EQ(principal->method, AuthMethod::kApiKey);
  EXPECT_EQ(*store_->findApiKeyByHash(key.key_hash)->last_used_ms, now_ms_);

  EXPECT_EQ(auth_->authenticateApiKey(secret + "x").status().code(), Code::kUnauthenticated);
  EXPECT_EQ(auth_->authenticateApiKey("no-prefix").status().code(), Code::kUnauthenticated);
  ASSERT_TRUE(store_->removeMembership("p-1", member_).ok());
  EXPECT_TRUE(failsWith(auth_->authenticateApiKey(secret).status(), Code::kUnauthenticated,
                        "no longer a member"));
  ASSERT_TRUE(store_->setMembership("p-1", member_, store::Role::kMember, now_ms_).ok());
  EXPECT_TRUE(auth_->authenticateApiKey(secret).ok());
  now_ms_ += 10'000;
  EXPECT_TRUE(
      failsWith(auth_->authenticateApiKey(secret).status(), Code::kUnauthenticated, "expired"));
}

TEST_F(AuthTest, BootstrapCreatesTheFirstAdminOnlyOnce) {
  auto opened = store::openSqliteMemoryStore();
  ASSERT_TRUE(opened.ok());
  AuthSettings settings;
  settings.token_key = std::string(kKey);
  settings.hash_cost = HashCost::kTesting;
  AuthService fresh(
      **opened, [this] { return now_ms_; }, settings);

  EXPECT_TRUE(failsWith(fresh.bootstrapAdmin(std::string("x'; DROP"), std::nullopt).status(),
                        Code::kInvalidArgument, "TENDRIL_ADMIN_NAME"));
  EXPECT_TRUE(failsWith(fresh.bootstrapAdmin(std::nullopt, std::string("short")).status(),
                        Code::kInvalidArgument, "TENDRIL_ADMIN_PASSWORD"));
  Result<AuthService::Bootstrap> first = fresh.bootstrapAdmin(std::nullopt, std::nullopt);
  ASSERT_TRUE(first.ok());
  EXPECT_TRUE(first->created);
  EXPECT_EQ(first->name, "admin");
  EXPECT_GE(first->generated_password.size(), 20u);
  EXPECT_TRUE(fresh.login("admin", first->generated_password, "", "x", nullptr).ok());
  Result<AuthService::Bootstrap> second = fresh.bootstrapAdmin(std::nullopt, std::nullopt);
  ASSERT_TRUE(second.ok());
  EXPECT_FALSE(second->created);
  EXPECT_TRUE(second->generated_password.empty());
}

}  // namespace
}  // namespace tendril::service
