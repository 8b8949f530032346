#include "service/events.h"

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace tendril::service {
namespace {

Principal acting(std::string user_id, std::string project_id, PolicyRole role) {
  Principal principal;
  principal.user_id = std::move(user_id);
  principal.is_admin = role == PolicyRole::kAdmin;
  principal.project_id = std::move(project_id);
  principal.role = role;
  principal.method = AuthMethod::kApiKey;
  return principal;
}

// Collects what one subscriber received.
struct Inbox {
  std::vector<std::string> payloads;
  EventHub::Deliver deliver() {
    return [this](const Event& event) { payloads.push_back(event.payload_json); };
  }
};

TEST(EventHubTest, DeliversOnlyWhatEachSubscriberMaySee) {
  EventHub hub;
  Inbox admin, project_admin_p, member_p, other_member_p, member_q, loner, anonymous;
  hub.subscribe(acting("root", "", PolicyRole::kAdmin), admin.deliver());
  hub.subscribe(acting("pa", "P", PolicyRole::kProjectAdmin), project_admin_p.deliver());
  hub.subscribe(acting("mp", "P", PolicyRole::kMember), member_p.deliver());
  hub.subscribe(acting("mp2", "P", PolicyRole::kMember), other_member_p.deliver());
  hub.subscribe(acting("mq", "Q", PolicyRole::kMember), member_q.deliver());
  hub.subscribe(acting("loner", "", PolicyRole::kUser), loner.deliver());
  hub.subscribe(Principal{}, anonymous.deliver());
  EXPECT_EQ(hub.subscriberCount(), 7u);

  hub.publish({"task", "1", "P", "mp"});     // mp's thing in P
  hub.publish({"task", "2", "Q", "mq"});     // mq's thing in Q
  hub.publish({"audit", "3", "", "loner"});  // a user's own entry, no project
  hub.publish({"audit", "4", "", ""});       // an anonymous login attempt
  hub.publish({"audit", "5", "Q", "mp"});    // mp acting in Q: still mp's own

  using Payloads = std::vector<std::string>;
  EXPECT_EQ(admin.payloads, (Payloads{"1", "2", "3", "4", "5"}));
  EXPECT_EQ(project_admin_p.payloads, (Payloads{"1"}));
  EXPECT_EQ(member_p.payloads, (Payloads{"1", "5"}));
  EXPECT_EQ(other_member_p.payloads, Payloads{});
  EXPECT_EQ(member_q.payloads, (Payloads{"2"}));
  EXPECT_EQ(loner.payloads, (Payloads{"3"}));
  EXPECT_EQ(anonymous.payloads, Payloads{});
}

TEST(EventHubTest, UnsubscribedSubscribersGetNothingMore) {
  EventHub hub;
  Inbox first, second;
  uint64_t a = hub.subscribe(acting("root", "", PolicyRole::kAdmin), first.deliver());
  uint64_t b = hub.subscribe(acting("root", "", PolicyRole::kAdmin), second.deliver());
  EXPECT_NE(a, 0u);
  EXPECT_NE(a, b);
  hub.publish({"audit", "before", "", ""});
  hub.unsubscribe(a);
  hub.unsubscribe(a);     // twice: ignored
  hub.unsubscribe(9999);  // unknown: ignored
  hub.publish({"audit", "after", "", ""});
  EXPECT_EQ(first.payloads, std::vector<std::string>{"before"});
  EXPECT_EQ(second.payloads, (std::vector<std::string>{"before", "after"}));
  EXPECT_EQ(hub.subscriberCount(), 1u);
}

TEST(EventHubTest, ASubscriberMayUnsubscribeAndPublishFromInsideDeliver) {
  EventHub hub;
  Inbox later;
  int calls = 0;
  uint64_t self = 0;
  self = hub.subscribe(acting("root", "", PolicyRole::kAdmin), [&](const Event& event) {
    ++calls;
    hub.unsubscribe(self);  // would deadlock if deliver ran under the hub's lock
    hub.publish({"audit", event.payload_json + "-echo", "", ""});
  });
  hub.subscribe(acting("root", "", PolicyRole::kAdmin), later.deliver());
  hub.publish({"audit", "x", "", ""});
  hub.publish({"audit", "y", "", ""});
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(later.payloads, (std::vector<std::string>{"x-echo", "x", "y"}));
  EXPECT_EQ(hub.subscriberCount(), 1u);
}

TEST(EventHubTest, UnsubscribingAnotherSubscriberDuringPublishSkipsIt) {
  EventHub hub;
  Inbox victim;
  uint64_t victim_id = 0;
  hub.subscribe(acting("root", "", PolicyRole::kAdmin),
                [&](const Event&) { hub.unsubscribe(victim_id); });
  victim_id = hub.subscribe(acting("root", "", PolicyRole::kAdmin), victim.deliver());
  hub.publish({"audit", "x", "", ""});
  EXPECT_TRUE(victim.payloads.empty());  // ended before its turn in the same publish
}

TEST(EventHubTest, ConcurrentPublishersAndSubscribersAreSafe) {
  EventHub hub;
  std::atomic<int64_t> delivered{0};
  auto counter = std::make_shared<std::atomic<int64_t>>(0);
  uint64_t steady = hub.subscribe(acting("root", "", PolicyRole::kAdmin),
                                  [counter](const Event&) { counter->fetch_add(1); });
  constexpr int kPublishers = 4;
  constexpr int kEventsEach = 2000;
  std::atomic<bool> stop{false};
  std::thread churn([&] {
    while (!stop.load()) {
      uint64_t id = hub.subscribe(acting("root", "", PolicyRole::kAdmin),
                                  [&delivered](const Event&) { delivered.fetch_add(1); });
      hub.unsubscribe(id);
    }
  });
  std::vector<std::thread> publishers;
  for (int p = 0; p < kPublishers; ++p) {
    publishers.emplace_back([&hub] {
      for (int i = 0; i < kEventsEach; ++i) hub.publish({"audit", "{}", "", ""});
    });
  }
  for (std::thread& publisher : publishers) publisher.join();
  stop.store(true);
  churn.join();
  EXPECT_EQ(counter->load(), int64_t{kPublishers} * kEventsEach);
  hub.unsubscribe(steady);
  EXPECT_EQ(hub.subscriberCount(), 0u);
}

}  // namespace
}  // namespace tendril::service
