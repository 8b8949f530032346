#include "service/accounts.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "common/status_testing.h"

namespace tendril::service {
namespace {

constexpr store::TimeMs kStart = 1'790'000'000'000;

// A world of two projects, P and Q, and one caller of each kind:
//   root      admin (global flag), acting in no project
//   alice     project-admin of P, acting in P
//   bob       member of P, acting in P
//   carol     member of Q, acting in Q
//   dave      member of nothing (role user)
//   anonymous no credentials
class AccountsTest : public testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(initCredentials().ok());
    Result<std::unique_ptr<store::MetadataStore>> opened = store::openSqliteMemoryStore();
    ASSERT_TRUE(opened.ok()) << opened.status().toString();
    store_ = std::move(opened).value();
    // Setup happens before kStart, one millisecond per step, so lists have a defined order.
    now_ = kStart - 100;
    accounts_ = std::make_unique<AccountService>(
        *store_, [this] { return now_++; }, HashCost::kTesting);
    // The first admin is bootstrapped straight into the store, as the server does.
    root_user_ = {"00000000-0000-4000-8000-000000000001", "root", "$argon2id$x", true, 1, 1};
    ASSERT_TRUE(store_->createUser(root_user_).ok());
    root_ = as(root_user_, "", PolicyRole::kAdmin);

    p_ = make(accounts_->createProject(root_, "project-p"));
    q_ = make(accounts_->createProject(root_, "project-q"));
    store::User alice = make(accounts_->createUser(root_, "alice", "alice-password", false));
    store::User bob = make(accounts_->createUser(root_, "bob", "bob-password", false));
    store::User carol = make(accounts_->createUser(root_, "carol", "carol-password", false));
    store::User dave = make(accounts_->createUser(root_, "dave", "dave-password", false));
    make(accounts_->setMember(root_, p_.id, alice.id, store::Role::kProjectAdmin));
    make(accounts_->setMember(root_, p_.id, bob.id, store::Role::kMember));
    make(accounts_->setMember(root_, q_.id, carol.id, store::Role::kMember));
    alice_ = as(alice, p_.id, PolicyRole::kProjectAdmin);
    bob_ = as(bob, p_.id, PolicyRole::kMember);
    carol_ = as(carol, q_.id, PolicyRole::kMember);
    dave_ = as(dave, "", PolicyRole::kUser);
    now_ = kStart;
  }

  static Principal as(const store::User& user, std::string project_id, PolicyRole role) {
    Principal principal;
    principal.user_id = user.id;
    principal.user_name = user.name;
    principal.is_admin = user.is_admin;
    principal.project_id = std::move(project_id);
    principal.role = role;
    principal.method = AuthMethod::kAccessToken;
    return principal;
  }

  // The value of a result that must succeed (fails the test and returns T{} otherwise).
  template <typename T>
  static T make(Result<T> result) {
    EXPECT_TRUE(result.ok()) << result.status().toString();
    return result.ok() ? std::move(result).value() : T{};
  }

  static UserChanges renamed(std::string name) {
    UserChanges changes;
    changes.name = std::move(name);
    return changes;
  }
  static UserChanges newPassword(std::string password) {
    UserChanges changes;
    changes.password = std::move(password);
    return changes;
  }
  static UserChanges adminFlag(bool is_admin) {
    UserChanges changes;
    changes.is_admin = is_admin;
    return changes;
  }

  // The same caller acting in another project (or none).
  static Principal actingIn(Principal principal, std::string project_id, PolicyRole role) {
    principal.project_id = std::move(project_id);
    principal.role = role;
    return principal;
  }

  template <typename T>
  static std::vector<std::string> namesOf(const std::vector<T>& items) {
    std::vector<std::string> names;
    for (const T& item : items) {
      if constexpr (requires(const T& t) { t.project.name; }) {
        names.push_back(item.project.name);
      } else {
        names.push_back(item.name);
      }
    }
    return names;
  }

  store::TimeMs now_ = kStart;
  std::unique_ptr<store::MetadataStore> store_;
  std::unique_ptr<AccountService> accounts_;
  store::User root_user_;
  store::Project p_, q_;
  Principal root_, alice_, bob_, carol_, dave_;
  Principal anonymous_;
  using Names = std::vector<std::string>;
};

// --- Users -----------------------------------------------------------------------------------

TEST_F(AccountsTest, AdminCreatesUsersWithHashedPasswords) {
  now_ += 5;
  store::User user = make(accounts_->createUser(root_, "ada.l@b-c_d", "a long password", true));
  EXPECT_EQ(user.id.size(), 36u);
  EXPECT_EQ(user.name, "ada.l@b-c_d");
  EXPECT_TRUE(user.is_admin);
  EXPECT_EQ(user.created_ms, kStart + 5);
  EXPECT_EQ(user.updated_ms, kStart + 5);
  store::User stored = make(store_->getUser(user.id));
  EXPECT_NE(stored.password_hash, "a long password");
  EXPECT_TRUE(verifyPassword(stored.password_hash, "a long password"));
}

