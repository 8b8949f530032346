// Who is calling: the identity and role the pipeline resolved from an access token, an API key
// or no credentials at all. Every service call that touches tenant data takes a Principal, and
// every lookup is scoped through service::Access (access.h) built from it.
#pragma once

#include <cstdint>
#include <string>

#include "service/policy.h"

namespace tendril::service {

enum class AuthMethod { kNone, kAccessToken, kApiKey };

struct Principal {
  std::string user_id;    // empty when anonymous
  std::string user_name;  // empty when anonymous
  bool is_admin = false;  // the global admin flag, read from the store for this request
  // The project the caller acts in; empty when none is selected (role kUser, or an admin who
  // has not switched into a project).
  std::string project_id;
  // kAdmin for global admins; else the caller's current role in project_id (kMember or
  // kProjectAdmin, re-read from the store on each request, so a removed membership takes effect
  // at once); kUser when logged in without a project; kAnonymous without credentials.
  PolicyRole role = PolicyRole::kAnonymous;
  AuthMethod method = AuthMethod::kNone;
  std::string session_id;  // access tokens: the session (refresh-token chain) it belongs to
  std::string api_key_id;  // API keys: the key's id
  int64_t expires_at = 0;  // access tokens: unix seconds; 0 otherwise

  bool authenticated() const { return method != AuthMethod::kNone; }
};

}  // namespace tendril::service
