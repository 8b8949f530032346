// The task and result endpoints and the task events WebSocket through the real pipeline
// (authentication, policy, validation, audit) on a Router without sockets, with the real
// services (store in memory, temporary data directory, real engine clusters and datasets).
#include "api/task_routes.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <set>
#include <thread>

#include "api/api.h"
#include "api/result_routes.h"
#include "api/task_socket.h"
#include "api/websocket.h"
#include "common/status_testing.h"
#include "data/idx.h"
#include "engine/test_support.h"
#include "service/access.h"
#include "service/credentials.h"
#include "service/datasets.h"
#include "service/events.h"
#include "service/quotas.h"

namespace tendril::api {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using service::PolicyRole;

// Records what a WebSocket handler sends; deliveries come from task threads.
class TaskPeer final : public WebSocketPeer {
 public:
  bool sendText(std::string message) override {
    std::lock_guard lock(mutex_);
    messages_.push_back(json::parse(message));
    return closed_ == 0;
  }
  bool sendBinary(std::string) override { return false; }
  void close(uint16_t code, std::string) override {
    std::lock_guard lock(mutex_);
    if (closed_ == 0) closed_ = code;
  }
  std::string remoteAddress() const override { return "127.0.0.1"; }

  std::vector<json> messages() {
    std::lock_guard lock(mutex_);
    return messages_;
  }
  uint16_t closed() {
    std::lock_guard lock(mutex_);
    return closed_;
  }

 private:
  std::mutex mutex_;
  std::vector<json> messages_;
  uint16_t closed_ = 0;
};

// 4x4 images in four classes, each lighting its own band of pixels.
std::string idxPart(uint32_t count, bool labels) {
  data::ImageSet set;
  set.count = count;
  set.rows = 4;
  set.cols = 4;
  set.classes = 4;
  for (const auto& sample : engine::testing::bandTask(count, 16, 4, 255.0f, 3)) {
    for (float value : sample.inputs) set.pixels.push_back(static_cast<uint8_t>(value));
    set.labels.push_back(static_cast<uint8_t>(sample.label));
  }
  Result<data::IdxBytes> bytes = data::encodeIdxPair(set);
  const std::vector<uint8_t>& part = labels ? bytes->labels : bytes->images;
  return std::string(part.begin(), part.end());
}

class TaskRoutesTest : public testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK(service::initCredentials());
    data_dir_ = std::filesystem::temp_directory_path() /
                ("tendril-task-routes-" + std::to_string(::getpid()) + "-" +
                 testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(data_dir_);
    ASSERT_OK_AND_ASSIGN(store_, store::openSqliteMemoryStore());
    service::AuthSettings settings;
    settings.token_key = std::string(40, 'k');
    settings.hash_cost = service::HashCost::kTesting;
    auth_ = std::make_unique<service::AuthService>(*store_, clock_, settings);
    audit_ = std::make_unique<service::AuditLog>(*store_, clock_, nullptr);
    ASSERT_OK(store_->createProject(store::Project{"p1", "one", "", 1}));
    ASSERT_OK(store_->createProject(store::Project{"p2", "two", "", 1}));
    for (const auto& [name, project] : {std::pair{"alice", "p1"}, {"bob", "p1"}, {"dave", "p2"}}) {
      ASSERT_OK_AND_ASSIGN(std::string hash, service::hashPassword(std::string(name) + "-password",
                                                                   service::HashCost::kTesting));
      ASSERT_OK(store_->createUser(store::User{name, name, hash, false, 1, 1}));
      ASSERT_OK(store_->setMembership(project, name, store::Role::kMember, 1));
    }
    quotas_ = std::make_unique<service::Quotas>(*store_, registry_, service::QuotaLimits{});
    datasets_ = std::make_unique<service::DatasetService>(
        *store_, *quotas_, clock_, service::DatasetSettings{data_dir_, 1 << 22});
    scheduler_ = std::make_unique<service::Scheduler>(service::Scheduler::Options{2, 5ms});
    service::TaskService::Options options;
    options.data_dir = data_dir_;
    options.watch_interval = 10ms;
    tasks_ = std::make_unique<service::TaskService>(
        *store_, *scheduler_, *datasets_, *quotas_, events_,
        [this](const service::Principal& who, std::string_view id)
            -> Result<std::shared_ptr<service::LiveCluster>> {
          std::shared_ptr<service::LiveCluster> cluster = registry_.find(id);
          if (!cluster || !service::Access(who).canSee(cluster->projectId(), "alice")) {
            return Status::NotFound("cluster not found");
          }
          return cluster;
        },
        options);
    results_ = std::make_unique<service::ResultService>(*store_, *datasets_, data_dir_ / "results");

    addTaskEndpoints(endpoints_, *tasks_);
    addResultEndpoints(endpoints_, *results_);
    policy_ = std::make_unique<service::PolicyHolder>(
        *service::Policy::parse(defaultPolicyText(endpoints_), "test"));
    pipeline_ = std::make_unique<Pipeline>(Pipeline{*auth_, *policy_, *audit_, metrics_});
    installEndpoints(router_, endpoints_, *pipeline_);
    addTaskSocket(router_, *pipeline_, *tasks_);

    alice_ = token("alice", "p1");
    alice_principal_.user_id = "alice";
    alice_principal_.project_id = "p1";
    alice_principal_.role = PolicyRole::kMember;
    alice_principal_.method = service::AuthMethod::kAccessToken;
    // Alice's cluster (16 inputs, 4 outputs) and dataset (200 images of 4x4, 4 classes).
    auto engine = engine::testing::makeCluster(engine::testing::lineTemplate(16, 32, 4));
    cluster_ = std::make_shared<service::LiveCluster>(service::newUuid(), "p1", std::move(engine));
    registry_.put(cluster_);
    dataset_ = upload("bands", idxPart(200, false), idxPart(200, true));
  }

