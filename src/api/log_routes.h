// The log endpoints of docs/api.md, "Logs": the audit log (everyone signed in, scoped to their
// own entries unless admin) and the error log (admins). Declared once like every endpoint; the
// reading rules live in service::AuditLog.
#pragma once

#include <vector>

#include "api/endpoint.h"
#include "service/audit.h"

namespace tendril::api {

// Appends GET /api/v1/audit and GET /api/v1/errors. `audit` must outlive them.
void addLogEndpoints(std::vector<Endpoint>& out, service::AuditLog& audit);

}  // namespace tendril::api