TEST_F(AccountsTest, CreateUserRefusesBadInputAndTakenNames) {
  EXPECT_EQ(accounts_->createUser(root_, "bob", "whatever123", false).status().code(),
            Code::kAlreadyExists);
  for (const char* bad : {"", "ab", "1abc", "_abc", "has space", "caf\xc3\xa9", "a/b"}) {
    EXPECT_TRUE(failsWith(accounts_->createUser(root_, bad, "whatever123", false).status(),
                          Code::kInvalidArgument, "user names"))
        << bad;
  }
  EXPECT_FALSE(accounts_->createUser(root_, std::string(65, 'a'), "whatever123", false).ok());
  EXPECT_TRUE(accounts_->createUser(root_, std::string(64, 'a'), "whatever123", false).ok());
  EXPECT_TRUE(failsWith(accounts_->createUser(root_, "shorty", "short", false).status(),
                        Code::kInvalidArgument, "8 to 1024"));
}

TEST_F(AccountsTest, OnlyAdminsCreateListUpdateAndDeleteUsers) {
  for (const Principal* caller : {&alice_, &bob_, &carol_, &dave_, &anonymous_}) {
    EXPECT_EQ(accounts_->createUser(*caller, "mallory", "mallory-pass", true).status().code(),
              Code::kPermissionDenied);
    EXPECT_EQ(accounts_->listUsers(*caller, {}).status().code(), Code::kPermissionDenied);
    EXPECT_EQ(accounts_->updateUser(*caller, caller->user_id, adminFlag(true)).status().code(),
              Code::kPermissionDenied);
    EXPECT_EQ(accounts_->deleteUser(*caller, carol_.user_id).code(), Code::kPermissionDenied);
  }
  EXPECT_FALSE(make(store_->getUser(dave_.user_id)).is_admin);
  EXPECT_TRUE(store_->getUser(carol_.user_id).ok());
  EXPECT_EQ(make(accounts_->listUsers(root_, {})).items.size(), 5u);
}

TEST_F(AccountsTest, UsersReadThemselvesAdminsReadAnyone) {
  EXPECT_EQ(make(accounts_->getUser(bob_, bob_.user_id)).name, "bob");
  EXPECT_EQ(make(accounts_->getUser(dave_, dave_.user_id)).name, "dave");
  EXPECT_EQ(make(accounts_->getUser(root_, carol_.user_id)).name, "carol");
  // A project-admin is no user admin; the refusal does not depend on whether the id exists.
  EXPECT_EQ(accounts_->getUser(alice_, bob_.user_id).status().code(), Code::kPermissionDenied);
  EXPECT_EQ(accounts_->getUser(bob_, "no-such-user").status().code(), Code::kPermissionDenied);
  EXPECT_EQ(accounts_->getUser(anonymous_, "").status().code(), Code::kPermissionDenied);
  EXPECT_EQ(accounts_->getUser(root_, "no-such-user").status().code(), Code::kNotFound);
}

TEST_F(AccountsTest, ListUsersPages) {
  store::Page<store::User> first = make(accounts_->listUsers(root_, {3, ""}));
  EXPECT_EQ(namesOf(first.items), (Names{"root", "alice", "bob"}));
  ASSERT_FALSE(first.next_cursor.empty());
  store::Page<store::User> second = make(accounts_->listUsers(root_, {3, first.next_cursor}));
  EXPECT_EQ(namesOf(second.items), (Names{"carol", "dave"}));
  EXPECT_TRUE(second.next_cursor.empty());
}

TEST_F(AccountsTest, UpdateUserChangesNameFlagAndPassword) {
  now_ += 100;
  store::User robert = make(accounts_->updateUser(root_, bob_.user_id, renamed("robert")));
  EXPECT_EQ(robert.name, "robert");
  EXPECT_EQ(robert.updated_ms, kStart + 100);
  EXPECT_EQ(make(store_->getUser(bob_.user_id)).name, "robert");
  EXPECT_TRUE(make(accounts_->updateUser(root_, bob_.user_id, adminFlag(true))).is_admin);
  EXPECT_EQ(accounts_->updateUser(root_, bob_.user_id, renamed("carol")).status().code(),
            Code::kAlreadyExists);
  EXPECT_EQ(accounts_->updateUser(root_, bob_.user_id, renamed("x")).status().code(),
            Code::kInvalidArgument);
  EXPECT_EQ(accounts_->updateUser(root_, bob_.user_id, newPassword("short")).status().code(),
            Code::kInvalidArgument);
  EXPECT_EQ(accounts_->updateUser(root_, "no-such-user", renamed("nobody")).status().code(),
            Code::kNotFound);
}

