// Credentials: password hashing, signed access tokens, and random secrets.
//
// - Passwords are hashed with Argon2id (libsodium's crypto_pwhash_str, which stores algorithm,
//   parameters and salt in the hash string) and checked in constant time.
// - Access tokens are JWTs signed with HMAC-SHA256 (libjwt). Verification accepts HS256 only
//   (never "none" or another algorithm a token claims), checks the signature with the server's
//   key, the issuer, and the expiry against a clock the caller passes in (tests need no sleep).
// - Refresh tokens and API keys are random 32-byte secrets shown once; only their SHA-256 is
//   stored, so a leaked database does not leak usable credentials.
//
// Thread safety: all functions are reentrant. initCredentials() must run once before any of
// them (it initialises libsodium and is idempotent).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace tendril::service {

// Initialises libsodium. Internal error if the library cannot start (no entropy source).
Status initCredentials();

// --- Passwords --------------------------------------------------------------------------------

inline constexpr size_t kMinPasswordLength = 8;
inline constexpr size_t kMaxPasswordLength = 1024;

// How much work one hash costs. kInteractive is for logins; kTesting keeps unit tests fast
// (never use it in production).
enum class HashCost { kInteractive, kTesting };

// The Argon2id hash string of `password` (InvalidArgument outside the length limits).
Result<std::string> hashPassword(std::string_view password, HashCost cost = HashCost::kInteractive);

// Whether `password` matches `hash`; false for a malformed hash. Constant time in the password.
bool verifyPassword(std::string_view hash, std::string_view password);

// --- Access tokens ----------------------------------------------------------------------------

// What an access token asserts.
struct TokenClaims {
  std::string subject;  // user id
  std::string project;  // project id the token acts in; empty for none
  std::string role;     // "admin", "project-admin", "member" or "user"
  std::string session;  // the session (refresh-token chain) the token belongs to: revocable
  std::string issuer;
  int64_t issued_at = 0;   // unix seconds
  int64_t expires_at = 0;  // unix seconds
  friend bool operator==(const TokenClaims&, const TokenClaims&) = default;
};

// Signs `claims` with `key` (at least 32 bytes: InvalidArgument otherwise).
Result<std::string> signAccessToken(const TokenClaims& claims, std::string_view key);

// Verifies `token` and returns its claims. Errors (all InvalidArgument, naming the reason):
// malformed, wrong algorithm, bad signature, wrong issuer, expired at `now`, or missing claims.
Result<TokenClaims> verifyAccessToken(std::string_view token, std::string_view key,
                                      std::string_view issuer, int64_t now);

// --- Random secrets ---------------------------------------------------------------------------

// `bytes` random bytes, base64url without padding (for refresh tokens and API keys).
std::string randomSecret(size_t bytes = 32);

// Lower-case hex SHA-256 of `data` (what the store keeps of a secret).
std::string sha256Hex(std::string_view data);

// Constant-time equality of two strings of possibly different lengths.
bool equalSecrets(std::string_view a, std::string_view b);

// A random (version 4) UUID in its canonical lower-case text form.
std::string newUuid();

}  // namespace tendril::service
