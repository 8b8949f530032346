#include "service/accounts.h"

#include <algorithm>
#include <utility>

#include "service/access.h"
#include "service/auth.h"  // kApiKeyPrefix: the key format AuthService checks

namespace tendril::service {
namespace {

constexpr size_t kMinNameLength = 3;
constexpr size_t kMaxNameLength = 64;

bool isAsciiLetter(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }

Status checkName(std::string_view kind, std::string_view name) {
  if (isValidName(name)) return Status::Ok();
  return Status::Invalid(
      std::string(kind) +
      " names are 3 to 64 characters: a letter, then letters, digits and _ . @ -");
}

Status requireAdminOrSelf(const Principal& caller, std::string_view user_id) {
  if (caller.is_admin || (!caller.user_id.empty() && caller.user_id == user_id)) {
    return Status::Ok();
  }
  return Status::Denied("only an administrator may read other users");
}

// The cursor of a non-admin's project list: the last listed project's name, hex-encoded (the
// list is ordered by name, and names are unique), after a marker that tells it from the
// store's cursors.
constexpr std::string_view kNameCursorMarker = "n";
constexpr std::string_view kHexDigits = "0123456789abcdef";

std::string encodeNameCursor(std::string_view name) {
  std::string cursor(kNameCursorMarker);
  for (unsigned char c : name) {
    cursor += kHexDigits[c >> 4];
    cursor += kHexDigits[c & 0xf];
  }
  return cursor;
}

Result<std::string> decodeNameCursor(std::string_view cursor) {
  const Status bad = Status::Invalid("cursor: not a cursor of this list");
  if (cursor.substr(0, kNameCursorMarker.size()) != kNameCursorMarker) return bad;
  cursor.remove_prefix(kNameCursorMarker.size());
  if (cursor.empty() || cursor.size() % 2 != 0) return bad;
  std::string name;
  for (size_t i = 0; i < cursor.size(); i += 2) {
    size_t high = kHexDigits.find(cursor[i]);
    size_t low = kHexDigits.find(cursor[i + 1]);
    if (high == std::string_view::npos || low == std::string_view::npos) return bad;
    name += static_cast<char>(high * 16 + low);
  }
  return name;
}

template <typename T>
Result<int64_t> sizeOf(const Result<std::vector<T>>& list) {
  if (!list.ok()) return list.status();
  return static_cast<int64_t>(list->size());
}

}  // namespace

bool isValidName(std::string_view name) {
  if (name.size() < kMinNameLength || name.size() > kMaxNameLength) return false;
  if (!isAsciiLetter(name.front())) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return isAsciiLetter(c) || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '@' ||
           c == '-';
  });
}

AccountService::AccountService(store::MetadataStore& store, Clock clock, HashCost hash_cost)
    : store_(store), clock_(std::move(clock)), hash_cost_(hash_cost) {
  // The store's own cascade removes both; only the counts are needed here.
  contents_.push_back(
      {"member(s)",
       [this](std::string_view project_id) { return sizeOf(store_.listMembers(project_id)); },
       {}});
  contents_.push_back(
      {"API key(s)",
       [this](std::string_view project_id) { return sizeOf(store_.listApiKeys(project_id)); },
       {}});
}

void AccountService::addProjectContent(ProjectContent content) {
  contents_.push_back(std::move(content));
}

// --- Users ---------------------------------------------------------------------------------

Result<store::User> AccountService::createUser(const Principal& caller, std::string_view name,
                                               std::string_view password, bool is_admin) {
  TENDRIL_RETURN_IF_ERROR(Access(caller).requireAdmin());
  TENDRIL_RETURN_IF_ERROR(checkName("user", name));
  Result<std::string> hash = hashPassword(password, hash_cost_);
  if (!hash.ok()) return hash.status();
  const store::TimeMs now = clock_();
  store::User user{newUuid(), std::string(name), std::move(hash).value(), is_admin, now, now};
  TENDRIL_RETURN_IF_ERROR(store_.createUser(user));
  return user;
}

Result<store::User> AccountService::getUser(const Principal& caller, std::string_view id) {
  TENDRIL_RETURN_IF_ERROR(requireAdminOrSelf(caller, id));
  return store_.getUser(id);
}

Result<store::Page<store::User>> AccountService::listUsers(const Principal& caller,
                                                           const store::PageRequest& page) {
  TENDRIL_RETURN_IF_ERROR(Access(caller).requireAdmin());
  return store_.listUsers(page);
}

