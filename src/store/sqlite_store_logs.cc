// The audit and error logs of the SQLite store.
//
// List queries are assembled from constant fragments, one per filter present; every value,
// the filter values and the cursor included, is bound as a parameter.
#include "store/conditions.h"
#include "store/sqlite_store.h"

namespace tendril::store {

using sqlite::Statement;

namespace {

void addTimeRange(Conditions& conditions, const std::optional<TimeMs>& from_ms,
                  const std::optional<TimeMs>& to_ms) {
  if (from_ms) conditions.add("time_ms >= ?", *from_ms);
  if (to_ms) conditions.add("time_ms < ?", *to_ms);
}

AuditEntry readAudit(const Statement& row) {
  return AuditEntry{row.columnText(0), row.columnInt(1),  row.columnText(2),
                    row.columnText(3), row.columnText(4), row.columnText(5)};
}

ErrorEntry readError(const Statement& row) {
  return ErrorEntry{row.columnText(0), row.columnInt(1),  row.columnText(2),
                    row.columnText(3), row.columnText(4), row.columnText(5)};
}

template <typename Entry>
CursorKey entryKey(const Entry& entry) {
  return CursorKey{entry.time_ms, entry.id};
}

}  // namespace

Status SqliteStore::appendAudit(const AuditEntry& entry) {
  TENDRIL_RETURN_IF_ERROR(requireNonEmpty(entry.id, "audit entry id"));
  TENDRIL_RETURN_IF_ERROR(requireNonEmpty(entry.action, "audit action"));
  std::lock_guard lock(mutex_);
  Result<Statement> insert = prepare(
      "INSERT INTO audit_log (id, time_ms, user_id, action, target, result) "
      "VALUES (?, ?, ?, ?, ?, ?)");
  if (!insert.ok()) return insert.status();
  insert->bindText(entry.id).bindInt(entry.time_ms).bindText(entry.user_id);
  insert->bindText(entry.action).bindText(entry.target).bindText(entry.result);
  return insert->run();
}

Result<Page<AuditEntry>> SqliteStore::listAudit(const AuditFilter& filter,
                                                const PageRequest& page) {
  Conditions conditions;
  if (filter.user_id) conditions.add("user_id = ?", *filter.user_id);
  if (filter.action) conditions.add("action = ?", *filter.action);
  if (filter.result) conditions.add("result = ?", *filter.result);
  addTimeRange(conditions, filter.from_ms, filter.to_ms);
  TENDRIL_RETURN_IF_ERROR(addPage(conditions, page, "time_ms", /*newest_first=*/true));
  std::lock_guard lock(mutex_);
  Result<Statement> query =
      prepare("SELECT id, time_ms, user_id, action, target, result FROM audit_log" +
              conditions.sql() + " ORDER BY time_ms DESC, id DESC LIMIT ?");
  if (!query.ok()) return query.status();
  conditions.bind(*query);
  query->bindInt(static_cast<std::int64_t>(page.limit) + 1);
  return collectPage<AuditEntry>(*query, page.limit, readAudit, entryKey<AuditEntry>);
}

Status SqliteStore::appendError(const ErrorEntry& entry) {
  TENDRIL_RETURN_IF_ERROR(requireNonEmpty(entry.id, "error entry id"));
  std::lock_guard lock(mutex_);
  Result<Statement> insert = prepare(
      "INSERT INTO error_log (id, time_ms, user_id, component, message, context) "
      "VALUES (?, ?, ?, ?, ?, ?)");
  if (!insert.ok()) return insert.status();
  insert->bindText(entry.id).bindInt(entry.time_ms).bindText(entry.user_id);
  insert->bindText(entry.component).bindText(entry.message).bindText(entry.context);
  return insert->run();
}

Result<Page<ErrorEntry>> SqliteStore::listErrors(const ErrorFilter& filter,
                                                 const PageRequest& page) {
  Conditions conditions;
  if (filter.user_id) conditions.add("user_id = ?", *filter.user_id);
  if (filter.component) conditions.add("component = ?", *filter.component);
  addTimeRange(conditions, filter.from_ms, filter.to_ms);
  TENDRIL_RETURN_IF_ERROR(addPage(conditions, page, "time_ms", /*newest_first=*/true));
  std::lock_guard lock(mutex_);
  Result<Statement> query =
      prepare("SELECT id, time_ms, user_id, component, message, context FROM error_log" +
              conditions.sql() + " ORDER BY time_ms DESC, id DESC LIMIT ?");
  if (!query.ok()) return query.status();
  conditions.bind(*query);
  query->bindInt(static_cast<std::int64_t>(page.limit) + 1);
  return collectPage<ErrorEntry>(*query, page.limit, readError, entryKey<ErrorEntry>);
}

}  // namespace tendril::store
