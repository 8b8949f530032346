// TaskService end to end with a real in-memory store, a temporary data directory, real datasets
// (uploaded through DatasetService) and real engine clusters: training reaches a measured
// accuracy, samples are fed exactly as the bench feeds them, request tasks write results whose
// accuracy is checked, and cancel, width checks, visibility, quotas, events, cluster deletion,
// shutdown and recovery behave as promised.
#include "service/tasks.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <thread>

#include "common/status_testing.h"
#include "data/csv.h"
#include "data/idx.h"
#include "engine/test_support.h"
#include "service/access.h"
#include "service/credentials.h"
#include "service/datasets.h"
#include "service/events.h"
#include "service/quotas.h"
#include "service/results.h"

namespace tendril::service {
namespace {

using namespace std::chrono_literals;
using engine::testing::bandTask;
using engine::testing::lineTemplate;

Principal caller(const std::string& user, const std::string& project, PolicyRole role) {
  Principal principal;
  principal.user_id = user;
  principal.user_name = user;
  principal.project_id = project;
  principal.role = role;
  principal.is_admin = role == PolicyRole::kAdmin;
  principal.method = AuthMethod::kAccessToken;
  return principal;
}

// `count` images of 4x4 pixels in `classes` classes: class k lights its own band of pixels.
data::ImageSet bandImages(uint32_t count, uint32_t classes, uint64_t seed) {
  data::ImageSet set;
  set.count = count;
  set.rows = 4;
  set.cols = 4;
  set.classes = classes;
  for (const auto& sample : bandTask(count, 16, classes, 255.0f, seed)) {
    for (float value : sample.inputs) set.pixels.push_back(static_cast<uint8_t>(value));
    set.labels.push_back(static_cast<uint8_t>(sample.label));
  }
  return set;
}

// A CSV of the same kind of problem, one sample per row: x0..x3 inputs, y0/y1 one-hot outputs.
std::string bandCsv(uint32_t count, uint64_t seed) {
  std::string text = "x0,x1,x2,x3,y0,y1\n";
  for (const auto& sample : bandTask(count, 4, 2, 1.0f, seed)) {
    for (float value : sample.inputs) text += std::to_string(value) + ",";
    text += std::to_string(sample.expected[0]) + "," + std::to_string(sample.expected[1]) + "\n";
  }
  return text;
}

class TasksTest : public testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK(initCredentials());
    data_dir_ = std::filesystem::temp_directory_path() /
                ("tendril-tasks-" + std::to_string(::getpid()) + "-" +
                 testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(data_dir_);
    ASSERT_OK_AND_ASSIGN(store_, store::openSqliteMemoryStore());
    for (const char* user : {"alice", "bob", "carol", "dave"}) {
      ASSERT_OK(store_->createUser(store::User{user, user, "hash", false, 1, 1}));
    }
    ASSERT_OK(store_->createProject(store::Project{"p1", "one", "", 1}));
    ASSERT_OK(store_->createProject(store::Project{"p2", "two", "", 1}));
    ASSERT_OK(store_->setMembership("p1", "alice", store::Role::kMember, 1));
    ASSERT_OK(store_->setMembership("p1", "bob", store::Role::kMember, 1));
    ASSERT_OK(store_->setMembership("p1", "carol", store::Role::kProjectAdmin, 1));
    ASSERT_OK(store_->setMembership("p2", "dave", store::Role::kProjectAdmin, 1));
    quotas_ = std::make_unique<Quotas>(*store_, registry_, QuotaLimits{});
    datasets_ = std::make_unique<DatasetService>(*store_, *quotas_, systemClock(),
                                                 DatasetSettings{data_dir_, 1 << 24});
    scheduler_ = std::make_unique<Scheduler>(Scheduler::Options{2, 5ms});
    TaskService::Options options;
    options.data_dir = data_dir_;
    options.persist_interval = 50ms;
    options.watch_interval = 20ms;
    options.request_batch = 16;
    tasks_ = std::make_unique<TaskService>(
        *store_, *scheduler_, *datasets_, *quotas_, events_,
        [this](const Principal& who, std::string_view id) { return lookup(who, id); }, options);
    results_ = std::make_unique<ResultService>(*store_, *datasets_, data_dir_ / "results");
  }

  void TearDown() override {
    tasks_.reset();
    scheduler_.reset();
    std::filesystem::remove_all(data_dir_);
  }