Result<store::User> AccountService::updateUser(const Principal& caller, std::string_view id,
                                               const UserChanges& changes) {
  TENDRIL_RETURN_IF_ERROR(Access(caller).requireAdmin());
  if (changes.name) TENDRIL_RETURN_IF_ERROR(checkName("user", *changes.name));
  store::UserUpdate update{changes.name, std::nullopt, changes.is_admin, clock_()};
  if (changes.password) {
    // Hashing is slow on purpose; do it before the transaction holds the store.
    Result<std::string> hash = hashPassword(*changes.password, hash_cost_);
    if (!hash.ok()) return hash.status();
    update.password_hash = std::move(hash).value();
  }
  std::optional<store::User> updated;
  Status written_all = store_.transaction([&](store::MetadataStore& store) -> Status {
    Result<store::User> current = store.getUser(id);
    if (!current.ok()) return current.status();
    if (changes.is_admin && !*changes.is_admin) {
      TENDRIL_RETURN_IF_ERROR(requireNotLastAdmin(store, *current, "remove their admin flag"));
    }
    Result<store::User> written = store.updateUser(id, update);
    if (!written.ok()) return written.status();
    if (update.password_hash) {
      // A new password ends every session: a stolen refresh token dies with the old password.
      // (Ended by expiry, not revocation: revoked marks a rotated token, whose reuse means
      // theft; see service/auth.h.)
      TENDRIL_RETURN_IF_ERROR(
          store.expireRefreshTokensForUser(id, "", update.updated_ms).status());
    }
    updated = std::move(written).value();
    return Status::Ok();
  });
  if (!written_all.ok()) return written_all;
  return std::move(*updated);
}

Status AccountService::deleteUser(const Principal& caller, std::string_view id) {
  TENDRIL_RETURN_IF_ERROR(Access(caller).requireAdmin());
  if (id == caller.user_id) return Status::Precondition("you cannot delete yourself");
  return store_.transaction([&](store::MetadataStore& store) -> Status {
    Result<store::User> user = store.getUser(id);
    if (!user.ok()) return user.status();
    TENDRIL_RETURN_IF_ERROR(requireNotLastAdmin(store, *user, "delete them"));
    return store.deleteUser(id);
  });
}

Result<std::vector<store::UserProject>> AccountService::projectsOfUser(const Principal& caller,
                                                                       std::string_view id) {
  TENDRIL_RETURN_IF_ERROR(requireAdminOrSelf(caller, id));
  // The store lists nothing for an unknown user; the API says 404.
  TENDRIL_RETURN_IF_ERROR(store_.getUser(id).status());
  return store_.listProjectsForUser(id);
}

Status AccountService::requireNotLastAdmin(store::MetadataStore& store, const store::User& user,
                                           std::string_view doing) {
  if (!user.is_admin) return Status::Ok();
  Result<int64_t> admins = store.countAdmins();
  if (!admins.ok()) return admins.status();
  if (*admins > 1) return Status::Ok();
  return Status::Precondition("'" + user.name + "' is the last administrator; make another user " +
                              "an administrator before you " + std::string(doing));
}

// --- Projects ------------------------------------------------------------------------------

Result<store::Project> AccountService::createProject(const Principal& caller,
                                                     std::string_view name) {
  TENDRIL_RETURN_IF_ERROR(Access(caller).requireAdmin());
  TENDRIL_RETURN_IF_ERROR(checkName("project", name));
  store::Project project{newUuid(), std::string(name), caller.user_id, clock_()};
  TENDRIL_RETURN_IF_ERROR(store_.createProject(project));
  return project;
}

Result<store::Project> AccountService::getProject(const Principal& caller, std::string_view id) {
  Result<bool> member = isMember(id, caller.user_id);
  if (!member.ok()) return member.status();
  if (!Access(caller).canSeeProject(id, *member)) return Status::NotFound("project not found");
  return store_.getProject(id);
}

Result<store::Page<ProjectView>> AccountService::listProjects(const Principal& caller,
                                                              const store::PageRequest& page) {
  Access access(caller);
  if (!access.isAdmin()) return listOwnProjects(caller, page);
  Result<store::Page<store::Project>> projects = store_.listProjects(page);
  if (!projects.ok()) return projects.status();
  store::Page<ProjectView> views;
  views.next_cursor = std::move(projects->next_cursor);
  for (store::Project& project : projects->items) {
    views.items.push_back({std::move(project), std::nullopt});
  }
  return views;
}

