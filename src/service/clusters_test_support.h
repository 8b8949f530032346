// Test support for clusters and checkpoints (tests only; include after <gtest/gtest.h>): a real
// in-memory store with two projects and callers of every kind, a temporary data directory, and
// "a process" of services (ServiceWorld) that can be torn down and built again over the same
// store and directory to act out a restart.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "common/status_testing.h"
#include "engine/checkpoint.h"
#include "service/accounts.h"
#include "service/checkpoints.h"
#include "service/clusters.h"
#include "service/credentials.h"
#include "service/datasets.h"
#include "service/events.h"
#include "service/quotas.h"
#include "service/scheduler.h"
#include "service/tasks.h"
#include "service/uploads.h"

namespace tendril::service::testing_support {

// Three bricks in a line: input `in` (4 values), 8 hidden neurons, output `out` (2 values).
inline constexpr std::string_view kLineTemplate =
    "version: 1\n"
    "settings:\n"
    "    seed: 3\n"
    "bricks:\n"
    "    1,1,1\n"
    "        input: in\n"
    "        number_of_neurons: 4\n"
    "    2,1,1\n"
    "        number_of_neurons: 8\n"
    "    3,1,1\n"
    "        output: out\n"
    "        number_of_neurons: 2\n";

// The same template in JSON, spelled differently (same canonical form, same template_sha256).
inline constexpr std::string_view kLineTemplateJson =
    R"({"version": 1, "settings": {"seed": 3},
        "bricks": [{"position": [1,1,1], "input": "in", "neurons": 4},
                   {"position": [2,1,1], "neurons": 8},
                   {"position": [3,1,1], "output": "out", "neurons": 2}]})";

// Another template: a wider output.
inline constexpr std::string_view kWideTemplate =
    "version: 1\n"
    "bricks:\n"
    "    1,1,1\n"
    "        input: in\n"
    "        number_of_neurons: 4\n"
    "    2,1,1\n"
    "        output: out\n"
    "        number_of_neurons: 3\n";

// One process's services over a shared store and data directory.
struct ServiceWorld {
  ServiceWorld(store::MetadataStore& store, const std::filesystem::path& data_dir, Clock clock,
               QuotaLimits limits = {})
      : quotas(store, registry, limits),
        scheduler(Scheduler::Options{2, std::chrono::milliseconds(20)}),
        uploads(data_dir / "uploads"),
        datasets(store, quotas, clock, DatasetSettings{data_dir, uint64_t{1} << 30}),
        tasks(store, scheduler, datasets, quotas, events,
              [this](const Principal& caller, std::string_view id) {
                return clusters.open(caller, id);
              },
              TaskService::Options{data_dir, clock}),
        clusters(store, registry, quotas, tasks, clock, ClusterOptions{data_dir, {}, nullptr}),
        checkpoints(store, clusters, tasks, uploads, clock,
                    CheckpointOptions{data_dir, {}, nullptr, std::chrono::seconds(0),
                                      uint64_t{1} << 30, nullptr}) {}

  // A shutdown: the tasks stop (interrupted), then the services go.
  ~ServiceWorld() {
    checkpoints.stopAutosave();
    tasks.stop();
    scheduler.stop();
  }

  ClusterRegistry registry;
  Quotas quotas;
  Scheduler scheduler;
  UploadStaging uploads;
  DatasetService datasets;
  EventHub events;
  TaskService tasks;
  ClusterService clusters;
  CheckpointService checkpoints;
};