  // The cluster lookup the service is given: the registry, scoped like every other lookup.
  Result<std::shared_ptr<LiveCluster>> lookup(const Principal& who, std::string_view id) {
    std::shared_ptr<LiveCluster> cluster = registry_.find(id);
    if (!cluster || !Access(who).canSee(cluster->projectId(), owners_[std::string(id)])) {
      return Status::NotFound("cluster not found");
    }
    return cluster;
  }

  std::shared_ptr<LiveCluster> addCluster(const Principal& owner, const engine::Template& tmpl) {
    auto engine_cluster = engine::testing::makeCluster(tmpl);
    EXPECT_NE(engine_cluster, nullptr);
    auto cluster = std::make_shared<LiveCluster>(newUuid(), owner.project_id,
                                                 std::move(engine_cluster));
    owners_[cluster->id()] = owner.user_id;
    registry_.put(cluster);
    return cluster;
  }

  std::string upload(const Principal& owner, const std::string& name, const std::string& format,
                     const std::vector<std::pair<std::string, std::string>>& parts,
                     std::optional<uint32_t> classes = std::nullopt) {
    DatasetRequest request{name, format, {}, classes};
    for (const auto& [part, content] : parts) {
      request.parts.push_back({part, {content.size(), sha256Hex(content)}});
    }
    Result<Dataset> created = datasets_->create(owner, request);
    EXPECT_TRUE(created.ok()) << created.status().toString();
    if (!created.ok()) return "";
    for (const auto& [part, content] : parts) {
      std::span<const uint8_t> bytes(reinterpret_cast<const uint8_t*>(content.data()),
                                     content.size());
      EXPECT_OK(datasets_->appendPart(owner, created->row.id, part, 0, bytes));
    }
    Result<Dataset> ready = datasets_->finalize(owner, created->row.id);
    EXPECT_TRUE(ready.ok()) << ready.status().toString();
    return created->row.id;
  }

  std::string imageDataset(const Principal& owner, const std::string& name,
                           const data::ImageSet& set) {
    Result<data::IdxBytes> bytes = data::encodeIdxPair(set);
    EXPECT_TRUE(bytes.ok());
    return upload(owner, name, "idx",
                  {{"images", std::string(bytes->images.begin(), bytes->images.end())},
                   {"labels", std::string(bytes->labels.begin(), bytes->labels.end())}},
                  set.classes);
  }

  std::string csvDataset(const Principal& owner, const std::string& name,
                         const std::string& text) {
    return upload(owner, name, "csv", {{"table", text}});
  }

  TaskCreate train(const std::shared_ptr<LiveCluster>& cluster, const std::string& dataset,
                   int64_t epochs = 1) {
    TaskCreate request;
    request.type = "train";
    request.cluster_id = cluster->id();
    request.dataset_id = dataset;
    request.epochs = epochs;
    return request;
  }

  TaskCreate request(const std::shared_ptr<LiveCluster>& cluster, const std::string& dataset) {
    TaskCreate request = train(cluster, dataset);
    request.type = "request";
    return request;
  }