Result<store::Page<ProjectView>> AccountService::listOwnProjects(const Principal& caller,
                                                                 const store::PageRequest& page) {
  TENDRIL_RETURN_IF_ERROR(Access(caller).requireSignedIn());
  if (page.limit < 1 || page.limit > store::kMaxPageLimit) {
    return Status::Invalid("limit: must be 1 to " + std::to_string(store::kMaxPageLimit));
  }
  std::string after;
  if (!page.cursor.empty()) {
    Result<std::string> name = decodeNameCursor(page.cursor);
    if (!name.ok()) return name.status();
    after = std::move(name).value();
  }
  Result<std::vector<store::UserProject>> mine = store_.listProjectsForUser(caller.user_id);
  if (!mine.ok()) return mine.status();
  store::Page<ProjectView> views;
  for (store::UserProject& entry : *mine) {
    if (!page.cursor.empty() && entry.project.name <= after) continue;
    if (views.items.size() == page.limit) {
      views.next_cursor = encodeNameCursor(views.items.back().project.name);
      break;
    }
    views.items.push_back({std::move(entry.project), entry.role});
  }
  return views;
}

Status AccountService::deleteProject(const Principal& caller, std::string_view id, bool cascade) {
  TENDRIL_RETURN_IF_ERROR(Access(caller).requireAdmin());
  return store_.transaction([&](store::MetadataStore& store) -> Status {
    TENDRIL_RETURN_IF_ERROR(store.getProject(id).status());
    if (!cascade) {
      TENDRIL_RETURN_IF_ERROR(requireEmptyProject(id));
    } else {
      for (const ProjectContent& content : contents_) {
        if (content.remove) TENDRIL_RETURN_IF_ERROR(content.remove(id));
      }
    }
    return store.deleteProject(id, cascade);
  });
}

Status AccountService::requireEmptyProject(std::string_view project_id) {
  std::string held;
  for (const ProjectContent& content : contents_) {
    Result<int64_t> count = content.count(project_id);
    if (!count.ok()) return count.status();
    if (*count == 0) continue;
    if (!held.empty()) held += ", ";
    held += std::to_string(*count) + " " + content.noun;
  }
  if (held.empty()) return Status::Ok();
  return Status::Precondition("the project still holds " + held +
                              "; remove them first or delete it with cascade");
}

// --- Memberships ---------------------------------------------------------------------------

Result<std::vector<MemberView>> AccountService::listMembers(const Principal& caller,
                                                            std::string_view project_id) {
  TENDRIL_RETURN_IF_ERROR(requireManaging(caller, project_id));
  return membersOf(project_id);
}

Result<std::vector<MemberView>> AccountService::membersOf(std::string_view project_id) {
  Result<std::vector<store::Membership>> members = store_.listMembers(project_id);
  if (!members.ok()) return members.status();
  std::vector<MemberView> views;
  views.reserve(members->size());
  for (store::Membership& membership : *members) {
    Result<store::User> user = store_.getUser(membership.user_id);
    if (!user.ok()) return user.status();
    views.push_back({std::move(membership), std::move(user->name)});
  }
  return views;
}

Result<MemberView> AccountService::setMember(const Principal& caller, std::string_view project_id,
                                             std::string_view user_id, store::Role role) {
  TENDRIL_RETURN_IF_ERROR(requireManaging(caller, project_id));
  TENDRIL_RETURN_IF_ERROR(store_.getProject(project_id).status());
  TENDRIL_RETURN_IF_ERROR(store_.getUser(user_id).status());
  TENDRIL_RETURN_IF_ERROR(store_.setMembership(project_id, user_id, role, clock_()));
  return memberView(project_id, user_id);
}

Status AccountService::removeMember(const Principal& caller, std::string_view project_id,
                                    std::string_view user_id) {
  TENDRIL_RETURN_IF_ERROR(requireManaging(caller, project_id));
  return store_.removeMembership(project_id, user_id);
}

Result<MemberView> AccountService::memberView(std::string_view project_id,
                                              std::string_view user_id) {
  Result<std::vector<MemberView>> members = membersOf(project_id);
  if (!members.ok()) return members.status();
  for (MemberView& member : *members) {
    if (member.membership.user_id == user_id) return std::move(member);
  }
  // Removed again between the write and this read.
  return Status::NotFound("'" + std::string(user_id) + "' is not a member of the project");
}

