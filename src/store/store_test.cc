// Opening, migrations, transactions, users, projects and memberships.
#include <sqlite3.h>

#include <set>

#include "store/migrations.h"
#include "store/store_test_support.h"

namespace tendril::store {
namespace {

// --- Opening and migrations (file only) ---------------------------------------------------

// Runs one SQL statement on a raw connection to `path`, as another program might.
void rawExec(const std::filesystem::path& path, const std::string& sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  char* error = nullptr;
  const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &error);
  EXPECT_EQ(rc, SQLITE_OK) << (error ? error : "");
  sqlite3_free(error);
  sqlite3_close(db);
}

std::int64_t rawCount(const std::filesystem::path& path, const std::string& sql) {
  sqlite3* db = nullptr;
  EXPECT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* statement = nullptr;
  EXPECT_EQ(sqlite3_prepare_v2(db, sql.c_str(), -1, &statement, nullptr), SQLITE_OK);
  EXPECT_EQ(sqlite3_step(statement), SQLITE_ROW);
  const std::int64_t count = sqlite3_column_int64(statement, 0);
  sqlite3_finalize(statement);
  sqlite3_close(db);
  return count;
}

TEST(StoreOpen, CreatesFileAtLatestVersionWithWal) {
  const std::filesystem::path path = freshDatabasePath();
  Result<std::unique_ptr<MetadataStore>> store = openSqliteStore(path);
  ASSERT_TRUE(store.ok()) << store.status().toString();
  EXPECT_TRUE(std::filesystem::exists(path));
  EXPECT_EQ((*store)->schemaVersion(), latestSchemaVersion());
  store->reset();
  EXPECT_EQ(rawCount(path, "SELECT COUNT(*) FROM pragma_journal_mode WHERE journal_mode = 'wal'"),
            1);
}

TEST(StoreOpen, MigrationVersionsAreOrderedWithoutGaps) {
  int expected = 1;
  for (const Migration& migration : migrations()) EXPECT_EQ(migration.version, expected++);
  EXPECT_EQ(latestSchemaVersion(), expected - 1);
}

TEST(StoreOpen, DataPersistsAndMigrationsRunOnceAcrossReopen) {
  const std::filesystem::path path = freshDatabasePath();
  {
    Result<std::unique_ptr<MetadataStore>> store = openSqliteStore(path);
    ASSERT_TRUE(store.ok());
    ASSERT_TRUE((*store)->createUser(User{"u1", "ada", "hash", true, 5, 6}).ok());
  }
  for (int reopen = 0; reopen < 2; ++reopen) {
    Result<std::unique_ptr<MetadataStore>> store = openSqliteStore(path);
    ASSERT_TRUE(store.ok()) << store.status().toString();
    Result<User> user = (*store)->getUser("u1");
    ASSERT_TRUE(user.ok());
    EXPECT_EQ(user->name, "ada");
    EXPECT_TRUE(user->is_admin);
    EXPECT_EQ(user->created_ms, 5);
    EXPECT_EQ(user->updated_ms, 6);
  }
  EXPECT_EQ(rawCount(path, "SELECT COUNT(*) FROM schema_version"),
            static_cast<std::int64_t>(migrations().size()));
}

TEST(StoreOpen, RefusesNewerSchema) {
  const std::filesystem::path path = freshDatabasePath();
  ASSERT_TRUE(openSqliteStore(path).ok());
  rawExec(path, "INSERT INTO schema_version (version, applied_ms) VALUES (" +
                    std::to_string(latestSchemaVersion() + 1) + ", 0)");
  Result<std::unique_ptr<MetadataStore>> store = openSqliteStore(path);
  EXPECT_TRUE(failsWith(store.status(), Code::kFailedPrecondition, "newer"));
}

TEST(StoreOpen, RefusesFileThatIsNotADatabase) {
  const std::filesystem::path path = freshDatabasePath();
  {
    std::FILE* file = std::fopen(path.c_str(), "wb");
    ASSERT_NE(file, nullptr);
    std::fputs("this is not an SQLite database, just some text that is long enough......", file);
    std::fclose(file);
  }
  Result<std::unique_ptr<MetadataStore>> store = openSqliteStore(path);
  EXPECT_TRUE(failsWith(store.status(), Code::kCorrupt, ""));
}

TEST(StoreOpen, UnopenablePathIsIo) {
  Result<std::unique_ptr<MetadataStore>> store =
      openSqliteStore(std::filesystem::path(testing::TempDir()) / "no-such-dir" / "x" / "m.db");
  EXPECT_TRUE(failsWith(store.status(), Code::kIo, "opening metadata database"));
}

// --- Users --------------------------------------------------------------------------------

class StoreUsers : public StoreTest {};
INSTANTIATE_TEST_SUITE_P(Backings, StoreUsers, testing::Values(Backing::kFile, Backing::kMemory),
                         backingName);

TEST_P(StoreUsers, CreateGetFindUpdateDelete) {
  ASSERT_TRUE(store().createUser(makeUser("u1", "ada", 10)).ok());
  Result<User> user = store().getUser("u1");
  ASSERT_TRUE(user.ok());
  EXPECT_EQ(user->name, "ada");
  EXPECT_FALSE(user->is_admin);
  EXPECT_EQ(store().findUserByName("ada")->id, "u1");
  EXPECT_TRUE(failsWith(store().findUserByName("ADA").status(), Code::kNotFound, "ADA"));

  Result<User> updated = store().updateUser("u1", UserUpdate{"grace", "newhash", true, 20});
  ASSERT_TRUE(updated.ok()) << updated.status().toString();
  EXPECT_EQ(updated->name, "grace");
  EXPECT_EQ(updated->password_hash, "newhash");
  EXPECT_TRUE(updated->is_admin);
  EXPECT_EQ(updated->created_ms, 10);
  EXPECT_EQ(updated->updated_ms, 20);
  EXPECT_EQ(store().getUser("u1")->name, "grace");
  EXPECT_EQ(*store().countAdmins(), 1);

  // Only the given fields change.
  ASSERT_TRUE(store().updateUser("u1", UserUpdate{std::nullopt, std::nullopt, false, 30}).ok());
  EXPECT_EQ(store().getUser("u1")->name, "grace");
  EXPECT_EQ(store().getUser("u1")->password_hash, "newhash");
  EXPECT_EQ(*store().countAdmins(), 0);

  ASSERT_TRUE(store().deleteUser("u1").ok());
  EXPECT_TRUE(failsWith(store().getUser("u1").status(), Code::kNotFound, "u1"));
}

TEST_P(StoreUsers, DuplicatesAndUnknownIds) {
  ASSERT_TRUE(store().createUser(makeUser("u1", "ada")).ok());
  ASSERT_TRUE(store().createUser(makeUser("u2", "bob")).ok());
  EXPECT_TRUE(failsWith(store().createUser(makeUser("u3", "ada")), Code::kAlreadyExists, "ada"));
  EXPECT_TRUE(failsWith(store().createUser(makeUser("u1", "cy")), Code::kAlreadyExists, "u1"));
  EXPECT_TRUE(failsWith(store().updateUser("u2", UserUpdate{"ada", {}, {}, 2}).status(),
                        Code::kAlreadyExists, "ada"));
  EXPECT_EQ(store().getUser("u2")->name, "bob");
  EXPECT_TRUE(failsWith(store().getUser("nope").status(), Code::kNotFound, "nope"));
  EXPECT_TRUE(failsWith(store().updateUser("nope", UserUpdate{}).status(), Code::kNotFound, ""));
  EXPECT_TRUE(failsWith(store().deleteUser("nope"), Code::kNotFound, "nope"));
  EXPECT_TRUE(failsWith(store().createUser(makeUser("", "x")), Code::kInvalidArgument, "id"));
  EXPECT_TRUE(failsWith(store().createUser(makeUser("u9", "")), Code::kInvalidArgument, "name"));
  EXPECT_TRUE(failsWith(store().updateUser("u1", UserUpdate{"", {}, {}, 2}).status(),
                        Code::kInvalidArgument, "name"));
}

TEST_P(StoreUsers, PagingIsStableAndCoversEveryUserOnce) {
  // 23 users, several sharing a creation time, inserted out of order.
  for (int i = 22; i >= 0; --i) {
    const std::string id = "u" + std::to_string(100 + i);
    ASSERT_TRUE(store().createUser(makeUser(id, "name" + id, 1000 + i / 3)).ok());
  }
  std::vector<std::string> seen;
  PageRequest request{5, ""};
  int pages = 0;
  do {
    Result<Page<User>> page = store().listUsers(request);
    ASSERT_TRUE(page.ok()) << page.status().toString();
    ASSERT_LE(page->items.size(), 5u);
    for (const User& user : page->items) seen.push_back(user.id);
    request.cursor = page->next_cursor;
    ++pages;
    if (pages == 2) {  // a user created mid-listing, ordered before the cursor, is not seen
      ASSERT_TRUE(store().createUser(makeUser("u000", "early", 1)).ok());
    }
  } while (!request.cursor.empty());
  EXPECT_EQ(pages, 5);
  ASSERT_EQ(seen.size(), 23u);
  for (int i = 0; i < 23; ++i) EXPECT_EQ(seen[i], "u" + std::to_string(100 + i));

  Result<Page<User>> all = store().listUsers(PageRequest{kMaxPageLimit, ""});
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->items.size(), 24u);
  EXPECT_TRUE(all->next_cursor.empty());
}