  // Polls the task until it has ended; its JSON.
  nlohmann::json waitEnded(const Principal& who, const std::string& id,
                           std::chrono::seconds limit = 60s) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      Result<store::Resource> row = tasks_->get(who, id);
      EXPECT_TRUE(row.ok()) << row.status().toString();
      if (!row.ok()) return {};
      if (!taskActive(row->state)) return taskJson(*row);
      std::this_thread::sleep_for(2ms);
    }
    ADD_FAILURE() << "task " << id << " did not end in time";
    return {};
  }

  // Polls until the task has trained at least `samples` samples.
  void waitProgress(const Principal& who, const std::string& id, uint64_t samples) {
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    while (std::chrono::steady_clock::now() < deadline) {
      Result<store::Resource> row = tasks_->get(who, id);
      ASSERT_TRUE(row.ok());
      if (taskJson(*row)["samples_done"].get<uint64_t>() >= samples) return;
      std::this_thread::sleep_for(1ms);
    }
    FAIL() << "task " << id << " made no progress";
  }

  // A cluster with a training task under way that runs until it is stopped (1000 epochs).
  struct Busy {
    std::shared_ptr<LiveCluster> cluster;
    std::string dataset;
    std::string task;
  };
  Busy startBusy(const std::string& dataset_name) {
    Busy busy;
    busy.cluster = addCluster(alice_, lineTemplate(16, 32, 4));
    busy.dataset = imageDataset(alice_, dataset_name, bandImages(100, 4, 1));
    Result<store::Resource> task = tasks_->create(alice_, train(busy.cluster, busy.dataset, 1000));
    EXPECT_TRUE(task.ok()) << task.status().toString();
    if (task.ok()) busy.task = task->id;
    waitProgress(alice_, busy.task, 5);
    return busy;
  }

  int64_t taskRows() {
    store::ResourceFilter filter;
    filter.kind = store::ResourceKind::kTask;
    Result<int64_t> count = store_->countResources(filter);
    EXPECT_TRUE(count.ok());
    return count.ok() ? *count : -1;
  }

  std::filesystem::path data_dir_;
  std::unique_ptr<store::MetadataStore> store_;
  ClusterRegistry registry_;
  std::map<std::string, std::string> owners_;
  std::unique_ptr<Quotas> quotas_;
  std::unique_ptr<DatasetService> datasets_;
  EventHub events_;
  std::unique_ptr<Scheduler> scheduler_;
  std::unique_ptr<TaskService> tasks_;
  std::unique_ptr<ResultService> results_;
  const Principal alice_ = caller("alice", "p1", PolicyRole::kMember);
  const Principal bob_ = caller("bob", "p1", PolicyRole::kMember);
  const Principal carol_ = caller("carol", "p1", PolicyRole::kProjectAdmin);
  const Principal dave_ = caller("dave", "p2", PolicyRole::kProjectAdmin);
};

TEST_F(TasksTest, TrainingThenARequestReachesAMeasuredAccuracy) {
  auto cluster = addCluster(alice_, lineTemplate(16, 64, 4));
  const std::string training = imageDataset(alice_, "bands-train", bandImages(800, 4, 1));
  const std::string test = imageDataset(alice_, "bands-test", bandImages(200, 4, 2));

  ASSERT_OK_AND_ASSIGN(store::Resource queued, tasks_->create(alice_, train(cluster, training, 2)));
  EXPECT_EQ(queued.parent_id, cluster->id());
  EXPECT_EQ(queued.ref_id, training);
  const nlohmann::json trained = waitEnded(alice_, queued.id);
  ASSERT_EQ(trained["state"], "finished") << trained.dump();
  EXPECT_EQ(trained["samples_done"], 1600);
  EXPECT_EQ(trained["samples_total"], 1600);
  EXPECT_EQ(trained["progress"], 1.0);
  EXPECT_TRUE(trained["error"].is_null());
  EXPECT_TRUE(trained["started_at"].is_string());
  EXPECT_TRUE(trained["finished_at"].is_string());
  EXPECT_TRUE(trained["result_id"].is_null());
  EXPECT_EQ(cluster->changes(), 1600u);
  EXPECT_EQ(cluster->stats().cycles_trained, 1600u);

  ASSERT_OK_AND_ASSIGN(store::Resource asked, tasks_->create(alice_, request(cluster, test)));
  const nlohmann::json answered = waitEnded(alice_, asked.id);
  ASSERT_EQ(answered["state"], "finished") << answered.dump();
  EXPECT_EQ(answered["result_id"], asked.id);
  EXPECT_EQ(answered["samples_done"], 200);
  EXPECT_EQ(cluster->changes(), 1600u) << "a request must not change the cluster";

  ASSERT_OK_AND_ASSIGN(ResultAccuracy accuracy, results_->accuracy(alice_, asked.id, ""));
  EXPECT_TRUE(accuracy.images);
  EXPECT_EQ(accuracy.count, 200u);
  EXPECT_GE(accuracy.accuracy, 0.9);

  // The result holds exactly what the cluster answers for each test image.
  ASSERT_OK_AND_ASSIGN(ResultFile file, ResultFile::open(results_->path(asked.id)));
  ASSERT_EQ(file.count(), 200u);
  const data::ImageSet images = bandImages(200, 4, 2);
  engine::Workspace workspace;
  std::vector<float> inputs(16), outputs(4);
  for (uint32_t i : {0u, 57u, 199u}) {
    std::span<const uint8_t> pixels = images.image(i);
    for (size_t k = 0; k < 16; ++k) inputs[k] = static_cast<float>(pixels[k]);
    ASSERT_OK(cluster->cluster().request(inputs, outputs, workspace));
    const std::span<const float> stored = file.row(i);
    EXPECT_EQ(std::vector<float>(stored.begin(), stored.end()), outputs) << "sample " << i;
  }
}

