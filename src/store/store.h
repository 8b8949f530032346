// The metadata store: users, projects, memberships, refresh tokens, API keys and the audit and
// error logs of the Tendril service, behind one interface.
//
// The service talks only to MetadataStore; openSqliteStore() gives the embedded SQLite backend
// (a PostgreSQL backend is meant to implement the same interface, so the schema in
// docs/store.md uses only portable types). The store keeps records and enforces the integrity
// the schema can express (unique names, foreign keys, role values); it makes no policy
// decisions (who may do what) and generates no ids or times: callers pass UUID text ids and
// timestamps, which keeps the store deterministic and testable.
//
// Representations: ids are text (UUIDs by convention; the store only requires them non-empty);
// times are TimeMs, integer milliseconds since the Unix epoch, UTC. Lists of unbounded size are
// paged by an opaque cursor (see PageRequest).
//
// Errors: InvalidArgument for malformed input (empty id, bad cursor, limit out of range);
// NotFound for an unknown id or name; AlreadyExists for a duplicate key or name;
// FailedPrecondition when the stored state forbids the change (a referenced row is missing, a
// project still has members); ResourceExhausted when the database stays locked by another
// process past the busy timeout; Io and Corrupt for file trouble; Internal for anything else.
// No exception escapes a MetadataStore function.
//
// Thread safety: a MetadataStore may be used from several threads; calls are serialised, and
// a transaction() holds the store for its whole duration.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace tendril::store {

// Milliseconds since 1970-01-01T00:00:00Z.
using TimeMs = std::int64_t;

// A user's role inside one project. The global admin flag lives on User.
enum class Role { kMember, kProjectAdmin };

// "member" or "project-admin": the stored and wire spelling.
std::string_view roleName(Role role);
// The inverse of roleName(); InvalidArgument for any other text.
Result<Role> parseRole(std::string_view text);

struct User {
  std::string id;
  std::string name;           // unique across users
  std::string password_hash;  // an Argon2id encoded hash; the store never interprets it
  bool is_admin = false;
  TimeMs created_ms = 0;
  TimeMs updated_ms = 0;
};

// The fields updateUser() changes; fields left empty keep their stored value.
struct UserUpdate {
  std::optional<std::string> name;
  std::optional<std::string> password_hash;
  std::optional<bool> is_admin;
  TimeMs updated_ms = 0;  // always written
};

struct Project {
  std::string id;
  std::string name;        // unique across projects
  std::string created_by;  // a user id; empty when unknown or once that user is deleted
  TimeMs created_ms = 0;
};

struct Membership {
  std::string project_id;
  std::string user_id;
  Role role = Role::kMember;
  TimeMs created_ms = 0;
};

// One project a user belongs to, with the user's role in it.
struct UserProject {
  Project project;
  Role role = Role::kMember;
};

// A refresh token, known to the store only by the SHA-256 hash of its secret.
struct RefreshToken {
  std::string token_hash;  // lower-case hex SHA-256 of the token the client holds; the key
  std::string user_id;
  std::string project_id;  // the project the token was issued for; empty for none
  TimeMs created_ms = 0;
  TimeMs expires_ms = 0;
  bool revoked = false;

  // True when the token may still be exchanged at `now`.
  bool usableAt(TimeMs now) const { return !revoked && now < expires_ms; }
};

// A long-lived credential for programs, scoped to one project and role.
struct ApiKey {
  std::string id;
  std::string project_id;
  std::string name;  // a label chosen by its creator; not unique
  Role role = Role::kMember;
  std::string key_hash;    // lower-case hex SHA-256 of the secret shown once; unique
  std::string created_by;  // a user id; empty once that user is deleted
  TimeMs created_ms = 0;
  std::optional<TimeMs> expires_ms;  // none: never expires
  bool revoked = false;
  std::optional<TimeMs> last_used_ms;  // none: never used

  bool usableAt(TimeMs now) const { return !revoked && (!expires_ms || now < *expires_ms); }
};

// One audited operation. The log outlives users: user_id is kept as text, not a reference.
struct AuditEntry {
  std::string id;
  TimeMs time_ms = 0;
  std::string user_id;  // empty for an anonymous caller
  std::string action;   // e.g. "cluster.create"
  std::string target;   // the id or name acted on; may be empty
  std::string result;   // e.g. "ok" or a Status code name
};