TEST_P(StoreUsers, BadPageRequestsAreInvalid) {
  ASSERT_TRUE(store().createUser(makeUser("u1", "ada")).ok());
  ASSERT_TRUE(store().createUser(makeUser("u2", "bob")).ok());
  Result<Page<User>> first = store().listUsers(PageRequest{1, ""});
  ASSERT_TRUE(first.ok());
  ASSERT_FALSE(first->next_cursor.empty());
  for (const std::string& cursor :
       {std::string("!!!"), std::string("abc"), first->next_cursor + "!",
        first->next_cursor.substr(1), std::string("MTIzNA"), std::string("OnUx"),
        std::string(2000, 'A'), kHostile}) {
    EXPECT_TRUE(failsWith(store().listUsers(PageRequest{1, cursor}).status(),
                          Code::kInvalidArgument, "cursor"))
        << cursor;
  }
  EXPECT_TRUE(
      failsWith(store().listUsers(PageRequest{0, ""}).status(), Code::kInvalidArgument, "limit"));
  EXPECT_TRUE(failsWith(store().listUsers(PageRequest{kMaxPageLimit + 1, ""}).status(),
                        Code::kInvalidArgument, "limit"));
}

TEST_P(StoreUsers, HostileTextRoundTripsVerbatim) {
  User user{kHostile + "id", kHostile + "name", kHostile + "hash", false, 1, 2};
  ASSERT_TRUE(store().createUser(user).ok());
  Result<User> read = store().findUserByName(kHostile + "name");
  ASSERT_TRUE(read.ok());
  EXPECT_EQ(read->id, user.id);
  EXPECT_EQ(read->name, user.name);
  EXPECT_EQ(read->password_hash, user.password_hash);
  ASSERT_TRUE(store().updateUser(user.id, UserUpdate{kHostile, kHostile, {}, 3}).ok());
  EXPECT_EQ(store().getUser(user.id)->name, kHostile);
  EXPECT_EQ(store().listUsers(PageRequest{})->items.size(), 1u);  // the table is still there
  // Names that look like other types stay text.
  ASSERT_TRUE(store().createUser(makeUser("u2", "True")).ok());
  ASSERT_TRUE(store().createUser(makeUser("u3", "0042")).ok());
  EXPECT_EQ(store().getUser("u2")->name, "True");
  EXPECT_EQ(store().getUser("u3")->name, "0042");
}

