// The client against the real service in this process (ServiceApp on 127.0.0.1, a fresh data
// directory): problem replies as Statuses, keep-alive, token refresh on 401, a resumable upload
// that continues where the server stands, a streamed download, and the WebSocket handshake.
#include "client/client.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <thread>

#include "cli/service_app.h"
#include "service/config.h"

namespace tendril::client {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

class ClientTest : public testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(testing::TempDir()) /
           ("client_" + std::string(testing::UnitTest::GetInstance()->current_test_info()->name()));
    fs::remove_all(dir_);
    startService([](service::ServiceConfig&) {});
  }

  // (Re)starts the service on a fresh data directory, with `adjust` applied to its settings.
  void startService(const std::function<void(service::ServiceConfig&)>& adjust) {
    if (app_) app_->stop();
    app_.reset();
    service::ServiceConfig config;
    config.data_dir = dir_ / ("data" + std::to_string(++starts_));
    config.listen = "127.0.0.1:0";
    config.password_hash_cost = service::HashCost::kTesting;
    adjust(config);
    service::Environment env = [](std::string_view name) -> std::optional<std::string> {
      if (name == service::kAdminNameEnv) return "admin";
      if (name == service::kAdminPasswordEnv) return "admin-password-0";
      if (name == service::kTokenKeyEnv) return std::string(40, 'k');
      return std::nullopt;
    };
    std::ostringstream out;
    Result<std::unique_ptr<cli::ServiceApp>> app = cli::ServiceApp::create(config, env, out);
    ASSERT_TRUE(app.ok()) << app.status().toString();
    app_ = std::move(app).value();
    ASSERT_TRUE(app_->start().ok());
    address_ = "http://127.0.0.1:" + std::to_string(app_->port());
  }

  // A CSV dataset `name` declared for `table` (size right, digest `sha256`), its file written:
  // the dataset's path.
  std::string declareTable(Client& client, const std::string& name, const std::string& table,
                           const std::string& sha256, fs::path* file) {
    fs::create_directories(dir_);
    *file = dir_ / (name + ".csv");
    std::ofstream(*file, std::ios::binary) << table;
    Result<json> declared =
        client.callJson("POST", "/api/v1/datasets",
                        {{"name", name},
                         {"format", "csv"},
                         {"parts", {{"table", {{"size", table.size()}, {"sha256", sha256}}}}}});
    EXPECT_TRUE(declared.ok()) << declared.status().toString();
    return "/api/v1/datasets/" + (declared.ok() ? declared->value("id", "") : std::string());
  }

  void TearDown() override {
    if (app_) app_->stop();
    app_.reset();
    fs::remove_all(dir_);
  }

  // A client logged in as the admin (in a fresh project when `project` is set).
  Client loggedIn(bool project = false) {
    Client client(Credentials{address_, "", "", "", false});
    Result<json> session = client.callJson("POST", "/api/v1/auth/login",
                                           {{"name", "admin"}, {"password", "admin-password-0"}});
    EXPECT_TRUE(session.ok()) << session.status().toString();
    Credentials credentials{address_, session->value("access_token", ""),
                            session->value("refresh_token", ""), "", false};
    client.setCredentials(credentials);
    if (project) {
      Result<json> created = client.callJson("POST", "/api/v1/projects", {{"name", "proj"}});
      EXPECT_TRUE(created.ok());
      Result<json> switched = client.callJson("POST", "/api/v1/auth/switch",
                                              {{"project_id", created->value("id", "")}});
      EXPECT_TRUE(switched.ok());
      credentials.access_token = switched->value("access_token", "");
      credentials.refresh_token = switched->value("refresh_token", "");
      client.setCredentials(credentials);
    }
    return client;
  }

  fs::path dir_;
  std::unique_ptr<cli::ServiceApp> app_;
  std::string address_;
  int starts_ = 0;
};

