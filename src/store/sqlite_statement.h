// Private to the store: a prepared SQLite statement with typed, positional binding, and the one
// place where SQLite result codes become Status codes.
//
// Values reach SQL only through bind*(); SQL text is always a constant of the program (or a
// join of constant fragments), never built from a value.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"

namespace tendril::store::sqlite {

// Maps a failed SQLite result code to a Status; `what` says what was being done.
//   constraint UNIQUE / PRIMARY KEY       -> AlreadyExists
//   other constraints (FOREIGN KEY, CHECK, NOT NULL) -> FailedPrecondition
//   BUSY, LOCKED                          -> ResourceExhausted (the database is in use)
//   CANTOPEN, IOERR, FULL, READONLY, PERM -> Io
//   CORRUPT, NOTADB                       -> Corrupt
//   anything else                         -> Internal
// The message carries `what` and SQLite's own message for the connection.
Status errorStatus(sqlite3* db, int rc, std::string_view what);

class Statement {
 public:
  // Compiles one SQL statement. Internal (with SQLite's message) for bad SQL, which is a bug.
  static Result<Statement> prepare(sqlite3* db, std::string_view sql);

  Statement(Statement&& other) noexcept;
  Statement& operator=(Statement&& other) noexcept;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  ~Statement();

  // Bind the next positional parameter ("?"), left to right. A bind failure is remembered and
  // returned by the next step() or run().
  Statement& bindText(std::string_view value);
  Statement& bindInt(std::int64_t value);
  Statement& bindBool(bool value);  // stored as INTEGER 0 or 1
  Statement& bindNull();
  // Empty text binds NULL (optional references such as created_by).
  Statement& bindTextOrNull(std::string_view value);
  Statement& bindOptionalInt(const std::optional<std::int64_t>& value);

  // Advances: true when a row is ready for the column readers, false when done.
  Result<bool> step();
  // Runs a statement that returns no rows to completion.
  Status run();
  // Rows changed by the last run() of this connection.
  std::int64_t changes() const;

  std::string columnText(int column) const;  // NULL reads as ""
  std::int64_t columnInt(int column) const;
  bool columnBool(int column) const;
  std::optional<std::int64_t> columnOptionalInt(int column) const;

 private:
  Statement(sqlite3* db, sqlite3_stmt* statement) : db_(db), statement_(statement) {}
  Statement& noteBind(int rc);

  sqlite3* db_ = nullptr;
  sqlite3_stmt* statement_ = nullptr;
  int next_index_ = 1;
  Status bind_error_;
};

// Runs a constant SQL script of one or more statements that bind no values (schema changes,
// BEGIN/COMMIT). Stops at the first failure.
Status executeScript(sqlite3* db, std::string_view sql);

}  // namespace tendril::store::sqlite
