// Authentication: logins, sessions, access tokens, API-key checks and the first admin.
//
// A session is a chain of refresh tokens: login opens one, refresh rotates it (the old refresh
// token is revoked and a new one issued), switch and logout end it. Every access token names its
// session (`sid`), and authenticateToken() checks that the session is still open, so logout,
// a password change or a deleted user take effect on the next request rather than at token
// expiry. Presenting a refresh token that was rotated away is treated as theft — a copy is in
// someone else's hands — and every session of that user ends. (Sessions end by expiring their
// refresh token now; only rotation marks a token revoked, so a token that merely ended, by
// logout or a password change, is refused without that alarm.)
//
// Each request re-reads the user and the membership, so the Principal's role is the current one
// (a removed membership makes the caller a project-less `user` at once).
//
// Thread safety: all methods may be called from any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"
#include "service/clock.h"
#include "service/credentials.h"
#include "service/login_throttle.h"
#include "service/principal.h"
#include "store/store.h"

namespace tendril::service {

struct AuthSettings {
  std::string token_key;  // the HS256 key, at least 32 bytes
  std::string issuer = "tendril";
  int64_t access_ttl_s = 900;
  int64_t refresh_ttl_s = 30 * 24 * 3600;
  HashCost hash_cost = HashCost::kInteractive;
  ThrottleSettings throttle;
};

// What login, refresh and switch hand out.
struct SessionTokens {
  std::string access_token;
  store::TimeMs access_expires_ms = 0;
  int64_t access_ttl_s = 0;
  std::string refresh_token;  // the secret; only its SHA-256 is stored
  store::TimeMs refresh_expires_ms = 0;
  store::User user;
  std::string project_id;  // empty: none
  PolicyRole role = PolicyRole::kUser;
};

// Prefix of every API key secret ("tdk_…"): recognisable by secret scanners and in logs.
inline constexpr std::string_view kApiKeyPrefix = "tdk_";

class AuthService {
 public:
  AuthService(store::MetadataStore& store, Clock clock, AuthSettings settings);

  // Checks name and password (wrong name and wrong password give the same Unauthenticated) and
  // opens a session in `project_id`, or in the user's first project by name when empty (none for
  // an admin). PermissionDenied when the user is not a member of `project_id`, NotFound when it
  // does not exist; ResourceExhausted while the name or `address` is throttled, with the seconds
  // to wait in `*retry_after_s`.
  Result<SessionTokens> login(std::string_view name, std::string_view password,
                              std::string_view project_id, std::string_view address,
                              int* retry_after_s);

  // Rotates a session. Unauthenticated for an unknown, expired or revoked refresh token.
  Result<SessionTokens> refresh(std::string_view refresh_token);

  // Ends the caller's session, and the session of `refresh_token` when given (it must be the
  // caller's), or every session of the caller when `all`.
  Status logout(const Principal& caller, std::string_view refresh_token, bool all);

  // Opens a session in another project (the current one ends). Same checks as login.
  Result<SessionTokens> switchProject(const Principal& caller, std::string_view project_id);

  // Changes the caller's own password after checking the current one (Unauthenticated when
  // wrong); every other session of the caller ends.
  Status changePassword(const Principal& caller, std::string_view current_password,
                        std::string_view new_password);

  // Resolves an access token (Unauthenticated: forged, expired, session ended, user gone).
  Result<Principal> authenticateToken(std::string_view token);
  // Resolves an API key (Unauthenticated: unknown, revoked, expired, creator gone or no longer
  // a member). The principal acts as the key's creator with the key's role, capped by the
  // creator's current role in the project; never as a global admin.
  Result<Principal> authenticateApiKey(std::string_view key);

  // Creates the first admin when the store has none: `name` (default "admin") and `password`
  // (generated when absent). Returns the generated password (empty when given or when an admin
  // already existed) — the caller prints it once.
  struct Bootstrap {
    bool created = false;
    std::string name;
    std::string generated_password;
  };
  Result<Bootstrap> bootstrapAdmin(const std::optional<std::string>& name,
                                   const std::optional<std::string>& password);

  const AuthSettings& settings() const { return settings_; }

 private:
  // Issues a fresh session (refresh token + access token) for `user` in `project_id`.
  Result<SessionTokens> openSession(const store::User& user, const std::string& project_id,
                                    PolicyRole role);
  // The role `user` has in `project_id` ("" gives admin or user); PermissionDenied or NotFound
  // when they cannot act there.
  Result<PolicyRole> roleIn(const store::User& user, std::string_view project_id);
  // The default project of a non-admin: their first by name, "" when they have none.
  Result<std::string> defaultProject(const store::User& user);

  store::MetadataStore& store_;
  Clock clock_;
  AuthSettings settings_;
  LoginThrottle throttle_;
  std::string dummy_hash_;  // checked for unknown names so they cost as much as known ones
};

}  // namespace tendril::service
