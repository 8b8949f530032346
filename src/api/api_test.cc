// The request pipeline on a Router without sockets: authentication, the policy, validation,
// exceptions and the audit trail, with the real auth service on an in-memory store.
#include "api/api.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <thread>

#include "service/accounts.h"
#include "service/clock.h"

namespace tendril::api {
namespace {

using service::PolicyRole;

class PipelineTest : public testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(service::initCredentials().ok());
    store_ = std::move(store::openSqliteMemoryStore().value());
    service::AuthSettings settings;
    settings.token_key = std::string(40, 'k');
    settings.hash_cost = service::HashCost::kTesting;
    auth_ = std::make_unique<service::AuthService>(*store_, clock_, settings);
    audit_ = std::make_unique<service::AuditLog>(*store_, clock_, nullptr);
    ASSERT_TRUE(auth_->bootstrapAdmin(std::string("root"), std::string("root-password")).ok());

    Endpoint open;
    open.method = "POST";
    open.path = "/open";
    open.operation_id = "test.open";
    open.summary = "anyone";
    open.roles = {PolicyRole::kAnonymous, PolicyRole::kAdmin};
    open.input = {Field::integer("n").required().range(1, 10)};
    open.handler = [](Call& call) -> Result<Reply> {
      return Reply(nlohmann::json{{"n", call.input["n"]}});
    };
    Endpoint admin_only;
    admin_only.method = "DELETE";
    admin_only.path = "/things/{id}";
    admin_only.operation_id = "things.delete";
    admin_only.summary = "admins";
    admin_only.roles = {PolicyRole::kAdmin};
    admin_only.success_status = 204;
    admin_only.input = {Field::string("id").inPath()};
    admin_only.handler = [this](Call& call) -> Result<Reply> {
      if (call.input["id"] == "boom") throw std::runtime_error("kaboom");
      if (call.input["id"] == "missing") return Status::NotFound("no such thing");
      ++deleted_;
      return Reply();
    };
    // A creating POST for Idempotency-Key: counts its runs, may fail or wait on request.
    Endpoint create = declare("POST", "/things", "things.create", "create", {PolicyRole::kAdmin});
    create.input = {Field::string("name").required(), Field::boolean("dry_run").inQuery()};
    create.handler = [this](Call& call) -> Result<Reply> {
      int run = ++created_;
      if (call.input["name"] == "fail") return Status::Invalid("name: refused on purpose");
      if (call.input["name"] == "wait") {
        waiting_.set_value();
        release_.get_future().wait();
      }
      call.response_headers.emplace_back("Location", "/things/" + std::to_string(run));
      return Reply(nlohmann::json{{"run", run}, {"name", call.input["name"]}});
    };
    // Raw bytes in, raw bytes and files out.
    Endpoint put_blob = declare("PUT", "/blobs/{id}", "blobs.put", "upload", {PolicyRole::kAdmin});
    put_blob.raw_body = true;
    put_blob.input = {Field::string("id").inPath(),
                      Field::integer("offset").inQuery().range(0, 1000).defaultsTo(0)};
    put_blob.handler = [](Call& call) -> Result<Reply> {
      return Reply(nlohmann::json{{"received", call.request.body.size()},
                                  {"offset", call.input["offset"]},
                                  {"first", static_cast<int>(call.request.body.at(0))}});
    };
    Endpoint get_blob = declare("GET", "/blobs/{id}", "blobs.get", "download", {PolicyRole::kAdmin});
    get_blob.input = {Field::string("id").inPath()};
    get_blob.handler = [](Call& call) -> Result<Reply> {
      Reply reply;
      reply.content_type = "application/octet-stream";
      std::string id = call.input["id"];
      if (id == "file") {
        reply.file = "/some/where/blob.bin";
        reply.filename = "blob.bin";
      } else {
        reply.raw = std::string("\0\x01raw", 5);
        reply.filename = id;
      }
      return reply;
    };
    endpoints_ = {open, admin_only, create, put_blob, get_blob};
    policy_ = std::make_unique<service::PolicyHolder>(
        *service::Policy::parse(defaultPolicyText(endpoints_), "test"));
    pipeline_ = std::make_unique<Pipeline>(Pipeline{*auth_, *policy_, *audit_, metrics_});
    idempotency_ = std::make_shared<IdempotencyCache>(IdempotencyLimits{}, clock_);
    installEndpoints(router_, endpoints_, *pipeline_, idempotency_);
  }

