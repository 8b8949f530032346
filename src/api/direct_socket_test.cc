// The direct-IO WebSocket against a real HttpServer on loopback, with the real pipeline
// (authentication, policy) on an in-memory store and a tenant-checking cluster lookup built on
// service::Access, driven by Beast's WebSocket client.
#include "api/direct_socket.h"

#include <gtest/gtest.h>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <chrono>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <utility>

#include "api/http_server.h"
#include "engine/template.h"
#include "service/access.h"
#include "service/accounts.h"
#include "service/clock.h"
#include "service/credentials.h"

namespace tendril::api {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

constexpr std::string_view kTemplate = R"(version: 1
bricks:
    1,1,1
        input: pixels
        number_of_neurons: 4
    2,1,1
        number_of_neurons: 8
    3,1,1
        output: classes
        number_of_neurons: 3
)";

// A WebSocket client whose every operation has a time limit (a server bug fails the test instead
// of hanging it).
class Client {
 public:
  explicit Client(uint16_t port) : ws_(io_) {
    beast::error_code error;
    ws_.next_layer().connect({asio::ip::make_address("127.0.0.1"), port}, error);
    EXPECT_FALSE(error) << error.message();
  }

  // The handshake's HTTP status (101 when upgraded) and, when refused, the body.
  unsigned handshake(const std::string& cluster_id, const std::string& token,
                     std::string* body = nullptr) {
    ws_.set_option(websocket::stream_base::decorator([token](websocket::request_type& request) {
      if (!token.empty()) request.set(http::field::authorization, "Bearer " + token);
    }));
    websocket::response_type response;
    run([&](auto done) {
      ws_.async_handshake(response, "127.0.0.1", "/api/v1/clusters/" + cluster_id + "/direct",
                          done);
    });
    if (body != nullptr) *body = response.body();
    return response.result_int();
  }

  void write(const std::string& frame, bool binary) {
    ws_.binary(binary);
    EXPECT_FALSE(run([&](auto done) { ws_.async_write(asio::buffer(frame), done); }));
  }

  struct Message {
    beast::error_code error;
    std::string data;
    bool binary = false;
  };
  Message read() {
    beast::flat_buffer buffer;
    Message message;
    message.error = run([&](auto done) { ws_.async_read(buffer, done); });
    message.data = beast::buffers_to_string(buffer.data());
    message.binary = ws_.got_binary();
    return message;
  }
  nlohmann::json json(const std::string& frame) {
    write(frame, false);
    Message reply = read();
    EXPECT_FALSE(reply.error) << reply.error.message();
    EXPECT_FALSE(reply.binary);
    return nlohmann::json::parse(reply.data, nullptr, false);
  }
  service::DirectBinaryReply binary(const std::string& frame) {
    write(frame, true);
    Message reply = read();
    EXPECT_FALSE(reply.error) << reply.error.message();
    EXPECT_TRUE(reply.binary);
    Result<service::DirectBinaryReply> decoded = service::decodeDirectBinaryReply(reply.data);
    EXPECT_TRUE(decoded.ok()) << decoded.status().toString();
    return decoded.ok() ? *decoded : service::DirectBinaryReply{};
  }

 private:
  template <typename Start>
  beast::error_code run(Start&& start) {
    std::optional<beast::error_code> result;
    start([&result](beast::error_code error, auto&&...) { result = error; });
    io_.restart();
    io_.run_for(5s);
    if (result) return *result;
    beast::error_code ignored;
    ws_.next_layer().close(ignored);
    io_.restart();
    io_.run();
    return beast::error::timeout;
  }

  asio::io_context io_;
  websocket::stream<tcp::socket> ws_;
};

