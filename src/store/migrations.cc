#include "store/migrations.h"

#include <chrono>
#include <string>

#include "store/sqlite_statement.h"

namespace tendril::store {
namespace {

// Version 1: accounts, projects, credentials and logs. Times are BIGINT unix milliseconds
// (UTC); booleans are INTEGER 0/1 with a CHECK; ids are TEXT.
constexpr std::string_view kVersion1 = R"sql(
CREATE TABLE users (
  id            TEXT    NOT NULL PRIMARY KEY,
  name          TEXT    NOT NULL,
  password_hash TEXT    NOT NULL,
  is_admin      INTEGER NOT NULL DEFAULT 0 CHECK (is_admin IN (0, 1)),
  created_ms    BIGINT  NOT NULL,
  updated_ms    BIGINT  NOT NULL,
  CONSTRAINT users_name_unique UNIQUE (name)
);
CREATE INDEX users_created ON users (created_ms, id);

CREATE TABLE projects (
  id         TEXT   NOT NULL PRIMARY KEY,
  name       TEXT   NOT NULL,
  created_by TEXT   REFERENCES users (id) ON DELETE SET NULL,
  created_ms BIGINT NOT NULL,
  CONSTRAINT projects_name_unique UNIQUE (name)
);
CREATE INDEX projects_created ON projects (created_ms, id);

CREATE TABLE memberships (
  project_id TEXT   NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
  user_id    TEXT   NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  role       TEXT   NOT NULL CHECK (role IN ('member', 'project-admin')),
  created_ms BIGINT NOT NULL,
  PRIMARY KEY (project_id, user_id)
);
CREATE INDEX memberships_user ON memberships (user_id);

CREATE TABLE refresh_tokens (
  token_hash TEXT    NOT NULL PRIMARY KEY,
  user_id    TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  project_id TEXT    REFERENCES projects (id) ON DELETE CASCADE,
  created_ms BIGINT  NOT NULL,
  expires_ms BIGINT  NOT NULL,
  revoked    INTEGER NOT NULL DEFAULT 0 CHECK (revoked IN (0, 1))
);
CREATE INDEX refresh_tokens_user ON refresh_tokens (user_id);
CREATE INDEX refresh_tokens_expiry ON refresh_tokens (expires_ms);

CREATE TABLE api_keys (
  id           TEXT    NOT NULL PRIMARY KEY,
  project_id   TEXT    NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
  name         TEXT    NOT NULL,
  role         TEXT    NOT NULL CHECK (role IN ('member', 'project-admin')),
  key_hash     TEXT    NOT NULL,
  created_by   TEXT    REFERENCES users (id) ON DELETE SET NULL,
  created_ms   BIGINT  NOT NULL,
  expires_ms   BIGINT,
  revoked      INTEGER NOT NULL DEFAULT 0 CHECK (revoked IN (0, 1)),
  last_used_ms BIGINT,
  CONSTRAINT api_keys_hash_unique UNIQUE (key_hash)
);
CREATE INDEX api_keys_project ON api_keys (project_id, created_ms, id);

CREATE TABLE audit_log (
  id      TEXT   NOT NULL PRIMARY KEY,
  time_ms BIGINT NOT NULL,
  user_id TEXT   NOT NULL,
  action  TEXT   NOT NULL,
  target  TEXT   NOT NULL,
  result  TEXT   NOT NULL
);
CREATE INDEX audit_log_time ON audit_log (time_ms, id);
CREATE INDEX audit_log_user ON audit_log (user_id, time_ms, id);

CREATE TABLE error_log (
  id        TEXT   NOT NULL PRIMARY KEY,
  time_ms   BIGINT NOT NULL,
  user_id   TEXT   NOT NULL,
  component TEXT   NOT NULL,
  message   TEXT   NOT NULL,
  context   TEXT   NOT NULL
);
CREATE INDEX error_log_time ON error_log (time_ms, id);
)sql";

// Version 2: the ML resources (clusters, datasets, tasks, checkpoints) in one generic table,
// and per-project quotas. Names are unique per (kind, project) when not empty.
constexpr std::string_view kVersion2 = R"sql(
CREATE TABLE resources (
  id         TEXT   NOT NULL PRIMARY KEY,
  kind       TEXT   NOT NULL CHECK (kind IN ('cluster', 'dataset', 'task', 'checkpoint')),
  project_id TEXT   NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
  owner_id   TEXT   REFERENCES users (id) ON DELETE SET NULL,
  name       TEXT   NOT NULL DEFAULT '',
  state      TEXT   NOT NULL DEFAULT '',
  parent_id  TEXT   NOT NULL DEFAULT '',
  ref_id     TEXT   NOT NULL DEFAULT '',
  bytes      BIGINT NOT NULL DEFAULT 0,
  attrs      TEXT   NOT NULL DEFAULT '{}',
  created_ms BIGINT NOT NULL,
  updated_ms BIGINT NOT NULL
);
CREATE UNIQUE INDEX resources_name ON resources (kind, project_id, name) WHERE name <> '';
CREATE INDEX resources_list ON resources (kind, project_id, created_ms, id);
CREATE INDEX resources_parent ON resources (kind, parent_id);
CREATE INDEX resources_ref ON resources (kind, ref_id);
CREATE INDEX resources_state ON resources (kind, state);

CREATE TABLE project_quotas (
  project_id       TEXT   NOT NULL PRIMARY KEY REFERENCES projects (id) ON DELETE CASCADE,
  clusters         BIGINT,
  synapse_bytes    BIGINT,
  dataset_bytes    BIGINT,
  concurrent_tasks BIGINT
);
)sql";