// --- Projects and memberships -------------------------------------------------------------

class StoreProjects : public StoreTest {};
INSTANTIATE_TEST_SUITE_P(Backings, StoreProjects, testing::Values(Backing::kFile, Backing::kMemory),
                         backingName);

TEST_P(StoreProjects, CreateGetListDelete) {
  ASSERT_TRUE(store().createUser(makeUser("u1", "ada")).ok());
  Project project{"p1", "vision", "u1", 7};
  ASSERT_TRUE(store().createProject(project).ok());
  Result<Project> read = store().getProject("p1");
  ASSERT_TRUE(read.ok());
  EXPECT_EQ(read->name, "vision");
  EXPECT_EQ(read->created_by, "u1");
  EXPECT_EQ(read->created_ms, 7);
  EXPECT_TRUE(failsWith(store().createProject(Project{"p2", "vision", "", 8}), Code::kAlreadyExists,
                        "vision"));
  EXPECT_TRUE(
      failsWith(store().createProject(Project{"p1", "other", "", 8}), Code::kAlreadyExists, "p1"));
  EXPECT_TRUE(failsWith(store().createProject(Project{"p3", "x", "ghost", 8}),
                        Code::kFailedPrecondition, "ghost"));
  EXPECT_TRUE(failsWith(store().getProject("nope").status(), Code::kNotFound, "nope"));

  for (int i = 0; i < 6; ++i) {
    ASSERT_TRUE(
        store()
            .createProject(makeProject("q" + std::to_string(i), "n" + std::to_string(i), 100 + i))
            .ok());
  }
  std::set<std::string> seen;
  PageRequest request{4, ""};
  do {
    Result<Page<Project>> page = store().listProjects(request);
    ASSERT_TRUE(page.ok());
    for (const Project& listed : page->items) EXPECT_TRUE(seen.insert(listed.id).second);
    request.cursor = page->next_cursor;
  } while (!request.cursor.empty());
  EXPECT_EQ(seen.size(), 7u);
  EXPECT_TRUE(failsWith(store().listProjects(PageRequest{4, "zz"}).status(), Code::kInvalidArgument,
                        "cursor"));

  // Deleting the creator keeps the project and forgets who made it.
  ASSERT_TRUE(store().deleteUser("u1").ok());
  EXPECT_EQ(store().getProject("p1")->created_by, "");
  ASSERT_TRUE(store().deleteProject("p1", false).ok());
  EXPECT_TRUE(failsWith(store().getProject("p1").status(), Code::kNotFound, "p1"));
  EXPECT_TRUE(failsWith(store().deleteProject("p1", false), Code::kNotFound, "p1"));
  EXPECT_TRUE(failsWith(store().deleteProject("p1", true), Code::kNotFound, "p1"));
}