TEST_F(TasksTest, SamplesAreFedAsTheBenchFeedsThem) {
  // Raw pixel values as floats, a one-hot vector of the label over the output width, dataset
  // order without shuffle: the same state as training the engine directly.
  auto cluster = addCluster(alice_, lineTemplate(16, 32, 4));
  const data::ImageSet images = bandImages(120, 4, 7);
  const std::string dataset = imageDataset(alice_, "bench-like", images);
  TaskCreate create = train(cluster, dataset);
  create.shuffle = false;
  ASSERT_OK_AND_ASSIGN(store::Resource task, tasks_->create(alice_, create));
  ASSERT_EQ(waitEnded(alice_, task.id)["state"], "finished");

  auto reference = engine::testing::makeCluster(lineTemplate(16, 32, 4));
  std::vector<float> inputs(16), expected(4);
  for (uint32_t i = 0; i < images.count; ++i) {
    std::span<const uint8_t> pixels = images.image(i);
    for (size_t k = 0; k < 16; ++k) inputs[k] = static_cast<float>(pixels[k]);
    std::fill(expected.begin(), expected.end(), 0.0f);
    expected[images.labels[i]] = 1.0f;
    ASSERT_OK(reference->train(inputs, expected));
  }
  EXPECT_TRUE(cluster->cluster().sameStateAs(*reference));
}

TEST_F(TasksTest, ShuffleIsDeterministicForASeed) {
  const std::string dataset = imageDataset(alice_, "shuffled", bandImages(150, 4, 3));
  std::vector<std::shared_ptr<LiveCluster>> clusters;
  for (uint64_t seed : {5u, 5u, 6u}) {
    clusters.push_back(addCluster(alice_, lineTemplate(16, 32, 4)));
    TaskCreate create = train(clusters.back(), dataset, 2);
    create.seed = seed;
    ASSERT_OK_AND_ASSIGN(store::Resource task, tasks_->create(alice_, create));
    ASSERT_EQ(waitEnded(alice_, task.id)["state"], "finished");
  }
  EXPECT_TRUE(clusters[0]->cluster().sameStateAs(clusters[1]->cluster()));
  EXPECT_FALSE(clusters[0]->cluster().sameStateAs(clusters[2]->cluster()));
}

TEST_F(TasksTest, TableTasksUseTheMappingForTrainingRequestAndAccuracy) {
  engine::Template tmpl = lineTemplate(4, 32, 2);
  auto cluster = addCluster(alice_, tmpl);
  const std::string training = csvDataset(alice_, "table-train", bandCsv(600, 11));
  const std::string test = csvDataset(alice_, "table-test", bandCsv(150, 12));
  TaskCreate create = train(cluster, training, 3);
  create.mode = "row";
  create.mapping = {{"in", {"x0", "x1", "x2", "x3"}}, {"out", {"y0", "y1"}}};
  ASSERT_OK_AND_ASSIGN(store::Resource task, tasks_->create(alice_, create));
  const nlohmann::json trained = waitEnded(alice_, task.id);
  ASSERT_EQ(trained["state"], "finished") << trained.dump();
  EXPECT_EQ(trained["samples_done"], 1800);
  EXPECT_EQ(trained["mode"], "row");
  EXPECT_EQ(trained["mapping"]["out"], (nlohmann::json{"y0", "y1"}));

  TaskCreate ask = request(cluster, test);
  ask.mode = "row";
  ask.mapping = create.mapping;
  ASSERT_OK_AND_ASSIGN(store::Resource asked, tasks_->create(alice_, ask));
  ASSERT_EQ(waitEnded(alice_, asked.id)["state"], "finished");
  ASSERT_OK_AND_ASSIGN(ResultAccuracy accuracy, results_->accuracy(alice_, asked.id, ""));
  EXPECT_FALSE(accuracy.images);
  EXPECT_EQ(accuracy.count, 150u);
  EXPECT_GE(accuracy.accuracy, 0.85);  // argmax over the two outputs
  EXPECT_GT(accuracy.mean_absolute_error, 0.0);
  EXPECT_LT(accuracy.mean_absolute_error, 0.5);

  // Against a dataset of another size: refused, naming both counts.
  const std::string small = csvDataset(alice_, "table-small", bandCsv(10, 13));
  EXPECT_TRUE(failsWith(results_->accuracy(alice_, asked.id, small).status(),
                        Code::kInvalidArgument, "10 samples"));
}

