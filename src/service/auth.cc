#include "service/auth.h"

#include <cassert>
#include <chrono>

#include "service/accounts.h"

namespace tendril::service {
namespace {

constexpr std::string_view kBadCredentials = "wrong user name or password";
constexpr std::string_view kSessionEnded = "the session has ended; log in again";
// last_used_at is written at most this often per key, so a busy program costs no write per call.
constexpr store::TimeMs kApiKeyTouchIntervalMs = 60'000;
constexpr std::string_view kDefaultAdminName = "admin";

PolicyRole policyRoleOf(store::Role role) {
  return role == store::Role::kProjectAdmin ? PolicyRole::kProjectAdmin : PolicyRole::kMember;
}

// The weaker of two project roles.
PolicyRole weaker(PolicyRole a, PolicyRole b) {
  return (a == PolicyRole::kMember || b == PolicyRole::kMember) ? PolicyRole::kMember
                                                                : PolicyRole::kProjectAdmin;
}

int64_t toSeconds(store::TimeMs ms) { return ms / 1000; }

}  // namespace

AuthService::AuthService(store::MetadataStore& store, Clock clock, AuthSettings settings)
    : store_(store),
      clock_(std::move(clock)),
      settings_(std::move(settings)),
      throttle_(settings_.throttle) {
  Result<std::string> dummy = hashPassword(randomSecret(16), settings_.hash_cost);
  if (dummy.ok()) dummy_hash_ = std::move(*dummy);
}

Result<PolicyRole> AuthService::roleIn(const store::User& user, std::string_view project_id) {
  if (project_id.empty()) return user.is_admin ? PolicyRole::kAdmin : PolicyRole::kUser;
  if (user.is_admin) {
    Result<store::Project> project = store_.getProject(project_id);
    if (!project.ok()) return project.status();
    return PolicyRole::kAdmin;
  }
  Result<store::Role> role = store_.getRole(project_id, user.id);
  if (role.ok()) return policyRoleOf(*role);
  if (role.status().code() != Code::kNotFound) return role.status();
  // Do not tell a non-member whether the project exists.
  return Status::Denied("you are not a member of project " + std::string(project_id));
}

Result<std::string> AuthService::defaultProject(const store::User& user) {
  if (user.is_admin) return std::string();
  Result<std::vector<store::UserProject>> projects = store_.listProjectsForUser(user.id);
  if (!projects.ok()) return projects.status();
  return projects->empty() ? std::string() : projects->front().project.id;
}

Result<SessionTokens> AuthService::openSession(const store::User& user,
                                               const std::string& project_id, PolicyRole role) {
  const store::TimeMs now = clock_();
  SessionTokens session;
  session.refresh_token = randomSecret(32);
  session.refresh_expires_ms = now + settings_.refresh_ttl_s * 1000;
  store::RefreshToken row;
  row.token_hash = sha256Hex(session.refresh_token);
  row.user_id = user.id;
  row.project_id = project_id;
  row.created_ms = now;
  row.expires_ms = session.refresh_expires_ms;
  if (Status status = store_.insertRefreshToken(row); !status.ok()) return status;

  TokenClaims claims;
  claims.subject = user.id;
  claims.project = project_id;
  claims.role = std::string(policyRoleName(role));
  claims.session = row.token_hash;
  claims.issuer = settings_.issuer;
  claims.issued_at = toSeconds(now);
  claims.expires_at = claims.issued_at + settings_.access_ttl_s;
  Result<std::string> token = signAccessToken(claims, settings_.token_key);
  if (!token.ok()) return token.status();
  session.access_token = std::move(*token);
  session.access_expires_ms = claims.expires_at * 1000;
  session.access_ttl_s = settings_.access_ttl_s;
  session.user = user;
  session.user.password_hash.clear();
  session.project_id = project_id;
  session.role = role;
  return session;
}

Result<SessionTokens> AuthService::login(std::string_view name, std::string_view password,
                                         std::string_view project_id, std::string_view address,
                                         int* retry_after_s) {
  const auto now = LoginThrottle::Clock::now();
  if (Status status = throttle_.check(name, address, now, retry_after_s); !status.ok()) {
    return status;
  }
  Result<store::User> user = store_.findUserByName(name);
  if (!user.ok() && user.status().code() != Code::kNotFound) return user.status();
  // An unknown name costs one hash check too, so timing does not tell names apart.
  const bool matches = user.ok() ? verifyPassword(user->password_hash, password)
                                 : (verifyPassword(dummy_hash_, password), false);
  if (!matches) {
    throttle_.recordFailure(name, address, now);
    return Status::Unauthenticated(std::string(kBadCredentials));
  }
  throttle_.recordSuccess(name, address, now);
  std::string project(project_id);
  if (project.empty()) {
    Result<std::string> first = defaultProject(*user);
    if (!first.ok()) return first.status();
    project = std::move(*first);
  }
  Result<PolicyRole> role = roleIn(*user, project);
  if (!role.ok()) return role.status();
  return openSession(*user, project, *role);
}

Result<SessionTokens> AuthService::refresh(std::string_view refresh_token) {
  if (refresh_token.empty()) return Status::Unauthenticated("no refresh token");
  Result<store::RefreshToken> row = store_.findRefreshToken(sha256Hex(refresh_token));
  if (!row.ok()) {
    if (row.status().code() == Code::kNotFound) {
      return Status::Unauthenticated("unknown refresh token");
    }
    return row.status();
  }
  const store::TimeMs now = clock_();
  if (row->revoked) {
    // A rotated-away token came back: someone holds a copy. End every session of the user.
    Result<int64_t> ended = store_.expireRefreshTokensForUser(row->user_id, "", now);
    if (!ended.ok()) return ended.status();
    return Status::Unauthenticated("this refresh token was already used; log in again");
  }
  if (!row->usableAt(now)) return Status::Unauthenticated("the refresh token has expired");
  Result<store::User> user = store_.getUser(row->user_id);
  if (!user.ok()) return Status::Unauthenticated(std::string(kSessionEnded));
  Result<PolicyRole> role = roleIn(*user, row->project_id);
  std::string project = row->project_id;
  if (!role.ok()) {
    // The membership (or the project) went away: the session continues without a project.
    if (role.status().code() != Code::kPermissionDenied &&
        role.status().code() != Code::kNotFound) {
      return role.status();
    }
    project.clear();
    role = user->is_admin ? PolicyRole::kAdmin : PolicyRole::kUser;
  }
  Result<SessionTokens> next = Status::Internal("unset");
  Status status = store_.transaction([&](store::MetadataStore& store) -> Status {
    if (Status revoke = store.revokeRefreshToken(row->token_hash); !revoke.ok()) return revoke;
    next = openSession(*user, project, *role);
    return next.status();
  });
  if (!status.ok()) return status;
  return next;
}

Status AuthService::logout(const Principal& caller, std::string_view refresh_token, bool all) {
  if (caller.user_id.empty()) return Status::Unauthenticated("log in first");
  const store::TimeMs now = clock_();
  if (all) return store_.expireRefreshTokensForUser(caller.user_id, "", now).status();
  if (!refresh_token.empty()) {
    Result<store::RefreshToken> row = store_.findRefreshToken(sha256Hex(refresh_token));
    if (!row.ok() || row->user_id != caller.user_id) {
      return Status::NotFound("no such session of yours");
    }
    if (Status status = store_.expireRefreshToken(row->token_hash, now); !status.ok()) {
      return status;
    }
  }
  if (!caller.session_id.empty()) {
    Status status = store_.expireRefreshToken(caller.session_id, now);
    if (!status.ok() && status.code() != Code::kNotFound) return status;
  }
  return Status::Ok();
}

Result<SessionTokens> AuthService::switchProject(const Principal& caller,
                                                 std::string_view project_id) {
  if (caller.method != AuthMethod::kAccessToken) {
    return Status::Precondition(
        "only a logged-in session can switch project (API keys are bound "
        "to one project)");
  }
  Result<store::User> user = store_.getUser(caller.user_id);
  if (!user.ok()) return Status::Unauthenticated(std::string(kSessionEnded));
  Result<PolicyRole> role = roleIn(*user, project_id);
  if (!role.ok()) return role.status();
  Result<SessionTokens> next = openSession(*user, std::string(project_id), *role);
  if (!next.ok()) return next.status();
  Status status = store_.expireRefreshToken(caller.session_id, clock_());
  if (!status.ok() && status.code() != Code::kNotFound) return status;
  return next;
}

Status AuthService::changePassword(const Principal& caller, std::string_view current_password,
                                   std::string_view new_password) {
  if (caller.method != AuthMethod::kAccessToken) {
    return Status::Denied("a password can only be changed from a logged-in session");
  }
  Result<store::User> user = store_.getUser(caller.user_id);
  if (!user.ok()) return Status::Unauthenticated(std::string(kSessionEnded));
  if (!verifyPassword(user->password_hash, current_password)) {
    return Status::Unauthenticated("the current password is wrong");
  }
  Result<std::string> hash = hashPassword(new_password, settings_.hash_cost);
  if (!hash.ok()) return hash.status();
  return store_.transaction([&](store::MetadataStore& store) -> Status {
    store::UserUpdate update;
    update.password_hash = std::move(*hash);
    update.updated_ms = clock_();
    Result<store::User> updated = store.updateUser(caller.user_id, update);
    if (!updated.ok()) return updated.status();
    // End every other session; the caller's own continues.
    return store.expireRefreshTokensForUser(caller.user_id, caller.session_id, update.updated_ms)
        .status();
  });
}

Result<Principal> AuthService::authenticateToken(std::string_view token) {
  const store::TimeMs now = clock_();
  Result<TokenClaims> claims =
      verifyAccessToken(token, settings_.token_key, settings_.issuer, toSeconds(now));
  if (!claims.ok()) return Status::Unauthenticated(claims.status().message());
  Result<store::RefreshToken> session = store_.findRefreshToken(claims->session);
  if (!session.ok() || !session->usableAt(now) || session->user_id != claims->subject) {
    if (session.ok() || session.status().code() == Code::kNotFound) {
      return Status::Unauthenticated(std::string(kSessionEnded));
    }
    return session.status();
  }
  Result<store::User> user = store_.getUser(claims->subject);
  if (!user.ok()) {
    if (user.status().code() == Code::kNotFound) {
      return Status::Unauthenticated("the user no longer exists");
    }
    return user.status();
  }
  Principal principal;
  principal.user_id = user->id;
  principal.user_name = user->name;
  principal.is_admin = user->is_admin;
  principal.method = AuthMethod::kAccessToken;
  principal.session_id = claims->session;
  principal.expires_at = claims->expires_at;
  principal.project_id = claims->project;
  Result<PolicyRole> role = roleIn(*user, claims->project);
  if (!role.ok()) {
    if (role.status().code() != Code::kPermissionDenied &&
        role.status().code() != Code::kNotFound) {
      return role.status();
    }
    // The membership or the project is gone: the caller stays logged in, without a project.
    principal.project_id.clear();
    role = user->is_admin ? PolicyRole::kAdmin : PolicyRole::kUser;
  }
  principal.role = *role;
  return principal;
}

Result<Principal> AuthService::authenticateApiKey(std::string_view key) {
  if (!key.starts_with(kApiKeyPrefix) || key.size() > 256) {
    return Status::Unauthenticated("not a Tendril API key");
  }
  Result<store::ApiKey> stored = store_.findApiKeyByHash(sha256Hex(key));
  if (!stored.ok()) {
    if (stored.status().code() == Code::kNotFound) {
      return Status::Unauthenticated("unknown API key");
    }
    return stored.status();
  }
  const store::TimeMs now = clock_();
  if (!stored->usableAt(now)) return Status::Unauthenticated("the API key is revoked or expired");
  Result<store::User> creator = store_.getUser(stored->created_by);
  if (stored->created_by.empty() || !creator.ok()) {
    return Status::Unauthenticated("the API key's creator no longer exists");
  }
  PolicyRole role = policyRoleOf(stored->role);
  if (!creator->is_admin) {
    Result<store::Role> creator_role = store_.getRole(stored->project_id, creator->id);
    if (!creator_role.ok()) {
      return Status::Unauthenticated("the API key's creator is no longer a member of its project");
    }
    role = weaker(role, policyRoleOf(*creator_role));
  }
  if (!stored->last_used_ms || now - *stored->last_used_ms >= kApiKeyTouchIntervalMs) {
    // A failed touch only loses a last-used time; the request itself goes on.
    (void)store_.touchApiKey(stored->id, now);
  }
  Principal principal;
  principal.user_id = creator->id;
  principal.user_name = creator->name;
  principal.is_admin = false;  // keys are bound to one project, whoever created them
  principal.project_id = stored->project_id;
  principal.role = role;
  principal.method = AuthMethod::kApiKey;
  principal.api_key_id = stored->id;
  return principal;
}

Result<AuthService::Bootstrap> AuthService::bootstrapAdmin(
    const std::optional<std::string>& name, const std::optional<std::string>& password) {
  Bootstrap result;
  Result<int64_t> admins = store_.countAdmins();
  if (!admins.ok()) return admins.status();
  if (*admins > 0) return result;
  result.name = name.value_or(std::string(kDefaultAdminName));
  // Bootstrap names follow the same rule as names sent to the API (Hanami's were unchecked).
  if (!isValidName(result.name)) {
    return Status::Invalid(
        "TENDRIL_ADMIN_NAME must be 3-64 characters: a letter, then letters, "
        "digits and _ . @ -");
  }
  std::string secret = password.value_or("");
  if (!password) {
    secret = randomSecret(18);
    result.generated_password = secret;
  }
  Result<std::string> hash = hashPassword(secret, settings_.hash_cost);
  if (!hash.ok()) {
    return Status::Invalid("TENDRIL_ADMIN_PASSWORD: " + hash.status().message());
  }
  store::User admin;
  admin.id = newUuid();
  admin.name = result.name;
  admin.password_hash = std::move(*hash);
  admin.is_admin = true;
  admin.created_ms = admin.updated_ms = clock_();
  if (Status status = store_.createUser(admin); !status.ok()) {
    if (status.code() == Code::kAlreadyExists) {
      return Status::Precondition("a non-admin user named '" + admin.name +
                                  "' exists and there is no admin; set TENDRIL_ADMIN_NAME to "
                                  "another name");
    }
    return status;
  }
  result.created = true;
  return result;
}

}  // namespace tendril::service