class DirectSocketTest : public testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(service::initCredentials().ok());
    store_ = std::move(store::openSqliteMemoryStore().value());
    service::AuthSettings settings;
    settings.token_key = std::string(40, 'k');
    settings.hash_cost = service::HashCost::kTesting;
    auth_ = std::make_unique<service::AuthService>(*store_, clock_, settings);
    audit_ = std::make_unique<service::AuditLog>(*store_, clock_, nullptr);
    accounts_ =
        std::make_unique<service::AccountService>(*store_, clock_, service::HashCost::kTesting);
    ASSERT_TRUE(auth_->bootstrapAdmin(std::string("root"), std::string("root-password")).ok());
    admin_token_ = login("root", "root-password", "");
    const service::Principal admin = auth_->authenticateToken(admin_token_).value();
    const store::Project project = accounts_->createProject(admin, "lab").value();
    const store::User alice =
        accounts_->createUser(admin, "alice", "alice-password", false).value();
    ASSERT_TRUE(accounts_->setMember(admin, project.id, alice.id, store::Role::kMember).ok());
    member_token_ = login("alice", "alice-password", project.id);
    own_cluster_ = addCluster(project.id, alice.id);
    foreign_cluster_ = addCluster(project.id, admin.user_id);  // root's: alice may not see it

    std::vector<Endpoint> endpoints;
    addDirectEndpoints(endpoints);
    policy_ = std::make_unique<service::PolicyHolder>(
        *service::Policy::parse(defaultPolicyText(endpoints), "test"));
    pipeline_ = std::make_unique<Pipeline>(Pipeline{*auth_, *policy_, *audit_, metrics_});
    Router router;
    installEndpoints(router, endpoints, *pipeline_);
    addDirectSocket(
        router, *pipeline_,
        [this](const service::Principal& caller,
               std::string_view id) -> Result<std::shared_ptr<service::LiveCluster>> {
          const auto found = clusters_.find(std::string(id));
          if (found == clusters_.end() ||
              !service::Access(caller).canSee(found->second.live->projectId(),
                                              found->second.owner)) {
            return Status::NotFound("cluster not found");
          }
          return found->second.live;
        },
        [this](std::string_view) {
          std::lock_guard lock(quota_mutex_);
          return quota_;
        });
    server_ = std::make_unique<HttpServer>(std::move(router), ServerLimits{}, &metrics_);
    ASSERT_TRUE(server_->start("127.0.0.1", 0, 2).ok());
  }
  void TearDown() override { server_->stop(); }

  std::string login(const std::string& name, const std::string& password,
                    const std::string& project_id) {
    return auth_->login(name, password, project_id, "127.0.0.1", nullptr).value().access_token;
  }

  std::string addCluster(const std::string& project_id, const std::string& owner) {
    auto cluster = engine::Cluster::create(engine::parseTemplateText(kTemplate).value());
    const std::string id = service::newUuid();
    clusters_[id] = {
        std::make_shared<service::LiveCluster>(id, project_id, std::move(cluster).value()), owner};
    return id;
  }

  // Opens the member's own cluster.
  std::unique_ptr<Client> open() {
    auto client = std::make_unique<Client>(server_->port());
    EXPECT_EQ(client->handshake(own_cluster_, member_token_), 101u);
    return client;
  }

  void setQuota(Status status) {
    std::lock_guard lock(quota_mutex_);
    quota_ = std::move(status);
  }

  // The body of a plain (non-upgrade) request.
  std::pair<unsigned, std::string> plainGet(const std::string& target) {
    asio::io_context io;
    tcp::socket socket(io);
    socket.connect({asio::ip::make_address("127.0.0.1"), server_->port()});
    http::request<http::empty_body> request(http::verb::get, target, 11);
    request.set(http::field::host, "127.0.0.1");
    request.set(http::field::authorization, "Bearer " + member_token_);
    http::write(socket, request);
    beast::flat_buffer buffer;
    http::response<http::string_body> response;
    http::read(socket, buffer, response);
    return {response.result_int(), response.body()};
  }

  struct HeldCluster {
    std::shared_ptr<service::LiveCluster> live;
    std::string owner;
  };
  service::Clock clock_ = service::systemClock();
  std::unique_ptr<store::MetadataStore> store_;
  std::unique_ptr<service::AuthService> auth_;
  std::unique_ptr<service::AuditLog> audit_;
  std::unique_ptr<service::AccountService> accounts_;
  std::unique_ptr<service::PolicyHolder> policy_;
  MetricsRegistry metrics_;
  std::unique_ptr<Pipeline> pipeline_;
  std::unique_ptr<HttpServer> server_;
  std::map<std::string, HeldCluster> clusters_;
  std::mutex quota_mutex_;
  Status quota_;  // what the synapse quota check answers
  std::string admin_token_;
  std::string member_token_;
  std::string own_cluster_;
  std::string foreign_cluster_;
};