TEST_F(TasksTest, WidthsAndMappingsAreCheckedBeforeQueueing) {
  const std::string images = imageDataset(alice_, "images", bandImages(20, 4, 1));
  const std::string table = csvDataset(alice_, "table", bandCsv(20, 1));

  auto wrong_inputs = addCluster(alice_, lineTemplate(15, 8, 4));
  EXPECT_TRUE(failsWith(tasks_->create(alice_, train(wrong_inputs, images)).status(),
                        Code::kInvalidArgument, "4x4 = 16 pixels"));
  auto few_outputs = addCluster(alice_, lineTemplate(16, 8, 3));
  EXPECT_TRUE(failsWith(tasks_->create(alice_, train(few_outputs, images)).status(),
                        Code::kInvalidArgument, "fewer than the dataset's 4 classes"));
  // A request needs no labels: three outputs are fine there.
  EXPECT_OK(tasks_->create(alice_, request(few_outputs, images)));

  auto cluster = addCluster(alice_, lineTemplate(4, 8, 2));
  TaskCreate missing = train(cluster, table);
  missing.mode = "row";
  missing.mapping = {{"in", {"x0", "x1", "x2", "nope"}}, {"out", {"y0", "y1"}}};
  EXPECT_TRUE(failsWith(tasks_->create(alice_, missing).status(), Code::kInvalidArgument, "nope"));
  TaskCreate unknown_port = missing;
  unknown_port.mapping = {{"in", {"x0", "x1", "x2", "x3"}}, {"other", {"y0"}}};
  EXPECT_TRUE(
      failsWith(tasks_->create(alice_, unknown_port).status(), Code::kInvalidArgument, "other"));
  TaskCreate short_list = missing;
  short_list.mapping = {{"in", {"x0", "x1"}}, {"out", {"y0", "y1"}}};
  EXPECT_TRUE(failsWith(tasks_->create(alice_, short_list).status(), Code::kInvalidArgument, "in"));
  TaskCreate mapped_images = train(cluster, images);
  mapped_images.mapping = {{"in", {"x0"}}};
  EXPECT_TRUE(failsWith(tasks_->create(alice_, mapped_images).status(), Code::kInvalidArgument,
                        "mapping"));
  TaskCreate epochs = train(cluster, table, 1001);
  EXPECT_TRUE(failsWith(tasks_->create(alice_, epochs).status(), Code::kInvalidArgument, "epochs"));
  TaskCreate type = train(cluster, table);
  type.type = "dream";
  EXPECT_TRUE(failsWith(tasks_->create(alice_, type).status(), Code::kInvalidArgument, "type"));

  EXPECT_EQ(taskRows(), 1) << "only the valid request was queued";
}

TEST_F(TasksTest, CancelStopsARunningTaskWithinOneCycle) {
  const Busy busy = startBusy("long");
  ASSERT_OK_AND_ASSIGN(store::Resource cancelled, tasks_->cancel(alice_, busy.task));
  EXPECT_EQ(cancelled.state, "cancelled");
  const nlohmann::json json = taskJson(cancelled);
  EXPECT_TRUE(json["error"].is_null());
  EXPECT_TRUE(json["eta_seconds"].is_null());
  // No cycle after the reply: the cluster and the recorded progress stay where they are.
  const uint64_t changes = busy.cluster->changes();
  EXPECT_EQ(json["samples_done"].get<uint64_t>(), changes);
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(busy.cluster->changes(), changes);
  ASSERT_OK_AND_ASSIGN(store::Resource stored,
                       store_->getResource(store::ResourceKind::kTask, busy.task));
  EXPECT_EQ(stored.state, "cancelled");
  // Cancelling an ended task changes nothing.
  ASSERT_OK_AND_ASSIGN(store::Resource again, tasks_->cancel(alice_, busy.task));
  EXPECT_EQ(again.state, "cancelled");
}

