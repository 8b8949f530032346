// The auth endpoints of docs/api.md: login, refresh, logout, whoami, switch project and the
// self-service password change.
#pragma once

#include <vector>

#include "api/endpoint.h"
#include "service/accounts.h"
#include "service/auth.h"

namespace tendril::api {

// `auth` and `accounts` must outlive the routes.
void addAuthEndpoints(std::vector<Endpoint>& out, service::AuthService& auth,
                      service::AccountService& accounts);

}  // namespace tendril::api