TEST_F(AccountsTest, ANewPasswordEndsEverySessionOfThatUserOnly) {
  for (const char* hash : {"bob-1", "bob-2"}) {
    ASSERT_TRUE(
        store_->insertRefreshToken({hash, bob_.user_id, p_.id, kStart, kStart + 1000000}).ok());
  }
  ASSERT_TRUE(
      store_->insertRefreshToken({"carol-1", carol_.user_id, "", kStart, kStart + 1000000}).ok());
  // A rename keeps the sessions.
  make(accounts_->updateUser(root_, bob_.user_id, renamed("robert")));
  const store::TimeMs later = kStart + 10;
  EXPECT_TRUE(make(store_->findRefreshToken("bob-1")).usableAt(later));

  // Ended by expiry, not marked revoked (revoked means rotated; see service/auth.h).
  make(accounts_->updateUser(root_, bob_.user_id, newPassword("a brand new one")));
  EXPECT_FALSE(make(store_->findRefreshToken("bob-1")).usableAt(later));
  EXPECT_FALSE(make(store_->findRefreshToken("bob-2")).usableAt(later));
  EXPECT_FALSE(make(store_->findRefreshToken("bob-1")).revoked);
  EXPECT_TRUE(make(store_->findRefreshToken("carol-1")).usableAt(later));
  store::User stored = make(store_->getUser(bob_.user_id));
  EXPECT_TRUE(verifyPassword(stored.password_hash, "a brand new one"));
  EXPECT_FALSE(verifyPassword(stored.password_hash, "bob-password"));
}

TEST_F(AccountsTest, TheLastAdminKeepsTheFlag) {
  EXPECT_TRUE(failsWith(accounts_->updateUser(root_, root_.user_id, adminFlag(false)).status(),
                        Code::kFailedPrecondition, "last administrator"));
  EXPECT_TRUE(make(store_->getUser(root_.user_id)).is_admin);
  // Setting it to what it is, or renaming, is fine.
  EXPECT_TRUE(accounts_->updateUser(root_, root_.user_id, adminFlag(true)).ok());
  // With a second admin the first may step down.
  make(accounts_->updateUser(root_, dave_.user_id, adminFlag(true)));
  EXPECT_FALSE(make(accounts_->updateUser(root_, root_.user_id, adminFlag(false))).is_admin);
  // Removing the flag of a non-admin is no change to the admin count.
  EXPECT_TRUE(accounts_->updateUser(root_, bob_.user_id, adminFlag(false)).ok());
}

TEST_F(AccountsTest, DeleteUserRefusesYourselfAndTheLastAdmin) {
  EXPECT_TRUE(failsWith(accounts_->deleteUser(root_, root_.user_id), Code::kFailedPrecondition,
                        "you cannot delete yourself"));
  // A second admin whose flag was removed while the request was running still carries an
  // admin principal: the store says root is the last admin.
  store::User other = make(accounts_->createUser(root_, "other", "other-password", true));
  Principal stale = as(other, "", PolicyRole::kAdmin);
  make(accounts_->updateUser(root_, other.id, adminFlag(false)));
  EXPECT_TRUE(failsWith(accounts_->deleteUser(stale, root_.user_id), Code::kFailedPrecondition,
                        "last administrator"));
  EXPECT_TRUE(store_->getUser(root_.user_id).ok());
  EXPECT_EQ(accounts_->deleteUser(root_, "no-such-user").code(), Code::kNotFound);
}

TEST_F(AccountsTest, DeleteUserRemovesTheUserAndTheirMemberships) {
  make(accounts_->updateUser(root_, dave_.user_id, adminFlag(true)));
  ASSERT_TRUE(accounts_->deleteUser(root_, dave_.user_id).ok());  // an admin, not the last
  ASSERT_TRUE(accounts_->deleteUser(root_, bob_.user_id).ok());
  EXPECT_EQ(store_->getUser(bob_.user_id).status().code(), Code::kNotFound);
  EXPECT_EQ(store_->getRole(p_.id, bob_.user_id).status().code(), Code::kNotFound);
  EXPECT_EQ(accounts_->deleteUser(root_, bob_.user_id).code(), Code::kNotFound);
}

TEST_F(AccountsTest, ProjectsOfUserForAdminsAndThemselves) {
  make(accounts_->setMember(root_, q_.id, bob_.user_id, store::Role::kProjectAdmin));
  std::vector<store::UserProject> mine = make(accounts_->projectsOfUser(bob_, bob_.user_id));
  ASSERT_EQ(mine.size(), 2u);
  EXPECT_EQ(mine[0].project.name, "project-p");
  EXPECT_EQ(mine[0].role, store::Role::kMember);
  EXPECT_EQ(mine[1].project.name, "project-q");
  EXPECT_EQ(mine[1].role, store::Role::kProjectAdmin);
  EXPECT_EQ(make(accounts_->projectsOfUser(root_, bob_.user_id)).size(), 2u);
  EXPECT_TRUE(make(accounts_->projectsOfUser(dave_, dave_.user_id)).empty());
  EXPECT_EQ(accounts_->projectsOfUser(alice_, bob_.user_id).status().code(),
            Code::kPermissionDenied);
  EXPECT_EQ(accounts_->projectsOfUser(root_, "no-such-user").status().code(), Code::kNotFound);
}