// Which audit entries listAudit() returns; empty fields do not filter.
struct AuditFilter {
  std::optional<std::string> user_id;
  std::optional<std::string> action;
  std::optional<std::string> result;
  std::optional<TimeMs> from_ms;  // inclusive
  std::optional<TimeMs> to_ms;    // exclusive
};

struct ErrorEntry {
  std::string id;
  TimeMs time_ms = 0;
  std::string user_id;    // empty when no user was involved
  std::string component;  // e.g. "scheduler"
  std::string message;
  std::string context;  // free text, e.g. the request with secrets removed
};

struct ErrorFilter {
  std::optional<std::string> user_id;
  std::optional<std::string> component;
  std::optional<TimeMs> from_ms;  // inclusive
  std::optional<TimeMs> to_ms;    // exclusive
};

// --- ML resources ----------------------------------------------------------------------------
//
// Clusters, datasets, tasks and checkpoints share one generic record (the services give each
// kind its meaning): who owns it, what state it is in, what it points to, how many bytes it
// accounts for, and kind-specific attributes as JSON text the store does not interpret. A row
// belongs to a project and goes with it (project delete cascades); a deleted owner leaves the
// row with an empty owner_id.
enum class ResourceKind { kCluster, kDataset, kTask, kCheckpoint };

// "cluster", "dataset", "task", "checkpoint": the stored spelling.
std::string_view resourceKindName(ResourceKind kind);

struct Resource {
  std::string id;
  ResourceKind kind = ResourceKind::kCluster;
  std::string project_id;
  std::string owner_id;   // empty: none (the owner was deleted)
  std::string name;       // empty: unnamed; non-empty names are unique per (kind, project)
  std::string state;      // kind-specific, e.g. "uploading", "queued", "ready"
  std::string parent_id;  // tasks and checkpoints: the cluster; empty: none
  std::string ref_id;     // tasks: the dataset (or checkpoint); empty: none
  std::int64_t bytes = 0; // what the row accounts for against quotas (dataset bytes, ...)
  std::string attrs = "{}";  // kind-specific JSON text, stored verbatim
  TimeMs created_ms = 0;
  TimeMs updated_ms = 0;
};

// Conditions of listResources(), countResources() and sumResourceBytes(); unset or empty
// members are no condition.
struct ResourceFilter {
  ResourceKind kind = ResourceKind::kCluster;
  std::optional<std::string> project_id;
  std::optional<std::string> owner_id;
  std::optional<std::string> parent_id;
  std::optional<std::string> ref_id;
  std::vector<std::string> states;  // any of these
};

// Per-project limits; an unset limit means "the configured default".
struct ProjectQuota {
  std::string project_id;
  std::optional<std::int64_t> clusters;
  std::optional<std::int64_t> synapse_bytes;
  std::optional<std::int64_t> dataset_bytes;
  std::optional<std::int64_t> concurrent_tasks;
};

inline constexpr std::size_t kDefaultPageLimit = 50;
inline constexpr std::size_t kMaxPageLimit = 1000;

// One page of a list: at most `limit` items after `cursor`. An empty cursor asks for the first
// page; any other cursor must be a next_cursor returned by the same kind of list.
struct PageRequest {
  std::size_t limit = kDefaultPageLimit;  // 1..kMaxPageLimit
  std::string cursor;
};

// Items in a stable order, and the cursor of the page after them (empty on the last page).
// Rows inserted or deleted between two calls never make a page repeat or skip a row that
// existed throughout.
template <typename T>
struct Page {
  std::vector<T> items;
  std::string next_cursor;
};

class MetadataStore {
 public:
  virtual ~MetadataStore() = default;

  // The schema version this store's database is at (the newest migration applied).
  virtual int schemaVersion() const = 0;

  // Runs `work` atomically: every change it makes through the store it is given is kept when
  // it returns ok and undone when it returns an error (which is then returned) or throws
  // (Internal). Transactions nest: an inner one rolls back only its own changes.
  virtual Status transaction(const std::function<Status(MetadataStore&)>& work) = 0;

  // --- Users -----------------------------------------------------------------------------

