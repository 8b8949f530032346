#include "store/sqlite_store.h"

#include <exception>

#include "store/migrations.h"

namespace tendril::store {

using sqlite::Statement;

std::string_view roleName(Role role) {
  switch (role) {
    case Role::kMember:
      return "member";
    case Role::kProjectAdmin:
      return "project-admin";
  }
  return "member";
}

Result<Role> parseRole(std::string_view text) {
  if (text == "member") return Role::kMember;
  if (text == "project-admin") return Role::kProjectAdmin;
  return Status::Invalid("unknown role '" + std::string(text) +
                         "' (expected member or project-admin)");
}

namespace {

// The conflict of an insert that hit a unique key: the name, unless SQLite says the primary key
// (the id) was taken. Only the key that collided is named, so a caller never reads of a freshly
// generated id that exists nowhere.
Status takenKey(const Status& inserted, std::string_view what, const std::string& id,
                const std::string& name) {
  if (inserted.message().find(".name") == std::string::npos) {
    return Status(Code::kAlreadyExists, std::string(what) + " with id '" + id + "' already exists");
  }
  return Status(Code::kAlreadyExists, std::string(what) + " named '" + name + "' already exists");
}

// The schema's CHECK keeps stored roles valid; a foreign value reads as the weaker role.
Role readRole(const Statement& row, int column) {
  Result<Role> role = parseRole(row.columnText(column));
  return role.ok() ? *role : Role::kMember;
}

std::string quoted(std::string_view kind, std::string_view id) {
  return std::string(kind) + " '" + std::string(id) + "'";
}

constexpr std::string_view kUserColumns =
    "id, name, password_hash, is_admin, created_ms, updated_ms";

User readUser(const Statement& row) {
  return User{row.columnText(0), row.columnText(1), row.columnText(2),
              row.columnBool(3), row.columnInt(4),  row.columnInt(5)};
}

constexpr std::string_view kProjectColumns = "p.id, p.name, p.created_by, p.created_ms";

Project readProject(const Statement& row) {
  return Project{row.columnText(0), row.columnText(1), row.columnText(2), row.columnInt(3)};
}

// Keyset paging in ascending (created_ms, id) order over `table`.
std::string ascendingPageSql(std::string_view columns, std::string_view table, bool has_cursor) {
  std::string sql = "SELECT " + std::string(columns) + " FROM " + std::string(table);
  if (has_cursor) sql += " WHERE created_ms > ? OR (created_ms = ? AND id > ?)";
  sql += " ORDER BY created_ms, id LIMIT ?";
  return sql;
}

// Binds the cursor (when present) and the limit of an ascendingPageSql() query.
void bindAscendingPage(Statement& query, const std::optional<CursorKey>& cursor,
                       std::size_t limit) {
  if (cursor) query.bindInt(cursor->time_ms).bindInt(cursor->time_ms).bindText(cursor->id);
  query.bindInt(static_cast<std::int64_t>(limit) + 1);
}

Result<std::optional<CursorKey>> parsePage(const PageRequest& page) {
  TENDRIL_RETURN_IF_ERROR(checkPageLimit(page.limit));
  if (page.cursor.empty()) return std::optional<CursorKey>();
  Result<CursorKey> key = decodeCursor(page.cursor);
  if (!key.ok()) return key.status();
  return std::optional<CursorKey>(std::move(key).value());
}

}  // namespace

// --- Connection and transactions ---------------------------------------------------------

SqliteStore::~SqliteStore() { sqlite3_close_v2(db_); }

Status SqliteStore::transaction(const std::function<Status(MetadataStore&)>& work) {
  std::lock_guard lock(mutex_);
  // Nested transactions are savepoints; the name derives from the depth, never from input.
  const std::string savepoint = "tendril_" + std::to_string(transaction_depth_);
  const bool outermost = transaction_depth_ == 0;
  TENDRIL_RETURN_IF_ERROR(
      sqlite::executeScript(db_, outermost ? "BEGIN IMMEDIATE" : "SAVEPOINT " + savepoint));
  ++transaction_depth_;
  Status result;
  try {
    result = work(*this);
  } catch (const std::exception& error) {
    result = Status(Code::kInternal, std::string("transaction threw: ") + error.what());
  } catch (...) {
    result = Status(Code::kInternal, "transaction threw a non-standard exception");
  }
  --transaction_depth_;
  if (result.ok()) {
    result = sqlite::executeScript(db_, outermost ? "COMMIT" : "RELEASE SAVEPOINT " + savepoint);
    if (result.ok()) return result;
  }
  (void)sqlite::executeScript(
      db_, outermost ? "ROLLBACK"
                     : "ROLLBACK TO SAVEPOINT " + savepoint + "; RELEASE SAVEPOINT " + savepoint);
  return result;
}

namespace {

Result<sqlite3*> openConnection(const std::string& name, int flags) {
  sqlite3* db = nullptr;
  const int rc = sqlite3_open_v2(
      name.c_str(), &db, flags | SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
      nullptr);
  if (rc != SQLITE_OK) {
    Status status = sqlite::errorStatus(db, rc, "opening metadata database '" + name + "'");
    sqlite3_close_v2(db);
    return status;
  }
  sqlite3_extended_result_codes(db, 1);
  return db;
}

Result<std::unique_ptr<MetadataStore>> finishOpen(sqlite3* db, bool wal) {
  Status configured = Status::Ok();
  sqlite3_busy_timeout(db, kSqliteBusyTimeoutMs);
  if (wal) configured = sqlite::executeScript(db, "PRAGMA journal_mode = WAL");
  if (configured.ok()) configured = sqlite::executeScript(db, "PRAGMA foreign_keys = ON");
  Result<int> version = configured.ok() ? migrate(db) : Result<int>(configured);
  if (!version.ok()) {
    sqlite3_close_v2(db);
    return version.status();
  }
  return std::unique_ptr<MetadataStore>(new SqliteStore(db, *version));
}

}  // namespace

Result<std::unique_ptr<MetadataStore>> openSqliteStore(const std::filesystem::path& file) {
  if (file.empty()) return Status::Invalid("metadata database path is empty");
  Result<sqlite3*> db = openConnection(file.string(), 0);
  if (!db.ok()) return db.status();
  return finishOpen(*db, /*wal=*/true);
}

Result<std::unique_ptr<MetadataStore>> openSqliteMemoryStore() {
  Result<sqlite3*> db = openConnection(":memory:", SQLITE_OPEN_MEMORY);
  if (!db.ok()) return db.status();
  return finishOpen(*db, /*wal=*/false);
}

// --- Users -------------------------------------------------------------------------------

Status SqliteStore::createUser(const User& user) {
  TENDRIL_RETURN_IF_ERROR(requireNonEmpty(user.id, "user id"));
  TENDRIL_RETURN_IF_ERROR(requireNonEmpty(user.name, "user name"));
  TENDRIL_RETURN_IF_ERROR(requireNonEmpty(user.password_hash, "password hash"));
  std::lock_guard lock(mutex_);
  Result<Statement> insert = prepare(
      "INSERT INTO users (id, name, password_hash, is_admin, created_ms, updated_ms) "
      "VALUES (?, ?, ?, ?, ?, ?)");
  if (!insert.ok()) return insert.status();
  insert->bindText(user.id).bindText(user.name).bindText(user.password_hash);
  insert->bindBool(user.is_admin).bindInt(user.created_ms).bindInt(user.updated_ms);
  Status inserted = insert->run();
  if (inserted.code() == Code::kAlreadyExists) {
    return takenKey(inserted, "a user", user.id, user.name);
  }
  return inserted;
}

Result<User> SqliteStore::getUser(std::string_view id) {
  std::lock_guard lock(mutex_);
  Result<Statement> query =
      prepare("SELECT " + std::string(kUserColumns) + " FROM users WHERE id = ?");
  if (!query.ok()) return query.status();
  query->bindText(id);
  return readOne<User>(*query, readUser, quoted("user", id));
}

Result<User> SqliteStore::findUserByName(std::string_view name) {
  std::lock_guard lock(mutex_);
  Result<Statement> query =
      prepare("SELECT " + std::string(kUserColumns) + " FROM users WHERE name = ?");
  if (!query.ok()) return query.status();
  query->bindText(name);
  return readOne<User>(*query, readUser, "user named '" + std::string(name) + "'");
}

Result<Page<User>> SqliteStore::listUsers(const PageRequest& page) {
  Result<std::optional<CursorKey>> cursor = parsePage(page);
  if (!cursor.ok()) return cursor.status();
  std::lock_guard lock(mutex_);
  Result<Statement> query = prepare(ascendingPageSql(kUserColumns, "users", cursor->has_value()));
  if (!query.ok()) return query.status();
  bindAscendingPage(*query, *cursor, page.limit);
  return collectPage<User>(*query, page.limit, readUser, [](const User& user) {
    return CursorKey{user.created_ms, user.id};
  });
}

Result<User> SqliteStore::updateUser(std::string_view id, const UserUpdate& update) {
  if (update.name) TENDRIL_RETURN_IF_ERROR(requireNonEmpty(*update.name, "user name"));
  if (update.password_hash) {
    TENDRIL_RETURN_IF_ERROR(requireNonEmpty(*update.password_hash, "password hash"));
  }
  std::optional<User> updated;
  Status status = transaction([&](MetadataStore&) -> Status {
    Result<User> user = getUser(id);
    if (!user.ok()) return user.status();
    if (update.name) user->name = *update.name;
    if (update.password_hash) user->password_hash = *update.password_hash;
    if (update.is_admin) user->is_admin = *update.is_admin;
    user->updated_ms = update.updated_ms;
    Result<Statement> write = prepare(
        "UPDATE users SET name = ?, password_hash = ?, is_admin = ?, updated_ms = ? WHERE id = ?");
    if (!write.ok()) return write.status();
    write->bindText(user->name).bindText(user->password_hash).bindBool(user->is_admin);
    write->bindInt(user->updated_ms).bindText(id);
    Status written = write->run();
    if (written.code() == Code::kAlreadyExists) {
      return Status(Code::kAlreadyExists, "a user named '" + user->name + "' already exists");
    }
    TENDRIL_RETURN_IF_ERROR(written);
    updated = std::move(user).value();
    return Status::Ok();
  });
  if (!status.ok()) return status;
  return std::move(*updated);
}

Status SqliteStore::deleteUser(std::string_view id) {
  std::lock_guard lock(mutex_);
  Result<Statement> erase = prepare("DELETE FROM users WHERE id = ?");
  if (!erase.ok()) return erase.status();
  TENDRIL_RETURN_IF_ERROR(erase->bindText(id).run());
  if (erase->changes() == 0) return Status::NotFound(quoted("user", id) + " not found");
  return Status::Ok();
}

Result<std::int64_t> SqliteStore::countAdmins() {
  std::lock_guard lock(mutex_);
  Result<Statement> query = prepare("SELECT COUNT(*) FROM users WHERE is_admin = 1");
  if (!query.ok()) return query.status();
  return readOne<std::int64_t>(
      *query, [](const Statement& row) { return row.columnInt(0); }, "count");
}

// --- Projects ----------------------------------------------------------------------------

Status SqliteStore::createProject(const Project& project) {
  TENDRIL_RETURN_IF_ERROR(requireNonEmpty(project.id, "project id"));
  TENDRIL_RETURN_IF_ERROR(requireNonEmpty(project.name, "project name"));
  std::lock_guard lock(mutex_);
  Result<Statement> insert =
      prepare("INSERT INTO projects (id, name, created_by, created_ms) VALUES (?, ?, ?, ?)");
  if (!insert.ok()) return insert.status();
  insert->bindText(project.id).bindText(project.name).bindTextOrNull(project.created_by);
  Status inserted = insert->bindInt(project.created_ms).run();
  if (inserted.code() == Code::kAlreadyExists) {
    return takenKey(inserted, "a project", project.id, project.name);
  }
  if (inserted.code() == Code::kFailedPrecondition) {
    return Status::Precondition("project creator " + quoted("user", project.created_by) +
                                " does not exist");
  }
  return inserted;
}

Result<Project> SqliteStore::getProject(std::string_view id) {
  std::lock_guard lock(mutex_);
  Result<Statement> query =
      prepare("SELECT " + std::string(kProjectColumns) + " FROM projects p WHERE p.id = ?");
  if (!query.ok()) return query.status();
  query->bindText(id);
  return readOne<Project>(*query, readProject, quoted("project", id));
}

Result<Page<Project>> SqliteStore::listProjects(const PageRequest& page) {
  Result<std::optional<CursorKey>> cursor = parsePage(page);
  if (!cursor.ok()) return cursor.status();
  std::lock_guard lock(mutex_);
  Result<Statement> query =
      prepare(ascendingPageSql(kProjectColumns, "projects p", cursor->has_value()));
  if (!query.ok()) return query.status();
  bindAscendingPage(*query, *cursor, page.limit);
  return collectPage<Project>(*query, page.limit, readProject, [](const Project& project) {
    return CursorKey{project.created_ms, project.id};
  });
}

Result<std::vector<UserProject>> SqliteStore::listProjectsForUser(std::string_view user_id) {
  std::lock_guard lock(mutex_);
  Result<Statement> query =
      prepare("SELECT " + std::string(kProjectColumns) +
              ", m.role FROM projects p JOIN memberships m ON m.project_id = p.id "
              "WHERE m.user_id = ? ORDER BY p.name, p.id");
  if (!query.ok()) return query.status();
  query->bindText(user_id);
  std::vector<UserProject> projects;
  for (;;) {
    Result<bool> row = query->step();
    if (!row.ok()) return row.status();
    if (!*row) return projects;
    projects.push_back(UserProject{readProject(*query), readRole(*query, 4)});
  }
}

Status SqliteStore::deleteProject(std::string_view id, bool cascade) {
  return transaction([&](MetadataStore&) -> Status {
    if (!cascade) {
      Result<std::vector<Membership>> members = listMembers(id);
      if (!members.ok()) return members.status();
      if (!members->empty()) {
        return Status::Precondition(quoted("project", id) + " still has " +
                                    std::to_string(members->size()) +
                                    " member(s); remove them or delete with cascade");
      }
    }
    Result<Statement> erase = prepare("DELETE FROM projects WHERE id = ?");
    if (!erase.ok()) return erase.status();
    TENDRIL_RETURN_IF_ERROR(erase->bindText(id).run());
    if (erase->changes() == 0) return Status::NotFound(quoted("project", id) + " not found");
    return Status::Ok();
  });
}

// --- Memberships -------------------------------------------------------------------------

Status SqliteStore::setMembership(std::string_view project_id, std::string_view user_id, Role role,
                                  TimeMs now_ms) {
  return transaction([&](MetadataStore&) -> Status {
    TENDRIL_RETURN_IF_ERROR(getProject(project_id).status());
    TENDRIL_RETURN_IF_ERROR(getUser(user_id).status());
    // ON CONFLICT ... DO UPDATE is spelled the same in SQLite (3.24+) and PostgreSQL.
    Result<Statement> upsert = prepare(
        "INSERT INTO memberships (project_id, user_id, role, created_ms) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (project_id, user_id) DO UPDATE SET role = excluded.role");
    if (!upsert.ok()) return upsert.status();
    upsert->bindText(project_id).bindText(user_id).bindText(roleName(role)).bindInt(now_ms);
    return upsert->run();
  });
}

Status SqliteStore::removeMembership(std::string_view project_id, std::string_view user_id) {
  std::lock_guard lock(mutex_);
  Result<Statement> erase = prepare("DELETE FROM memberships WHERE project_id = ? AND user_id = ?");
  if (!erase.ok()) return erase.status();
  TENDRIL_RETURN_IF_ERROR(erase->bindText(project_id).bindText(user_id).run());
  if (erase->changes() == 0) {
    return Status::NotFound(quoted("user", user_id) + " is not a member of " +
                            quoted("project", project_id));
  }
  return Status::Ok();
}

Result<Role> SqliteStore::getRole(std::string_view project_id, std::string_view user_id) {
  std::lock_guard lock(mutex_);
  Result<Statement> query =
      prepare("SELECT role FROM memberships WHERE project_id = ? AND user_id = ?");
  if (!query.ok()) return query.status();
  query->bindText(project_id).bindText(user_id);
  return readOne<Role>(
      *query, [](const Statement& row) { return readRole(row, 0); },
      "membership of " + quoted("user", user_id) + " in " + quoted("project", project_id));
}

Result<std::vector<Membership>> SqliteStore::listMembers(std::string_view project_id) {
  std::lock_guard lock(mutex_);
  TENDRIL_RETURN_IF_ERROR(getProject(project_id).status());
  Result<Statement> query = prepare(
      "SELECT project_id, user_id, role, created_ms FROM memberships WHERE project_id = ? "
      "ORDER BY created_ms, user_id");
  if (!query.ok()) return query.status();
  query->bindText(project_id);
  std::vector<Membership> members;
  for (;;) {
    Result<bool> row = query->step();
    if (!row.ok()) return row.status();
    if (!*row) return members;
    members.push_back(Membership{query->columnText(0), query->columnText(1), readRole(*query, 2),
                                 query->columnInt(3)});
  }
}

}  // namespace tendril::store
