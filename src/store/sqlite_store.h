// Private to the store: the SQLite implementation of MetadataStore. Its functions are split
// over sqlite_store.cc (connection, transactions, users, projects, memberships),
// sqlite_store_credentials.cc (refresh tokens, API keys) and sqlite_store_logs.cc.
#pragma once

#include <sqlite3.h>

#include <cstddef>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "store/paging.h"
#include "store/sqlite_statement.h"
#include "store/store.h"

namespace tendril::store {

class SqliteStore final : public MetadataStore {
 public:
  // Takes ownership of an open connection whose schema is at `schema_version`.
  SqliteStore(sqlite3* db, int schema_version) : db_(db), schema_version_(schema_version) {}
  ~SqliteStore() override;
  SqliteStore(const SqliteStore&) = delete;
  SqliteStore& operator=(const SqliteStore&) = delete;

  int schemaVersion() const override { return schema_version_; }
  Status transaction(const std::function<Status(MetadataStore&)>& work) override;

  Status createUser(const User& user) override;
  Result<User> getUser(std::string_view id) override;
  Result<User> findUserByName(std::string_view name) override;
  Result<Page<User>> listUsers(const PageRequest& page) override;
  Result<User> updateUser(std::string_view id, const UserUpdate& update) override;
  Status deleteUser(std::string_view id) override;
  Result<std::int64_t> countAdmins() override;

  Status createProject(const Project& project) override;
  Result<Project> getProject(std::string_view id) override;
  Result<Page<Project>> listProjects(const PageRequest& page) override;
  Result<std::vector<UserProject>> listProjectsForUser(std::string_view user_id) override;
  Status deleteProject(std::string_view id, bool cascade) override;

  Status setMembership(std::string_view project_id, std::string_view user_id, Role role,
                       TimeMs now_ms) override;
  Status removeMembership(std::string_view project_id, std::string_view user_id) override;
  Result<Role> getRole(std::string_view project_id, std::string_view user_id) override;
  Result<std::vector<Membership>> listMembers(std::string_view project_id) override;

  Status insertRefreshToken(const RefreshToken& token) override;
  Result<RefreshToken> findRefreshToken(std::string_view token_hash) override;
  Status revokeRefreshToken(std::string_view token_hash) override;
  Result<std::int64_t> revokeRefreshTokensForUser(std::string_view user_id,
                                                  std::string_view except_hash) override;
  Status expireRefreshToken(std::string_view token_hash, TimeMs now_ms) override;
  Result<std::int64_t> expireRefreshTokensForUser(std::string_view user_id,
                                                  std::string_view except_hash,
                                                  TimeMs now_ms) override;
  Result<std::int64_t> deleteExpiredRefreshTokens(TimeMs now_ms) override;

  Status insertApiKey(const ApiKey& key) override;
  Result<ApiKey> findApiKeyByHash(std::string_view key_hash) override;
  Result<std::vector<ApiKey>> listApiKeys(std::string_view project_id) override;
  Status revokeApiKey(std::string_view id) override;
  Status touchApiKey(std::string_view id, TimeMs now_ms) override;

  Status appendAudit(const AuditEntry& entry) override;
  Result<Page<AuditEntry>> listAudit(const AuditFilter& filter, const PageRequest& page) override;
  Status appendError(const ErrorEntry& entry) override;
  Result<Page<ErrorEntry>> listErrors(const ErrorFilter& filter, const PageRequest& page) override;

  Status insertResource(const Resource& resource) override;
  Result<Resource> getResource(ResourceKind kind, std::string_view id) override;
  Result<Page<Resource>> listResources(const ResourceFilter& filter,
                                       const PageRequest& page) override;
  Status updateResource(const Resource& resource) override;
  Status deleteResource(ResourceKind kind, std::string_view id) override;
  Result<std::int64_t> countResources(const ResourceFilter& filter) override;
  Result<std::int64_t> sumResourceBytes(const ResourceFilter& filter) override;
  Result<ProjectQuota> getQuota(std::string_view project_id) override;
  Status setQuota(const ProjectQuota& quota) override;

 private:
  Result<sqlite::Statement> prepare(std::string_view sql) {
    return sqlite::Statement::prepare(db_, sql);
  }

  sqlite3* db_;
  const int schema_version_;
  // Serialises all calls; recursive because transaction() calls back into the store.
  std::recursive_mutex mutex_;
  int transaction_depth_ = 0;
};

// Reads up to `limit` rows of `query` (which asks for limit + 1) into a page: `read` makes an
// item of the current row, `key` gives the cursor key of an item.
template <typename T, typename Read, typename Key>
Result<Page<T>> collectPage(sqlite::Statement& query, std::size_t limit, Read read, Key key) {
  Page<T> page;
  for (;;) {
    Result<bool> row = query.step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    if (page.items.size() == limit) {  // a row beyond the page: there is a next one
      page.next_cursor = encodeCursor(key(page.items.back()));
      break;
    }
    page.items.push_back(read(query));
  }
  return page;
}

// Runs a query expected to give at most one row; NotFound (with `what`) when none.
template <typename T, typename Read>
Result<T> readOne(sqlite::Statement& query, Read read, std::string_view what) {
  Result<bool> row = query.step();
  if (!row.ok()) return row.status();
  if (!*row) return Status::NotFound(std::string(what) + " not found");
  return read(query);
}

// InvalidArgument naming `field` when `value` is empty.
inline Status requireNonEmpty(std::string_view value, std::string_view field) {
  if (value.empty()) return Status::Invalid(std::string(field) + " must not be empty");
  return Status::Ok();
}

}  // namespace tendril::store