// Two projects, P and Q:
//   root   admin, acting in no project
//   alice  project-admin of P, acting in P
//   bob    member of P, acting in P
//   carol  member of Q, acting in Q
class ClusterWorldTest : public testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(initCredentials().ok());
    Result<std::unique_ptr<store::MetadataStore>> opened = store::openSqliteMemoryStore();
    ASSERT_TRUE(opened.ok()) << opened.status().toString();
    store_ = std::move(opened).value();
    data_dir_ = std::filesystem::temp_directory_path() /
                ("tendril-clusters-test-" + newUuid());
    std::filesystem::create_directories(data_dir_);

    root_ = addUser("root", true, "", "", PolicyRole::kAdmin);
    ASSERT_TRUE(store_->createProject({p_, "project-p", root_.user_id, 1}).ok());
    ASSERT_TRUE(store_->createProject({q_, "project-q", root_.user_id, 1}).ok());
    alice_ = addUser("alice", false, p_, "project-admin", PolicyRole::kProjectAdmin);
    bob_ = addUser("bob", false, p_, "member", PolicyRole::kMember);
    carol_ = addUser("carol", false, q_, "member", PolicyRole::kMember);
    start();
  }

  void TearDown() override {
    world_.reset();
    std::error_code ignored;
    std::filesystem::remove_all(data_dir_, ignored);
  }

  // A fresh process over the same store and data directory (the old one shuts down first).
  void start(QuotaLimits limits = {}) {
    world_.reset();
    world_ = std::make_unique<ServiceWorld>(*store_, data_dir_, clock(), limits);
  }
  void restart() {
    start();
    ASSERT_TRUE(world_->checkpoints.loadAll().ok());
  }

  Clock clock() {
    return [this] { return now_.fetch_add(1); };
  }

  Principal addUser(const std::string& name, bool admin, const std::string& project,
                    const std::string& role, PolicyRole policy_role) {
    store::User user{newUuid(), name, "$argon2id$x", admin, 1, 1};
    EXPECT_TRUE(store_->createUser(user).ok());
    if (!project.empty()) {
      EXPECT_TRUE(store_->setMembership(project, user.id, *store::parseRole(role), 1).ok());
    }
    Principal principal;
    principal.user_id = user.id;
    principal.user_name = name;
    principal.is_admin = admin;
    principal.project_id = project;
    principal.role = policy_role;
    principal.method = AuthMethod::kAccessToken;
    return principal;
  }

  template <typename T>
  static T make(Result<T> result) {
    EXPECT_TRUE(result.ok()) << result.status().toString();
    return result.ok() ? std::move(result).value() : T{};
  }

  ClusterView createCluster(const Principal& caller, const std::string& name,
                            std::string_view tmpl = kLineTemplate) {
    return make(world_->clusters.create(caller, name, tmpl));
  }

  std::shared_ptr<LiveCluster> live(const Principal& caller, const std::string& id) {
    Result<std::shared_ptr<LiveCluster>> opened = world_->clusters.open(caller, id);
    EXPECT_TRUE(opened.ok()) << opened.status().toString();
    return opened.ok() ? *opened : nullptr;
  }

  // `samples` training cycles, each one a different deterministic sample.
  static void train(LiveCluster& cluster, int samples, int first = 0) {
    for (int i = first; i < first + samples; ++i) {
      const float x = static_cast<float>(i % 7) / 7.0f;
      const std::vector<float> inputs = {x, 1.0f - x, x * x, 0.5f};
      auto lock = cluster.lockWriter();
      std::vector<float> expected(cluster.cluster().outputWidth(), 0.0f);
      expected[static_cast<size_t>(i) % expected.size()] = 1.0f;
      ASSERT_TRUE(cluster.cluster().train(inputs, expected).ok());
      lock.unlock();
      cluster.noteChange();
    }
  }

  // A new cluster of `caller`'s, trained `samples` cycles, with a copy of that state.
  struct Trained {
    ClusterView view;
    std::shared_ptr<LiveCluster> live;
    std::unique_ptr<engine::Cluster> state;
    const std::string& id() const { return view.row.id; }
  };
  Trained trainedCluster(const Principal& caller, const std::string& name, int samples) {
    Trained trained;
    trained.view = createCluster(caller, name);
    trained.live = live(caller, trained.view.row.id);
    if (trained.live == nullptr) return trained;
    train(*trained.live, samples);
    trained.state = copyOf(*trained.live);
    return trained;
  }

  // A copy of the cluster's whole state (through the checkpoint format).
  static std::unique_ptr<engine::Cluster> copyOf(LiveCluster& cluster) {
    std::stringstream bytes;
    {
      auto lock = cluster.lockReader();
      EXPECT_TRUE(engine::writeCheckpoint(cluster.cluster(), bytes).ok());
    }
    Result<std::unique_ptr<engine::Cluster>> copy = engine::readCheckpoint(bytes);
    EXPECT_TRUE(copy.ok()) << copy.status().toString();
    return copy.ok() ? std::move(copy).value() : nullptr;
  }

  static bool sameState(LiveCluster& cluster, const engine::Cluster& expected) {
    auto lock = cluster.lockReader();
    return cluster.cluster().sameStateAs(expected);
  }

  // Waits until the task has ended; returns its final row.
  store::Resource waitTask(const Principal& caller, const std::string& id) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (true) {
      Result<store::Resource> task = world_->tasks.get(caller, id);
      EXPECT_TRUE(task.ok()) << task.status().toString();
      if (!task.ok() || !taskActive(task->state)) return task.ok() ? *task : store::Resource{};
      if (std::chrono::steady_clock::now() > deadline) {
        ADD_FAILURE() << "task " << id << " still " << task->state;
        return *task;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }

  // Saves a manual checkpoint and waits for it; returns the ready row.
  store::Resource saveNow(const Principal& caller, const std::string& cluster_id,
                          const std::string& name) {
    CheckpointSave save = make(world_->checkpoints.save(caller, cluster_id, name));
    EXPECT_EQ(save.checkpoint.state, kCheckpointSaving);
    store::Resource task = waitTask(caller, save.task.id);
    EXPECT_EQ(task.state, kTaskFinished) << task.attrs;
    return make(world_->checkpoints.get(caller, save.checkpoint.id));
  }

  std::filesystem::path checkpointFile(const std::string& id) const {
    return checkpointFilePath(data_dir_, id);
  }

  static std::string readAll(const std::filesystem::path& file) {
    std::ifstream in(file, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  }

  static std::string attr(const store::Resource& row, const char* key) {
    nlohmann::json attrs = nlohmann::json::parse(row.attrs, nullptr, false);
    if (!attrs.is_object() || !attrs.contains(key)) return "";
    return attrs[key].is_string() ? attrs[key].get<std::string>() : attrs[key].dump();
  }

  int64_t countRows(store::ResourceKind kind) {
    store::ResourceFilter filter;
    filter.kind = kind;
    return make(store_->countResources(filter));
  }

  std::unique_ptr<store::MetadataStore> store_;
  std::filesystem::path data_dir_;
  std::atomic<store::TimeMs> now_{1'790'000'000'000};
  std::unique_ptr<ServiceWorld> world_;
  const std::string p_ = "00000000-0000-4000-8000-00000000000a";
  const std::string q_ = "00000000-0000-4000-8000-00000000000b";
  Principal root_, alice_, bob_, carol_;
};

}  // namespace tendril::service::testing_support