  void TearDown() override {
    tasks_.reset();
    scheduler_.reset();
    std::filesystem::remove_all(data_dir_);
  }

  std::string upload(const std::string& name, const std::string& images,
                     const std::string& labels) {
    service::DatasetRequest request{name, "idx", {}, 4};
    for (const auto& [part, content] : {std::pair{"images", &images}, {"labels", &labels}}) {
      request.parts.push_back({part, {content->size(), service::sha256Hex(*content)}});
    }
    Result<service::Dataset> created = datasets_->create(alice_principal_, request);
    EXPECT_TRUE(created.ok()) << created.status().toString();
    for (const auto& [part, content] : {std::pair{"images", &images}, {"labels", &labels}}) {
      EXPECT_OK(datasets_->appendPart(
          alice_principal_, created->row.id, part, 0,
          {reinterpret_cast<const uint8_t*>(content->data()), content->size()}));
    }
    EXPECT_OK(datasets_->finalize(alice_principal_, created->row.id));
    return created->row.id;
  }

  std::string token(const std::string& name, const std::string& project) {
    Result<service::SessionTokens> session =
        auth_->login(name, name + "-password", project, "127.0.0.1", nullptr);
    EXPECT_TRUE(session.ok()) << session.status().toString();
    return session.ok() ? session->access_token : "";
  }

  Request request(std::string method, std::string target, const std::string& bearer,
                  std::string body = "") {
    Request built;
    built.method = std::move(method);
    const size_t question = target.find('?');
    built.path = target.substr(0, question);
    if (question != std::string::npos) built.query = target.substr(question + 1);
    built.body = std::move(body);
    if (!built.body.empty()) built.headers["content-type"] = "application/json";
    built.headers["authorization"] = "Bearer " + bearer;
    built.remote_address = "127.0.0.1";
    return built;
  }

  Response call(std::string method, std::string target, const std::string& bearer,
                const json& body = nullptr) {
    Request built =
        request(std::move(method), std::move(target), bearer, body.is_null() ? "" : body.dump());
    return router_.dispatch(built).response;
  }

  json createTask(const json& body, unsigned expected = 201) {
    Response response = call("POST", "/api/v1/tasks", alice_, body);
    EXPECT_EQ(response.status, expected) << response.body;
    return json::parse(response.body);
  }

  json trainBody(int epochs) const {
    return {{"type", "train"}, {"cluster_id", cluster_->id()}, {"dataset_id", dataset_},
            {"epochs", epochs}};
  }

  json waitEnded(const std::string& id) {
    const auto deadline = std::chrono::steady_clock::now() + 60s;
    while (std::chrono::steady_clock::now() < deadline) {
      json task = json::parse(call("GET", "/api/v1/tasks/" + id, alice_).body);
      if (task["state"] != "queued" && task["state"] != "running") return task;
      std::this_thread::sleep_for(2ms);
    }
    ADD_FAILURE() << "task " << id << " did not end";
    return {};
  }