TEST_F(TasksTest, ATaskQueuedBehindAnotherIsCancelledAtOnce) {
  const Busy busy = startBusy("queue");
  ASSERT_OK_AND_ASSIGN(store::Resource second,
                       tasks_->create(alice_, train(busy.cluster, busy.dataset)));
  ASSERT_OK_AND_ASSIGN(store::Resource row, tasks_->get(alice_, second.id));
  EXPECT_EQ(row.state, "queued") << "one writer per cluster";

  ASSERT_OK_AND_ASSIGN(store::Resource cancelled, tasks_->cancel(alice_, second.id));
  EXPECT_EQ(cancelled.state, "cancelled");
  EXPECT_TRUE(taskJson(cancelled)["started_at"].is_null());
  EXPECT_EQ(taskJson(cancelled)["samples_done"], 0);
  ASSERT_OK_AND_ASSIGN(store::Resource still, tasks_->get(alice_, busy.task));
  EXPECT_EQ(still.state, "running");
  ASSERT_OK(tasks_->cancel(alice_, busy.task));
}

TEST_F(TasksTest, VisibilityFollowsTheTenancyRules) {
  auto cluster = addCluster(alice_, lineTemplate(16, 8, 4));
  const std::string dataset = imageDataset(alice_, "mine", bandImages(10, 4, 1));
  ASSERT_OK_AND_ASSIGN(store::Resource task, tasks_->create(alice_, train(cluster, dataset)));
  waitEnded(alice_, task.id);

  EXPECT_OK(tasks_->get(carol_, task.id));  // project-admin: the whole project
  for (const Principal* other : {&bob_, &dave_}) {
    EXPECT_TRUE(failsWith(tasks_->get(*other, task.id).status(), Code::kNotFound, "task"));
    EXPECT_TRUE(failsWith(tasks_->cancel(*other, task.id).status(), Code::kNotFound, "task"));
    EXPECT_TRUE(failsWith(tasks_->remove(*other, task.id), Code::kNotFound, "task"));
    EXPECT_TRUE(failsWith(tasks_->watch(*other, task.id, [](const nlohmann::json&, bool) {}).status(),
                          Code::kNotFound, "task"));
    ASSERT_OK_AND_ASSIGN(auto page, tasks_->list(*other, {}, {}));
    EXPECT_TRUE(page.items.empty());
  }
  // Bob cannot start work on Alice's cluster or with her dataset either.
  EXPECT_EQ(tasks_->create(bob_, train(cluster, dataset)).status().code(), Code::kNotFound);
  ASSERT_OK_AND_ASSIGN(auto alices, tasks_->list(alice_, {cluster->id(), "finished"}, {}));
  ASSERT_EQ(alices.items.size(), 1u);
  ASSERT_OK_AND_ASSIGN(auto none, tasks_->list(alice_, {cluster->id(), "running"}, {}));
  EXPECT_TRUE(none.items.empty());
  // No project selected: refused before anything else.
  const Principal no_project = caller("alice", "", PolicyRole::kUser);
  EXPECT_TRUE(failsWith(tasks_->create(no_project, train(cluster, dataset)).status(),
                        Code::kFailedPrecondition, "select a project"));
}

TEST_F(TasksTest, TheConcurrentTaskQuotaRefusesWithoutChangingAnything) {
  ASSERT_OK(quotas_->set(store::ProjectQuota{"p1", std::nullopt, std::nullopt, std::nullopt, 1}));
  const Busy busy = startBusy("quota");
  EXPECT_TRUE(failsWith(tasks_->create(alice_, train(busy.cluster, busy.dataset)).status(),
                        Code::kResourceExhausted, "quota"));
  EXPECT_EQ(taskRows(), 1);
  ASSERT_OK(tasks_->cancel(alice_, busy.task));
  EXPECT_EQ(waitEnded(alice_, busy.task)["state"], "cancelled");
  EXPECT_OK(tasks_->create(alice_, train(busy.cluster, busy.dataset)));
}