TEST_F(DirectSocketTest, JsonFramesTrainAndRequestInOrder) {
  auto client = open();
  for (int i = 1; i <= 30; ++i) {
    const nlohmann::json reply = client->json(
        R"({"id": {"n": )" + std::to_string(i) +
        R"(}, "op": "train", "inputs": {"pixels": [0, 9, 0, 4]}, "expected": [0, 0, 1]})");
    EXPECT_EQ(reply["id"]["n"], i);
    EXPECT_EQ(reply["trained"], true);
    EXPECT_EQ(reply["samples_trained"], i);
  }
  const nlohmann::json reply =
      client->json(R"({"id": "r", "op": "request", "inputs": [0, 9, 0, 4]})");
  const std::vector<float> classes = reply["outputs"]["classes"];
  ASSERT_EQ(classes.size(), 3u);
  EXPECT_GT(classes[2], classes[0]);
  EXPECT_GT(classes[2], classes[1]);
  EXPECT_EQ(clusters_.at(own_cluster_).live->changes(), 30u);
}

TEST_F(DirectSocketTest, BinaryFramesArePipelinedAndAnsweredInOrder) {
  auto client = open();
  const std::vector<float> inputs = {3, 0, 3, 0};
  const std::vector<float> expected = {1, 0, 0};
  constexpr uint32_t kFrames = 50;
  for (uint32_t i = 0; i < kFrames; ++i) {
    client->write(
        service::encodeDirectBinaryFrame(
            i % 2 == 0 ? service::DirectOp::kTrain : service::DirectOp::kRequest, i, inputs,
            i % 2 == 0 ? std::span<const float>(expected) : std::span<const float>()),
        true);
  }
  for (uint32_t i = 0; i < kFrames; ++i) {
    Client::Message message = client->read();
    ASSERT_FALSE(message.error);
    ASSERT_TRUE(message.binary);
    Result<service::DirectBinaryReply> reply = service::decodeDirectBinaryReply(message.data);
    ASSERT_TRUE(reply.ok());
    EXPECT_FALSE(reply->error) << reply->message;
    EXPECT_EQ(reply->id, i);
    EXPECT_EQ(reply->op, i % 2 == 0 ? service::DirectOp::kTrain : service::DirectOp::kRequest);
    EXPECT_EQ(reply->values.size(), i % 2 == 0 ? 0u : 3u);
  }
}

TEST_F(DirectSocketTest, ErrorFramesKeepTheConnection) {
  auto client = open();
  nlohmann::json error = client->json("this is not json");
  EXPECT_EQ(error["error"]["status"], 400);
  EXPECT_EQ(error["error"]["type"], "https://tendril.dev/problems/invalid-argument");
  error = client->json(R"({"id": 5, "op": "request", "inputs": [1, 2, 3]})");
  EXPECT_EQ(error["id"], 5);
  EXPECT_EQ(error["error"]["detail"], "inputs has 3 values; the cluster takes 4");
  service::DirectBinaryReply binary = client->binary(std::string("\x01\0\0", 3));
  EXPECT_TRUE(binary.error);
  EXPECT_EQ(binary.status, 400);
  binary = client->binary(service::encodeDirectBinaryFrame(service::DirectOp::kRequest, 8,
                                                           std::vector<float>{1, 2, 3, 4}, {}) +
                          "trailing");
  EXPECT_TRUE(binary.error);
  EXPECT_EQ(binary.id, 8u);
  binary = client->binary(service::encodeDirectBinaryFrame(service::DirectOp::kRequest, 9,
                                                           std::vector<float>{1, 2, 3, 4}, {}));
  EXPECT_FALSE(binary.error) << binary.message;
  EXPECT_EQ(binary.values.size(), 3u);
}