  std::filesystem::path data_dir_;
  service::Clock clock_ = service::systemClock();
  std::unique_ptr<store::MetadataStore> store_;
  std::unique_ptr<service::AuthService> auth_;
  std::unique_ptr<service::AuditLog> audit_;
  service::ClusterRegistry registry_;
  std::unique_ptr<service::Quotas> quotas_;
  std::unique_ptr<service::DatasetService> datasets_;
  service::EventHub events_;
  std::unique_ptr<service::Scheduler> scheduler_;
  std::unique_ptr<service::TaskService> tasks_;
  std::unique_ptr<service::ResultService> results_;
  std::vector<Endpoint> endpoints_;
  std::unique_ptr<service::PolicyHolder> policy_;
  MetricsRegistry metrics_;
  std::unique_ptr<Pipeline> pipeline_;
  Router router_;
  std::string alice_;
  service::Principal alice_principal_;
  std::shared_ptr<service::LiveCluster> cluster_;
  std::string dataset_;
};

TEST_F(TaskRoutesTest, TheContractsOperationsAreDeclaredOnce) {
  const std::set<std::pair<std::string, std::string>> expected = {
      {"POST", "/api/v1/tasks"},
      {"GET", "/api/v1/tasks"},
      {"GET", "/api/v1/tasks/{id}"},
      {"POST", "/api/v1/tasks/{id}/cancel"},
      {"DELETE", "/api/v1/tasks/{id}"},
      {"GET", "/api/v1/tasks/{id}/events"},
      {"GET", "/api/v1/results"},
      {"GET", "/api/v1/results/{id}"},
      {"GET", "/api/v1/results/{id}/outputs"},
      {"GET", "/api/v1/results/{id}/download"},
      {"GET", "/api/v1/results/{id}/accuracy"},
      {"DELETE", "/api/v1/results/{id}"}};
  std::set<std::pair<std::string, std::string>> routes;
  std::set<std::string> ids;
  for (const Endpoint& e : endpoints_) {
    EXPECT_TRUE(routes.insert({e.method, e.path}).second) << e.method << " " << e.path;
    EXPECT_TRUE(ids.insert(e.operation_id).second) << e.operation_id;
    EXPECT_TRUE(e.tag == "tasks" || e.tag == "results") << e.operation_id;
    EXPECT_TRUE(e.handler);
    EXPECT_EQ(std::set<PolicyRole>(e.roles.begin(), e.roles.end()),
              (std::set<PolicyRole>{PolicyRole::kMember, PolicyRole::kProjectAdmin,
                                    PolicyRole::kAdmin}))
        << e.operation_id;
  }
  EXPECT_EQ(routes, expected);
}

