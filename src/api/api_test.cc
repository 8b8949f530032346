// The request pipeline on a Router without sockets: authentication, the policy, validation,
// exceptions and the audit trail, with the real auth service on an in-memory store.
#include "api/api.h"

#include <gtest/gtest.h>

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
    endpoints_ = {open, admin_only};
    policy_ = std::make_unique<service::PolicyHolder>(
        *service::Policy::parse(defaultPolicyText(endpoints_), "test"));
    pipeline_ = std::make_unique<Pipeline>(Pipeline{*auth_, *policy_, *audit_, metrics_});
    installEndpoints(router_, endpoints_, *pipeline_);
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

  service::Clock clock_ = service::systemClock();
  std::unique_ptr<store::MetadataStore> store_;
  std::unique_ptr<service::AuthService> auth_;
  std::unique_ptr<service::AuditLog> audit_;
  std::unique_ptr<service::PolicyHolder> policy_;
  MetricsRegistry metrics_;
  std::unique_ptr<Pipeline> pipeline_;
  std::vector<Endpoint> endpoints_;
  Router router_;
  int deleted_ = 0;
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