TEST_P(StoreProjects, MembershipsAddChangeRemove) {
  ASSERT_TRUE(store().createUser(makeUser("u1", "ada", 1)).ok());
  ASSERT_TRUE(store().createUser(makeUser("u2", "bob", 2)).ok());
  ASSERT_TRUE(store().createProject(makeProject("p1", "zeta")).ok());
  ASSERT_TRUE(store().createProject(makeProject("p2", "alpha")).ok());

  ASSERT_TRUE(store().setMembership("p1", "u1", Role::kMember, 10).ok());
  ASSERT_TRUE(store().setMembership("p1", "u2", Role::kProjectAdmin, 11).ok());
  ASSERT_TRUE(store().setMembership("p2", "u1", Role::kProjectAdmin, 12).ok());
  EXPECT_EQ(*store().getRole("p1", "u1"), Role::kMember);
  EXPECT_EQ(*store().getRole("p1", "u2"), Role::kProjectAdmin);
  ASSERT_TRUE(store().setMembership("p1", "u1", Role::kProjectAdmin, 99).ok());  // a role change
  EXPECT_EQ(*store().getRole("p1", "u1"), Role::kProjectAdmin);

  Result<std::vector<Membership>> members = store().listMembers("p1");
  ASSERT_TRUE(members.ok());
  ASSERT_EQ(members->size(), 2u);
  EXPECT_EQ((*members)[0].user_id, "u1");
  EXPECT_EQ((*members)[0].created_ms, 10);  // kept across the role change
  EXPECT_EQ((*members)[1].user_id, "u2");

  Result<std::vector<UserProject>> projects = store().listProjectsForUser("u1");
  ASSERT_TRUE(projects.ok());
  ASSERT_EQ(projects->size(), 2u);
  EXPECT_EQ((*projects)[0].project.name, "alpha");  // ordered by name
  EXPECT_EQ((*projects)[1].project.name, "zeta");
  EXPECT_TRUE(store().listProjectsForUser("ghost")->empty());

  EXPECT_TRUE(
      failsWith(store().setMembership("p1", "ghost", Role::kMember, 1), Code::kNotFound, "ghost"));
  EXPECT_TRUE(
      failsWith(store().setMembership("ghost", "u1", Role::kMember, 1), Code::kNotFound, "ghost"));
  EXPECT_TRUE(failsWith(store().listMembers("ghost").status(), Code::kNotFound, "ghost"));

  ASSERT_TRUE(store().removeMembership("p1", "u2").ok());
  EXPECT_TRUE(failsWith(store().getRole("p1", "u2").status(), Code::kNotFound, "u2"));
  EXPECT_TRUE(failsWith(store().removeMembership("p1", "u2"), Code::kNotFound, "u2"));

  // Deleting a user removes their memberships.
  ASSERT_TRUE(store().deleteUser("u1").ok());
  EXPECT_TRUE(store().listMembers("p1")->empty());
}

