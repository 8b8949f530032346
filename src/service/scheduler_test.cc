// The scheduler with real threads: fairness across projects (slices granted), one writer per
// cluster under concurrency, FIFO order per cluster, cancel of waiting and running jobs, stop().
#include "service/scheduler.h"

#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <thread>

namespace tendril::service {
namespace {

using namespace std::chrono_literals;

// A job whose slices run `body`; records how often it ran and whether (and why) it was abandoned.
class TestWork final : public ScheduledWork {
 public:
  using Body = std::function<SliceOutcome(const SliceControl&)>;
  explicit TestWork(Body body) : body_(std::move(body)) {}

  SliceOutcome runSlice(const SliceControl& control) override {
    ++slices;
    return body_(control);
  }
  void abandoned(AbandonReason reason) override {
    std::lock_guard lock(mutex_);
    ++abandon_calls;
    reason_ = reason;
  }
  std::optional<AbandonReason> reason() {
    std::lock_guard lock(mutex_);
    return reason_;
  }

  std::atomic<int> slices{0};
  std::atomic<int> abandon_calls{0};

 private:
  Body body_;
  std::mutex mutex_;
  std::optional<AbandonReason> reason_;
};

// Works until the slice is over, forever (until cancelled or stopped).
SliceOutcome endless(const SliceControl& control) {
  while (!control.sliceOver()) {
    if (control.cancelled() || control.stopping()) return SliceOutcome::kDone;
    std::this_thread::sleep_for(100us);
  }
  return SliceOutcome::kMore;
}

// Polls `condition` for up to two seconds.
bool eventually(const std::function<bool()>& condition) {
  const auto deadline = std::chrono::steady_clock::now() + 2s;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(1ms);
  }
  return condition();
}

TEST(SchedulerTest, ABusyProjectCannotStarveAnother) {
  Scheduler scheduler({1, 2ms});
  std::vector<std::shared_ptr<TestWork>> busy;
  for (int c = 0; c < 10; ++c) {
    busy.push_back(std::make_shared<TestWork>(endless));
    scheduler.submit("busy", "busy-cluster-" + std::to_string(c), busy.back());
  }
  auto lonely = std::make_shared<TestWork>(endless);
  scheduler.submit("lonely", "lonely-cluster", lonely);

  std::this_thread::sleep_for(300ms);
  const uint64_t busy_slices = scheduler.slicesGranted("busy");
  const uint64_t lonely_slices = scheduler.slicesGranted("lonely");
  scheduler.stop();

  // One worker, strict alternation between the two projects: each gets half the turns, so the
  // project with one cluster gets as many slices as the ten clusters of the other together.
  ASSERT_GT(busy_slices + lonely_slices, 40u);
  EXPECT_GE(lonely_slices + 1, busy_slices);
  EXPECT_GE(busy_slices + 1, lonely_slices);
  EXPECT_EQ(static_cast<uint64_t>(lonely->slices.load()), lonely_slices);
  // Within the busy project the clusters take turns as well.
  for (const auto& work : busy) EXPECT_GE(work->slices.load(), 1);
}

TEST(SchedulerTest, OneJobPerClusterRunsAtATimeInSubmissionOrder) {
  Scheduler scheduler({4, 1ms});
  constexpr int kClusters = 3;
  constexpr int kJobsPerCluster = 6;
  std::atomic<int> active[kClusters] = {};
  std::atomic<int> violations{0};
  std::mutex order_mutex;
  std::map<int, std::vector<int>> finish_order;
  std::vector<std::shared_ptr<TestWork>> works;
  for (int job = 0; job < kJobsPerCluster; ++job) {
    for (int c = 0; c < kClusters; ++c) {
      auto remaining = std::make_shared<int>(3);  // slices this job needs
      works.push_back(std::make_shared<TestWork>([&, c, job, remaining](const SliceControl&) {
        if (active[c].fetch_add(1) != 0) ++violations;
        std::this_thread::sleep_for(500us);
        active[c].fetch_sub(1);
        if (--*remaining > 0) return SliceOutcome::kMore;
        std::lock_guard lock(order_mutex);
        finish_order[c].push_back(job);
        return SliceOutcome::kDone;
      }));
      // Two projects share the clusters' work.
      scheduler.submit(c == 0 ? "p1" : "p2", "cluster-" + std::to_string(c), works.back());
    }
  }
  ASSERT_TRUE(eventually([&] { return scheduler.pendingJobs() == 0; }));
  EXPECT_EQ(violations.load(), 0);
  for (int c = 0; c < kClusters; ++c) {
    EXPECT_EQ(finish_order[c], (std::vector<int>{0, 1, 2, 3, 4, 5})) << "cluster " << c;
  }
  for (const auto& work : works) EXPECT_EQ(work->slices.load(), 3);
}

TEST(SchedulerTest, CancelTakesAWaitingJobOutAndSignalsARunningOne) {
  Scheduler scheduler({2, 5ms});
  auto running = std::make_shared<TestWork>(endless);
  auto waiting = std::make_shared<TestWork>(endless);
  const Scheduler::JobId running_id = scheduler.submit("p", "c", running);
  const Scheduler::JobId waiting_id = scheduler.submit("p", "c", waiting);
  ASSERT_TRUE(eventually([&] { return running->slices.load() > 0; }));

  EXPECT_EQ(scheduler.cancel(waiting_id), Scheduler::CancelOutcome::kAbandoned);
  EXPECT_EQ(waiting->abandon_calls.load(), 1);
  EXPECT_EQ(waiting->reason(), AbandonReason::kCancelled);
  EXPECT_EQ(waiting->slices.load(), 0);

  // The running job may be between two slices (then it is simply taken out) or inside one.
  const Scheduler::CancelOutcome outcome = scheduler.cancel(running_id);
  EXPECT_TRUE(outcome == Scheduler::CancelOutcome::kSignalled ||
              outcome == Scheduler::CancelOutcome::kAbandoned);
  scheduler.waitCluster("c");
  ASSERT_TRUE(eventually([&] { return scheduler.pendingJobs() == 0; }));
  const int slices = running->slices.load();
  std::this_thread::sleep_for(20ms);
  EXPECT_EQ(running->slices.load(), slices) << "a cancelled job ran again";
  EXPECT_EQ(scheduler.cancel(running_id), Scheduler::CancelOutcome::kUnknown);
  EXPECT_EQ(waiting->abandon_calls.load(), 1);
}

TEST(SchedulerTest, CancelClusterReturnsOnlyOnceItsRunningSliceEnded) {
  Scheduler scheduler({2, 50ms});
  std::atomic<bool> inside{false};
  std::atomic<bool> left{false};
  auto running = std::make_shared<TestWork>([&](const SliceControl& control) {
    inside = true;
    while (!control.cancelled()) std::this_thread::sleep_for(100us);
    std::this_thread::sleep_for(20ms);  // the end of the current cycle
    left = true;
    return SliceOutcome::kDone;
  });
  auto queued = std::make_shared<TestWork>(endless);
  auto other = std::make_shared<TestWork>(endless);
  scheduler.submit("p", "c", running);
  scheduler.submit("p", "c", queued);
  scheduler.submit("p", "other", other);
  ASSERT_TRUE(eventually([&] { return inside.load(); }));

  scheduler.cancelCluster("c");
  EXPECT_TRUE(left.load()) << "cancelCluster returned while a slice still ran";
  EXPECT_EQ(queued->reason(), AbandonReason::kCancelled);
  EXPECT_EQ(queued->slices.load(), 0);
  // Other clusters are not touched.
  EXPECT_FALSE(other->reason().has_value());
  EXPECT_EQ(scheduler.pendingJobs(), 1u);
}

TEST(SchedulerTest, StopEndsRunningSlicesAndAbandonsTheRest) {
  Scheduler scheduler({1, 10ms});
  std::atomic<bool> saw_stop{false};
  auto running = std::make_shared<TestWork>([&](const SliceControl& control) {
    while (!control.stopping()) std::this_thread::sleep_for(100us);
    saw_stop = true;
    return SliceOutcome::kDone;
  });
  auto queued_same = std::make_shared<TestWork>(endless);
  auto queued_other = std::make_shared<TestWork>(endless);
  scheduler.submit("p", "c1", running);
  ASSERT_TRUE(eventually([&] { return running->slices.load() > 0; }));
  scheduler.submit("p", "c1", queued_same);
  scheduler.submit("q", "c2", queued_other);

  scheduler.stop();
  EXPECT_TRUE(saw_stop.load());
  EXPECT_EQ(queued_same->reason(), AbandonReason::kStopped);
  EXPECT_EQ(queued_other->reason(), AbandonReason::kStopped);
  EXPECT_EQ(queued_same->slices.load() + queued_other->slices.load(), 0);
  EXPECT_EQ(running->abandon_calls.load(), 0);

  auto late = std::make_shared<TestWork>(endless);
  EXPECT_EQ(scheduler.submit("p", "c1", late), 0u);
  EXPECT_EQ(late->reason(), AbandonReason::kStopped);
  EXPECT_EQ(late->slices.load(), 0);
  scheduler.stop();  // idempotent
}

TEST(SchedulerTest, AJobThatIgnoresItsCancelStillLeaves) {
  Scheduler scheduler({1, 1ms});
  auto stubborn = std::make_shared<TestWork>([](const SliceControl& control) {
    while (!control.sliceOver()) std::this_thread::sleep_for(100us);
    return SliceOutcome::kMore;  // never looks at cancelled()
  });
  const Scheduler::JobId id = scheduler.submit("p", "c", stubborn);
  ASSERT_TRUE(eventually([&] { return stubborn->slices.load() > 0; }));
  scheduler.cancel(id);
  ASSERT_TRUE(eventually([&] { return scheduler.pendingJobs() == 0; }));
  EXPECT_TRUE(eventually([&] { return stubborn->abandon_calls.load() == 1; }));
}

TEST(SchedulerTest, ZeroThreadsMeansOnePerHardwareThread) {
  Scheduler scheduler({0, 50ms});
  EXPECT_EQ(scheduler.threads(), std::max(1u, std::thread::hardware_concurrency()));
}

}  // namespace
}  // namespace tendril::service
