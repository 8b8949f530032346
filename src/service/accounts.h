// Account management: users, projects, memberships and API keys, with the rules of
// docs/api.md ("Users", "Projects and memberships", "API keys") about who may do what.
//
// Every method takes the caller first and decides through service::Access (access.h) what the
// caller may see and do; the HTTP layer only translates. Errors:
// - PermissionDenied: the caller may see the thing but not do this (a member listing the
//   members of their project; a non-admin creating a user);
// - NotFound: no such thing, or one the caller may not see (another tenant's project, a key of
//   another project or of another member) — the two look the same;
// - AlreadyExists: a name or id that is taken;
// - FailedPrecondition: the state forbids it (deleting yourself, removing the last admin,
//   deleting a project that still holds members, live API keys or other content);
// - InvalidArgument: a name, password, role or lifetime outside its limits;
// - other store errors pass through. No exception escapes.
//
// Ids come from newUuid(), times from the injected Clock, password hashes from hashPassword()
// with the configured cost. API key secrets are returned once and stored only as their SHA-256.
//
// Thread safety: methods may be called from any thread once setup (addProjectContent) is done;
// checks that must hold together with a change (last admin, empty project) run inside one store
// transaction.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "service/clock.h"
#include "service/credentials.h"
#include "service/principal.h"
#include "store/store.h"

namespace tendril::service {

// Lifetimes an API key may be given at creation (docs/api.md: 60 s to 10 years).
inline constexpr int64_t kMinApiKeyLifetimeS = 60;
inline constexpr int64_t kMaxApiKeyLifetimeS = int64_t{10} * 365 * 24 * 3600;

// Whether `name` is a valid user, project or API-key name: 3 to 64 characters, a letter, then
// letters, digits and `_ . @ -` (the rule docs/api.md states and the endpoint declarations
// check; repeated here because the service is also driven without HTTP, e.g. at bootstrap).
bool isValidName(std::string_view name);

// A project as a caller sees it in a list: the role is the caller's membership role, absent in
// an admin's list of every project.
struct ProjectView {
  store::Project project;
  std::optional<store::Role> role;
};

// A membership with the member's name, as the member lists show it.
struct MemberView {
  store::Membership membership;
  std::string user_name;
};

// A new API key and its secret (kApiKeyPrefix of auth.h, "tdk_", + 43 characters), which is
// shown this once.
struct CreatedApiKey {
  store::ApiKey key;
  std::string secret;
};

// The changes updateUser() makes; absent fields keep their value.
struct UserChanges {
  std::optional<std::string> name;
  std::optional<std::string> password;  // plain text; hashed before it is stored
  std::optional<bool> is_admin;
};

// A kind of thing a project holds that keeps it from being deleted without cascade (members
// and API keys are built in; clusters and datasets are added by their modules).
struct ProjectContent {
  std::string noun;  // plural, for the refusal: "members", "API keys"
  // How many of them `project_id` holds now. Called inside the deleting store transaction.
  std::function<Result<int64_t>(std::string_view project_id)> count;
  // With cascade: removes them before the project's row goes (called inside the same
  // transaction, so an error undoes the store changes). May be empty when the store's own
  // cascade covers them.
  std::function<Status(std::string_view project_id)> remove;
};

class AccountService {
 public:
  // `store` must outlive the service.
  AccountService(store::MetadataStore& store, Clock clock, HashCost hash_cost);
  AccountService(const AccountService&) = delete;  // its content counters point back at it
  AccountService& operator=(const AccountService&) = delete;

  // Registers another kind of project content (setup only, before concurrent use).
  void addProjectContent(ProjectContent content);

  // --- Users (admin; a user may read themselves) -----------------------------------------

  Result<store::User> createUser(const Principal& caller, std::string_view name,
                                 std::string_view password, bool is_admin);
  // Admin, or the caller's own id (any other id: PermissionDenied, whether or not it exists).
  Result<store::User> getUser(const Principal& caller, std::string_view id);
  Result<store::Page<store::User>> listUsers(const Principal& caller,
                                             const store::PageRequest& page);
  // Admin. A new password revokes every refresh token (session) of the user. Clearing the
  // admin flag of the last admin is FailedPrecondition.
  Result<store::User> updateUser(const Principal& caller, std::string_view id,
                                 const UserChanges& changes);
  // Admin. FailedPrecondition for the caller themselves and for the last admin.
  Status deleteUser(const Principal& caller, std::string_view id);
  // The projects the user belongs to, with their role, ordered by name. Admin, or yourself.
  Result<std::vector<store::UserProject>> projectsOfUser(const Principal& caller,
                                                         std::string_view id);

