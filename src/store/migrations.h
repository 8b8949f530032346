// Private to the store: the schema of the metadata database as an ordered list of migrations,
// and the code that applies the missing ones when a store opens.
//
// Policy (docs/store.md): a migration, once released, is never edited; a change to the schema
// is a new migration with the next version. Migration SQL uses only types and constraints that
// SQLite and PostgreSQL both accept (TEXT, BIGINT, INTEGER, 0/1 integers for booleans).
#pragma once

#include <sqlite3.h>

#include <span>
#include <string_view>

#include "common/status.h"

namespace tendril::store {

struct Migration {
  int version;           // 1, 2, 3, ... in order, without gaps
  std::string_view sql;  // one or more statements, no bound values
};

// Every migration this build knows, oldest first.
std::span<const Migration> migrations();

// The version a database reaches once every migration is applied.
int latestSchemaVersion();

// Brings the database on `db` up to latestSchemaVersion() inside one transaction (all pending
// migrations or none) and returns the version it is at. The table schema_version records each
// applied version with its time. FailedPrecondition when the database is at a newer version
// than this build knows; other errors as the SQLite error mapping gives them.
Result<int> migrate(sqlite3* db);

}  // namespace tendril::store