TEST_F(TasksTest, StateChangesArePublishedAndWatchersGetAFinalCall) {
  std::mutex mutex;
  std::vector<std::string> states_seen_by_alice;
  size_t seen_by_dave = 0;
  events_.subscribe(alice_, [&](const Event& event) {
    ASSERT_EQ(event.type, "task");
    std::lock_guard lock(mutex);
    states_seen_by_alice.push_back(nlohmann::json::parse(event.payload_json)["state"]);
  });
  events_.subscribe(dave_, [&](const Event&) {
    std::lock_guard lock(mutex);
    ++seen_by_dave;
  });
  auto cluster = addCluster(alice_, lineTemplate(16, 16, 4));
  const std::string dataset = imageDataset(alice_, "events", bandImages(100, 4, 1));
  ASSERT_OK_AND_ASSIGN(store::Resource task, tasks_->create(alice_, train(cluster, dataset, 100)));

  std::vector<nlohmann::json> updates;
  bool final_seen = false;
  ASSERT_OK_AND_ASSIGN(uint64_t watch, tasks_->watch(alice_, task.id,
                                                     [&](const nlohmann::json& json, bool final) {
                                                       std::lock_guard lock(mutex);
                                                       EXPECT_FALSE(final_seen);
                                                       updates.push_back(json);
                                                       final_seen = final;
                                                     }));
  EXPECT_NE(watch, 0u);
  const nlohmann::json ended = waitEnded(alice_, task.id);
  ASSERT_EQ(ended["state"], "finished");
  std::this_thread::sleep_for(20ms);
  std::lock_guard lock(mutex);
  EXPECT_EQ(states_seen_by_alice, (std::vector<std::string>{"queued", "running", "finished"}));
  EXPECT_EQ(seen_by_dave, 0u);
  ASSERT_TRUE(final_seen);
  ASSERT_GE(updates.size(), 3u) << "first, progress and final calls";
  EXPECT_EQ(updates.back()["state"], "finished");
  for (size_t i = 1; i < updates.size(); ++i) {
    EXPECT_GE(updates[i]["samples_done"], updates[i - 1]["samples_done"]);
  }
  tasks_->unwatch(watch);  // after the end: harmless

  // Watching an ended task: one final call at once.
  int calls = 0;
  ASSERT_OK_AND_ASSIGN(uint64_t none, tasks_->watch(alice_, task.id, [&](const nlohmann::json& json,
                                                                         bool final) {
    ++calls;
    EXPECT_TRUE(final);
    EXPECT_EQ(json["state"], "finished");
  }));
  EXPECT_EQ(none, 0u);
  EXPECT_EQ(calls, 1);
}

TEST_F(TasksTest, DeletingAClusterCancelsItsTasksAndWaitsForTheCycle) {
  const Busy busy = startBusy("doomed");
  ASSERT_OK_AND_ASSIGN(store::Resource queued,
                       tasks_->create(alice_, request(busy.cluster, busy.dataset)));
  tasks_->cancelClusterTasks(busy.cluster->id());
  // Returned only once nothing runs: both rows are final already.
  for (const std::string& id : {busy.task, queued.id}) {
    ASSERT_OK_AND_ASSIGN(store::Resource row, store_->getResource(store::ResourceKind::kTask, id));
    EXPECT_EQ(row.state, "cancelled") << id;
  }
  const uint64_t changes = busy.cluster->changes();
  std::this_thread::sleep_for(20ms);
  EXPECT_EQ(busy.cluster->changes(), changes);
  EXPECT_FALSE(std::filesystem::exists(results_->path(queued.id)));
}

TEST_F(TasksTest, AClosedClusterEndsItsTask) {
  const Busy busy = startBusy("closing");
  {
    auto lock = busy.cluster->lockWriter();
    busy.cluster->close();
  }
  const nlohmann::json ended = waitEnded(alice_, busy.task);
  EXPECT_EQ(ended["state"], "cancelled");
  EXPECT_EQ(ended["error"], "the cluster was deleted");
}

TEST_F(TasksTest, StopInterruptsAndRecoveryMarksLeftoverRows) {
  const Busy busy = startBusy("stopped");
  ASSERT_OK_AND_ASSIGN(store::Resource queued,
                       tasks_->create(alice_, request(busy.cluster, busy.dataset)));
  tasks_->stop();
  for (const std::string& id : {busy.task, queued.id}) {
    ASSERT_OK_AND_ASSIGN(store::Resource row, store_->getResource(store::ResourceKind::kTask, id));
    EXPECT_EQ(row.state, "interrupted") << id;
    EXPECT_EQ(taskJson(row)["error"], "the service stopped before the task ended");
  }
  EXPECT_TRUE(failsWith(tasks_->create(alice_, train(busy.cluster, busy.dataset)).status(),
                        Code::kFailedPrecondition, "shutting down"));

  // A crash leaves rows queued or running and maybe a partial result: a new service cleans up.
  store::Resource left = queued;
  left.id = newUuid();
  left.state = "running";
  ASSERT_OK(store_->insertResource(left));
  std::filesystem::create_directories(data_dir_ / "results");
  const std::filesystem::path partial = data_dir_ / "results" / (left.id + ".tres.partial");
  { std::ofstream(partial) << "half"; }
  Scheduler scheduler({1, 5ms});
  TaskService restarted(*store_, scheduler, *datasets_, *quotas_, events_,
                        [this](const Principal& who, std::string_view id) { return lookup(who, id); },
                        {data_dir_, systemClock(), 50ms, 20ms, 16});
  ASSERT_OK(restarted.recoverInterrupted());
  ASSERT_OK_AND_ASSIGN(store::Resource recovered,
                       store_->getResource(store::ResourceKind::kTask, left.id));
  EXPECT_EQ(recovered.state, "interrupted");
  EXPECT_FALSE(std::filesystem::exists(partial));
}