  // Stores a new user. InvalidArgument for an empty id, name or password hash; AlreadyExists
  // when the id or the name is taken.
  virtual Status createUser(const User& user) = 0;
  // NotFound when no user has this id.
  virtual Result<User> getUser(std::string_view id) = 0;
  // The user with exactly this name (case-sensitive). NotFound when none.
  virtual Result<User> findUserByName(std::string_view name) = 0;
  // All users ordered by (created_ms, id).
  virtual Result<Page<User>> listUsers(const PageRequest& page) = 0;
  // Changes the given fields and returns the updated user. NotFound for an unknown id;
  // AlreadyExists when the new name is taken; InvalidArgument for an empty name or hash.
  virtual Result<User> updateUser(std::string_view id, const UserUpdate& update) = 0;
  // Deletes a user with their memberships and refresh tokens; projects and API keys they
  // created stay, with created_by cleared. NotFound for an unknown id.
  virtual Status deleteUser(std::string_view id) = 0;
  // How many users hold the admin flag (the service bootstraps an admin when there is none).
  virtual Result<std::int64_t> countAdmins() = 0;

  // --- Projects --------------------------------------------------------------------------

  // InvalidArgument for an empty id or name; AlreadyExists when the id or name is taken;
  // FailedPrecondition when created_by names no user.
  virtual Status createProject(const Project& project) = 0;
  // NotFound when no project has this id.
  virtual Result<Project> getProject(std::string_view id) = 0;
  // All projects ordered by (created_ms, id).
  virtual Result<Page<Project>> listProjects(const PageRequest& page) = 0;
  // The projects `user_id` is a member of, ordered by project name; empty for an unknown user.
  virtual Result<std::vector<UserProject>> listProjectsForUser(std::string_view user_id) = 0;
  // Deletes a project. Without `cascade`: FailedPrecondition while it has members. With it:
  // its memberships, API keys and refresh tokens go too. NotFound for an unknown id.
  virtual Status deleteProject(std::string_view id, bool cascade) = 0;

  // --- Memberships -----------------------------------------------------------------------

  // Makes `user_id` a member of `project_id` with `role`, or changes the role of an existing
  // member (keeping its created_ms). NotFound when the user or the project does not exist.
  virtual Status setMembership(std::string_view project_id, std::string_view user_id, Role role,
                               TimeMs now_ms) = 0;
  // NotFound when the user is not a member of the project.
  virtual Status removeMembership(std::string_view project_id, std::string_view user_id) = 0;
  // The role of `user_id` in `project_id`; NotFound when not a member (or either is unknown).
  virtual Result<Role> getRole(std::string_view project_id, std::string_view user_id) = 0;
  // The members of a project ordered by (created_ms, user_id). NotFound for an unknown project.
  virtual Result<std::vector<Membership>> listMembers(std::string_view project_id) = 0;

  // --- Refresh tokens --------------------------------------------------------------------

  // InvalidArgument for an empty hash or user; AlreadyExists for a known hash;
  // FailedPrecondition when the user or project does not exist.
  virtual Status insertRefreshToken(const RefreshToken& token) = 0;
  // The token with this hash, revoked and expired ones included (see usableAt()). NotFound
  // when none.
  virtual Result<RefreshToken> findRefreshToken(std::string_view token_hash) = 0;
  // Marks one token revoked (idempotent). NotFound when none has this hash.
  virtual Status revokeRefreshToken(std::string_view token_hash) = 0;
  // Revokes every token of a user but the one hashed `except_hash` (none when empty); returns
  // how many were newly revoked.
  virtual Result<std::int64_t> revokeRefreshTokensForUser(std::string_view user_id,
                                                          std::string_view except_hash = {}) = 0;
  // Ends a token now without marking it revoked: its expiry becomes min(expiry, now_ms). The
  // service keeps `revoked` for tokens rotated away (whose reuse means theft) and ends sessions
  // (logout, password change) this way. NotFound when none has this hash.
  virtual Status expireRefreshToken(std::string_view token_hash, TimeMs now_ms) = 0;
  // The same for every token of a user but the one hashed `except_hash` (none when empty);
  // returns how many were still unexpired.
  virtual Result<std::int64_t> expireRefreshTokensForUser(std::string_view user_id,
                                                          std::string_view except_hash,
                                                          TimeMs now_ms) = 0;
  // Deletes tokens with expires_ms <= now_ms; returns how many.
  virtual Result<std::int64_t> deleteExpiredRefreshTokens(TimeMs now_ms) = 0;