TEST_P(StoreProjects, DeleteRefusedWhileMembersRemainUnlessCascade) {
  ASSERT_TRUE(store().createUser(makeUser("u1", "ada")).ok());
  ASSERT_TRUE(store().createProject(makeProject("p1", "vision")).ok());
  ASSERT_TRUE(store().setMembership("p1", "u1", Role::kMember, 1).ok());
  ASSERT_TRUE(store()
                  .insertApiKey(ApiKey{"k1", "p1", "ci", Role::kMember, "h1", "u1", 1, std::nullopt,
                                       false, std::nullopt})
                  .ok());
  ASSERT_TRUE(store().insertRefreshToken(RefreshToken{"t1", "u1", "p1", 1, 100, false}).ok());

  EXPECT_TRUE(failsWith(store().deleteProject("p1", false), Code::kFailedPrecondition, "member"));
  EXPECT_TRUE(store().getProject("p1").ok());
  ASSERT_TRUE(store().deleteProject("p1", true).ok());
  EXPECT_TRUE(failsWith(store().getProject("p1").status(), Code::kNotFound, "p1"));
  EXPECT_TRUE(store().listProjectsForUser("u1")->empty());
  EXPECT_TRUE(failsWith(store().findApiKeyByHash("h1").status(), Code::kNotFound, ""));
  EXPECT_TRUE(failsWith(store().findRefreshToken("t1").status(), Code::kNotFound, ""));
  EXPECT_TRUE(store().getUser("u1").ok());
}

TEST_P(StoreProjects, HostileTextRoundTripsVerbatim) {
  ASSERT_TRUE(store().createUser(makeUser(kHostile, "ada")).ok());
  ASSERT_TRUE(store().createProject(Project{kHostile, kHostile, kHostile, 1}).ok());
  Result<Project> read = store().getProject(kHostile);
  ASSERT_TRUE(read.ok());
  EXPECT_EQ(read->name, kHostile);
  EXPECT_EQ(read->created_by, kHostile);
  ASSERT_TRUE(store().setMembership(kHostile, kHostile, Role::kMember, 1).ok());
  EXPECT_EQ((*store().listMembers(kHostile))[0].user_id, kHostile);
  EXPECT_EQ((*store().listProjectsForUser(kHostile))[0].project.id, kHostile);
}

// --- Transactions -------------------------------------------------------------------------