// --- Projects --------------------------------------------------------------------------------

TEST_F(AccountsTest, AdminsCreateProjectsAsTheirCreator) {
  now_ += 7;
  store::Project project = make(accounts_->createProject(root_, "research"));
  EXPECT_EQ(project.created_by, root_.user_id);
  EXPECT_EQ(project.created_ms, kStart + 7);
  EXPECT_EQ(make(store_->getProject(project.id)).name, "research");
  EXPECT_EQ(store_->getRole(project.id, root_.user_id).status().code(), Code::kNotFound);
  EXPECT_EQ(accounts_->createProject(root_, "project-p").status().code(), Code::kAlreadyExists);
  EXPECT_EQ(accounts_->createProject(root_, "no spaces").status().code(), Code::kInvalidArgument);
  for (const Principal* caller : {&alice_, &bob_, &dave_, &anonymous_}) {
    EXPECT_EQ(accounts_->createProject(*caller, "sneaky").status().code(), Code::kPermissionDenied);
  }
}

TEST_F(AccountsTest, ProjectsAreVisibleToAdminsAndMembersOnly) {
  EXPECT_EQ(make(accounts_->getProject(root_, q_.id)).name, "project-q");
  EXPECT_EQ(make(accounts_->getProject(alice_, p_.id)).name, "project-p");
  EXPECT_EQ(make(accounts_->getProject(bob_, p_.id)).name, "project-p");
  // A member acting elsewhere (or in no project) still sees their projects.
  EXPECT_TRUE(accounts_->getProject(actingIn(bob_, "", PolicyRole::kUser), p_.id).ok());
  // Anyone else: exactly as if it did not exist.
  for (const Principal* outsider : {&alice_, &bob_, &carol_, &dave_, &anonymous_}) {
    const std::string& other = outsider == &carol_ ? p_.id : q_.id;
    EXPECT_TRUE(failsWith(accounts_->getProject(*outsider, other).status(), Code::kNotFound,
                          "project not found"));
  }
  EXPECT_EQ(accounts_->getProject(root_, "no-such-project").status().code(), Code::kNotFound);
}

TEST_F(AccountsTest, AdminsListEveryProjectWithoutRole) {
  store::Page<ProjectView> page = make(accounts_->listProjects(root_, {1, ""}));
  ASSERT_EQ(page.items.size(), 1u);
  EXPECT_EQ(page.items[0].project.name, "project-p");
  EXPECT_FALSE(page.items[0].role);
  store::Page<ProjectView> rest = make(accounts_->listProjects(root_, {10, page.next_cursor}));
  EXPECT_EQ(namesOf(rest.items), Names{"project-q"});
  EXPECT_TRUE(rest.next_cursor.empty());
}

TEST_F(AccountsTest, OthersListTheirOwnProjectsWithRoleByName) {
  store::Page<ProjectView> alice_page = make(accounts_->listProjects(alice_, {}));
  ASSERT_EQ(alice_page.items.size(), 1u);
  EXPECT_EQ(alice_page.items[0].project.id, p_.id);
  EXPECT_EQ(alice_page.items[0].role, store::Role::kProjectAdmin);
  EXPECT_TRUE(alice_page.next_cursor.empty());
  EXPECT_EQ(namesOf(make(accounts_->listProjects(carol_, {})).items), Names{"project-q"});
  EXPECT_TRUE(make(accounts_->listProjects(dave_, {})).items.empty());
  EXPECT_EQ(accounts_->listProjects(anonymous_, {}).status().code(), Code::kPermissionDenied);
}