  // --- API keys --------------------------------------------------------------------------

  // InvalidArgument for an empty id, project or hash; AlreadyExists for a known id or hash;
  // FailedPrecondition when the project (or created_by user) does not exist.
  virtual Status insertApiKey(const ApiKey& key) = 0;
  // The key with this hash, revoked and expired ones included. NotFound when none.
  virtual Result<ApiKey> findApiKeyByHash(std::string_view key_hash) = 0;
  // The keys of a project ordered by (created_ms, id); empty for an unknown project.
  virtual Result<std::vector<ApiKey>> listApiKeys(std::string_view project_id) = 0;
  // Marks a key revoked (idempotent). NotFound for an unknown id.
  virtual Status revokeApiKey(std::string_view id) = 0;
  // Records that the key was used at `now_ms`. NotFound for an unknown id.
  virtual Status touchApiKey(std::string_view id, TimeMs now_ms) = 0;

  // --- Logs ------------------------------------------------------------------------------

  // Appends one audit entry. InvalidArgument for an empty id or action; AlreadyExists for a
  // known id.
  virtual Status appendAudit(const AuditEntry& entry) = 0;
  // Matching entries, newest first: ordered by (time_ms, id) descending.
  virtual Result<Page<AuditEntry>> listAudit(const AuditFilter& filter,
                                             const PageRequest& page) = 0;
  // Appends one error entry. InvalidArgument for an empty id; AlreadyExists for a known id.
  virtual Status appendError(const ErrorEntry& entry) = 0;
  // Matching entries, newest first: ordered by (time_ms, id) descending.
  virtual Result<Page<ErrorEntry>> listErrors(const ErrorFilter& filter,
                                              const PageRequest& page) = 0;

  // --- ML resources ----------------------------------------------------------------------

  // Inserts a new row. InvalidArgument for an empty id or project_id; AlreadyExists for a known
  // id or a name taken by another row of the same kind and project; FailedPrecondition when
  // the project (or the owner) does not exist.
  virtual Status insertResource(const Resource& resource) = 0;
  // NotFound unless a row of `kind` has this id.
  virtual Result<Resource> getResource(ResourceKind kind, std::string_view id) = 0;
  // Matching rows, oldest first: ordered by (created_ms, id).
  virtual Result<Page<Resource>> listResources(const ResourceFilter& filter,
                                               const PageRequest& page) = 0;
  // Replaces name, state, bytes, attrs, parent_id, ref_id and updated_ms of the row with
  // `resource.id` and kind (project, owner and created_ms never change). NotFound;
  // AlreadyExists for a rename onto a taken name.
  virtual Status updateResource(const Resource& resource) = 0;
  // NotFound unless a row of `kind` has this id.
  virtual Status deleteResource(ResourceKind kind, std::string_view id) = 0;
  virtual Result<std::int64_t> countResources(const ResourceFilter& filter) = 0;
  // The sum of `bytes` over the matching rows (0 when none).
  virtual Result<std::int64_t> sumResourceBytes(const ResourceFilter& filter) = 0;

  // The project's quota row; a project without one gives a ProjectQuota with no limit set.
  virtual Result<ProjectQuota> getQuota(std::string_view project_id) = 0;
  // Creates or replaces the quota row. FailedPrecondition for an unknown project.
  virtual Status setQuota(const ProjectQuota& quota) = 0;
};

// Opens (creating it when missing) the SQLite database at `file` and brings its schema up to
// date: WAL journal, foreign keys enforced, a busy timeout of kSqliteBusyTimeoutMs. Io when the
// file cannot be opened or created; Corrupt when it is not a database; FailedPrecondition when
// its schema is newer than this build knows. Several processes may open the same file.
inline constexpr int kSqliteBusyTimeoutMs = 5000;
Result<std::unique_ptr<MetadataStore>> openSqliteStore(const std::filesystem::path& file);

// How many database operations failed in this process for reasons other than a constraint
// (locked past the busy timeout, I/O, corruption, bugs): the `tendril_store_errors_total`
// metric. Thread-safe.
std::uint64_t databaseErrorCount();

// A private in-memory SQLite database, gone when the store is destroyed (for tests).
Result<std::unique_ptr<MetadataStore>> openSqliteMemoryStore();

}  // namespace tendril::store