TEST_F(TaskRoutesTest, TrainThenRequestThenReadTheResult) {
  json queued = createTask(trainBody(3));
  EXPECT_EQ(queued["type"], "train");
  EXPECT_EQ(queued["cluster_id"], cluster_->id());
  EXPECT_EQ(queued["dataset_id"], dataset_);
  EXPECT_EQ(queued["epochs"], 3);
  EXPECT_EQ(queued["shuffle"], true);
  EXPECT_EQ(queued["samples_total"], 600);
  json trained = waitEnded(queued["id"]);
  ASSERT_EQ(trained["state"], "finished") << trained.dump();
  EXPECT_EQ(trained["samples_done"], 600);

  json asked = createTask(
      {{"type", "request"}, {"cluster_id", cluster_->id()}, {"dataset_id", dataset_}});
  const std::string id = asked["id"];
  ASSERT_EQ(waitEnded(id)["result_id"], id);

  Response summary = call("GET", "/api/v1/results/" + id, alice_);
  ASSERT_EQ(summary.status, 200u) << summary.body;
  EXPECT_EQ(json::parse(summary.body)["count"], 200);
  EXPECT_EQ(json::parse(summary.body)["outputs"], (json{{{"name", "out"}, {"width", 4}}}));
  json page = json::parse(call("GET", "/api/v1/results/" + id + "/outputs?offset=198&limit=5", alice_).body);
  ASSERT_EQ(page["items"].size(), 2u);
  EXPECT_EQ(page["items"][0]["index"], 198);
  EXPECT_EQ(page["items"][0]["values"].size(), 4u);
  EXPECT_TRUE(page["next_offset"].is_null());
  EXPECT_EQ(json::parse(call("GET", "/api/v1/results/" + id + "/outputs?limit=10", alice_).body)
                ["next_offset"],
            10);
  EXPECT_EQ(call("GET", "/api/v1/results/" + id + "/outputs?limit=1001", alice_).status, 400u);

  Response csv = call("GET", "/api/v1/results/" + id + "/download?format=csv", alice_);
  ASSERT_EQ(csv.status, 200u) << csv.body;
  EXPECT_EQ(csv.content_type, "text/csv");
  ASSERT_FALSE(csv.file.empty());
  std::ifstream in(csv.file);
  std::string header;
  std::getline(in, header);
  EXPECT_EQ(header, "out_0,out_1,out_2,out_3");
  size_t lines = 0;
  for (std::string line; std::getline(in, line);) ++lines;
  EXPECT_EQ(lines, 200u);
  Response download_json = call("GET", "/api/v1/results/" + id + "/download?format=json", alice_);
  ASSERT_EQ(download_json.status, 200u);
  EXPECT_EQ(download_json.content_type, "application/json");
  EXPECT_EQ(call("GET", "/api/v1/results/" + id + "/download?format=xml", alice_).status, 400u);

  Response accuracy = call("GET", "/api/v1/results/" + id + "/accuracy", alice_);
  ASSERT_EQ(accuracy.status, 200u) << accuracy.body;
  json scored = json::parse(accuracy.body);
  EXPECT_EQ(scored["count"], 200);
  EXPECT_GE(scored["accuracy"].get<double>(), 0.8);
  // Against a dataset of another size: 400.
  const std::string other = upload("other", idxPart(7, false), idxPart(7, true));
  EXPECT_EQ(call("GET", "/api/v1/results/" + id + "/accuracy?dataset_id=" + other, alice_).status,
            400u);

  json listed = json::parse(call("GET", "/api/v1/results", alice_).body);
  ASSERT_EQ(listed["items"].size(), 1u);
  EXPECT_EQ(listed["items"][0]["id"], id);
  json tasks = json::parse(
      call("GET", "/api/v1/tasks?state=finished&cluster_id=" + cluster_->id(), alice_).body);
  EXPECT_EQ(tasks["items"].size(), 2u);

  EXPECT_EQ(call("DELETE", "/api/v1/results/" + id, alice_).status, 204u);
  EXPECT_EQ(call("GET", "/api/v1/results/" + id, alice_).status, 404u);
  EXPECT_TRUE(json::parse(call("GET", "/api/v1/tasks/" + id, alice_).body)["result_id"].is_null());
  EXPECT_EQ(call("DELETE", "/api/v1/tasks/" + id, alice_).status, 204u);
  EXPECT_EQ(call("GET", "/api/v1/tasks/" + id, alice_).status, 404u);
}

TEST_F(TaskRoutesTest, BadInputIsRefusedBeforeAnythingIsQueued) {
  json missing = createTask({{"type", "train"}, {"cluster_id", cluster_->id()}}, 400);
  EXPECT_NE(missing.dump().find("dataset_id"), std::string::npos);
  createTask({{"type", "train"}, {"cluster_id", cluster_->id()}, {"dataset_id", dataset_},
              {"epochs", 0}},
             400);
  json mapping = createTask({{"type", "train"}, {"cluster_id", cluster_->id()},
                             {"dataset_id", dataset_}, {"mapping", {{"in", "x0"}}}},
                            400);
  EXPECT_NE(mapping["detail"].get<std::string>().find("mapping: in"), std::string::npos);
  json images_mapped = createTask({{"type", "train"}, {"cluster_id", cluster_->id()},
                                   {"dataset_id", dataset_}, {"mapping", {{"in", {"x0"}}}}},
                                  400);
  EXPECT_NE(images_mapped["detail"].get<std::string>().find("CSV datasets only"),
            std::string::npos);

  auto narrow = engine::testing::makeCluster(engine::testing::lineTemplate(9, 8, 4));
  auto narrow_live =
      std::make_shared<service::LiveCluster>(service::newUuid(), "p1", std::move(narrow));
  registry_.put(narrow_live);
  json widths = createTask(
      {{"type", "train"}, {"cluster_id", narrow_live->id()}, {"dataset_id", dataset_}}, 400);
  EXPECT_NE(widths["detail"].get<std::string>().find("16 pixels"), std::string::npos);
  EXPECT_EQ(widths["type"], "https://tendril.dev/problems/invalid-argument");

  json unknown = createTask(
      {{"type", "train"}, {"cluster_id", service::newUuid()}, {"dataset_id", dataset_}}, 404);
  EXPECT_EQ(json::parse(call("GET", "/api/v1/tasks", alice_).body)["items"].size(), 0u);
}

