#include "service/audit.h"

#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>

#include "service/access.h"
#include "service/credentials.h"

namespace tendril::service {

nlohmann::json auditEntryJson(const store::AuditEntry& entry) {
  return {{"id", entry.id},           {"time", formatIsoTime(entry.time_ms)},
          {"user_id", entry.user_id}, {"action", entry.action},
          {"target", entry.target},   {"result", entry.result}};
}

AuditLog::AuditLog(store::MetadataStore& store, Clock clock, EventHub* events)
    : store_(store), clock_(std::move(clock)), events_(events) {}

void AuditLog::record(const Principal& who, std::string_view action, std::string_view target,
                      std::string_view result) {
  store::AuditEntry entry{newUuid(),           clock_(),           who.user_id, std::string(action),
                          std::string(target), std::string(result)};
  Status stored = store_.appendAudit(entry);
  if (!stored.ok()) {
    reportStoreError("audit entry " + entry.action, stored);
    return;
  }
  if (events_ != nullptr) {
    // No project: non-admins receive only their own entries, as list() shows them.
    // Replace, not throw, on invalid UTF-8: a target is caller-supplied text.
    events_->publish(
        Event{"audit",
              auditEntryJson(entry).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
              "", who.user_id});
  }
}

void AuditLog::recordError(std::string_view user_id, std::string_view component,
                           std::string_view message, std::string_view context) {
  store::ErrorEntry entry{newUuid(),
                          clock_(),
                          std::string(user_id),
                          std::string(component),
                          std::string(message),
                          std::string(context)};
  Status stored = store_.appendError(entry);
  if (!stored.ok()) reportStoreError("error entry from " + entry.component, stored);
}

Result<store::Page<store::AuditEntry>> AuditLog::list(const Principal& caller,
                                                      store::AuditFilter filter,
                                                      const store::PageRequest& page) {
  Access access(caller);
  if (!access.isAdmin()) {
    TENDRIL_RETURN_IF_ERROR(access.requireSignedIn());
    if (filter.user_id && *filter.user_id != caller.user_id) {
      return Status::Denied("only an administrator may read other users' audit entries");
    }
    filter.user_id = caller.user_id;
  }
  return store_.listAudit(filter, page);
}

Result<store::Page<store::ErrorEntry>> AuditLog::listErrors(const Principal& caller,
                                                            const store::ErrorFilter& filter,
                                                            const store::PageRequest& page) {
  TENDRIL_RETURN_IF_ERROR(Access(caller).requireAdmin());
  return store_.listErrors(filter, page);
}

void AuditLog::reportStoreError(std::string_view what, const Status& status) {
  store_errors_.fetch_add(1);
  std::fprintf(stderr, "tendril: could not write %.*s: %s\n", static_cast<int>(what.size()),
               what.data(), status.toString().c_str());
}

}  // namespace tendril::service
