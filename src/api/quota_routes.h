// The project quota endpoints of docs/api.md ("Quotas"): read a project's limits and usage
// (members of the project and admins), and set them (admins). The limits and their checks live
// in service::Quotas; who may see a project is service::AccountService's rule.
#pragma once

#include <vector>

#include "api/endpoint.h"
#include "service/accounts.h"
#include "service/quotas.h"

namespace tendril::api {

// Appends the endpoints. The services must outlive them.
void addQuotaEndpoints(std::vector<Endpoint>& out, service::Quotas& quotas,
                       service::AccountService& accounts);

}  // namespace tendril::api