TEST_F(TaskRoutesTest, OtherTenantsSeeA404LikeAnUnknownId) {
  json task = createTask(trainBody(1));
  const std::string id = task["id"];
  waitEnded(id);
  const std::string bob = token("bob", "p1");
  const std::string dave = token("dave", "p2");
  const std::string unknown = service::newUuid();
  for (const std::string* other : {&bob, &dave}) {
    for (const auto& [method, suffix] : {std::pair{"GET", ""}, {"POST", "/cancel"},
                                         {"DELETE", ""}}) {
      Response hidden = call(method, "/api/v1/tasks/" + id + suffix, *other);
      Response missing = call(method, "/api/v1/tasks/" + unknown + suffix, *other);
      EXPECT_EQ(hidden.status, 404u) << method << suffix;
      json a = json::parse(hidden.body), b = json::parse(missing.body);
      a.erase("instance");
      b.erase("instance");
      EXPECT_EQ(a, b) << method << suffix;
    }
    EXPECT_EQ(json::parse(call("GET", "/api/v1/tasks", *other).body)["items"].size(), 0u);
  }
}

TEST_F(TaskRoutesTest, CancelAndDeleteFollowTheTasksState) {
  json task = createTask(trainBody(1000));
  const std::string id = task["id"];
  Response refused = call("DELETE", "/api/v1/tasks/" + id, alice_);
  EXPECT_EQ(refused.status, 409u) << refused.body;
  Response cancelled = call("POST", "/api/v1/tasks/" + id + "/cancel", alice_);
  ASSERT_EQ(cancelled.status, 200u) << cancelled.body;
  EXPECT_EQ(json::parse(cancelled.body)["state"], "cancelled");
  EXPECT_EQ(call("DELETE", "/api/v1/tasks/" + id, alice_).status, 204u);

  ASSERT_OK(quotas_->set(store::ProjectQuota{"p1", std::nullopt, std::nullopt, std::nullopt, 1}));
  json busy = createTask(trainBody(1000));
  json over = createTask(trainBody(1), 429);
  EXPECT_NE(over["detail"].get<std::string>().find("quota"), std::string::npos);
  EXPECT_EQ(call("POST", "/api/v1/tasks/" + busy["id"].get<std::string>() + "/cancel", alice_)
                .status,
            200u);
}

TEST_F(TaskRoutesTest, TheEventsSocketFollowsTheTaskToItsEndAndCloses) {
  json task = createTask(trainBody(30));
  const std::string id = task["id"];

  Request hidden = request("GET", "/api/v1/tasks/" + id + "/events", token("bob", "p1"));
  hidden.headers["upgrade"] = "websocket";
  WebSocketAccept refused;
  std::string route;
  ASSERT_TRUE(router_.acceptWebSocket(hidden, &refused, &route));
  EXPECT_EQ(refused.handler, nullptr);
  EXPECT_EQ(refused.refusal.status, 404u);

  Request upgrade = request("GET", "/api/v1/tasks/" + id + "/events", alice_);
  upgrade.headers["upgrade"] = "websocket";
  WebSocketAccept accepted;
  ASSERT_TRUE(router_.acceptWebSocket(upgrade, &accepted, &route));
  EXPECT_EQ(route, kTaskEventsPath);
  ASSERT_NE(accepted.handler, nullptr) << accepted.refusal.body;
  auto peer = std::make_shared<TaskPeer>();
  accepted.handler->onOpen(peer);
  accepted.handler->onMessage("hello", false);

  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while (peer->closed() == 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(2ms);
  }
  accepted.handler->onClose();
  EXPECT_EQ(peer->closed(), 1000);
  std::vector<json> messages = peer->messages();
  std::vector<json> tasks;
  bool error_frame = false;
  for (const json& message : messages) {
    if (!message.contains("id")) {  // {"error": problem}
      error_frame = true;
    } else {
      tasks.push_back(message);
    }
  }
  EXPECT_TRUE(error_frame) << "a client message is answered with an error frame";
  ASSERT_GE(tasks.size(), 3u);
  EXPECT_EQ(tasks.back()["state"], "finished");
  EXPECT_EQ(tasks.back()["samples_done"], 6000);
  for (const json& message : tasks) EXPECT_EQ(message["id"], id);

  // An ended task: one message, then the close.
  WebSocketAccept again;
  ASSERT_TRUE(router_.acceptWebSocket(upgrade, &again, &route));
  auto late = std::make_shared<TaskPeer>();
  again.handler->onOpen(late);
  EXPECT_EQ(late->closed(), 1000);
  ASSERT_EQ(late->messages().size(), 1u);
  EXPECT_EQ(late->messages()[0]["state"], "finished");
  again.handler->onClose();
}

}  // namespace
}  // namespace tendril::api