TEST_F(ClientTest, ProblemsBecomeStatusesWithTitleAndDetail) {
  Client client = loggedIn();
  Result<Reply> missing = client.call("GET", "/api/v1/users/00000000-0000-0000-0000-000000000000");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), Code::kNotFound);
  EXPECT_NE(client.lastProblem().find("not-found"), std::string::npos) << client.lastProblem();

  ASSERT_TRUE(client.callJson("POST", "/api/v1/projects", {{"name", "twice"}}).ok());
  EXPECT_TRUE(client.lastProblem().empty());
  Result<json> again = client.callJson("POST", "/api/v1/projects", {{"name", "twice"}});
  EXPECT_EQ(again.status().code(), Code::kAlreadyExists) << again.status().toString();

  Client anonymous(Credentials{address_, "", "", "", false});
  EXPECT_EQ(anonymous.call("GET", "/api/v1/users").status().code(), Code::kUnauthenticated);
  // Many calls go over the one kept-alive connection.
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(client.call("GET", "/api/v1/auth/whoami").ok());
}

TEST_F(ClientTest, ARefusedAccessTokenIsRefreshedOnceAndTheNewPairHandedOver) {
  Client logged = loggedIn();
  Credentials stale = logged.credentials();
  stale.access_token = "not.a.token";
  Credentials handed;
  int refreshed = 0;
  ClientOptions options;
  options.on_refreshed = [&](const Credentials& renewed) {
    handed = renewed;
    ++refreshed;
  };
  Client client(stale, options);
  Result<json> whoami = client.callJson("GET", "/api/v1/auth/whoami");
  ASSERT_TRUE(whoami.ok()) << whoami.status().toString();
  EXPECT_EQ((*whoami)["user"]["name"], "admin");
  EXPECT_EQ(refreshed, 1);
  EXPECT_NE(handed.access_token, "not.a.token");
  EXPECT_NE(handed.refresh_token, stale.refresh_token) << "refresh tokens rotate";
  EXPECT_EQ(client.credentials().access_token, handed.access_token);

  // An API key is never "refreshed": the 401 stands.
  Client keyed(Credentials{address_, "", stale.refresh_token, "tdk_bogus", false}, options);
  EXPECT_EQ(keyed.call("GET", "/api/v1/auth/whoami").status().code(), Code::kUnauthenticated);
  EXPECT_EQ(refreshed, 1);
}

TEST_F(ClientTest, AnUploadContinuesWhereTheServerStandsAndDownloadsStream) {
  Client client = loggedIn(true);
  std::string table = "input,output\n";
  for (int i = 0; i < 400; ++i) table += std::to_string(i % 4) + "," + std::to_string(i % 2) + "\n";
  // The declared digest is wrong on purpose: finalize must then refuse with a 400.
  fs::path file;
  const std::string path = declareTable(client, "stairs", table, std::string(64, '0'), &file);
  // A first run sent 100 bytes, then stopped.
  ASSERT_TRUE(client
                  .call("PUT", path + "/parts/table?offset=0", table.substr(0, 100),
                        "application/octet-stream")
                  .ok());
  ResumableUpload upload;
  upload.chunk_bytes = 333;
  std::vector<uint64_t> offsets;
  upload.received = [&]() -> Result<uint64_t> {
    Result<json> part = client.callJson("GET", path + "/parts/table");
    if (!part.ok()) return part.status();
    return part->value("received", uint64_t{0});
  };
  upload.chunk_target = [&](uint64_t offset) {
    offsets.push_back(offset);
    return path + "/parts/table?offset=" + std::to_string(offset);
  };
  uint64_t last_done = 0;
  ASSERT_TRUE(client.upload(file, upload, [&](uint64_t done, uint64_t) { last_done = done; }).ok());
  ASSERT_FALSE(offsets.empty());
  EXPECT_EQ(offsets.front(), 100u) << "the upload resumed instead of starting again";
  EXPECT_EQ(last_done, table.size());
  Result<json> part = client.callJson("GET", path + "/parts/table");
  EXPECT_EQ(part->value("received", uint64_t{0}), table.size());
  // The declared digest was wrong: finalize names the mismatch (a 400 as a Status).
  Result<json> finalized = client.callJson("POST", path + "/finalize");
  EXPECT_EQ(finalized.status().code(), Code::kInvalidArgument);
  EXPECT_NE(finalized.status().message().find("sha256"), std::string::npos);

  // Downloads stream to the file; a refused one leaves no file and keeps the problem.
  const fs::path target = dir_ / "openapi.json";
  ASSERT_TRUE(client.download("/api/v1/openapi.json", target).ok());
  std::ifstream in(target);
  json document = json::parse(in, nullptr, false);
  EXPECT_TRUE(document.contains("openapi"));
  Status refused = client.download(path + "/download", dir_ / "table-copy.csv");
  EXPECT_FALSE(refused.ok());
  EXPECT_FALSE(fs::exists(dir_ / "table-copy.csv"));
}

