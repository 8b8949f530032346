#include "service/credentials.h"

#include <gtest/gtest.h>
#include <jwt.h>

#include <cstdlib>
#include <regex>
#include <set>

#include "common/status_testing.h"

namespace tendril::service {
namespace {

constexpr std::string_view kKey = "0123456789abcdef0123456789abcdef-test-key";
constexpr std::string_view kIssuer = "tendril-test";

class CredentialsTest : public testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(initCredentials().ok()); }

  static TokenClaims claims() {
    return {"user-1", "project-1", "member", "session-1", std::string(kIssuer), 1000, 1900};
  }
};

TEST_F(CredentialsTest, PasswordsAreArgon2idSaltedAndChecked) {
  Result<std::string> hash = hashPassword("correct horse", HashCost::kTesting);
  ASSERT_TRUE(hash.ok()) << hash.status().toString();
  EXPECT_EQ(hash->rfind("$argon2id$", 0), 0u) << *hash;
  EXPECT_TRUE(verifyPassword(*hash, "correct horse"));
  EXPECT_FALSE(verifyPassword(*hash, "correct horsf"));
  EXPECT_FALSE(verifyPassword(*hash, ""));
  EXPECT_FALSE(verifyPassword("not a hash", "correct horse"));
  EXPECT_FALSE(verifyPassword("", "correct horse"));
  Result<std::string> again = hashPassword("correct horse", HashCost::kTesting);
  ASSERT_TRUE(again.ok());
  EXPECT_NE(*hash, *again);  // a fresh salt every time
}

TEST_F(CredentialsTest, PasswordLengthIsBounded) {
  EXPECT_TRUE(failsWith(hashPassword("short", HashCost::kTesting).status(), Code::kInvalidArgument,
                        "8 to 1024"));
  EXPECT_TRUE(failsWith(hashPassword(std::string(1025, 'x'), HashCost::kTesting).status(),
                        Code::kInvalidArgument, "8 to 1024"));
  EXPECT_TRUE(hashPassword(std::string(1024, 'x'), HashCost::kTesting).ok());
}

TEST_F(CredentialsTest, InteractiveCostHashesVerify) {
  Result<std::string> hash = hashPassword("a real login password");
  ASSERT_TRUE(hash.ok());
  EXPECT_TRUE(verifyPassword(*hash, "a real login password"));
}

TEST_F(CredentialsTest, TokensRoundTripAndCheckIssuerAndExpiry) {
  Result<std::string> token = signAccessToken(claims(), kKey);
  ASSERT_TRUE(token.ok()) << token.status().toString();
  Result<TokenClaims> back = verifyAccessToken(*token, kKey, kIssuer, 1500);
  ASSERT_TRUE(back.ok()) << back.status().toString();
  EXPECT_EQ(*back, claims());
  EXPECT_TRUE(failsWith(verifyAccessToken(*token, kKey, kIssuer, 1900).status(),
                        Code::kInvalidArgument, "expired"));
  EXPECT_TRUE(failsWith(verifyAccessToken(*token, kKey, "someone-else", 1500).status(),
                        Code::kInvalidArgument, "issued by someone else"));
  EXPECT_TRUE(failsWith(verifyAccessToken(*token, kKey, kIssuer, 900).status(),
                        Code::kInvalidArgument, "future"));
}

TEST_F(CredentialsTest, TamperedOrForeignTokensAreRefused) {
  const std::string token = signAccessToken(claims(), kKey).value();
  const std::string other_key = std::string(kKey) + "-other";
  EXPECT_TRUE(failsWith(verifyAccessToken(token, other_key, kIssuer, 1500).status(),
                        Code::kInvalidArgument, "signature"));
  // Flip one character of the payload: the signature no longer matches.
  std::string tampered = token;
  const size_t payload = tampered.find('.') + 3;
  tampered[payload] = tampered[payload] == 'A' ? 'B' : 'A';
  EXPECT_FALSE(verifyAccessToken(tampered, kKey, kIssuer, 1500).ok());
  for (std::string_view garbage :
       {"", "abc", "a.b", "a.b.", "...", "x.y.z", "\xff\xfe.\x01.\x02"}) {
    EXPECT_FALSE(verifyAccessToken(garbage, kKey, kIssuer, 1500).ok()) << garbage;
  }
  EXPECT_FALSE(verifyAccessToken(std::string(9000, 'a'), kKey, kIssuer, 1500).ok());
}

// Regression guard for the classic JWT pitfalls: a token that says "alg": "none", or one signed
// with another algorithm under the same key, must never pass.
TEST_F(CredentialsTest, OnlyHs256IsAccepted) {
  // {"alg":"none","typ":"JWT"} . {"sub":"admin","iss":"tendril-test",...} . (empty)
  const std::string none =
      "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0."
      "eyJzdWIiOiJhZG1pbiIsImlzcyI6InRlbmRyaWwtdGVzdCIsInByb2plY3QiOiIiLCJyb2xlIjoiYWRtaW4iLCJp"
      "YXQiOjEwMDAsImV4cCI6MTkwMH0.";
  EXPECT_FALSE(verifyAccessToken(none, kKey, kIssuer, 1500).ok());
  jwt_t* raw = nullptr;
  ASSERT_EQ(jwt_new(&raw), 0);
  jwt_add_grant(raw, "sub", "user-1");
  jwt_add_grant(raw, "iss", std::string(kIssuer).c_str());
  jwt_add_grant(raw, "project", "");
  jwt_add_grant(raw, "role", "admin");
  jwt_add_grant_int(raw, "iat", 1000);
  jwt_add_grant_int(raw, "exp", 1900);
  jwt_set_alg(raw, JWT_ALG_HS512, reinterpret_cast<const unsigned char*>(kKey.data()),
              static_cast<int>(kKey.size()));
  char* encoded = jwt_encode_str(raw);
  const std::string hs512 = encoded;
  free(encoded);  // NOLINT: libjwt allocates with malloc
  jwt_free(raw);
  EXPECT_TRUE(failsWith(verifyAccessToken(hs512, kKey, kIssuer, 1500).status(),
                        Code::kInvalidArgument, "HS256"));
}

TEST_F(CredentialsTest, KeysMustBeLongEnough) {
  EXPECT_TRUE(
      failsWith(signAccessToken(claims(), "short").status(), Code::kInvalidArgument, "32 bytes"));
  const std::string token = signAccessToken(claims(), kKey).value();
  EXPECT_FALSE(verifyAccessToken(token, "short", kIssuer, 1500).ok());
}

TEST_F(CredentialsTest, SecretsHashesAndUuids) {
  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i) {
    const std::string secret = randomSecret();
    EXPECT_EQ(secret.size(), 43u);  // 32 bytes, base64url without padding
    EXPECT_TRUE(std::regex_match(secret, std::regex("[A-Za-z0-9_-]+"))) << secret;
    EXPECT_TRUE(seen.insert(secret).second);
  }
  EXPECT_EQ(sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_TRUE(equalSecrets("same", "same"));
  EXPECT_FALSE(equalSecrets("same", "samf"));
  EXPECT_FALSE(equalSecrets("same", "same-longer"));
  const std::regex uuid("[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}");
  std::set<std::string> ids;
  for (int i = 0; i < 100; ++i) {
    const std::string id = newUuid();
    EXPECT_TRUE(std::regex_match(id, uuid)) << id;
    EXPECT_TRUE(ids.insert(id).second);
  }
}

}  // namespace
}  // namespace tendril::service