TEST_F(TasksTest, DeleteIsRefusedWhileActiveAndRemovesTheResult) {
  const Busy busy = startBusy("deleted");
  EXPECT_TRUE(failsWith(tasks_->remove(alice_, busy.task), Code::kFailedPrecondition, "cancel it"));
  ASSERT_OK(tasks_->cancel(alice_, busy.task));
  waitEnded(alice_, busy.task);
  ASSERT_OK_AND_ASSIGN(store::Resource asked,
                       tasks_->create(alice_, request(busy.cluster, busy.dataset)));
  waitEnded(alice_, asked.id);
  ASSERT_TRUE(std::filesystem::exists(results_->path(asked.id)));
  ASSERT_OK(tasks_->remove(alice_, asked.id));
  EXPECT_FALSE(std::filesystem::exists(results_->path(asked.id)));
  EXPECT_EQ(tasks_->get(alice_, asked.id).status().code(), Code::kNotFound);
  EXPECT_EQ(results_->get(alice_, asked.id).status().code(), Code::kNotFound);
}

// A job of another module (checkpoint save, restore) through submitJob.
class CountingJob final : public TaskJob {
 public:
  CountingJob(std::atomic<int>* runs, std::string* abandoned) : runs_(runs), abandoned_(abandoned) {}
  Status run(TaskContext& context) override {
    ++*runs_;
    for (uint64_t unit = 0; unit < 4; ++unit) {
      if (context.cancelled()) return Status(Code::kCancelled, "cancelled");
      auto lock = context.cluster().lockReader();
      context.progress(unit + 1, 4);
    }
    context.setAttrs({{"checkpoint_id", "cp-1"}});
    return Status::Ok();
  }
  void abandoned(std::string_view state) override { *abandoned_ = state; }

 private:
  std::atomic<int>* runs_;
  std::string* abandoned_;
};

TEST_F(TasksTest, SubmittedJobsRunInTheClustersQueue) {
  const Busy busy = startBusy("jobs");
  const std::shared_ptr<LiveCluster>& cluster = busy.cluster;
  std::atomic<int> runs{0};
  std::string abandoned;
  ASSERT_OK_AND_ASSIGN(store::Resource waiting,
                       tasks_->submitJob(alice_, "checkpoint", cluster, "cp-0", {{"kind", "manual"}},
                                         std::make_unique<CountingJob>(&runs, &abandoned)));
  EXPECT_EQ(waiting.state, "queued");
  ASSERT_OK_AND_ASSIGN(store::Resource dropped, tasks_->cancel(alice_, waiting.id));
  EXPECT_EQ(dropped.state, "cancelled");
  EXPECT_EQ(abandoned, "cancelled");
  EXPECT_EQ(runs.load(), 0);

  ASSERT_OK_AND_ASSIGN(store::Resource job,
                       tasks_->submitJob(alice_, "checkpoint", cluster, "cp-1", {{"kind", "manual"}},
                                         std::make_unique<CountingJob>(&runs, &abandoned)));
  ASSERT_OK(tasks_->cancel(alice_, busy.task));
  const nlohmann::json done = waitEnded(alice_, job.id);
  EXPECT_EQ(done["state"], "finished");
  EXPECT_EQ(done["type"], "checkpoint");
  EXPECT_EQ(done["checkpoint_id"], "cp-1");
  EXPECT_TRUE(done["dataset_id"].is_null());
  EXPECT_EQ(done["samples_done"], 4);
  EXPECT_EQ(runs.load(), 1);
}

}  // namespace
}  // namespace tendril::service