constexpr Migration kMigrations[] = {
    {1, kVersion1},
    {2, kVersion2},
};

// Created outside the numbered migrations: it is what records them.
constexpr std::string_view kCreateVersionTable = R"sql(
CREATE TABLE IF NOT EXISTS schema_version (
  version    INTEGER NOT NULL PRIMARY KEY,
  applied_ms BIGINT  NOT NULL
)
)sql";

Result<int> currentVersion(sqlite3* db) {
  Result<sqlite::Statement> query =
      sqlite::Statement::prepare(db, "SELECT COALESCE(MAX(version), 0) FROM schema_version");
  if (!query.ok()) return query.status();
  Result<bool> row = query->step();
  if (!row.ok()) return row.status();
  return static_cast<int>(query->columnInt(0));
}

std::int64_t nowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// The body of migrate(), run inside its transaction.
Result<int> applyPending(sqlite3* db) {
  TENDRIL_RETURN_IF_ERROR(sqlite::executeScript(db, kCreateVersionTable));
  Result<int> current = currentVersion(db);
  if (!current.ok()) return current;
  if (*current > latestSchemaVersion()) {
    return Status::Precondition("the metadata database is at schema version " +
                                std::to_string(*current) + ", newer than the version " +
                                std::to_string(latestSchemaVersion()) +
                                " this build of Tendril knows; run a newer Tendril");
  }
  for (const Migration& migration : migrations()) {
    if (migration.version <= *current) continue;
    Status applied = sqlite::executeScript(db, migration.sql);
    if (!applied.ok()) {
      return Status(applied.code(), "schema migration " + std::to_string(migration.version) + ": " +
                                        applied.message());
    }
    Result<sqlite::Statement> record = sqlite::Statement::prepare(
        db, "INSERT INTO schema_version (version, applied_ms) VALUES (?, ?)");
    if (!record.ok()) return record.status();
    TENDRIL_RETURN_IF_ERROR(record->bindInt(migration.version).bindInt(nowMs()).run());
  }
  return latestSchemaVersion();
}

}  // namespace

std::span<const Migration> migrations() { return kMigrations; }

int latestSchemaVersion() { return kMigrations[std::size(kMigrations) - 1].version; }

Result<int> migrate(sqlite3* db) {
  // IMMEDIATE takes the write lock first, so two processes opening a fresh file cannot both
  // apply the same migration; the second waits (busy timeout) and then finds nothing to do.
  TENDRIL_RETURN_IF_ERROR(sqlite::executeScript(db, "BEGIN IMMEDIATE"));
  Result<int> version = applyPending(db);
  if (!version.ok()) {
    (void)sqlite::executeScript(db, "ROLLBACK");
    return version;
  }
  Status committed = sqlite::executeScript(db, "COMMIT");
  if (!committed.ok()) {
    (void)sqlite::executeScript(db, "ROLLBACK");
    return committed;
  }
  return version;
}

}  // namespace tendril::store