TEST_F(ClientTest, AChunkTheServerRefusesIsResentFromTheServersOffset) {
  Client client = loggedIn(true);
  const std::string table = "input,output\n1,0\n2,1\n3,0\n4,1\n5,0\n6,1\n7,0\n8,1\n";
  fs::path file;
  const std::string path = declareTable(client, "small", table, std::string(64, 'a'), &file);
  ResumableUpload upload;
  upload.chunk_bytes = 10;
  int asked = 0;
  upload.received = [&]() -> Result<uint64_t> {
    ++asked;
    Result<json> part = client.callJson("GET", path + "/parts/table");
    if (!part.ok()) return part.status();
    return part->value("received", uint64_t{0});
  };
  // The second chunk goes to a wrong offset once (as after a reply lost on the way): the
  // server refuses it with 409 and the client goes on from where the server stands.
  int chunks = 0;
  upload.chunk_target = [&](uint64_t offset) {
    ++chunks;
    if (chunks == 2) offset += 3;
    return path + "/parts/table?offset=" + std::to_string(offset);
  };
  ASSERT_TRUE(client.upload(file, upload).ok());
  EXPECT_EQ(asked, 2) << "once at the start, once after the refused chunk";
  Result<json> part = client.callJson("GET", path + "/parts/table");
  EXPECT_EQ(part->value("received", uint64_t{0}), table.size());

  // Past the allowed failures the upload gives up with the server's reason.
  upload.attempts = 0;
  upload.chunk_target = [&](uint64_t) { return path + "/parts/table?offset=1"; };
  const fs::path longer = dir_ / "longer.csv";
  std::ofstream(longer, std::ios::binary) << table << "9,0\n";
  Status refused = client.upload(longer, upload);
  EXPECT_EQ(refused.code(), Code::kFailedPrecondition) << refused.toString();
}

TEST_F(ClientTest, AConnectionTheServerClosedWhileIdleIsReopened) {
  startService([](service::ServiceConfig& config) { config.idle_timeout_s = 1; });
  Client client(Credentials{address_, "", "", "", false});
  ASSERT_TRUE(client.call("GET", "/api/v1/version").ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));  // the server closes it
  Result<Reply> again = client.call("GET", "/api/v1/version");
  EXPECT_TRUE(again.ok()) << again.status().toString();
}

TEST_F(ClientTest, WebSocketsAuthenticateAndRefusalsKeepTheirStatus) {
  Client client = loggedIn();
  Result<std::unique_ptr<WebSocket>> events = client.openWebSocket("/api/v1/events");
  ASSERT_TRUE(events.ok()) << events.status().toString();
  ASSERT_TRUE((*events)->sendText(R"({"type": "ping"})").ok());
  Result<std::optional<WebSocket::Message>> pong = (*events)->read();
  ASSERT_TRUE(pong.ok() && pong->has_value());
  EXPECT_EQ(json::parse((*pong)->data)["type"], "pong");
  (*events)->close();

  Client anonymous(Credentials{address_, "", "", "", false});
  EXPECT_EQ(anonymous.openWebSocket("/api/v1/events").status().code(), Code::kUnauthenticated);
  EXPECT_EQ(client.openWebSocket("/api/v1/tasks/00000000-0000-0000-0000-000000000000/events")
                .status()
                .code(),
            Code::kNotFound);
}

TEST(Address, OnlyPlainHttpHostAndPort) {
  EXPECT_EQ(parseAddress("http://127.0.0.1:8080")->port, "8080");
  EXPECT_EQ(parseAddress("localhost:9")->host, "localhost");
  EXPECT_EQ(parseAddress("http://example.org/")->port, "80");
  EXPECT_FALSE(parseAddress("https://example.org").ok());
  EXPECT_FALSE(parseAddress("http://h:1/api").ok());
  EXPECT_FALSE(parseAddress("http://h:x").ok());
}

}  // namespace
}  // namespace tendril::client
