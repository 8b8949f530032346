// The audit and error logs: who did what, when, with which result (every mutating call and
// every login attempt), and the server's own errors, with who may read them.
//
// Writing never fails the caller: the request being audited has already happened, so a store
// error while writing is reported on stderr and counted (storeErrors(), exported as a metric)
// instead of being returned. Each stored audit entry is also published on the EventHub, if one
// is given, as an Event of type "audit" whose payload is the entry as a JSON object
// (auditEntryJson()).
//
// Reading (docs/api.md, "Logs"): an admin lists any audit entries; any other authenticated
// caller lists only their own (asking for another user's is PermissionDenied), and so do their
// live events: an audit event is owned by the acting user and belongs to no project, so a
// project-admin does not receive the members' entries (the list would not show them either).
// Anonymous callers may read nothing. The error log is for admins only.
//
// Thread safety: all methods may be called from any thread (the store serialises writes).
#pragma once

#include <atomic>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "common/status.h"
#include "service/clock.h"
#include "service/events.h"
#include "service/principal.h"
#include "store/store.h"

namespace tendril::service {

// The wire form of an audit entry, for the API's list and the event stream alike:
// {"id", "time" (ISO-8601), "user_id", "action", "target", "result"}.
nlohmann::json auditEntryJson(const store::AuditEntry& entry);

class AuditLog {
 public:
  // `store` (and `events`, when not null) must outlive the log.
  AuditLog(store::MetadataStore& store, Clock clock, EventHub* events);

  // Appends one audit entry now: `who` acted (`user_id` is empty for an anonymous caller),
  // `action` is the operation id ("users.create"), `target` the id acted on, `result` "ok" or
  // the error kind. Never fails; see above.
  void record(const Principal& who, std::string_view action, std::string_view target,
              std::string_view result);

  // Appends one error-log entry now. `context` must not hold secrets. Never fails.
  void recordError(std::string_view user_id, std::string_view component, std::string_view message,
                   std::string_view context);

  // Audit entries matching `filter`, newest first. For a non-admin the filter's user_id is
  // forced to the caller's own id (PermissionDenied when it names another user); anonymous
  // callers get PermissionDenied. Store errors (e.g. a bad cursor: InvalidArgument) pass
  // through.
  Result<store::Page<store::AuditEntry>> list(const Principal& caller, store::AuditFilter filter,
                                              const store::PageRequest& page);

  // Error-log entries matching `filter`, newest first; PermissionDenied unless admin.
  Result<store::Page<store::ErrorEntry>> listErrors(const Principal& caller,
                                                    const store::ErrorFilter& filter,
                                                    const store::PageRequest& page);

  // How many entries could not be written since the log was created.
  uint64_t storeErrors() const { return store_errors_.load(); }

 private:
  void reportStoreError(std::string_view what, const Status& status);

  store::MetadataStore& store_;
  Clock clock_;
  EventHub* events_;
  std::atomic<uint64_t> store_errors_{0};
};

}  // namespace tendril::service