TEST_F(DirectSocketTest, InvisibleAndUnknownClustersAreRefusedAlikeBeforeTheHandshake) {
  std::string foreign_body;
  std::string unknown_body;
  EXPECT_EQ(Client(server_->port()).handshake(foreign_cluster_, member_token_, &foreign_body),
            404u);
  const std::string unknown = service::newUuid();
  EXPECT_EQ(Client(server_->port()).handshake(unknown, member_token_, &unknown_body), 404u);
  nlohmann::json foreign = nlohmann::json::parse(foreign_body);
  nlohmann::json missing = nlohmann::json::parse(unknown_body);
  // The same problem; only the instance (the caller's own path) differs.
  EXPECT_EQ(foreign["instance"], "/api/v1/clusters/" + foreign_cluster_ + "/direct");
  foreign.erase("instance");
  missing.erase("instance");
  EXPECT_EQ(foreign, missing);
  EXPECT_EQ(foreign["status"], 404);
  // The admin sees every cluster.
  EXPECT_EQ(Client(server_->port()).handshake(foreign_cluster_, admin_token_), 101u);
}

TEST_F(DirectSocketTest, NoCredentialsIs401AndAPlainGetIs400) {
  std::string body;
  EXPECT_EQ(Client(server_->port()).handshake(own_cluster_, "", &body), 401u);
  EXPECT_EQ(nlohmann::json::parse(body)["type"], "https://tendril.dev/problems/unauthenticated");
  EXPECT_EQ(Client(server_->port()).handshake(own_cluster_, "forged.token.value"), 401u);
  const auto [status, plain] = plainGet("/api/v1/clusters/" + own_cluster_ + "/direct");
  EXPECT_EQ(status, 400u);
  EXPECT_NE(plain.find("connect with an upgrade request"), std::string::npos);
}

TEST_F(DirectSocketTest, QuotaRefusalsAre429AndRequestsGoOn) {
  setQuota(Status::Exhausted("quota: synapse_bytes (10 of 8 bytes)"));
  auto client = open();
  const std::string train = service::encodeDirectBinaryFrame(
      service::DirectOp::kTrain, 1, std::vector<float>{1, 2, 3, 4}, std::vector<float>{0, 1, 0});
  service::DirectBinaryReply reply = client->binary(train);
  EXPECT_TRUE(reply.error);
  EXPECT_EQ(reply.status, 429);
  EXPECT_EQ(reply.message, "quota: synapse_bytes (10 of 8 bytes)");
  EXPECT_EQ(clusters_.at(own_cluster_).live->changes(), 0u);
  EXPECT_FALSE(client
                   ->binary(service::encodeDirectBinaryFrame(service::DirectOp::kRequest, 2,
                                                             std::vector<float>{1, 2, 3, 4}, {}))
                   .error);
  setQuota(Status::Ok());
  EXPECT_FALSE(client->binary(train).error);
  EXPECT_EQ(clusters_.at(own_cluster_).live->changes(), 1u);
}

TEST_F(DirectSocketTest, ADeletedClusterAnswersEveryFrameNotFound) {
  auto client = open();
  {
    service::LiveCluster& cluster = *clusters_.at(own_cluster_).live;
    auto lock = cluster.lockWriter();
    cluster.close();
  }
  const nlohmann::json error =
      client->json(R"({"id": 1, "op": "request", "inputs": [1, 2, 3, 4]})");
  EXPECT_EQ(error["id"], 1);
  EXPECT_EQ(error["error"]["status"], 404);
  EXPECT_EQ(error["error"]["detail"], "cluster deleted");
  service::DirectBinaryReply reply = client->binary(service::encodeDirectBinaryFrame(
      service::DirectOp::kTrain, 2, std::vector<float>{1, 2, 3, 4}, std::vector<float>{0, 1, 0}));
  EXPECT_TRUE(reply.error);
  EXPECT_EQ(reply.id, 2u);
  EXPECT_EQ(reply.status, 404);
  EXPECT_EQ(reply.message, "cluster deleted");
}

}  // namespace
}  // namespace tendril::api
