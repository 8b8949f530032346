#include "service/audit.h"

#include <gtest/gtest.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/status_testing.h"
#include "service/credentials.h"

namespace tendril::service {
namespace {

constexpr store::TimeMs kStart = 1'800'000'000'000;  // 2027-01-15T08:00:00.000Z

Principal caller(std::string user_id, std::string project_id, PolicyRole role) {
  Principal principal;
  principal.user_id = std::move(user_id);
  principal.is_admin = role == PolicyRole::kAdmin;
  principal.project_id = std::move(project_id);
  principal.role = role;
  principal.method = AuthMethod::kAccessToken;
  return principal;
}

class AuditLogTest : public testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(initCredentials().ok());
    Result<std::unique_ptr<store::MetadataStore>> opened = store::openSqliteMemoryStore();
    ASSERT_TRUE(opened.ok()) << opened.status().toString();
    store_ = std::move(opened).value();
    log_ = std::make_unique<AuditLog>(
        *store_, [this] { return now_; }, &hub_);
  }

  std::vector<std::string> actionsOf(const Result<store::Page<store::AuditEntry>>& page) {
    std::vector<std::string> actions;
    if (!page.ok()) return {"error: " + page.status().toString()};
    for (const store::AuditEntry& entry : page->items) actions.push_back(entry.action);
    return actions;
  }

  // Three entries by three callers, one millisecond apart.
  void recordThree() {
    log_->record(admin_, "users.create", "u1", "ok");
    ++now_;
    log_->record(alice_, "apikeys.create", "k1", "ok");
    ++now_;
    log_->record(bob_, "apikeys.revoke", "k2", "not_found");
    ++now_;
  }

  store::TimeMs now_ = kStart;
  std::unique_ptr<store::MetadataStore> store_;
  EventHub hub_;
  std::unique_ptr<AuditLog> log_;
  const Principal admin_ = caller("admin-id", "", PolicyRole::kAdmin);
  const Principal alice_ = caller("alice-id", "P", PolicyRole::kProjectAdmin);
  const Principal bob_ = caller("bob-id", "P", PolicyRole::kMember);
  using Actions = std::vector<std::string>;
};

TEST_F(AuditLogTest, RecordsWhoWhatWhenAndResult) {
  log_->record(alice_, "apikeys.create", "key-1", "ok");
  Result<store::Page<store::AuditEntry>> page = log_->list(admin_, {}, {});
  ASSERT_TRUE(page.ok()) << page.status().toString();
  ASSERT_EQ(page->items.size(), 1u);
  const store::AuditEntry& entry = page->items[0];
  EXPECT_EQ(entry.user_id, "alice-id");
  EXPECT_EQ(entry.action, "apikeys.create");
  EXPECT_EQ(entry.target, "key-1");
  EXPECT_EQ(entry.result, "ok");
  EXPECT_EQ(entry.time_ms, kStart);
  EXPECT_EQ(entry.id.size(), 36u);
  EXPECT_EQ(log_->storeErrors(), 0u);
}

TEST_F(AuditLogTest, AdminsListEverythingNewestFirstWithFilters) {
  recordThree();
  EXPECT_EQ(actionsOf(log_->list(admin_, {}, {})),
            (Actions{"apikeys.revoke", "apikeys.create", "users.create"}));
  store::AuditFilter by_bob;
  by_bob.user_id = "bob-id";
  EXPECT_EQ(actionsOf(log_->list(admin_, by_bob, {})), Actions{"apikeys.revoke"});
  store::AuditFilter failures;
  failures.result = "not_found";
  EXPECT_EQ(actionsOf(log_->list(admin_, failures, {})), Actions{"apikeys.revoke"});
  store::AuditFilter window;
  window.from_ms = kStart + 1;
  window.to_ms = kStart + 2;
  EXPECT_EQ(actionsOf(log_->list(admin_, window, {})), Actions{"apikeys.create"});
}

TEST_F(AuditLogTest, OthersListOnlyTheirOwnEntries) {
  recordThree();
  // A project-admin is no admin here: their own entries only, not their members'.
  EXPECT_EQ(actionsOf(log_->list(alice_, {}, {})), Actions{"apikeys.create"});
  EXPECT_EQ(actionsOf(log_->list(bob_, {}, {})), Actions{"apikeys.revoke"});
  store::AuditFilter own;
  own.user_id = "bob-id";
  EXPECT_EQ(actionsOf(log_->list(bob_, own, {})), Actions{"apikeys.revoke"});
  store::AuditFilter own_create;
  own_create.action = "users.create";  // a filter cannot widen the scope
  EXPECT_EQ(actionsOf(log_->list(bob_, own_create, {})), Actions{});
  const Principal loner = caller("loner-id", "", PolicyRole::kUser);
  EXPECT_EQ(actionsOf(log_->list(loner, {}, {})), Actions{});
}

TEST_F(AuditLogTest, AskingForAnotherUsersEntriesIsDenied) {
  recordThree();
  store::AuditFilter others;
  others.user_id = "bob-id";
  EXPECT_TRUE(
      failsWith(log_->list(alice_, others, {}).status(), Code::kPermissionDenied, "other users"));
  EXPECT_TRUE(
      failsWith(log_->list(Principal{}, {}, {}).status(), Code::kPermissionDenied, "sign in"));
}

