// The account-management endpoints of docs/api.md: "Users", "Projects and memberships" and "API
// keys". Each is declared once (method, path, roles of the shipped policy, input fields with
// their limits, output fields); the handlers only translate between the validated input, the
// service::AccountService that holds the rules, and the JSON views of json_views.h.
#pragma once

#include <vector>

#include "api/endpoint.h"
#include "service/accounts.h"

namespace tendril::api {

// Appends the endpoints. `accounts` must outlive them.
void addAccountEndpoints(std::vector<Endpoint>& out, service::AccountService& accounts);

}  // namespace tendril::api
