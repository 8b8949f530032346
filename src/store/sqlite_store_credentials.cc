// Refresh tokens and API keys of the SQLite store.
#include "store/sqlite_store.h"

namespace tendril::store {

using sqlite::Statement;

namespace {

constexpr std::string_view kTokenColumns =
    "token_hash, user_id, project_id, created_ms, expires_ms, revoked";

RefreshToken readToken(const Statement& row) {
  return RefreshToken{row.columnText(0), row.columnText(1), row.columnText(2),
                      row.columnInt(3),  row.columnInt(4),  row.columnBool(5)};
}

constexpr std::string_view kKeyColumns =
    "id, project_id, name, role, key_hash, created_by, created_ms, expires_ms, revoked, "
    "last_used_ms";

ApiKey readKey(const Statement& row) {
  ApiKey key;
  key.id = row.columnText(0);
  key.project_id = row.columnText(1);
  key.name = row.columnText(2);
  Result<Role> role = parseRole(row.columnText(3));
  key.role = role.ok() ? *role : Role::kMember;  // the schema's CHECK keeps roles valid
  key.key_hash = row.columnText(4);
  key.created_by = row.columnText(5);
  key.created_ms = row.columnInt(6);
  key.expires_ms = row.columnOptionalInt(7);
  key.revoked = row.columnBool(8);
  key.last_used_ms = row.columnOptionalInt(9);
  return key;
}

}  // namespace

// --- Refresh tokens ----------------------------------------------------------------------

Status SqliteStore::insertRefreshToken(const RefreshToken& token) {
  TENDRIL_RETURN_IF_ERROR(requireNonEmpty(token.token_hash, "token hash"));
  TENDRIL_RETURN_IF_ERROR(requireNonEmpty(token.user_id, "token user"));
  std::lock_guard lock(mutex_);
  Result<Statement> insert = prepare("INSERT INTO refresh_tokens (" + std::string(kTokenColumns) +
                                     ") VALUES (?, ?, ?, ?, ?, ?)");
  if (!insert.ok()) return insert.status();
  insert->bindText(token.token_hash).bindText(token.user_id).bindTextOrNull(token.project_id);
  insert->bindInt(token.created_ms).bindInt(token.expires_ms).bindBool(token.revoked);
  Status inserted = insert->run();
  if (inserted.code() == Code::kAlreadyExists) {
    return Status(Code::kAlreadyExists, "a refresh token with this hash already exists");
  }
  if (inserted.code() == Code::kFailedPrecondition) {
    return Status::Precondition("refresh token names an unknown user or project");
  }
  return inserted;
}

Result<RefreshToken> SqliteStore::findRefreshToken(std::string_view token_hash) {
  std::lock_guard lock(mutex_);
  Result<Statement> query =
      prepare("SELECT " + std::string(kTokenColumns) + " FROM refresh_tokens WHERE token_hash = ?");
  if (!query.ok()) return query.status();
  query->bindText(token_hash);
  return readOne<RefreshToken>(*query, readToken, "refresh token");
}

Status SqliteStore::revokeRefreshToken(std::string_view token_hash) {
  std::lock_guard lock(mutex_);
  Result<Statement> update = prepare("UPDATE refresh_tokens SET revoked = 1 WHERE token_hash = ?");
  if (!update.ok()) return update.status();
  TENDRIL_RETURN_IF_ERROR(update->bindText(token_hash).run());
  if (update->changes() == 0) return Status::NotFound("refresh token not found");
  return Status::Ok();
}

Result<std::int64_t> SqliteStore::revokeRefreshTokensForUser(std::string_view user_id,
                                                             std::string_view except_hash) {
  std::lock_guard lock(mutex_);
  Result<Statement> update = prepare(
      "UPDATE refresh_tokens SET revoked = 1 WHERE user_id = ? AND token_hash IS NOT ? AND "
      "revoked = 0");
  if (!update.ok()) return update.status();
  TENDRIL_RETURN_IF_ERROR(update->bindText(user_id).bindText(except_hash).run());
  return update->changes();
}

Status SqliteStore::expireRefreshToken(std::string_view token_hash, TimeMs now_ms) {
  std::lock_guard lock(mutex_);
  Result<Statement> update = prepare(
      "UPDATE refresh_tokens SET expires_ms = CASE WHEN expires_ms > ? THEN ? ELSE expires_ms "
      "END WHERE token_hash = ?");
  if (!update.ok()) return update.status();
  TENDRIL_RETURN_IF_ERROR(update->bindInt(now_ms).bindInt(now_ms).bindText(token_hash).run());
  if (update->changes() == 0) return Status::NotFound("refresh token not found");
  return Status::Ok();
}

Result<std::int64_t> SqliteStore::expireRefreshTokensForUser(std::string_view user_id,
                                                             std::string_view except_hash,
                                                             TimeMs now_ms) {
  std::lock_guard lock(mutex_);
  Result<Statement> update = prepare(
      "UPDATE refresh_tokens SET expires_ms = ? WHERE user_id = ? AND token_hash IS NOT ? AND "
      "expires_ms > ?");
  if (!update.ok()) return update.status();
  TENDRIL_RETURN_IF_ERROR(
      update->bindInt(now_ms).bindText(user_id).bindText(except_hash).bindInt(now_ms).run());
  return update->changes();
}

Result<std::int64_t> SqliteStore::deleteExpiredRefreshTokens(TimeMs now_ms) {
  std::lock_guard lock(mutex_);
  Result<Statement> erase = prepare("DELETE FROM refresh_tokens WHERE expires_ms <= ?");
  if (!erase.ok()) return erase.status();
  TENDRIL_RETURN_IF_ERROR(erase->bindInt(now_ms).run());
  return erase->changes();
}

// --- API keys ----------------------------------------------------------------------------

Status SqliteStore::insertApiKey(const ApiKey& key) {
  TENDRIL_RETURN_IF_ERROR(requireNonEmpty(key.id, "API key id"));
  TENDRIL_RETURN_IF_ERROR(requireNonEmpty(key.project_id, "API key project"));
  TENDRIL_RETURN_IF_ERROR(requireNonEmpty(key.key_hash, "API key hash"));
  std::lock_guard lock(mutex_);
  Result<Statement> insert = prepare("INSERT INTO api_keys (" + std::string(kKeyColumns) +
                                     ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
  if (!insert.ok()) return insert.status();
  insert->bindText(key.id).bindText(key.project_id).bindText(key.name);
  insert->bindText(roleName(key.role)).bindText(key.key_hash).bindTextOrNull(key.created_by);
  insert->bindInt(key.created_ms).bindOptionalInt(key.expires_ms).bindBool(key.revoked);
  insert->bindOptionalInt(key.last_used_ms);
  Status inserted = insert->run();
  if (inserted.code() == Code::kAlreadyExists) {
    return Status(Code::kAlreadyExists,
                  "an API key with id '" + key.id + "' or the same secret already exists");
  }
  if (inserted.code() == Code::kFailedPrecondition) {
    return Status::Precondition("API key names an unknown project or creator");
  }
  return inserted;
}

Result<ApiKey> SqliteStore::findApiKeyByHash(std::string_view key_hash) {
  std::lock_guard lock(mutex_);
  Result<Statement> query =
      prepare("SELECT " + std::string(kKeyColumns) + " FROM api_keys WHERE key_hash = ?");
  if (!query.ok()) return query.status();
  query->bindText(key_hash);
  return readOne<ApiKey>(*query, readKey, "API key");
}

Result<std::vector<ApiKey>> SqliteStore::listApiKeys(std::string_view project_id) {
  std::lock_guard lock(mutex_);
  Result<Statement> query = prepare("SELECT " + std::string(kKeyColumns) +
                                    " FROM api_keys WHERE project_id = ? ORDER BY created_ms, id");
  if (!query.ok()) return query.status();
  query->bindText(project_id);
  std::vector<ApiKey> keys;
  for (;;) {
    Result<bool> row = query->step();
    if (!row.ok()) return row.status();
    if (!*row) return keys;
    keys.push_back(readKey(*query));
  }
}

Status SqliteStore::revokeApiKey(std::string_view id) {
  std::lock_guard lock(mutex_);
  Result<Statement> update = prepare("UPDATE api_keys SET revoked = 1 WHERE id = ?");
  if (!update.ok()) return update.status();
  TENDRIL_RETURN_IF_ERROR(update->bindText(id).run());
  if (update->changes() == 0)
    return Status::NotFound("API key '" + std::string(id) + "' not found");
  return Status::Ok();
}

Status SqliteStore::touchApiKey(std::string_view id, TimeMs now_ms) {
  std::lock_guard lock(mutex_);
  Result<Statement> update = prepare("UPDATE api_keys SET last_used_ms = ? WHERE id = ?");
  if (!update.ok()) return update.status();
  TENDRIL_RETURN_IF_ERROR(update->bindInt(now_ms).bindText(id).run());
  if (update->changes() == 0)
    return Status::NotFound("API key '" + std::string(id) + "' not found");
  return Status::Ok();
}

}  // namespace tendril::store