TEST_F(AuditLogTest, ListsPageByCursor) {
  recordThree();
  Result<store::Page<store::AuditEntry>> first = log_->list(admin_, {}, {2, ""});
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(actionsOf(first), (Actions{"apikeys.revoke", "apikeys.create"}));
  ASSERT_FALSE(first->next_cursor.empty());
  Result<store::Page<store::AuditEntry>> second = log_->list(admin_, {}, {2, first->next_cursor});
  EXPECT_EQ(actionsOf(second), Actions{"users.create"});
  EXPECT_TRUE(second->next_cursor.empty());
  EXPECT_EQ(log_->list(admin_, {}, {2, "garbage"}).status().code(), Code::kInvalidArgument);
}

TEST_F(AuditLogTest, PublishesEachEntryToThoseWhoMaySeeIt) {
  std::vector<Event> admin_events, alice_events, bob_events;
  hub_.subscribe(admin_, [&](const Event& event) { admin_events.push_back(event); });
  hub_.subscribe(alice_, [&](const Event& event) { alice_events.push_back(event); });
  hub_.subscribe(bob_, [&](const Event& event) { bob_events.push_back(event); });
  recordThree();
  log_->record(Principal{}, "auth.login", "", "unauthenticated");
  EXPECT_EQ(admin_events.size(), 4u);
  ASSERT_EQ(alice_events.size(), 1u);  // their own only, like list()
  ASSERT_EQ(bob_events.size(), 1u);

  const Event& event = bob_events[0];
  EXPECT_EQ(event.type, "audit");
  EXPECT_EQ(event.owner_id, "bob-id");
  nlohmann::json payload = nlohmann::json::parse(event.payload_json);
  EXPECT_EQ(payload["user_id"], "bob-id");
  EXPECT_EQ(payload["action"], "apikeys.revoke");
  EXPECT_EQ(payload["target"], "k2");
  EXPECT_EQ(payload["result"], "not_found");
  EXPECT_EQ(payload["time"], formatIsoTime(kStart + 2));
  // The payload is the stored entry: same id as the list shows.
  Result<store::Page<store::AuditEntry>> listed = log_->list(bob_, {}, {});
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->items.size(), 1u);
  EXPECT_EQ(payload["id"], listed->items[0].id);
  EXPECT_EQ(payload.size(), 6u);
}

TEST_F(AuditLogTest, PayloadSurvivesHostileText) {
  store::AuditEntry entry{"id", 0, "u", "a", std::string("q\"\\\n\xff", 5), "ok"};
  nlohmann::json payload = auditEntryJson(entry);
  EXPECT_EQ(payload["time"], "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(payload["target"].get<std::string>().substr(0, 4), "q\"\\\n");
}

TEST_F(AuditLogTest, StoreErrorsAreCountedNotReturned) {
  std::vector<Event> events;
  hub_.subscribe(admin_, [&](const Event& event) { events.push_back(event); });
  log_->record(admin_, "", "x", "ok");  // the store refuses an empty action
  log_->recordError("", "scheduler", "boom", "");
  log_->recordError("", "scheduler", "fine", "");
  EXPECT_EQ(log_->storeErrors(), 1u);
  EXPECT_TRUE(events.empty());  // nothing stored, nothing published
  // A log without a hub works too.
  AuditLog quiet(
      *store_, [this] { return now_; }, nullptr);
  quiet.record(admin_, "users.delete", "u9", "ok");
  EXPECT_EQ(quiet.storeErrors(), 0u);
  EXPECT_EQ(actionsOf(log_->list(admin_, {}, {})), Actions{"users.delete"});
}

TEST_F(AuditLogTest, ErrorLogIsForAdminsOnly) {
  log_->recordError("bob-id", "scheduler", "task failed", "task t1");
  ++now_;
  log_->recordError("", "http", "handler threw", "GET /x");
  Result<store::Page<store::ErrorEntry>> all = log_->listErrors(admin_, {}, {});
  ASSERT_TRUE(all.ok()) << all.status().toString();
  ASSERT_EQ(all->items.size(), 2u);
  EXPECT_EQ(all->items[0].component, "http");
  EXPECT_EQ(all->items[1].user_id, "bob-id");
  EXPECT_EQ(all->items[1].message, "task failed");
  EXPECT_EQ(all->items[1].context, "task t1");
  EXPECT_EQ(all->items[1].time_ms, kStart);
  store::ErrorFilter scheduler;
  scheduler.component = "scheduler";
  Result<store::Page<store::ErrorEntry>> filtered = log_->listErrors(admin_, scheduler, {});
  ASSERT_TRUE(filtered.ok());
  EXPECT_EQ(filtered->items.size(), 1u);
  for (const Principal* other : {&alice_, &bob_}) {
    EXPECT_TRUE(failsWith(log_->listErrors(*other, {}, {}).status(), Code::kPermissionDenied,
                          "administrator"));
  }
  EXPECT_FALSE(log_->listErrors(Principal{}, {}, {}).ok());
}

}  // namespace
}  // namespace tendril::service
