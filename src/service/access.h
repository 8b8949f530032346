// Tenant scoping, in one place: every lookup of a tenant-owned thing (and every list of them)
// asks an Access built from the caller's Principal, so the rules of spec/service.md §3 hold
// everywhere — HTTP, WebSocket attach, tasks — without each handler re-deriving them:
//
// - a global admin sees everything, in every project;
// - a project-admin sees all of the current project's resources;
// - a member sees the current project's resources they own;
// - a caller with no project (role `user`) or no credentials sees no project resources.
//
// Things the caller may not see are reported as NotFound (their existence is not revealed);
// things the caller may see but not change are PermissionDenied.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"
#include "service/principal.h"

namespace tendril::service {

class Access {
 public:
  explicit Access(const Principal& principal) : principal_(principal) {}

  bool isAdmin() const { return principal_.is_admin; }
  const Principal& principal() const { return principal_; }

  // PermissionDenied unless the caller is a global admin.
  Status requireAdmin() const;
  // PermissionDenied unless the caller is signed in as a user (any role but anonymous).
  Status requireSignedIn() const;

  // Whether the caller may see a row of `project_id` owned by `owner_id`.
  bool canSee(std::string_view project_id, std::string_view owner_id) const;
  // NotFound (naming `what`) unless canSee().
  Status requireVisible(std::string_view project_id, std::string_view owner_id,
                        std::string_view what) const;

  // Whether the caller may see the project itself (admin, or it is the current project, or
  // the caller is a member of it — `member_of` says whether the store found a membership).
  bool canSeeProject(std::string_view project_id, bool member_of) const;
  // Whether the caller may manage `project_id` (members, every API key, cascade): admin, or
  // project-admin acting in that project.
  bool canManageProject(std::string_view project_id) const;

  // What a list of project resources must be filtered by. `project_id` and `owner_id` empty
  // mean "no condition"; `nothing` means the list is empty for this caller.
  struct ListScope {
    std::optional<std::string> project_id;
    std::optional<std::string> owner_id;
    bool nothing = false;
  };
  ListScope listScope() const;

 private:
  const Principal& principal_;
};

}  // namespace tendril::service
