#include "store/sqlite_statement.h"

#include <atomic>
#include <climits>
#include <utility>

namespace tendril::store {
namespace {
std::atomic<uint64_t> database_errors{0};
}  // namespace

uint64_t databaseErrorCount() { return database_errors.load(std::memory_order_relaxed); }

namespace sqlite {

Status errorStatus(sqlite3* db, int rc, std::string_view what) {
  // Constraint violations are the caller's conflicts (a taken name), not database trouble.
  if ((rc & 0xff) != SQLITE_CONSTRAINT) database_errors.fetch_add(1, std::memory_order_relaxed);
  std::string message(what);
  message += ": ";
  message += db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  switch (rc) {
    case SQLITE_CONSTRAINT_UNIQUE:
    case SQLITE_CONSTRAINT_PRIMARYKEY:
      return {Code::kAlreadyExists, std::move(message)};
    default:
      break;
  }
  switch (rc & 0xff) {  // the primary result code
    case SQLITE_CONSTRAINT:
      return Status::Precondition(std::move(message));
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return Status::Exhausted(std::move(message));
    case SQLITE_CANTOPEN:
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_READONLY:
    case SQLITE_PERM:
      return Status::Io(std::move(message));
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return Status::Corrupt(std::move(message));
    default:
      return {Code::kInternal, std::move(message)};
  }
}

Result<Statement> Statement::prepare(sqlite3* db, std::string_view sql) {
  sqlite3_stmt* statement = nullptr;
  const int rc =
      sqlite3_prepare_v2(db, sql.data(), static_cast<int>(sql.size()), &statement, nullptr);
  if (rc != SQLITE_OK) {
    sqlite3_finalize(statement);
    return errorStatus(db, rc, "preparing SQL");
  }
  if (statement == nullptr) return Status(Code::kInternal, "preparing SQL: no statement in text");
  return Statement(db, statement);
}

Statement::Statement(Statement&& other) noexcept
    : db_(other.db_),
      statement_(std::exchange(other.statement_, nullptr)),
      next_index_(other.next_index_),
      bind_error_(std::move(other.bind_error_)) {}

Statement& Statement::operator=(Statement&& other) noexcept {
  if (this != &other) {
    sqlite3_finalize(statement_);
    db_ = other.db_;
    statement_ = std::exchange(other.statement_, nullptr);
    next_index_ = other.next_index_;
    bind_error_ = std::move(other.bind_error_);
  }
  return *this;
}

Statement::~Statement() { sqlite3_finalize(statement_); }

Statement& Statement::noteBind(int rc) {
  if (rc != SQLITE_OK && bind_error_.ok()) {
    bind_error_ = errorStatus(db_, rc, "binding parameter " + std::to_string(next_index_));
  }
  ++next_index_;
  return *this;
}

Statement& Statement::bindText(std::string_view value) {
  if (value.size() > static_cast<std::size_t>(INT_MAX)) {
    if (bind_error_.ok()) bind_error_ = Status::Invalid("text value too long for the store");
    ++next_index_;
    return *this;
  }
  // SQLITE_TRANSIENT: SQLite copies the bytes, so `value` need not outlive the statement.
  return noteBind(sqlite3_bind_text(statement_, next_index_, value.data(),
                                    static_cast<int>(value.size()), SQLITE_TRANSIENT));
}

Statement& Statement::bindInt(std::int64_t value) {
  return noteBind(sqlite3_bind_int64(statement_, next_index_, value));
}

Statement& Statement::bindBool(bool value) { return bindInt(value ? 1 : 0); }

Statement& Statement::bindNull() { return noteBind(sqlite3_bind_null(statement_, next_index_)); }

Statement& Statement::bindTextOrNull(std::string_view value) {
  return value.empty() ? bindNull() : bindText(value);
}

Statement& Statement::bindOptionalInt(const std::optional<std::int64_t>& value) {
  return value ? bindInt(*value) : bindNull();
}

Result<bool> Statement::step() {
  if (!bind_error_.ok()) return bind_error_;
  const int rc = sqlite3_step(statement_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return errorStatus(db_, sqlite3_extended_errcode(db_), "running SQL");
}

Status Statement::run() {
  Result<bool> row = step();
  if (!row.ok()) return row.status();
  if (*row)
    return {Code::kInternal, "running SQL: a statement meant to return nothing returned a row"};
  return Status::Ok();
}

std::int64_t Statement::changes() const { return sqlite3_changes(db_); }

std::string Statement::columnText(int column) const {
  const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(statement_, column));
  if (text == nullptr) return {};
  return std::string(text, static_cast<std::size_t>(sqlite3_column_bytes(statement_, column)));
}

std::int64_t Statement::columnInt(int column) const {
  return sqlite3_column_int64(statement_, column);
}

bool Statement::columnBool(int column) const { return columnInt(column) != 0; }

std::optional<std::int64_t> Statement::columnOptionalInt(int column) const {
  if (sqlite3_column_type(statement_, column) == SQLITE_NULL) return std::nullopt;
  return columnInt(column);
}

Status executeScript(sqlite3* db, std::string_view sql) {
  while (!sql.empty()) {
    sqlite3_stmt* statement = nullptr;
    const char* tail = nullptr;
    int rc = sqlite3_prepare_v2(db, sql.data(), static_cast<int>(sql.size()), &statement, &tail);
    if (rc != SQLITE_OK) {
      sqlite3_finalize(statement);
      return errorStatus(db, rc, "preparing SQL script");
    }
    sql.remove_prefix(static_cast<std::size_t>(tail - sql.data()));
    if (statement == nullptr) continue;  // only whitespace or comments were left
    do {
      rc = sqlite3_step(statement);
    } while (rc == SQLITE_ROW);
    sqlite3_finalize(statement);
    if (rc != SQLITE_DONE)
      return errorStatus(db, sqlite3_extended_errcode(db), "running SQL script");
  }
  return Status::Ok();
}

}  // namespace sqlite
}  // namespace tendril::store