  Response call(std::string method, std::string path, std::string body = "",
                std::map<std::string, std::string> headers = {}) {
    Request request;
    request.method = std::move(method);
    request.path = std::move(path);
    request.body = std::move(body);
    request.headers = std::move(headers);
    if (!request.body.empty()) request.headers["content-type"] = "application/json";
    request.remote_address = "127.0.0.1";
    return router_.dispatch(request).response;
  }

  std::string adminToken() {
    return auth_->login("root", "root-password", "", "127.0.0.1", nullptr)->access_token;
  }

  static std::string type(const Response& response) {
    return nlohmann::json::parse(response.body)["type"];
  }

  static std::string header(const Response& response, std::string_view name) {
    for (const auto& [key, value] : response.headers) {
      if (key == name) return value;
    }
    return "";
  }

  std::map<std::string, std::string> adminWithKey(std::string key) {
    if (admin_token_.empty()) admin_token_ = adminToken();
    return {{"authorization", "Bearer " + admin_token_}, {"idempotency-key", std::move(key)}};
  }

  service::Clock clock_ = service::systemClock();
  std::unique_ptr<store::MetadataStore> store_;
  std::unique_ptr<service::AuthService> auth_;
  std::unique_ptr<service::AuditLog> audit_;
  std::unique_ptr<service::PolicyHolder> policy_;
  MetricsRegistry metrics_;
  std::unique_ptr<Pipeline> pipeline_;
  std::vector<Endpoint> endpoints_;
  Router router_;
  std::shared_ptr<IdempotencyCache> idempotency_;
  std::string admin_token_;
  int deleted_ = 0;
  std::atomic<int> created_{0};
  std::promise<void> waiting_;  // set by things.create for name "wait" once it runs
  std::promise<void> release_;  // ... which then waits for this
};

TEST_F(PipelineTest, AnonymousCallersNeedCredentialsWhereThePolicySaysSo) {
  Response response = call("DELETE", "/things/a");
  EXPECT_EQ(response.status, 401u);
  EXPECT_EQ(type(response), "https://tendril.dev/problems/unauthenticated");
  EXPECT_EQ(deleted_, 0);
  EXPECT_EQ(call("POST", "/open", R"({"n": 3})").status, 200u);
}

TEST_F(PipelineTest, BadCredentialsAre401ExceptWhereAnonymousMayCall) {
  auto bogus = std::map<std::string, std::string>{{"authorization", "Bearer not.a.token"}};
  EXPECT_EQ(call("DELETE", "/things/a", "", bogus).status, 401u);
  // A stale token on an open route (say, login) is ignored rather than refused.
  EXPECT_EQ(call("POST", "/open", R"({"n": 3})", bogus).status, 200u);
  auto basic = std::map<std::string, std::string>{{"authorization", "Basic abc"}};
  EXPECT_EQ(call("DELETE", "/things/a", "", basic).status, 401u);
}

// Browser sessions (api/session_cookie.h): the access cookie authenticates like a Bearer token,
// but a state-changing call only with this server's Origin; a header wins over the cookie.
TEST_F(PipelineTest, TheSessionCookieAuthenticatesWritesOnlyFromOurOrigin) {
  const std::string cookie = "tendril_access=" + adminToken();
  auto with = [&](std::map<std::string, std::string> extra) {
    extra["cookie"] = cookie;
    extra["host"] = "127.0.0.1:8080";
    return extra;
  };
  EXPECT_EQ(call("GET", "/blobs/a", "", with({})).status, 200u);  // a read: no Origin needed
  Response no_origin = call("DELETE", "/things/a", "", with({}));
  EXPECT_EQ(no_origin.status, 403u);
  EXPECT_EQ(type(no_origin), "https://tendril.dev/problems/permission-denied");
  EXPECT_EQ(call("DELETE", "/things/a", "", with({{"origin", "http://evil.example"}})).status,
            403u);
  EXPECT_EQ(deleted_, 0);
  EXPECT_EQ(call("DELETE", "/things/a", "", with({{"origin", "http://127.0.0.1:8080"}})).status,
            204u);
  EXPECT_EQ(deleted_, 1);
  // An open route (login) ignores a cross-origin cookie instead of refusing the call.
  EXPECT_EQ(call("POST", "/open", R"({"n": 3})", with({{"origin", "http://evil.example"}})).status,
            200u);
  // A header is judged alone: a bad token is 401 even with a good cookie.
  EXPECT_EQ(call("DELETE", "/things/a", "",
                 with({{"origin", "http://127.0.0.1:8080"}, {"authorization", "Bearer x.y.z"}}))
                .status,
            401u);
  // A forged cookie is 401.
  EXPECT_EQ(call("GET", "/blobs/a", "", {{"cookie", "tendril_access=x.y.z"}}).status, 401u);
}

