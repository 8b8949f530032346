// The dataset endpoints and the upload WebSocket through the real pipeline (authentication,
// policy, validation, audit) on a Router without sockets, with the real services on an
// in-memory store and a temporary data directory.
#include "api/dataset_routes.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <set>
#include <string>

#include "api/api.h"
#include "api/upload_socket.h"
#include "api/websocket.h"
#include "common/status_testing.h"
#include "data/idx.h"
#include "service/clock.h"
#include "service/credentials.h"

namespace tendril::api {
namespace {

using nlohmann::json;
using service::PolicyRole;

std::string textOf(const std::vector<uint8_t>& bytes) { return {bytes.begin(), bytes.end()}; }

std::string readAll(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// A WebSocket peer that records what the handler sends.
class RecordingPeer final : public WebSocketPeer {
 public:
  bool sendText(std::string message) override {
    sent.push_back(json::parse(message));
    return true;
  }
  bool sendBinary(std::string) override {
    ++binary_sent;
    return true;
  }
  void close(uint16_t code, std::string) override { closed_with = code; }
  std::string remoteAddress() const override { return "127.0.0.1"; }

  std::vector<json> sent;
  int binary_sent = 0;
  uint16_t closed_with = 0;
};

class DatasetRoutesTest : public testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK(service::initCredentials());
    data_dir_ = std::filesystem::temp_directory_path() /
                ("tendril-dataset-routes-" + std::to_string(::getpid()) + "-" +
                 testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(data_dir_);
    ASSERT_OK_AND_ASSIGN(store_, store::openSqliteMemoryStore());
    service::AuthSettings settings;
    settings.token_key = std::string(40, 'k');
    settings.hash_cost = service::HashCost::kTesting;
    auth_ = std::make_unique<service::AuthService>(*store_, clock_, settings);
    audit_ = std::make_unique<service::AuditLog>(*store_, clock_, nullptr);
    ASSERT_OK(auth_->bootstrapAdmin(std::string("root"), std::string("root-password")).status());
    quotas_ = std::make_unique<service::Quotas>(*store_, registry_, service::QuotaLimits{});
    datasets_ = std::make_unique<service::DatasetService>(
        *store_, *quotas_, clock_, service::DatasetSettings{data_dir_, 1 << 20});

    ASSERT_OK(store_->createProject(store::Project{"p1", "one", "", 1}));
    ASSERT_OK(store_->createProject(store::Project{"p2", "two", "", 1}));
    addMember("alice", "p1", store::Role::kMember);
    addMember("bob", "p1", store::Role::kMember);
    addMember("dave", "p2", store::Role::kProjectAdmin);

    addDatasetEndpoints(endpoints_, *datasets_);
    policy_ = std::make_unique<service::PolicyHolder>(
        *service::Policy::parse(defaultPolicyText(endpoints_), "test"));
    pipeline_ = std::make_unique<Pipeline>(Pipeline{*auth_, *policy_, *audit_, metrics_});
    installEndpoints(router_, endpoints_, *pipeline_);
    addUploadSocket(router_, *pipeline_, *datasets_);
  }
  void TearDown() override { std::filesystem::remove_all(data_dir_); }

  void addMember(const std::string& name, const std::string& project, store::Role role) {
    ASSERT_OK_AND_ASSIGN(std::string hash,
                         service::hashPassword(name + "-password", service::HashCost::kTesting));
    ASSERT_OK(store_->createUser(store::User{name, name, hash, false, 1, 1}));
    ASSERT_OK(store_->setMembership(project, name, role, 1));
  }

  std::string token(const std::string& name, const std::string& project = "") {
    Result<service::SessionTokens> session =
        auth_->login(name, name + "-password", project, "127.0.0.1", nullptr);
    EXPECT_TRUE(session.ok()) << session.status().toString();
    return session.ok() ? session->access_token : "";
  }

  Request request(std::string method, std::string target, const std::string& bearer,
                  std::string body = "", std::string content_type = "application/json") {
    Request request;
    request.method = std::move(method);
    size_t question = target.find('?');
    request.path = target.substr(0, question);
    if (question != std::string::npos) request.query = target.substr(question + 1);
    request.body = std::move(body);
    if (!request.body.empty()) request.headers["content-type"] = std::move(content_type);
    if (!bearer.empty()) request.headers["authorization"] = "Bearer " + bearer;
    request.remote_address = "127.0.0.1";
    return request;
  }

  Response call(std::string method, std::string target, const std::string& bearer,
                std::string body = "", std::string content_type = "application/json") {
    Request built = request(std::move(method), std::move(target), bearer, std::move(body),
                            std::move(content_type));
    return router_.dispatch(built).response;
  }

  Response put(const std::string& id, const std::string& part, uint64_t offset,
               const std::string& bytes, const std::string& bearer) {
    return call("PUT",
                "/api/v1/datasets/" + id + "/parts/" + part + "?offset=" + std::to_string(offset),
                bearer, bytes, "application/octet-stream");
  }

  static json parts(const std::map<std::string, const std::string*>& contents) {
    json out = json::object();
    for (const auto& [name, content] : contents) {
      out[name] = {{"size", content->size()}, {"sha256", service::sha256Hex(*content)}};
    }
    return out;
  }

  // POST /datasets; returns the reply body.
  json create(const std::string& bearer, const std::string& name, const std::string& format,
              const json& declared, unsigned expected_status = 201) {
    Response response = call("POST", "/api/v1/datasets", bearer,
                             json{{"name", name}, {"format", format}, {"parts", declared}}.dump());
    EXPECT_EQ(response.status, expected_status) << response.body;
    return json::parse(response.body);
  }

  const Endpoint* endpoint(std::string_view operation_id) const {
    for (const Endpoint& e : endpoints_) {
      if (e.operation_id == operation_id) return &e;
    }
    return nullptr;
  }

  WebSocketAccept accept(const std::string& id, const std::string& bearer) {
    Request upgrade = request("GET", "/api/v1/datasets/" + id + "/upload", bearer);
    upgrade.headers["upgrade"] = "websocket";
    WebSocketAccept accepted;
    std::string route;
    EXPECT_TRUE(router_.acceptWebSocket(upgrade, &accepted, &route));
    EXPECT_EQ(route, kDatasetUploadPath);
    return accepted;
  }

  std::filesystem::path data_dir_;
  service::Clock clock_ = service::systemClock();
  std::unique_ptr<store::MetadataStore> store_;
  std::unique_ptr<service::AuthService> auth_;
  std::unique_ptr<service::AuditLog> audit_;
  service::ClusterRegistry registry_;
  std::unique_ptr<service::Quotas> quotas_;
  std::unique_ptr<service::DatasetService> datasets_;
  std::vector<Endpoint> endpoints_;
  std::unique_ptr<service::PolicyHolder> policy_;
  MetricsRegistry metrics_;
  std::unique_ptr<Pipeline> pipeline_;
  Router router_;
};

data::ImageSet sampleImages() {
  data::ImageSet set;
  set.count = 4;
  set.rows = 2;
  set.cols = 2;
  for (uint8_t i = 0; i < 16; ++i) set.pixels.push_back(static_cast<uint8_t>(i * 9));
  set.labels = {1, 0, 7, 9};
  return set;
}

TEST_F(DatasetRoutesTest, TheContractsOperationsAreDeclaredOnce) {
  const std::set<std::pair<std::string, std::string>> expected = {
      {"POST", "/api/v1/datasets"},
      {"GET", "/api/v1/datasets"},
      {"GET", "/api/v1/datasets/{id}"},
      {"DELETE", "/api/v1/datasets/{id}"},
      {"PUT", "/api/v1/datasets/{id}/parts/{part}"},
      {"GET", "/api/v1/datasets/{id}/parts/{part}"},
      {"POST", "/api/v1/datasets/{id}/finalize"},
      {"GET", "/api/v1/datasets/{id}/download"},
      {"GET", "/api/v1/datasets/{id}/upload"}};
  std::set<std::pair<std::string, std::string>> routes;
  std::set<std::string> ids;
  for (const Endpoint& e : endpoints_) {
    EXPECT_TRUE(routes.insert({e.method, e.path}).second) << e.method << " " << e.path;
    EXPECT_TRUE(ids.insert(e.operation_id).second) << e.operation_id;
    EXPECT_EQ(e.tag, "datasets");
    EXPECT_TRUE(e.handler);
    EXPECT_EQ(
        std::set<PolicyRole>(e.roles.begin(), e.roles.end()),
        (std::set<PolicyRole>{PolicyRole::kMember, PolicyRole::kProjectAdmin, PolicyRole::kAdmin}))
        << e.operation_id;
  }
  EXPECT_EQ(routes, expected);
  ASSERT_NE(endpoint("datasets.parts.put"), nullptr);
  EXPECT_TRUE(endpoint("datasets.parts.put")->raw_body);
  EXPECT_EQ(endpoint("datasets.finalize")->success_status, 200u);
  EXPECT_EQ(endpoint("datasets.create")->success_status, 201u);
  EXPECT_EQ(endpoint("datasets.delete")->success_status, 204u);
  EXPECT_FALSE(endpoint("datasets.parts.put")->isAudited());
  EXPECT_TRUE(endpoint("datasets.finalize")->isAudited());
}

TEST_F(DatasetRoutesTest, IdxUploadFinalizeDownloadDelete) {
  const std::string alice = token("alice");
  ASSERT_OK_AND_ASSIGN(data::IdxBytes bytes, data::encodeIdxPair(sampleImages(), /*gzip=*/true));
  const std::string images = textOf(bytes.images);
  const std::string labels = textOf(bytes.labels);
  json created = create(alice, "digits", "idx", parts({{"images", &images}, {"labels", &labels}}));
  EXPECT_EQ(created["state"], "uploading");
  EXPECT_EQ(created["kind"], "images");
  EXPECT_EQ(created["project_id"], "p1");
  EXPECT_EQ(created["owner_id"], "alice");
  EXPECT_EQ(created["classes"], 10);
  EXPECT_TRUE(created["checksum"].is_null());
  EXPECT_TRUE(created["items"].is_null());
  EXPECT_EQ(created["parts"]["images"]["received"], 0);
  EXPECT_EQ(created["parts"]["labels"]["size"], labels.size());
  const std::string id = created["id"];

  Response first = put(id, "images", 0, images.substr(0, 10), alice);
  ASSERT_EQ(first.status, 200u) << first.body;
  EXPECT_EQ(json::parse(first.body),
            (json{{"part", "images"}, {"size", images.size()}, {"received", 10}}));

  Response conflict = put(id, "images", 3, images.substr(3), alice);
  EXPECT_EQ(conflict.status, 409u);
  EXPECT_EQ(conflict.content_type, kProblemContentType);
  json problem = json::parse(conflict.body);
  EXPECT_EQ(problem["type"], "https://tendril.dev/problems/failed-precondition");
  EXPECT_EQ(problem["received"], 10);
  EXPECT_EQ(problem["status"], 409);

  Response too_far = put(id, "images", 10, images.substr(10) + "extra", alice);
  EXPECT_EQ(too_far.status, 400u) << too_far.body;
  EXPECT_EQ(json::parse(too_far.body)["received"], 10);

  Response missing_offset = call("PUT", "/api/v1/datasets/" + id + "/parts/images", alice, "x",
                                 "application/octet-stream");
  EXPECT_EQ(missing_offset.status, 400u);
  Response bad_part = put(id, "pixels", 0, "x", alice);
  EXPECT_EQ(bad_part.status, 400u);
  Response wrong_format_part = put(id, "table", 0, "x", alice);
  EXPECT_EQ(wrong_format_part.status, 400u);
  EXPECT_NE(json::parse(wrong_format_part.body)["detail"].get<std::string>().find("unknown part"),
            std::string::npos);

  ASSERT_EQ(put(id, "images", 10, images.substr(10), alice).status, 200u);
  Response resume = call("GET", "/api/v1/datasets/" + id + "/parts/labels", alice);
  ASSERT_EQ(resume.status, 200u);
  EXPECT_EQ(json::parse(resume.body), (json{{"part", "labels"},
                                            {"size", labels.size()},
                                            {"received", 0},
                                            {"sha256", service::sha256Hex(labels)}}));

  Response early = call("POST", "/api/v1/datasets/" + id + "/finalize", alice);
  EXPECT_EQ(early.status, 409u);
  EXPECT_NE(early.body.find("part labels is incomplete"), std::string::npos) << early.body;

  ASSERT_EQ(put(id, "labels", 0, labels, alice).status, 200u);
  Response finalized = call("POST", "/api/v1/datasets/" + id + "/finalize", alice);
  ASSERT_EQ(finalized.status, 200u) << finalized.body;
  json ready = json::parse(finalized.body);
  EXPECT_EQ(ready["state"], "ready");
  EXPECT_EQ(ready["items"], 4);
  EXPECT_TRUE(ready["rows"].is_null());
  EXPECT_EQ(ready["image"], (json{{"rows", 2}, {"cols", 2}}));
  EXPECT_TRUE(ready["columns"].is_null());
  EXPECT_TRUE(ready["error"].is_null());
  EXPECT_EQ(ready["checksum"].get<std::string>().size(), 64u);
  EXPECT_EQ(ready["bytes"], data::compactImageBytes(4, 2, 2));

  Response got = call("GET", "/api/v1/datasets/" + id, alice);
  ASSERT_EQ(got.status, 200u);
  EXPECT_EQ(json::parse(got.body)["checksum"], ready["checksum"]);
  Response listed = call("GET", "/api/v1/datasets?limit=10", alice);
  ASSERT_EQ(listed.status, 200u);
  json page = json::parse(listed.body);
  ASSERT_EQ(page["items"].size(), 1u);
  EXPECT_EQ(page["items"][0]["id"], id);
  EXPECT_TRUE(page["next_cursor"].is_null());

  Response download = call("GET", "/api/v1/datasets/" + id + "/download?part=images", alice);
  ASSERT_EQ(download.status, 200u) << download.body;
  EXPECT_EQ(download.content_type, "application/octet-stream");
  ASSERT_FALSE(download.file.empty());
  ASSERT_OK_AND_ASSIGN(data::IdxBytes plain, data::encodeIdxPair(sampleImages()));
  EXPECT_EQ(readAll(download.file), textOf(plain.images));
  bool disposition = false;
  for (const auto& [name, value] : download.headers) {
    if (name == "Content-Disposition") {
      disposition = true;
      EXPECT_NE(value.find("digits-images.idx"), std::string::npos) << value;
    }
  }
  EXPECT_TRUE(disposition);
  EXPECT_EQ(call("GET", "/api/v1/datasets/" + id + "/download", alice).status, 400u);

  EXPECT_EQ(call("DELETE", "/api/v1/datasets/" + id, alice).status, 204u);
  EXPECT_EQ(call("GET", "/api/v1/datasets/" + id, alice).status, 404u);
}

TEST_F(DatasetRoutesTest, CsvErrorsAreReportedAndTheDatasetBecomesInvalid) {
  const std::string alice = token("alice");
  const std::string table = "x,y\n1,2\n3,oops\n";
  json created = create(alice, "table1", "csv", parts({{"table", &table}}));
  const std::string id = created["id"];
  ASSERT_EQ(put(id, "table", 0, table, alice).status, 200u);
  Response finalized = call("POST", "/api/v1/datasets/" + id + "/finalize", alice);
  EXPECT_EQ(finalized.status, 400u);
  EXPECT_NE(finalized.body.find("line 3, column 2"), std::string::npos) << finalized.body;
  EXPECT_EQ(finalized.body.find(data_dir_.string()), std::string::npos) << finalized.body;
  json invalid = json::parse(call("GET", "/api/v1/datasets/" + id, alice).body);
  EXPECT_EQ(invalid["state"], "invalid");
  EXPECT_NE(invalid["error"].get<std::string>().find("line 3, column 2"), std::string::npos);
  EXPECT_EQ(invalid["kind"], "table");
  EXPECT_TRUE(invalid["classes"].is_null());

  const std::string good = "x,y\n1,2\n0.1,-4e-07\n";
  json ok = create(alice, "table2", "csv", parts({{"table", &good}}));
  ASSERT_EQ(put(ok["id"], "table", 0, good, alice).status, 200u);
  json ready = json::parse(
      call("POST", "/api/v1/datasets/" + ok["id"].get<std::string>() + "/finalize", alice).body);
  EXPECT_EQ(ready["rows"], 2);
  EXPECT_EQ(ready["columns"], (json{"x", "y"}));
  Response csv =
      call("GET", "/api/v1/datasets/" + ok["id"].get<std::string>() + "/download", alice);
  ASSERT_EQ(csv.status, 200u) << csv.body;
  EXPECT_EQ(csv.content_type, "text/csv");
  EXPECT_EQ(readAll(csv.file), "x,y\n1,2\n0.100000001,-4.00000005e-07\n");
}

TEST_F(DatasetRoutesTest, CreateRefusals) {
  const std::string alice = token("alice");
  const std::string table = "x\n1\n";
  json bad_parts = create(alice, "badparts", "csv", json{{"table", {{"size", 4}}}}, 400);
  EXPECT_EQ(bad_parts["errors"][0]["field"], "parts") << bad_parts.dump();
  create(alice, "wrongparts", "idx", parts({{"table", &table}}), 400);
  create(alice, "x", "csv", parts({{"table", &table}}), 400);
  create(alice, "fmt", "json", parts({{"table", &table}}), 400);
  create(alice, "dup", "csv", parts({{"table", &table}}));
  json duplicate = create(token("bob"), "dup", "csv", parts({{"table", &table}}), 409);
  EXPECT_EQ(duplicate["type"], "https://tendril.dev/problems/already-exists");

  // An admin acting in no project has nowhere to put it.
  std::string root = auth_->login("root", "root-password", "", "127.0.0.1", nullptr)->access_token;
  json no_project = create(root, "orphan", "csv", parts({{"table", &table}}), 409);
  EXPECT_NE(no_project["detail"].get<std::string>().find("select a project first"),
            std::string::npos);

  ASSERT_OK(quotas_->set(store::ProjectQuota{"p1", {}, {}, 10, {}}));
  const std::string big = "x\n" + std::string(20, '1') + "\n";
  json quota = create(alice, "big", "csv", parts({{"table", &big}}), 429);
  EXPECT_NE(quota["detail"].get<std::string>().find("quota"), std::string::npos);

  EXPECT_EQ(call("POST", "/api/v1/datasets", "", json{{"name", "anon"}}.dump()).status, 401u);
}

TEST_F(DatasetRoutesTest, OtherTenantsGetTheSameNotFoundAsForAnUnknownId) {
  const std::string alice = token("alice");
  const std::string table = "x\n1\n";
  const std::string id = create(alice, "private", "csv", parts({{"table", &table}}))["id"];
  const std::string unknown = "00000000-0000-4000-8000-000000000000";
  for (const std::string& outsider : {token("bob"), token("dave")}) {
    Response seen = call("GET", "/api/v1/datasets/" + id, outsider);
    Response none = call("GET", "/api/v1/datasets/" + unknown, outsider);
    ASSERT_EQ(seen.status, 404u);
    std::string body = seen.body;
    for (size_t at = body.find(id); at != std::string::npos; at = body.find(id)) {
      body.replace(at, id.size(), unknown);
    }
    EXPECT_EQ(body, none.body);
    EXPECT_EQ(put(id, "table", 0, table, outsider).status, 404u);
    EXPECT_EQ(call("GET", "/api/v1/datasets/" + id + "/parts/table", outsider).status, 404u);
    EXPECT_EQ(call("POST", "/api/v1/datasets/" + id + "/finalize", outsider).status, 404u);
    EXPECT_EQ(call("DELETE", "/api/v1/datasets/" + id, outsider).status, 404u);
    EXPECT_TRUE(json::parse(call("GET", "/api/v1/datasets", outsider).body)["items"].empty());
    WebSocketAccept refused = accept(id, outsider);
    EXPECT_EQ(refused.handler, nullptr);
    EXPECT_EQ(refused.refusal.status, 404u);
  }
}

TEST_F(DatasetRoutesTest, WebSocketUploadOneReplyPerFrame) {
  const std::string alice = token("alice");
  const std::string table = "in,out\n1,2\n3,4\n5,6\n";
  const std::string id = create(alice, "streamed", "csv", parts({{"table", &table}}))["id"];

  WebSocketAccept anonymous = accept(id, "");
  EXPECT_EQ(anonymous.handler, nullptr);
  EXPECT_EQ(anonymous.refusal.status, 401u);
  WebSocketAccept accepted = accept(id, alice);
  ASSERT_NE(accepted.handler, nullptr) << accepted.refusal.body;
  auto peer = std::make_shared<RecordingPeer>();
  accepted.handler->onOpen(peer);
  WebSocketHandler& socket = *accepted.handler;

  socket.onMessage("early", /*binary=*/true);
  socket.onMessage("not json", false);
  socket.onMessage(R"({"part": "table", "offset": 5})", false);
  socket.onMessage(R"({"part": "images", "offset": 0})", false);
  socket.onMessage(R"({"part": "table", "offset": 0})", false);
  socket.onMessage(std::string_view(table).substr(0, 8), true);
  socket.onMessage(std::string_view(table).substr(8), true);
  socket.onMessage("more", true);  // past the declared size
  socket.onMessage("more", true);  // the selection was dropped by the error
  ASSERT_EQ(peer->sent.size(), 9u);
  EXPECT_EQ(peer->sent[0]["error"]["status"], 409);
  EXPECT_NE(peer->sent[0]["error"]["detail"].get<std::string>().find("select a part first"),
            std::string::npos);
  EXPECT_EQ(peer->sent[1]["error"]["status"], 400);
  EXPECT_EQ(peer->sent[2]["error"]["status"], 409);
  EXPECT_EQ(peer->sent[2]["error"]["received"], 0);
  EXPECT_EQ(peer->sent[3]["error"]["status"], 400);
  EXPECT_EQ(peer->sent[4], (json{{"part", "table"}, {"size", table.size()}, {"received", 0}}));
  EXPECT_EQ(peer->sent[5]["received"], 8);
  EXPECT_EQ(peer->sent[6]["received"], table.size());
  EXPECT_EQ(peer->sent[7]["error"]["status"], 400);
  EXPECT_EQ(peer->sent[7]["error"]["received"], table.size());
  EXPECT_EQ(peer->sent[8]["error"]["status"], 409);
  EXPECT_EQ(peer->closed_with, 0) << "errors never close the connection";
  socket.onClose();

  Response finalized = call("POST", "/api/v1/datasets/" + id + "/finalize", alice);
  ASSERT_EQ(finalized.status, 200u) << finalized.body;
  EXPECT_EQ(json::parse(finalized.body)["rows"], 3);

  // Once ready, frames are refused with the reason, still without closing.
  WebSocketAccept again = accept(id, alice);
  ASSERT_NE(again.handler, nullptr);
  auto second = std::make_shared<RecordingPeer>();
  again.handler->onOpen(second);
  again.handler->onMessage(R"({"part": "table", "offset": )" + std::to_string(table.size()) + "}",
                           false);
  again.handler->onMessage("x", true);
  ASSERT_EQ(second->sent.size(), 2u);
  EXPECT_EQ(second->sent[0]["received"], table.size());
  EXPECT_NE(second->sent[1]["error"]["detail"].get<std::string>().find("dataset is ready"),
            std::string::npos);
}

}  // namespace
}  // namespace tendril::api
