#include "service/access.h"

#include <gtest/gtest.h>

#include "common/status_testing.h"

namespace tendril::service {
namespace {

constexpr std::string_view kP = "project-p";
constexpr std::string_view kQ = "project-q";

Principal signedIn(std::string user_id, std::string project_id, PolicyRole role) {
  Principal principal;
  principal.user_id = std::move(user_id);
  principal.user_name = principal.user_id + "-name";
  principal.is_admin = role == PolicyRole::kAdmin;
  principal.project_id = std::move(project_id);
  principal.role = role;
  principal.method = AuthMethod::kAccessToken;
  return principal;
}

const Principal kAdmin = signedIn("admin", "", PolicyRole::kAdmin);
const Principal kProjectAdminP = signedIn("padmin", std::string(kP), PolicyRole::kProjectAdmin);
const Principal kMemberP = signedIn("member-p", std::string(kP), PolicyRole::kMember);
const Principal kMemberQ = signedIn("member-q", std::string(kQ), PolicyRole::kMember);
const Principal kNoProject = signedIn("loner", "", PolicyRole::kUser);
const Principal kAnonymous;

TEST(AccessTest, OnlyAdminsPassRequireAdmin) {
  EXPECT_TRUE(Access(kAdmin).requireAdmin().ok());
  for (const Principal* other : {&kProjectAdminP, &kMemberP, &kNoProject, &kAnonymous}) {
    EXPECT_TRUE(failsWith(Access(*other).requireAdmin(), Code::kPermissionDenied, "administrator"));
  }
}

TEST(AccessTest, EverySignedInRolePassesRequireSignedIn) {
  for (const Principal* known : {&kAdmin, &kProjectAdminP, &kMemberP, &kNoProject}) {
    EXPECT_TRUE(Access(*known).requireSignedIn().ok()) << known->user_id;
  }
  EXPECT_TRUE(failsWith(Access(kAnonymous).requireSignedIn(), Code::kPermissionDenied, "sign in"));
  Principal keyWithoutUser = kMemberP;  // a resolved credential must name a user
  keyWithoutUser.user_id.clear();
  EXPECT_FALSE(Access(keyWithoutUser).requireSignedIn().ok());
}

TEST(AccessTest, AdminSeesEverything) {
  Access access(kAdmin);
  EXPECT_TRUE(access.canSee(kP, "someone"));
  EXPECT_TRUE(access.canSee(kQ, ""));
  EXPECT_TRUE(access.canSee("", ""));
  EXPECT_TRUE(access.canSeeProject(kQ, false));
  EXPECT_TRUE(access.canManageProject(kQ));
  Access::ListScope scope = access.listScope();
  EXPECT_FALSE(scope.nothing);
  EXPECT_FALSE(scope.project_id);
  EXPECT_FALSE(scope.owner_id);
}

TEST(AccessTest, ProjectAdminSeesAllOfTheCurrentProjectOnly) {
  Access access(kProjectAdminP);
  EXPECT_TRUE(access.canSee(kP, "member-p"));
  EXPECT_TRUE(access.canSee(kP, ""));
  EXPECT_FALSE(access.canSee(kQ, "padmin"));  // its own thing in another project: no
  EXPECT_FALSE(access.canSee("", "padmin"));
  EXPECT_TRUE(access.canManageProject(kP));
  EXPECT_FALSE(access.canManageProject(kQ));
  Access::ListScope scope = access.listScope();
  EXPECT_FALSE(scope.nothing);
  EXPECT_EQ(scope.project_id, std::string(kP));
  EXPECT_FALSE(scope.owner_id);
}

TEST(AccessTest, MemberSeesOwnThingsOfTheCurrentProject) {
  Access access(kMemberP);
  EXPECT_TRUE(access.canSee(kP, "member-p"));
  EXPECT_FALSE(access.canSee(kP, "padmin"));
  EXPECT_FALSE(access.canSee(kP, ""));
  EXPECT_FALSE(access.canSee(kQ, "member-p"));
  EXPECT_FALSE(access.canManageProject(kP));
  EXPECT_TRUE(failsWith(access.requireVisible(kP, "padmin", "cluster"), Code::kNotFound,
                        "cluster not found"));
  EXPECT_TRUE(access.requireVisible(kP, "member-p", "cluster").ok());
  Access::ListScope scope = access.listScope();
  EXPECT_FALSE(scope.nothing);
  EXPECT_EQ(scope.project_id, std::string(kP));
  EXPECT_EQ(scope.owner_id, "member-p");
}

TEST(AccessTest, ProjectVisibilityFollowsMembershipOrCurrentProject) {
  EXPECT_TRUE(Access(kMemberP).canSeeProject(kP, false));  // acting in it
  EXPECT_FALSE(Access(kMemberP).canSeeProject(kQ, false));
  EXPECT_TRUE(Access(kMemberP).canSeeProject(kQ, true));  // a member, acting elsewhere
  EXPECT_TRUE(Access(kNoProject).canSeeProject(kP, true));
  EXPECT_FALSE(Access(kNoProject).canSeeProject(kP, false));
  EXPECT_FALSE(Access(kAnonymous).canSeeProject(kP, true));
}

TEST(AccessTest, CallersWithoutProjectSeeNoProjectResources) {
  for (const Principal* outsider : {&kNoProject, &kAnonymous}) {
    Access access(*outsider);
    EXPECT_FALSE(access.canSee(kP, outsider->user_id));
    EXPECT_FALSE(access.canSee("", outsider->user_id));
    EXPECT_FALSE(access.canManageProject(kP));
    EXPECT_FALSE(access.canManageProject(""));
    EXPECT_TRUE(access.listScope().nothing);
  }
  EXPECT_FALSE(Access(kMemberQ).canSee(kP, "member-q"));
}

}  // namespace
}  // namespace tendril::service