  // --- Projects --------------------------------------------------------------------------

  // Admin; the caller is recorded as the creator (and does not become a member).
  Result<store::Project> createProject(const Principal& caller, std::string_view name);
  // Admin, a member of the project, or a caller acting in it; NotFound otherwise.
  Result<store::Project> getProject(const Principal& caller, std::string_view id);
  // Admin: every project, ordered by (created_ms, id), without role. Anyone else: the projects
  // they are a member of with their role, ordered by name (the cursor is then this list's own).
  Result<store::Page<ProjectView>> listProjects(const Principal& caller,
                                                const store::PageRequest& page);
  // Admin. Without `cascade`, FailedPrecondition naming what the project still holds (members,
  // API keys that are neither revoked nor expired, registered content); with it, everything
  // goes: memberships, API keys, refresh tokens issued for it, registered content.
  Status deleteProject(const Principal& caller, std::string_view id, bool cascade);

  // --- Memberships (admin, or the project's project-admin acting in it) -------------------
  // A caller who can see the project but not manage it gets PermissionDenied; one who cannot
  // see it, NotFound.

  // Ordered by (created_ms, user_id).
  Result<std::vector<MemberView>> listMembers(const Principal& caller, std::string_view project_id);
  // Adds the user or changes their role. NotFound when the user does not exist.
  Result<MemberView> setMember(const Principal& caller, std::string_view project_id,
                               std::string_view user_id, store::Role role);
  // NotFound when the user is not a member.
  Status removeMember(const Principal& caller, std::string_view project_id,
                      std::string_view user_id);

  // --- API keys --------------------------------------------------------------------------
  // The caller must act in the project (admin; project-admin or member with it as current
  // project): a caller who is only a member of it, acting elsewhere, gets PermissionDenied; one
  // who cannot see it, NotFound.

  // A member may create `member` keys only (PermissionDenied for `project-admin`).
  // `expires_in_s` absent: no expiry; else kMinApiKeyLifetimeS..kMaxApiKeyLifetimeS.
  Result<CreatedApiKey> createApiKey(const Principal& caller, std::string_view project_id,
                                     std::string_view name, store::Role role,
                                     std::optional<int64_t> expires_in_s);
  // Admins and project-admins: every key of the project; members: the keys they created.
  // Ordered by (created_ms, id); revoked and expired keys included.
  Result<std::vector<store::ApiKey>> listApiKeys(const Principal& caller,
                                                 std::string_view project_id);
  // Revokes a key of the project (idempotent). NotFound for a key of another project, and for
  // a member, for a key someone else created.
  Status revokeApiKey(const Principal& caller, std::string_view project_id,
                      std::string_view key_id);

 private:
  // Ok when the caller may act in `project_id`, else PermissionDenied or NotFound (above).
  Status requireActingIn(const Principal& caller, std::string_view project_id);
  // Ok when the caller may manage `project_id`, else PermissionDenied or NotFound.
  Status requireManaging(const Principal& caller, std::string_view project_id);
  // The refusal for a caller who failed a check on `project_id`: PermissionDenied (`denied`)
  // when the caller can see the project, NotFound when not.
  Status refuseInProject(const Principal& caller, std::string_view project_id, std::string denied);
  Result<bool> isMember(std::string_view project_id, std::string_view user_id);
  // The members of `project_id` with their names, unchecked.
  Result<std::vector<MemberView>> membersOf(std::string_view project_id);
  Result<MemberView> memberView(std::string_view project_id, std::string_view user_id);
  Result<store::Page<ProjectView>> listOwnProjects(const Principal& caller,
                                                   const store::PageRequest& page);
  // FailedPrecondition naming what `project_id` still holds; Ok when empty.
  Status requireEmptyProject(std::string_view project_id);
  // FailedPrecondition when `user` is the only admin left.
  Status requireNotLastAdmin(store::MetadataStore& store, const store::User& user,
                             std::string_view doing);

  store::MetadataStore& store_;
  Clock clock_;
  HashCost hash_cost_;
  std::vector<ProjectContent> contents_;
};

}  // namespace tendril::service
