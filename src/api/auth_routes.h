// The auth endpoints of docs/api.md: login, refresh, logout, whoami, switch project and the
// self-service password change.
#pragma once

#include <vector>

#include "api/endpoint.h"
#include "service/auth.h"
#include "store/store.h"

namespace tendril::api {

// `auth` and `store` must outlive the routes.
void addAuthEndpoints(std::vector<Endpoint>& out, service::AuthService& auth,
                      store::MetadataStore& store);

}  // namespace tendril::api