TEST_F(PipelineTest, ThePolicyDeniesWhatItDoesNotList) {
  Result<service::Policy> strict = service::Policy::parse("POST /open anonymous\n", "strict");
  ASSERT_TRUE(strict.ok());
  policy_->replace(std::move(*strict));
  auto admin = std::map<std::string, std::string>{{"authorization", "Bearer " + adminToken()}};
  Response response = call("DELETE", "/things/a", "", admin);
  EXPECT_EQ(response.status, 403u);
  EXPECT_EQ(type(response), "https://tendril.dev/problems/permission-denied");
  EXPECT_EQ(deleted_, 0);
}

TEST_F(PipelineTest, ValidationRunsBeforeTheHandler) {
  Response response = call("POST", "/open", R"({"n": 99})");
  EXPECT_EQ(response.status, 400u);
  nlohmann::json problem = nlohmann::json::parse(response.body);
  EXPECT_EQ(problem["errors"][0]["field"], "n");
  EXPECT_EQ(call("POST", "/open", "[1]").status, 400u);
  Request text;
  text.method = "POST";
  text.path = "/open";
  text.body = "n=3";
  text.headers["content-type"] = "text/plain";
  EXPECT_EQ(router_.dispatch(text).response.status, 415u);
}

TEST_F(PipelineTest, HandlerErrorsAndExceptionsBecomeProblemsAndAreAudited) {
  auto admin = std::map<std::string, std::string>{{"authorization", "Bearer " + adminToken()}};
  EXPECT_EQ(call("DELETE", "/things/a", "", admin).status, 204u);
  EXPECT_EQ(call("DELETE", "/things/missing", "", admin).status, 404u);
  Response boom = call("DELETE", "/things/boom", "", admin);
  EXPECT_EQ(boom.status, 500u);
  EXPECT_EQ(nlohmann::json::parse(boom.body).count("detail"), 0u);  // nothing internal leaks

  service::Principal root;
  root.is_admin = true;
  root.role = PolicyRole::kAdmin;
  root.method = service::AuthMethod::kAccessToken;
  root.user_id = "x";
  Result<store::Page<store::AuditEntry>> entries = audit_->list(root, {}, {});
  ASSERT_TRUE(entries.ok()) << entries.status().toString();
  ASSERT_EQ(entries->items.size(), 3u);
  std::map<std::string, std::string> result_by_target;
  for (const store::AuditEntry& entry : entries->items) {
    EXPECT_EQ(entry.action, "things.delete");
    result_by_target[entry.target] = entry.result;
  }
  EXPECT_EQ(result_by_target["a"], "ok");
  EXPECT_EQ(result_by_target["missing"], "not_found");
  EXPECT_EQ(result_by_target["boom"], "internal");
  Result<store::Page<store::ErrorEntry>> errors = audit_->listErrors(root, {}, {});
  ASSERT_TRUE(errors.ok());
  ASSERT_EQ(errors->items.size(), 1u);
  EXPECT_NE(errors->items[0].message.find("kaboom"), std::string::npos);
}

TEST_F(PipelineTest, DefaultPolicyTextListsEveryEndpoint) {
  std::string text = defaultPolicyText(endpoints_);
  EXPECT_NE(text.find("POST /open anonymous, admin\n"), std::string::npos) << text;
  EXPECT_NE(text.find("DELETE /things/{id} admin\n"), std::string::npos) << text;
}

}  // namespace
}  // namespace tendril::api

