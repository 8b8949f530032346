#include "service/access.h"

namespace tendril::service {

Status Access::requireAdmin() const {
  if (principal_.is_admin) return Status::Ok();
  return Status::Denied("only an administrator may do this");
}

Status Access::requireSignedIn() const {
  if (principal_.authenticated() && !principal_.user_id.empty()) return Status::Ok();
  return Status::Denied("sign in first");
}

bool Access::canSee(std::string_view project_id, std::string_view owner_id) const {
  if (principal_.is_admin) return true;
  if (principal_.project_id.empty() || project_id != principal_.project_id) return false;
  if (principal_.role == PolicyRole::kProjectAdmin) return true;
  return principal_.role == PolicyRole::kMember && owner_id == principal_.user_id;
}

Status Access::requireVisible(std::string_view project_id, std::string_view owner_id,
                              std::string_view what) const {
  if (canSee(project_id, owner_id)) return Status::Ok();
  return Status::NotFound(std::string(what) + " not found");
}

bool Access::canSeeProject(std::string_view project_id, bool member_of) const {
  if (principal_.is_admin) return true;
  if (!principal_.authenticated()) return false;
  return member_of || (!principal_.project_id.empty() && project_id == principal_.project_id);
}

bool Access::canManageProject(std::string_view project_id) const {
  if (principal_.is_admin) return true;
  return principal_.role == PolicyRole::kProjectAdmin && !principal_.project_id.empty() &&
         project_id == principal_.project_id;
}

Access::ListScope Access::listScope() const {
  ListScope scope;
  if (principal_.is_admin) return scope;
  if (principal_.project_id.empty() ||
      (principal_.role != PolicyRole::kProjectAdmin && principal_.role != PolicyRole::kMember)) {
    scope.nothing = true;
    return scope;
  }
  scope.project_id = principal_.project_id;
  if (principal_.role == PolicyRole::kMember) scope.owner_id = principal_.user_id;
  return scope;
}

}  // namespace tendril::service