TEST_F(AccountsTest, OwnProjectListPagesStablyByName) {
  for (const char* name : {"delta", "alpha", "charlie", "bravo"}) {
    store::Project project = make(accounts_->createProject(root_, name));
    make(accounts_->setMember(root_, project.id, dave_.user_id, store::Role::kMember));
  }
  store::Page<ProjectView> first = make(accounts_->listProjects(dave_, {2, ""}));
  EXPECT_EQ(namesOf(first.items), (Names{"alpha", "bravo"}));
  ASSERT_FALSE(first.next_cursor.empty());
  // A project added before the cursor and the cursor's own project removed: no repeat, no skip.
  store::Project aardvark = make(accounts_->createProject(root_, "aardvark"));
  make(accounts_->setMember(root_, aardvark.id, dave_.user_id, store::Role::kMember));
  ASSERT_TRUE(accounts_->removeMember(root_, first.items[1].project.id, dave_.user_id).ok());
  store::Page<ProjectView> second = make(accounts_->listProjects(dave_, {2, first.next_cursor}));
  EXPECT_EQ(namesOf(second.items), (Names{"charlie", "delta"}));
  EXPECT_TRUE(second.next_cursor.empty());

  EXPECT_EQ(accounts_->listProjects(dave_, {2, "garbage"}).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(accounts_->listProjects(dave_, {2, "nzz"}).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(accounts_->listProjects(dave_, {0, ""}).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(accounts_->listProjects(dave_, {1001, ""}).status().code(), Code::kInvalidArgument);
  // An admin's cursor means nothing in a member's list.
  std::string admin_cursor = make(accounts_->listProjects(root_, {1, ""})).next_cursor;
  EXPECT_EQ(accounts_->listProjects(dave_, {2, admin_cursor}).status().code(),
            Code::kInvalidArgument);
}

TEST_F(AccountsTest, DeletingAProjectThatHoldsThingsNeedsCascade) {
  EXPECT_TRUE(failsWith(accounts_->deleteProject(root_, p_.id, false), Code::kFailedPrecondition,
                        "2 member(s)"));
  make(accounts_->createApiKey(bob_, p_.id, "ci-key", store::Role::kMember, std::nullopt));
  Status refused = accounts_->deleteProject(root_, p_.id, false);
  EXPECT_TRUE(failsWith(refused, Code::kFailedPrecondition, "2 member(s), 1 API key(s)"));
  EXPECT_TRUE(failsWith(refused, Code::kFailedPrecondition, "cascade"));
  // Keys alone block it too (the store itself checks members only).
  ASSERT_TRUE(accounts_->removeMember(root_, p_.id, alice_.user_id).ok());
  ASSERT_TRUE(accounts_->removeMember(root_, p_.id, bob_.user_id).ok());
  EXPECT_TRUE(failsWith(accounts_->deleteProject(root_, p_.id, false), Code::kFailedPrecondition,
                        "1 API key(s)"));
  EXPECT_TRUE(store_->getProject(p_.id).ok());
}

TEST_F(AccountsTest, CascadeDeletesMembershipsKeysAndSessions) {
  CreatedApiKey key =
      make(accounts_->createApiKey(alice_, p_.id, "ci-key", store::Role::kMember, std::nullopt));
  ASSERT_TRUE(
      store_->insertRefreshToken({"alice-in-p", alice_.user_id, p_.id, kStart, kStart + 1000})
          .ok());
  ASSERT_TRUE(accounts_->deleteProject(root_, p_.id, true).ok());
  EXPECT_EQ(store_->getProject(p_.id).status().code(), Code::kNotFound);
  EXPECT_EQ(store_->getRole(p_.id, bob_.user_id).status().code(), Code::kNotFound);
  EXPECT_EQ(store_->findApiKeyByHash(key.key.key_hash).status().code(), Code::kNotFound);
  EXPECT_FALSE(store_->findRefreshToken("alice-in-p").ok());
  EXPECT_TRUE(store_->getUser(bob_.user_id).ok());  // the users stay
  EXPECT_TRUE(store_->getProject(q_.id).ok());
}

TEST_F(AccountsTest, EmptyProjectsDeleteWithoutCascadeAdminOnly) {
  store::Project empty = make(accounts_->createProject(root_, "empty"));
  for (const Principal* caller : {&alice_, &bob_, &dave_, &anonymous_}) {
    EXPECT_EQ(accounts_->deleteProject(*caller, empty.id, true).code(), Code::kPermissionDenied);
  }
  EXPECT_TRUE(accounts_->deleteProject(root_, empty.id, false).ok());
  EXPECT_EQ(accounts_->deleteProject(root_, empty.id, false).code(), Code::kNotFound);
  EXPECT_EQ(accounts_->deleteProject(root_, "no-such-project", true).code(), Code::kNotFound);
}

TEST_F(AccountsTest, RegisteredProjectContentBlocksAndCascades) {
  store::Project project = make(accounts_->createProject(root_, "with-clusters"));
  int clusters = 3;
  std::vector<std::string> removed_from;
  Status remove_result = Status::Ok();
  accounts_->addProjectContent(
      {"cluster(s)",
       [&](std::string_view id) -> Result<int64_t> { return id == project.id ? clusters : 0; },
       [&](std::string_view id) {
         removed_from.emplace_back(id);
         return remove_result;
       }});
  EXPECT_TRUE(failsWith(accounts_->deleteProject(root_, project.id, false),
                        Code::kFailedPrecondition, "3 cluster(s)"));
  EXPECT_TRUE(removed_from.empty());
  // A failing remove undoes the whole delete.
  remove_result = Status::Io("disk gone");
  EXPECT_EQ(accounts_->deleteProject(root_, project.id, true).code(), Code::kIo);
  EXPECT_TRUE(store_->getProject(project.id).ok());
  remove_result = Status::Ok();
  ASSERT_TRUE(accounts_->deleteProject(root_, project.id, true).ok());
  EXPECT_EQ(removed_from, (std::vector<std::string>{project.id, project.id}));
  EXPECT_EQ(store_->getProject(project.id).status().code(), Code::kNotFound);
  // With nothing left to count, a plain delete goes through.
  clusters = 0;
  store::Project other = make(accounts_->createProject(root_, "emptied"));
  EXPECT_TRUE(accounts_->deleteProject(root_, other.id, false).ok());
}

// --- Memberships -----------------------------------------------------------------------------

TEST_F(AccountsTest, MembersAreListedWithNamesForAdminsAndProjectAdmins) {
  for (const Principal* manager : {&root_, &alice_}) {
    std::vector<MemberView> members = make(accounts_->listMembers(*manager, p_.id));
    ASSERT_EQ(members.size(), 2u);
    EXPECT_EQ(members[0].user_name, "alice");
    EXPECT_EQ(members[0].membership.role, store::Role::kProjectAdmin);
    EXPECT_EQ(members[1].user_name, "bob");
    EXPECT_EQ(members[1].membership.user_id, bob_.user_id);
    EXPECT_EQ(members[1].membership.project_id, p_.id);
    EXPECT_LT(members[0].membership.created_ms, members[1].membership.created_ms);
  }
}

TEST_F(AccountsTest, MemberListRefusesMembersAndHidesOtherProjects) {
  EXPECT_TRUE(failsWith(accounts_->listMembers(bob_, p_.id).status(), Code::kPermissionDenied,
                        "project-admin"));
  // A project-admin of P not acting in P manages nothing there, but can see it exists.
  EXPECT_EQ(accounts_->listMembers(actingIn(alice_, "", PolicyRole::kUser), p_.id).status().code(),
            Code::kPermissionDenied);
  for (const Principal* outsider : {&carol_, &dave_, &anonymous_}) {
    EXPECT_EQ(accounts_->listMembers(*outsider, p_.id).status().code(), Code::kNotFound);
  }
  EXPECT_EQ(accounts_->listMembers(alice_, q_.id).status().code(), Code::kNotFound);
  EXPECT_EQ(accounts_->listMembers(root_, "no-such-project").status().code(), Code::kNotFound);
}

TEST_F(AccountsTest, ProjectAdminsAddAndPromoteMembers) {
  now_ += 50;
  MemberView added = make(accounts_->setMember(alice_, p_.id, dave_.user_id, store::Role::kMember));
  EXPECT_EQ(added.user_name, "dave");
  EXPECT_EQ(added.membership.role, store::Role::kMember);
  EXPECT_EQ(added.membership.created_ms, kStart + 50);
  now_ += 50;
  MemberView promoted =
      make(accounts_->setMember(alice_, p_.id, dave_.user_id, store::Role::kProjectAdmin));
  EXPECT_EQ(promoted.membership.role, store::Role::kProjectAdmin);
  EXPECT_EQ(promoted.membership.created_ms, kStart + 50);  // a role change keeps the date
  EXPECT_EQ(make(store_->getRole(p_.id, dave_.user_id)), store::Role::kProjectAdmin);
  EXPECT_TRUE(
      failsWith(accounts_->setMember(alice_, p_.id, "no-such-user", store::Role::kMember).status(),
                Code::kNotFound, "no-such-user"));
  EXPECT_EQ(accounts_->setMember(root_, "no-such-project", dave_.user_id, store::Role::kMember)
                .status()
                .code(),
            Code::kNotFound);
}

TEST_F(AccountsTest, OnlyManagersChangeMemberships) {
  EXPECT_EQ(accounts_->setMember(bob_, p_.id, dave_.user_id, store::Role::kMember).status().code(),
            Code::kPermissionDenied);
  EXPECT_EQ(
      accounts_->setMember(bob_, p_.id, bob_.user_id, store::Role::kProjectAdmin).status().code(),
      Code::kPermissionDenied);
  EXPECT_EQ(accounts_->removeMember(bob_, p_.id, alice_.user_id).code(), Code::kPermissionDenied);
  // Another project's admin, or a stranger: the project does not exist for them.
  EXPECT_EQ(accounts_->setMember(alice_, q_.id, alice_.user_id, store::Role::kProjectAdmin)
                .status()
                .code(),
            Code::kNotFound);
  EXPECT_EQ(accounts_->removeMember(alice_, q_.id, carol_.user_id).code(), Code::kNotFound);
  EXPECT_EQ(accounts_->removeMember(dave_, p_.id, bob_.user_id).code(), Code::kNotFound);
  EXPECT_EQ(make(store_->getRole(q_.id, carol_.user_id)), store::Role::kMember);
  EXPECT_EQ(store_->getRole(q_.id, alice_.user_id).status().code(), Code::kNotFound);
  EXPECT_EQ(make(store_->getRole(p_.id, bob_.user_id)), store::Role::kMember);
}

TEST_F(AccountsTest, ManagersRemoveMembers) {
  ASSERT_TRUE(accounts_->removeMember(alice_, p_.id, bob_.user_id).ok());
  EXPECT_EQ(store_->getRole(p_.id, bob_.user_id).status().code(), Code::kNotFound);
  EXPECT_EQ(accounts_->removeMember(alice_, p_.id, bob_.user_id).code(), Code::kNotFound);
  ASSERT_TRUE(accounts_->removeMember(root_, q_.id, carol_.user_id).ok());
  EXPECT_TRUE(make(accounts_->listMembers(root_, q_.id)).empty());
}

// --- API keys --------------------------------------------------------------------------------

TEST_F(AccountsTest, ApiKeySecretIsShownOnceAndStoredAsItsHash) {
  now_ += 9;
  CreatedApiKey created =
      make(accounts_->createApiKey(bob_, p_.id, "ci-runner", store::Role::kMember, 3600));
  EXPECT_EQ(created.secret.rfind("tdk_", 0), 0u);
  EXPECT_EQ(created.secret.size(), 4u + 43u);
  EXPECT_EQ(created.secret.find_first_not_of(
                "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", 4),
            std::string::npos);
  EXPECT_EQ(created.key.key_hash, sha256Hex(created.secret));
  EXPECT_EQ(created.key.id.size(), 36u);
  EXPECT_EQ(created.key.project_id, p_.id);
  EXPECT_EQ(created.key.name, "ci-runner");
  EXPECT_EQ(created.key.created_by, bob_.user_id);
  EXPECT_EQ(created.key.created_ms, kStart + 9);
  EXPECT_EQ(created.key.expires_ms, kStart + 9 + 3'600'000);
  EXPECT_FALSE(created.key.revoked);
  EXPECT_FALSE(created.key.last_used_ms);

  store::ApiKey stored = make(store_->findApiKeyByHash(sha256Hex(created.secret)));
  EXPECT_EQ(stored.id, created.key.id);
  EXPECT_NE(stored.key_hash, created.secret);
  EXPECT_EQ(store_->findApiKeyByHash(created.secret).status().code(), Code::kNotFound);
  for (const store::ApiKey& key : make(store_->listApiKeys(p_.id))) {
    EXPECT_EQ(key.key_hash.find(created.secret.substr(4)), std::string::npos);
  }
  CreatedApiKey another =
      make(accounts_->createApiKey(bob_, p_.id, "ci-runner", store::Role::kMember, std::nullopt));
  EXPECT_NE(another.secret, created.secret);
  EXPECT_FALSE(another.key.expires_ms);
}

TEST_F(AccountsTest, WhoMayCreateWhichKeys) {
  // Admins and the project's project-admin: either role.
  for (const Principal* manager : {&root_, &alice_}) {
    EXPECT_EQ(make(accounts_->createApiKey(*manager, p_.id, "admin-key", store::Role::kProjectAdmin,
                                           std::nullopt))
                  .key.role,
              store::Role::kProjectAdmin);
  }
  EXPECT_TRUE(accounts_->createApiKey(root_, q_.id, "for-q", store::Role::kMember, 60).ok());
  // A member: member keys only.
  EXPECT_TRUE(accounts_->createApiKey(bob_, p_.id, "mine", store::Role::kMember, 60).ok());
  EXPECT_TRUE(failsWith(
      accounts_->createApiKey(bob_, p_.id, "escalate", store::Role::kProjectAdmin, 60).status(),
      Code::kPermissionDenied, "project-admin keys"));
  // A member of P acting elsewhere sees P but does not act in it.
  EXPECT_EQ(accounts_
                ->createApiKey(actingIn(bob_, "", PolicyRole::kUser), p_.id, "elsewhere",
                               store::Role::kMember, 60)
                .status()
                .code(),
            Code::kPermissionDenied);
  // Not visible at all: 404.
  for (const Principal* outsider : {&carol_, &dave_, &anonymous_}) {
    EXPECT_EQ(
        accounts_->createApiKey(*outsider, p_.id, "nope", store::Role::kMember, 60).status().code(),
        Code::kNotFound);
  }
  EXPECT_EQ(
      accounts_->createApiKey(alice_, q_.id, "nope", store::Role::kMember, 60).status().code(),
      Code::kNotFound);
  EXPECT_EQ(accounts_->createApiKey(root_, "no-such-project", "nope", store::Role::kMember, 60)
                .status()
                .code(),
            Code::kNotFound);
  EXPECT_EQ(make(store_->listApiKeys(p_.id)).size(), 3u);
  EXPECT_EQ(make(store_->listApiKeys(q_.id)).size(), 1u);
}

TEST_F(AccountsTest, KeyNamesAndLifetimesAreBounded) {
  auto create = [&](std::string_view name, std::optional<int64_t> lifetime) {
    return accounts_->createApiKey(bob_, p_.id, name, store::Role::kMember, lifetime).status();
  };
  EXPECT_TRUE(failsWith(create("x", 60), Code::kInvalidArgument, "API key names"));
  EXPECT_TRUE(failsWith(create("ok-name", 59), Code::kInvalidArgument, "expires_in_s"));
  EXPECT_TRUE(failsWith(create("ok-name", kMaxApiKeyLifetimeS + 1), Code::kInvalidArgument,
                        "expires_in_s"));
  EXPECT_TRUE(failsWith(create("ok-name", -1), Code::kInvalidArgument, "expires_in_s"));
  EXPECT_TRUE(create("ok-name", kMinApiKeyLifetimeS).ok());
  EXPECT_TRUE(create("ok-name", kMaxApiKeyLifetimeS).ok());
  EXPECT_EQ(kMaxApiKeyLifetimeS, 315'360'000);
}

TEST_F(AccountsTest, KeyListsAreScopedByRole) {
  CreatedApiKey bobs =
      make(accounts_->createApiKey(bob_, p_.id, "bobs", store::Role::kMember, std::nullopt));
  make(accounts_->createApiKey(alice_, p_.id, "alices", store::Role::kMember, std::nullopt));
  make(accounts_->createApiKey(root_, q_.id, "in-q", store::Role::kMember, std::nullopt));
  EXPECT_EQ(namesOf(make(accounts_->listApiKeys(root_, p_.id))), (Names{"bobs", "alices"}));
  EXPECT_EQ(namesOf(make(accounts_->listApiKeys(alice_, p_.id))), (Names{"bobs", "alices"}));
  std::vector<store::ApiKey> mine = make(accounts_->listApiKeys(bob_, p_.id));
  ASSERT_EQ(mine.size(), 1u);
  EXPECT_EQ(mine[0].id, bobs.key.id);
  EXPECT_EQ(namesOf(make(accounts_->listApiKeys(root_, q_.id))), Names{"in-q"});
  EXPECT_TRUE(make(accounts_->listApiKeys(carol_, q_.id)).empty());  // none of carol's own
  for (const Principal* outsider : {&carol_, &dave_, &anonymous_}) {
    EXPECT_EQ(accounts_->listApiKeys(*outsider, p_.id).status().code(), Code::kNotFound);
  }
  EXPECT_EQ(accounts_->listApiKeys(alice_, q_.id).status().code(), Code::kNotFound);
  EXPECT_EQ(accounts_->listApiKeys(root_, "no-such-project").status().code(), Code::kNotFound);
}

TEST_F(AccountsTest, MembersRevokeTheirOwnKeysManagersAnyInTheProject) {
  CreatedApiKey bobs = make(accounts_->createApiKey(bob_, p_.id, "bobs", store::Role::kMember, {}));
  CreatedApiKey alices =
      make(accounts_->createApiKey(alice_, p_.id, "alices", store::Role::kMember, {}));
  CreatedApiKey in_q =
      make(accounts_->createApiKey(root_, q_.id, "in-q", store::Role::kMember, {}));

  EXPECT_TRUE(failsWith(accounts_->revokeApiKey(bob_, p_.id, alices.key.id), Code::kNotFound,
                        "API key not found"));
  EXPECT_FALSE(make(store_->findApiKeyByHash(alices.key.key_hash)).revoked);
  ASSERT_TRUE(accounts_->revokeApiKey(bob_, p_.id, bobs.key.id).ok());
  EXPECT_TRUE(make(store_->findApiKeyByHash(bobs.key.key_hash)).revoked);
  EXPECT_TRUE(accounts_->revokeApiKey(bob_, p_.id, bobs.key.id).ok());  // idempotent

  // A key of another project named under this one's path does not exist here.
  EXPECT_EQ(accounts_->revokeApiKey(alice_, p_.id, in_q.key.id).code(), Code::kNotFound);
  EXPECT_EQ(accounts_->revokeApiKey(root_, p_.id, in_q.key.id).code(), Code::kNotFound);
  EXPECT_EQ(accounts_->revokeApiKey(alice_, q_.id, in_q.key.id).code(), Code::kNotFound);
  EXPECT_EQ(accounts_->revokeApiKey(carol_, q_.id, in_q.key.id).code(), Code::kNotFound);
  EXPECT_EQ(accounts_->revokeApiKey(dave_, p_.id, alices.key.id).code(), Code::kNotFound);
  EXPECT_FALSE(make(store_->findApiKeyByHash(in_q.key.key_hash)).revoked);

  ASSERT_TRUE(accounts_->revokeApiKey(alice_, p_.id, alices.key.id).ok());
  ASSERT_TRUE(accounts_->revokeApiKey(root_, q_.id, in_q.key.id).ok());
  EXPECT_TRUE(make(store_->findApiKeyByHash(in_q.key.key_hash)).revoked);
  // Revoked keys stay listed, marked.
  std::vector<store::ApiKey> listed = make(accounts_->listApiKeys(alice_, p_.id));
  ASSERT_EQ(listed.size(), 2u);
  EXPECT_TRUE(listed[0].revoked && listed[1].revoked);
  EXPECT_EQ(accounts_->revokeApiKey(root_, p_.id, "no-such-key").code(), Code::kNotFound);
}

}  // namespace
}  // namespace tendril::service