// --- API keys ------------------------------------------------------------------------------

Result<CreatedApiKey> AccountService::createApiKey(const Principal& caller,
                                                   std::string_view project_id,
                                                   std::string_view name, store::Role role,
                                                   std::optional<int64_t> expires_in_s) {
  TENDRIL_RETURN_IF_ERROR(requireActingIn(caller, project_id));
  if (role == store::Role::kProjectAdmin && !Access(caller).canManageProject(project_id)) {
    return Status::Denied(
        "only an administrator or the project's project-admin may create project-admin keys");
  }
  TENDRIL_RETURN_IF_ERROR(checkName("API key", name));
  if (expires_in_s &&
      (*expires_in_s < kMinApiKeyLifetimeS || *expires_in_s > kMaxApiKeyLifetimeS)) {
    return Status::Invalid("expires_in_s: must be " + std::to_string(kMinApiKeyLifetimeS) + " to " +
                           std::to_string(kMaxApiKeyLifetimeS) + " seconds");
  }
  TENDRIL_RETURN_IF_ERROR(store_.getProject(project_id).status());
  CreatedApiKey created;
  created.secret = std::string(kApiKeyPrefix) + randomSecret(32);
  store::ApiKey& key = created.key;
  key.id = newUuid();
  key.project_id = std::string(project_id);
  key.name = std::string(name);
  key.role = role;
  key.key_hash = sha256Hex(created.secret);
  key.created_by = caller.user_id;
  key.created_ms = clock_();
  if (expires_in_s) key.expires_ms = key.created_ms + *expires_in_s * 1000;
  TENDRIL_RETURN_IF_ERROR(store_.insertApiKey(key));
  return created;
}

Result<std::vector<store::ApiKey>> AccountService::listApiKeys(const Principal& caller,
                                                               std::string_view project_id) {
  TENDRIL_RETURN_IF_ERROR(requireActingIn(caller, project_id));
  TENDRIL_RETURN_IF_ERROR(store_.getProject(project_id).status());
  Result<std::vector<store::ApiKey>> keys = store_.listApiKeys(project_id);
  if (!keys.ok()) return keys.status();
  Access access(caller);
  std::erase_if(*keys, [&](const store::ApiKey& key) {
    return !access.canSee(key.project_id, key.created_by);
  });
  return keys;
}

Status AccountService::revokeApiKey(const Principal& caller, std::string_view project_id,
                                    std::string_view key_id) {
  TENDRIL_RETURN_IF_ERROR(requireActingIn(caller, project_id));
  Result<std::vector<store::ApiKey>> keys = store_.listApiKeys(project_id);
  if (!keys.ok()) return keys.status();
  auto key = std::find_if(keys->begin(), keys->end(),
                          [&](const store::ApiKey& candidate) { return candidate.id == key_id; });
  if (key == keys->end()) return Status::NotFound("API key not found");
  TENDRIL_RETURN_IF_ERROR(
      Access(caller).requireVisible(key->project_id, key->created_by, "API key"));
  return store_.revokeApiKey(key_id);
}

// --- Scoping helpers -----------------------------------------------------------------------

Status AccountService::requireActingIn(const Principal& caller, std::string_view project_id) {
  // canSee(project, self) holds exactly for an admin and for a project-admin or member whose
  // current project it is.
  if (Access(caller).canSee(project_id, caller.user_id)) return Status::Ok();
  return refuseInProject(caller, project_id, "switch to the project to manage its API keys");
}

Status AccountService::requireManaging(const Principal& caller, std::string_view project_id) {
  if (Access(caller).canManageProject(project_id)) return Status::Ok();
  return refuseInProject(caller, project_id,
                         "only an administrator or the project's project-admin may manage its "
                         "members");
}

Status AccountService::refuseInProject(const Principal& caller, std::string_view project_id,
                                       std::string denied) {
  Result<bool> member = isMember(project_id, caller.user_id);
  if (!member.ok()) return member.status();
  if (Access(caller).canSeeProject(project_id, *member)) return Status::Denied(std::move(denied));
  return Status::NotFound("project not found");
}

Result<bool> AccountService::isMember(std::string_view project_id, std::string_view user_id) {
  if (user_id.empty()) return false;
  Result<store::Role> role = store_.getRole(project_id, user_id);
  if (role.ok()) return true;
  if (role.status().code() == Code::kNotFound) return false;
  return role.status();
}

}  // namespace tendril::service
