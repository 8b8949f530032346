// The request pipeline every declared endpoint runs through, in this order:
//
//   1. authenticate: `Authorization: Bearer <access token>` or `X-API-Key: <key>` resolves the
//      caller (service::AuthService re-reads user, session and membership); no credentials make
//      an anonymous caller. Without either header, the browser session cookie `tendril_access`
//      counts as a Bearer token, but for a state-changing method or an upgrade only with this
//      server's own Origin (api/session_cookie.h; else 403). Bad credentials give 401, except on routes the policy opens to
//      anonymous callers (login, refresh), where they are ignored.
//   2. the policy: may this role call this method on this route? Deny by default; a denied
//      anonymous caller gets 401, anybody else 403.
//   3. validation of path, query and body against the declaration (400 / 415).
//   3a. on creating POSTs (success status 201 or 202) of an authenticated caller, the
//      Idempotency-Key header when sent: 1 to 255 printable ASCII characters (else 400). The
//      first successful reply for (caller: user or API key, project, method, path, key) is
//      remembered (api/idempotency.h: in memory, per process, 10 000 entries, 24 h) with a
//      SHA-256 of query and body; a repeat with the same query and body gets that reply again
//      (same status, headers and body, plus `Idempotent-Replayed: true`) without running the
//      handler or writing an audit entry; with a different query or body, or while the first is
//      still running, 409 failed-precondition. Failed calls and file replies are not remembered.
//      Elsewhere the header is ignored.
//   4. the handler, with every exception caught (500). Its Reply becomes JSON, or raw bytes or a
//      file (streamed by the server) with its own Content-Type, plus Content-Disposition when it
//      names a filename (api/endpoint.h).
//   5. the audit entry for mutating calls, the error log for 5xx replies.
//
// WebSocket routes run steps 1 and 2 in their accept step (authorizeUpgrade), so an upgrade is
// refused with the same problem+json an HTTP call would get.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "api/endpoint.h"
#include "api/idempotency.h"
#include "api/metrics.h"
#include "api/router.h"
#include "service/audit.h"
#include "service/auth.h"
#include "service/policy.h"

namespace tendril::api {

struct Pipeline {
  service::AuthService& auth;
  service::PolicyHolder& policy;
  service::AuditLog& audit;
  MetricsRegistry& metrics;
};

// The policy the shipped declarations describe: one rule per endpoint with its default roles.
// Written to config/policy.conf; a test keeps that file equal to this.
std::string defaultPolicyText(const std::vector<Endpoint>& endpoints);

// (method, path) of every endpoint, for Policy::unknownRules() / uncovered().
std::vector<std::pair<std::string, std::string>> declaredRoutes(
    const std::vector<Endpoint>& endpoints);

// Whether `policy` may be put in force for `endpoints`: InvalidArgument when it has rules for
// routes the server does not have (a stale or mistyped rule is a mistake to see, not to keep
// silently); routes no rule covers (denied to everyone) are added to `warnings`.
Status checkPolicy(const service::Policy& policy, const std::vector<Endpoint>& endpoints,
                   std::vector<std::string>* warnings);

// Re-reads the policy file at `file` and puts it in force when it parses and passes
// checkPolicy(); otherwise the policy in force stays and the error is returned.
Status reloadPolicyFile(service::PolicyHolder& holder, const std::filesystem::path& file,
                        const std::vector<Endpoint>& endpoints, std::vector<std::string>* warnings);

// Registers every endpoint on `router`, wrapped in the pipeline. `pipeline` must outlive the
// router. The endpoints are shared with the routes (and the OpenAPI handler keeps its own copy).
// `idempotency` is the memory of Idempotency-Keys the routes share; null makes one with the
// default limits and the system clock.
void installEndpoints(Router& router, const std::vector<Endpoint>& endpoints,
                      const Pipeline& pipeline,
                      std::shared_ptr<IdempotencyCache> idempotency = nullptr);

// Steps 1 and 2 for a WebSocket upgrade on `route` (a GET path template with a policy rule):
// the caller, or the problem response refusing the upgrade.
struct Authorized {
  std::unique_ptr<service::Principal> principal;  // null when refused
  Response refusal;
};
Authorized authorizeUpgrade(const Request& request, std::string_view route,
                            const Pipeline& pipeline);

}  // namespace tendril::api