class StoreTransactions : public StoreTest {};
INSTANTIATE_TEST_SUITE_P(Backings, StoreTransactions,
                         testing::Values(Backing::kFile, Backing::kMemory), backingName);

TEST_P(StoreTransactions, CommitKeepsEverything) {
  Status status = store().transaction([](MetadataStore& tx) -> Status {
    TENDRIL_RETURN_IF_ERROR(tx.createUser(makeUser("u1", "ada")));
    TENDRIL_RETURN_IF_ERROR(tx.createProject(makeProject("p1", "vision")));
    return tx.setMembership("p1", "u1", Role::kProjectAdmin, 1);
  });
  ASSERT_TRUE(status.ok()) << status.toString();
  EXPECT_EQ(*store().getRole("p1", "u1"), Role::kProjectAdmin);
}

TEST_P(StoreTransactions, ErrorRollsBackEverything) {
  Status status = store().transaction([](MetadataStore& tx) -> Status {
    TENDRIL_RETURN_IF_ERROR(tx.createUser(makeUser("u1", "ada")));
    TENDRIL_RETURN_IF_ERROR(tx.createProject(makeProject("p1", "vision")));
    TENDRIL_RETURN_IF_ERROR(tx.setMembership("p1", "u1", Role::kMember, 1));
    return tx.createUser(makeUser("u2", "ada"));  // duplicate name: fails
  });
  EXPECT_TRUE(failsWith(status, Code::kAlreadyExists, "ada"));
  EXPECT_TRUE(failsWith(store().getUser("u1").status(), Code::kNotFound, "u1"));
  EXPECT_TRUE(failsWith(store().getProject("p1").status(), Code::kNotFound, "p1"));
  EXPECT_TRUE(store().listUsers(PageRequest{})->items.empty());
  EXPECT_TRUE(store().createUser(makeUser("u1", "ada")).ok());  // the store still works
}

TEST_P(StoreTransactions, ThrowRollsBackAndIsInternal) {
  Status status = store().transaction([](MetadataStore& tx) -> Status {
    TENDRIL_RETURN_IF_ERROR(tx.createUser(makeUser("u1", "ada")));
    throw std::runtime_error("boom");
  });
  EXPECT_TRUE(failsWith(status, Code::kInternal, "boom"));
  EXPECT_TRUE(failsWith(store().getUser("u1").status(), Code::kNotFound, "u1"));
}

TEST_P(StoreTransactions, InnerRollbackKeepsOuterWork) {
  Status status = store().transaction([](MetadataStore& tx) -> Status {
    TENDRIL_RETURN_IF_ERROR(tx.createUser(makeUser("u1", "ada")));
    Status inner = tx.transaction([](MetadataStore& tx2) -> Status {
      TENDRIL_RETURN_IF_ERROR(tx2.createUser(makeUser("u2", "bob")));
      return Status::Invalid("changed my mind");
    });
    EXPECT_TRUE(failsWith(inner, Code::kInvalidArgument, "changed my mind"));
    // A failing store call inside the transaction (which uses its own savepoint) leaves the
    // outer transaction usable.
    EXPECT_TRUE(failsWith(tx.deleteProject("ghost", false), Code::kNotFound, "ghost"));
    return tx.createUser(makeUser("u3", "cy"));
  });
  ASSERT_TRUE(status.ok()) << status.toString();
  EXPECT_TRUE(store().getUser("u1").ok());
  EXPECT_TRUE(failsWith(store().getUser("u2").status(), Code::kNotFound, "u2"));
  EXPECT_TRUE(store().getUser("u3").ok());
}

TEST(StoreRoles, NamesRoundTrip) {
  for (Role role : {Role::kMember, Role::kProjectAdmin})
    EXPECT_EQ(*parseRole(roleName(role)), role);
  EXPECT_EQ(roleName(Role::kProjectAdmin), "project-admin");
  EXPECT_TRUE(failsWith(parseRole("admin").status(), Code::kInvalidArgument, "admin"));
}

}  // namespace
}  // namespace tendril::store