namespace tendril::api {
namespace {

TEST_F(PipelineTest, RepeatedIdempotencyKeyReplaysTheFirstReplyWithoutRunningAgain) {
  Response first = call("POST", "/things", R"({"name": "a"})", adminWithKey("key-1"));
  ASSERT_EQ(first.status, 201u) << first.body;
  EXPECT_EQ(header(first, "Idempotent-Replayed"), "");
  Response again = call("POST", "/things", R"({"name": "a"})", adminWithKey("key-1"));
  EXPECT_EQ(again.status, 201u);
  EXPECT_EQ(again.body, first.body);
  EXPECT_EQ(header(again, "Location"), "/things/1");
  EXPECT_EQ(header(again, "Idempotent-Replayed"), "true");
  EXPECT_EQ(created_, 1);
  // A new key, or none, is a new call.
  EXPECT_EQ(nlohmann::json::parse(
                call("POST", "/things", R"({"name": "a"})", adminWithKey("key-2")).body)["run"],
            2);
  auto no_key = std::map<std::string, std::string>{{"authorization", "Bearer " + admin_token_}};
  EXPECT_EQ(call("POST", "/things", R"({"name": "a"})", no_key).status, 201u);
  EXPECT_EQ(created_, 3);
}

TEST_F(PipelineTest, IdempotencyKeyWithAnotherBodyOrQueryIsAConflict) {
  ASSERT_EQ(call("POST", "/things", R"({"name": "a"})", adminWithKey("k")).status, 201u);
  Response other = call("POST", "/things", R"({"name": "b"})", adminWithKey("k"));
  EXPECT_EQ(other.status, 409u);
  EXPECT_EQ(type(other), "https://tendril.dev/problems/failed-precondition");
  EXPECT_NE(nlohmann::json::parse(other.body)["detail"].get<std::string>().find("different"),
            std::string::npos);
  // So is the same body with another query.
  Request query;
  query.method = "POST";
  query.path = "/things";
  query.query = "dry_run=false";
  query.body = R"({"name": "a"})";
  query.headers = adminWithKey("k");
  query.headers["content-type"] = "application/json";
  EXPECT_EQ(router_.dispatch(query).response.status, 409u);
  EXPECT_EQ(created_, 1);
}

TEST_F(PipelineTest, IdempotencyKeysBelongToTheirCaller) {
  service::AccountService accounts(*store_, clock_, service::HashCost::kTesting);
  service::Principal root;
  root.is_admin = true;
  root.role = PolicyRole::kAdmin;
  root.method = service::AuthMethod::kAccessToken;
  root.user_id = "x";
  ASSERT_TRUE(accounts.createUser(root, "second", "second-password", true).ok());
  std::string second = auth_->login("second", "second-password", "", "127.0.0.1", nullptr)
                           ->access_token;
  ASSERT_EQ(call("POST", "/things", R"({"name": "a"})", adminWithKey("shared")).status, 201u);
  Response theirs = call("POST", "/things", R"({"name": "a"})",
                         {{"authorization", "Bearer " + second}, {"idempotency-key", "shared"}});
  EXPECT_EQ(theirs.status, 201u);
  EXPECT_EQ(header(theirs, "Idempotent-Replayed"), "");
  EXPECT_EQ(created_, 2);
}

TEST_F(PipelineTest, MalformedIdempotencyKeyIs400) {
  for (std::string key : {std::string(256, 'k'), std::string("bad\x01key"),
                          std::string("caf\xc3\xa9")}) {
    Response response = call("POST", "/things", R"({"name": "a"})", adminWithKey(key));
    EXPECT_EQ(response.status, 400u);
    EXPECT_EQ(type(response), "https://tendril.dev/problems/invalid-argument");
  }
  EXPECT_EQ(created_, 0);
  EXPECT_EQ(call("POST", "/things", R"({"name": "a"})", adminWithKey(std::string(255, 'k'))).status,
            201u);
}

TEST_F(PipelineTest, FailedCallsAreNotRememberedAndOtherMethodsIgnoreTheKey) {
  EXPECT_EQ(call("POST", "/things", R"({"name": "fail"})", adminWithKey("k")).status, 400u);
  EXPECT_EQ(call("POST", "/things", R"({"name": "fail"})", adminWithKey("k")).status, 400u);
  EXPECT_EQ(created_, 2);  // the retry ran again
  EXPECT_EQ(idempotency_->size(), 0u);
  // DELETE is not a creating call: the key means nothing there, even a malformed one.
  EXPECT_EQ(call("DELETE", "/things/a", "", adminWithKey(std::string(300, 'k'))).status, 204u);
  EXPECT_EQ(call("DELETE", "/things/a", "", adminWithKey("k")).status, 204u);
  EXPECT_EQ(deleted_, 2);
}

TEST_F(PipelineTest, DuplicateWhileTheFirstRunsIs409) {
  std::string token = adminToken();
  admin_token_ = token;
  auto first = std::async(std::launch::async, [&] {
    return call("POST", "/things", R"({"name": "wait"})", adminWithKey("k"));
  });
  waiting_.get_future().wait();
  Response duplicate = call("POST", "/things", R"({"name": "wait"})", adminWithKey("k"));
  EXPECT_EQ(duplicate.status, 409u);
  EXPECT_NE(nlohmann::json::parse(duplicate.body)["detail"].get<std::string>().find("still"),
            std::string::npos);
  release_.set_value();
  Response done = first.get();
  EXPECT_EQ(done.status, 201u);
  Response replay = call("POST", "/things", R"({"name": "wait"})", adminWithKey("k"));
  EXPECT_EQ(replay.body, done.body);
  EXPECT_EQ(header(replay, "Idempotent-Replayed"), "true");
  EXPECT_EQ(created_, 1);
}

TEST_F(PipelineTest, RawBodiesReachTheHandlerUntouched) {
  Request request;
  request.method = "PUT";
  request.path = "/blobs/b1";
  request.query = "offset=7";
  request.body = std::string("\x05{not json\0\xff", 13);
  request.headers = {{"authorization", "Bearer " + adminToken()},
                     {"content-type", "application/octet-stream"}};
  Response response = router_.dispatch(request).response;
  ASSERT_EQ(response.status, 200u) << response.body;
  nlohmann::json body = nlohmann::json::parse(response.body);
  EXPECT_EQ(body["received"], 13);
  EXPECT_EQ(body["offset"], 7);
  EXPECT_EQ(body["first"], 5);
  // Query fields are still validated.
  request.query = "offset=-1";
  EXPECT_EQ(router_.dispatch(request).response.status, 400u);
}

TEST_F(PipelineTest, RawAndFileRepliesKeepTheirContentTypeAndFilename) {
  auto admin = std::map<std::string, std::string>{{"authorization", "Bearer " + adminToken()}};
  Response raw = call("GET", "/blobs/plain.bin", "", admin);
  ASSERT_EQ(raw.status, 200u) << raw.body;
  EXPECT_EQ(raw.content_type, "application/octet-stream");
  EXPECT_EQ(raw.body, std::string("\0\x01raw", 5));
  EXPECT_TRUE(raw.file.empty());
  EXPECT_EQ(header(raw, "Content-Disposition"), R"(attachment; filename="plain.bin")");

  Response file = call("GET", "/blobs/file", "", admin);
  EXPECT_EQ(file.status, 200u);  // an empty body with a file is not an "empty success"
  EXPECT_EQ(file.file, std::filesystem::path("/some/where/blob.bin"));
  EXPECT_TRUE(file.body.empty());
  EXPECT_EQ(header(file, "Content-Disposition"), R"(attachment; filename="blob.bin")");
}

// Quotes, backslashes, line breaks and slashes in a name must not break out of the header (or
// the quoted string, or the download directory); the exact name goes in filename*.
TEST_F(PipelineTest, FilenamesAreQuotedSafely) {
  auto admin = std::map<std::string, std::string>{{"authorization", "Bearer " + adminToken()}};
  // The path parameter is percent-decoded: a"b\c/d\r\nX: y é.csv
  Response response = call("GET", "/blobs/a%22b%5Cc%2Fd%0D%0AX:%20y%20%C3%A9.csv", "", admin);
  ASSERT_EQ(response.status, 200u) << response.body;
  EXPECT_EQ(header(response, "Content-Disposition"),
            "attachment; filename=\"a_b_c_d__X: y __.csv\"; "
            "filename*=UTF-8''a%22b%5Cc%2Fd%0D%0AX%3A%20y%20%C3%A9.csv");
}

}  // namespace
}  // namespace tendril::api
