// The audit and error logs.
#include <set>
#include <thread>

#include "store/store_test_support.h"

namespace tendril::store {
namespace {

class StoreLogs : public StoreTest {};
INSTANTIATE_TEST_SUITE_P(Backings, StoreLogs, testing::Values(Backing::kFile, Backing::kMemory),
                         backingName);

std::vector<std::string> ids(const std::vector<AuditEntry>& entries) {
  std::vector<std::string> out;
  for (const AuditEntry& entry : entries) out.push_back(entry.id);
  return out;
}

// Reads every page of an audit query; fails the test on an error.
std::vector<AuditEntry> readAll(MetadataStore& store, const AuditFilter& filter,
                                std::size_t limit) {
  std::vector<AuditEntry> all;
  PageRequest request{limit, ""};
  do {
    Result<Page<AuditEntry>> page = store.listAudit(filter, request);
    EXPECT_TRUE(page.ok()) << page.status().toString();
    if (!page.ok()) break;
    EXPECT_LE(page->items.size(), limit);
    all.insert(all.end(), page->items.begin(), page->items.end());
    request.cursor = page->next_cursor;
  } while (!request.cursor.empty());
  return all;
}

TEST_P(StoreLogs, AuditNewestFirstWithFiltersAndPaging) {
  // a0..a9 at times 100,100,110,110,...; users alternate; a3 and a7 failed.
  for (int i = 0; i < 10; ++i) {
    AuditEntry entry{"a" + std::to_string(i),  100 + 10 * (i / 2),
                     i % 2 == 0 ? "u1" : "u2", i < 5 ? "cluster.create" : "dataset.delete",
                     "t" + std::to_string(i),  i % 4 == 3 ? "not_found" : "ok"};
    ASSERT_TRUE(store().appendAudit(entry).ok());
  }
  EXPECT_EQ(ids(readAll(store(), AuditFilter{}, 3)),
            (std::vector<std::string>{"a9", "a8", "a7", "a6", "a5", "a4", "a3", "a2", "a1", "a0"}));
  EXPECT_EQ(ids(readAll(store(), AuditFilter{"u2", {}, {}, {}, {}}, 2)),
            (std::vector<std::string>{"a9", "a7", "a5", "a3", "a1"}));
  EXPECT_EQ(ids(readAll(store(), AuditFilter{{}, "cluster.create", {}, {}, {}}, 10)),
            (std::vector<std::string>{"a4", "a3", "a2", "a1", "a0"}));
  EXPECT_EQ(ids(readAll(store(), AuditFilter{{}, {}, "not_found", {}, {}}, 1)),
            (std::vector<std::string>{"a7", "a3"}));
  EXPECT_EQ(ids(readAll(store(), AuditFilter{{}, {}, {}, 110, 130}, 2)),  // [110, 130)
            (std::vector<std::string>{"a5", "a4", "a3", "a2"}));
  EXPECT_EQ(ids(readAll(store(), AuditFilter{"u1", "dataset.delete", "ok", 100, 1000}, 5)),
            (std::vector<std::string>{"a8", "a6"}));
  EXPECT_TRUE(readAll(store(), AuditFilter{"nobody", {}, {}, {}, {}}, 5).empty());
  // A filter value is data, never SQL.
  EXPECT_TRUE(readAll(store(), AuditFilter{"u1' OR '1'='1", {}, {}, {}, {}}, 5).empty());

  Result<Page<AuditEntry>> first = store().listAudit(AuditFilter{}, PageRequest{1, ""});
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->items[0].target, "t9");
  EXPECT_EQ(first->items[0].time_ms, 140);
  EXPECT_TRUE(failsWith(store().listAudit(AuditFilter{}, PageRequest{1, "%%%"}).status(),
                        Code::kInvalidArgument, "cursor"));
  EXPECT_TRUE(failsWith(store().listAudit(AuditFilter{}, PageRequest{0, ""}).status(),
                        Code::kInvalidArgument, "limit"));
}

TEST_P(StoreLogs, AuditErrorsAndHostileText) {
  AuditEntry entry{kHostile, 5, kHostile, kHostile, kHostile, kHostile};
  ASSERT_TRUE(store().appendAudit(entry).ok());
  EXPECT_TRUE(failsWith(store().appendAudit(entry), Code::kAlreadyExists, ""));
  EXPECT_TRUE(failsWith(store().appendAudit(AuditEntry{"", 1, "", "x", "", ""}),
                        Code::kInvalidArgument, "id"));
  EXPECT_TRUE(failsWith(store().appendAudit(AuditEntry{"b", 1, "", "", "", ""}),
                        Code::kInvalidArgument, "action"));
  std::vector<AuditEntry> read =
      readAll(store(), AuditFilter{kHostile, kHostile, kHostile, {}, {}}, 5);
  ASSERT_EQ(read.size(), 1u);
  EXPECT_EQ(read[0].id, kHostile);
  EXPECT_EQ(read[0].user_id, kHostile);
  EXPECT_EQ(read[0].action, kHostile);
  EXPECT_EQ(read[0].target, kHostile);
  EXPECT_EQ(read[0].result, kHostile);
}

TEST_P(StoreLogs, ErrorLogFiltersAndPaging) {
  for (int i = 0; i < 7; ++i) {
    ErrorEntry entry{"e" + std::to_string(i),
                     1000 + i,
                     i < 3 ? "u1" : "",
                     i % 2 == 0 ? "scheduler" : "api",
                     "message " + std::to_string(i),
                     kHostile};
    ASSERT_TRUE(store().appendError(entry).ok());
  }
  std::vector<std::string> seen;
  PageRequest request{2, ""};
  do {
    Result<Page<ErrorEntry>> page = store().listErrors(ErrorFilter{}, request);
    ASSERT_TRUE(page.ok());
    for (const ErrorEntry& entry : page->items) {
      seen.push_back(entry.id);
      EXPECT_EQ(entry.context, kHostile);
      EXPECT_EQ(entry.message, "message " + entry.id.substr(1));
    }
    request.cursor = page->next_cursor;
  } while (!request.cursor.empty());
  EXPECT_EQ(seen, (std::vector<std::string>{"e6", "e5", "e4", "e3", "e2", "e1", "e0"}));

  Result<Page<ErrorEntry>> filtered =
      store().listErrors(ErrorFilter{"u1", "scheduler", 1000, 1003}, PageRequest{});
  ASSERT_TRUE(filtered.ok());
  ASSERT_EQ(filtered->items.size(), 2u);
  EXPECT_EQ(filtered->items[0].id, "e2");
  EXPECT_EQ(filtered->items[1].id, "e0");
  EXPECT_TRUE(filtered->next_cursor.empty());
  EXPECT_TRUE(failsWith(store().appendError(ErrorEntry{"e0", 1, "", "", "", ""}),
                        Code::kAlreadyExists, ""));
  EXPECT_TRUE(failsWith(store().listErrors(ErrorFilter{}, PageRequest{2, "@"}).status(),
                        Code::kInvalidArgument, "cursor"));
}

// Request threads append audit entries while another thread runs transactions; every call
// succeeds and nothing is lost.
TEST_P(StoreLogs, ConcurrentCallsAreSerialised) {
  constexpr int kThreads = 4;
  constexpr int kPerThread = 50;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([this, t] {
      for (int i = 0; i < kPerThread; ++i) {
        const std::string id = "t" + std::to_string(t) + "-" + std::to_string(i);
        EXPECT_TRUE(store().appendAudit(AuditEntry{id, i, "u", "act", "", "ok"}).ok());
      }
    });
  }
  threads.emplace_back([this] {
    for (int i = 0; i < kPerThread; ++i) {
      Status status = store().transaction([i](MetadataStore& tx) -> Status {
        return tx.createUser(makeUser("u" + std::to_string(i), "n" + std::to_string(i), i));
      });
      EXPECT_TRUE(status.ok()) << status.toString();
    }
  });
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(readAll(store(), AuditFilter{}, kMaxPageLimit).size(),
            static_cast<std::size_t>(kThreads * kPerThread));
  EXPECT_EQ(store().listUsers(PageRequest{kMaxPageLimit, ""})->items.size(),
            static_cast<std::size_t>(kPerThread));
}

}  // namespace
}  // namespace tendril::store
