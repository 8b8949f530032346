// The declarations of the account and log endpoints (complete, consistent with their paths) and
// a few handlers driven directly, without HTTP: what they send to the services and what their
// replies hold. Validation, policy and audit are the pipeline's (api_test.cc).
#include "api/account_routes.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <memory>
#include <set>
#include <string>

#include "api/json_views.h"
#include "api/log_routes.h"
#include "common/status_testing.h"

namespace tendril::api {
namespace {

using service::PolicyRole;

class AccountRoutesTest : public testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(service::initCredentials().ok());
    Result<std::unique_ptr<store::MetadataStore>> opened = store::openSqliteMemoryStore();
    ASSERT_TRUE(opened.ok()) << opened.status().toString();
    store_ = std::move(opened).value();
    accounts_ = std::make_unique<service::AccountService>(
        *store_, [] { return store::TimeMs{1'790'000'000'000}; }, service::HashCost::kTesting);
    audit_ = std::make_unique<service::AuditLog>(
        *store_, [] { return store::TimeMs{1'790'000'000'000}; }, nullptr);
    addAccountEndpoints(endpoints_, *accounts_);
    addLogEndpoints(endpoints_, *audit_);

    store::User root{"00000000-0000-4000-8000-000000000001", "root", "$argon2id$x", true, 1, 1};
    ASSERT_TRUE(store_->createUser(root).ok());
    admin_.user_id = root.id;
    admin_.user_name = root.name;
    admin_.is_admin = true;
    admin_.role = PolicyRole::kAdmin;
    admin_.method = service::AuthMethod::kAccessToken;
  }

  const Endpoint& endpoint(std::string_view operation_id) {
    auto found = std::find_if(endpoints_.begin(), endpoints_.end(),
                              [&](const Endpoint& e) { return e.operation_id == operation_id; });
    EXPECT_NE(found, endpoints_.end()) << operation_id;
    return *found;
  }

  // Runs a handler as `caller` with `input` (typed as validation would give it).
  Result<Reply> call(std::string_view operation_id, nlohmann::json input,
                     const service::Principal& caller, std::string* audit_target = nullptr) {
    Call context{request_, caller, std::move(input), "", "", {}};
    Result<Reply> reply = endpoint(operation_id).handler(context);
    if (audit_target != nullptr) *audit_target = context.audit_target;
    return reply;
  }

  std::unique_ptr<store::MetadataStore> store_;
  std::unique_ptr<service::AccountService> accounts_;
  std::unique_ptr<service::AuditLog> audit_;
  std::vector<Endpoint> endpoints_;
  service::Principal admin_;
  Request request_;
};

TEST_F(AccountRoutesTest, EveryDocumentedOperationIsDeclaredOnce) {
  const std::set<std::string> expected = {"users.create",
                                          "users.list",
                                          "users.get",
                                          "users.update",
                                          "users.delete",
                                          "users.projects",
                                          "projects.create",
                                          "projects.list",
                                          "projects.get",
                                          "projects.delete",
                                          "projects.members.list",
                                          "projects.members.put",
                                          "projects.members.delete",
                                          "apikeys.create",
                                          "apikeys.list",
                                          "apikeys.revoke",
                                          "audit.list",
                                          "errors.list"};
  std::set<std::string> ids;
  std::set<std::pair<std::string, std::string>> routes;
  for (const Endpoint& e : endpoints_) {
    EXPECT_TRUE(ids.insert(e.operation_id).second) << "repeated " << e.operation_id;
    EXPECT_TRUE(routes.insert({e.method, e.path}).second) << e.method << " " << e.path;
    EXPECT_TRUE(e.handler) << e.operation_id;
    EXPECT_FALSE(e.tag.empty()) << e.operation_id;
    EXPECT_FALSE(e.summary.empty()) << e.operation_id;
    EXPECT_EQ(e.path.rfind("/api/v1/", 0), 0u) << e.path;
  }
  EXPECT_EQ(ids, expected);
}

TEST_F(AccountRoutesTest, PathParametersAndPathFieldsMatch) {
  for (const Endpoint& e : endpoints_) {
    std::set<std::string> in_path, declared;
    for (size_t open = e.path.find('{'); open != std::string::npos;
         open = e.path.find('{', open + 1)) {
      size_t close = e.path.find('}', open);
      ASSERT_NE(close, std::string::npos) << e.path;
      in_path.insert(e.path.substr(open + 1, close - open - 1));
    }
    for (const Field& field : e.input) {
      if (field.source != FieldSource::kPath) continue;
      declared.insert(field.name);
      EXPECT_TRUE(field.is_required) << e.operation_id << " " << field.name;
      EXPECT_EQ(field.regex, kUuidPattern) << e.operation_id << " " << field.name;
    }
    EXPECT_EQ(in_path, declared) << e.operation_id;
    std::set<std::string> names;
    for (const Field& field : e.input) {
      EXPECT_TRUE(names.insert(field.name).second) << e.operation_id << " " << field.name;
    }
  }
}

TEST_F(AccountRoutesTest, PagedEndpointsDeclareLimitAndCursor) {
  std::set<std::string> paged;
  for (const Endpoint& e : endpoints_) {
    if (!e.paged) continue;
    paged.insert(e.operation_id);
    std::map<std::string, const Field*> query;
    for (const Field& field : e.input) {
      if (field.source == FieldSource::kQuery) query[field.name] = &field;
    }
    ASSERT_TRUE(query.count("limit") && query.count("cursor")) << e.operation_id;
    EXPECT_EQ(query["limit"]->type, FieldType::kInteger);
    EXPECT_EQ(query["limit"]->min_value, 1);
    EXPECT_EQ(query["limit"]->max_value, 1000);
    EXPECT_EQ(query["limit"]->default_value, 50);
    EXPECT_EQ(query["cursor"]->max_length, 512u);
  }
  EXPECT_EQ(paged,
            (std::set<std::string>{"users.list", "projects.list", "audit.list", "errors.list"}));
}

TEST_F(AccountRoutesTest, StatusesRolesAndSecretsFollowTheContract) {
  for (const Endpoint& e : endpoints_) {
    unsigned expected = e.method == "POST" ? 201 : e.method == "DELETE" ? 204 : 200;
    EXPECT_EQ(e.success_status, expected) << e.operation_id;
    EXPECT_FALSE(e.roles.empty()) << e.operation_id;
    EXPECT_EQ(std::count(e.roles.begin(), e.roles.end(), PolicyRole::kAnonymous), 0)
        << e.operation_id;
    EXPECT_EQ(std::count(e.roles.begin(), e.roles.end(), PolicyRole::kAdmin), 1) << e.operation_id;
    EXPECT_EQ(e.output.empty(), e.success_status == 204) << e.operation_id;
    for (const Field& field : e.input) {
      EXPECT_EQ(field.is_secret, field.name == "password") << e.operation_id << " " << field.name;
      if (field.name == "name") {
        EXPECT_EQ(field.regex, kNamePattern) << e.operation_id;
      }
    }
  }
  using Roles = std::vector<PolicyRole>;
  EXPECT_EQ(endpoint("users.create").roles, Roles{PolicyRole::kAdmin});
  EXPECT_EQ(endpoint("errors.list").roles, Roles{PolicyRole::kAdmin});
  EXPECT_EQ(endpoint("users.get").roles.size(), 4u);
  EXPECT_EQ(endpoint("audit.list").roles.size(), 4u);
  EXPECT_EQ(endpoint("apikeys.create").roles,
            (Roles{PolicyRole::kMember, PolicyRole::kProjectAdmin, PolicyRole::kAdmin}));
}

TEST_F(AccountRoutesTest, OutputDeclarationsNameEveryReplyField) {
  store::ApiKey key{"k", "p", "n", store::Role::kMember, "hash", "u", 1, std::nullopt, false, 5};
  auto names = [](const std::vector<OutputField>& fields) {
    std::set<std::string> out;
    for (const OutputField& field : fields) out.insert(field.name);
    return out;
  };
  auto keys = [](const nlohmann::json& json) {
    std::set<std::string> out;
    for (const auto& item : json.items()) out.insert(item.key());
    return out;
  };
  EXPECT_EQ(keys(apiKeyJson(key)), names(apiKeyOutput()));
  EXPECT_EQ(keys(userJson(store::User{})), names(userOutput()));
  EXPECT_EQ(keys(projectJson(store::Project{})), names(projectOutput()));
  EXPECT_EQ(keys(projectJson(store::Project{}, std::nullopt)), names(projectWithRoleOutput()));
  EXPECT_EQ(keys(membershipJson(service::MemberView{})), names(membershipOutput()));
  EXPECT_EQ(keys(service::auditEntryJson(store::AuditEntry{})), names(auditEntryOutput()));
  EXPECT_EQ(keys(errorEntryJson(store::ErrorEntry{})), names(errorEntryOutput()));
  EXPECT_TRUE(apiKeyJson(key)["expires_at"].is_null());
  EXPECT_EQ(apiKeyJson(key)["last_used_at"], "1970-01-01T00:00:00.005Z");
  EXPECT_FALSE(apiKeyJson(key).contains("key_hash"));
}

TEST_F(AccountRoutesTest, HandlersCreateAndReadWithoutLeakingSecrets) {
  std::string target;
  Result<Reply> created =
      call("users.create", {{"name", "ada"}, {"password", "a long password"}, {"is_admin", false}},
           admin_, &target);
  ASSERT_TRUE(created.ok()) << created.status().toString();
  const nlohmann::json& user = created->body;
  EXPECT_EQ(user["name"], "ada");
  EXPECT_EQ(target, user["id"]);  // the audit names the new id, not the name
  EXPECT_EQ(user.dump().find("argon2"), std::string::npos);
  EXPECT_EQ(user["created_at"], "2026-09-21T14:13:20.000Z");

  Result<Reply> project = call("projects.create", {{"name", "proj"}}, admin_);
  ASSERT_TRUE(project.ok());
  const std::string project_id = project->body["id"];
  Result<Reply> key =
      call("apikeys.create", {{"id", project_id}, {"name", "ci-key"}, {"role", "member"}}, admin_,
           &target);
  ASSERT_TRUE(key.ok()) << key.status().toString();
  EXPECT_EQ(key->body["key"].get<std::string>().rfind("tdk_", 0), 0u);
  EXPECT_EQ(target, key->body["id"]);
  Result<Reply> listed = call("apikeys.list", {{"id", project_id}}, admin_);
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->body["items"].size(), 1u);
  EXPECT_FALSE(listed->body["items"][0].contains("key"));

  Result<Reply> page = call("users.list", {{"limit", 1}}, admin_);
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->body["items"].size(), 1u);
  EXPECT_TRUE(page->body["next_cursor"].is_string());
  Result<Reply> rest =
      call("users.list", {{"limit", 5}, {"cursor", page->body["next_cursor"]}}, admin_);
  ASSERT_TRUE(rest.ok());
  EXPECT_TRUE(rest->body["next_cursor"].is_null());
}

TEST_F(AccountRoutesTest, HandlersPassServiceErrorsThrough) {
  service::Principal nobody;
  nobody.user_id = "someone";
  nobody.role = PolicyRole::kUser;
  nobody.method = service::AuthMethod::kAccessToken;
  EXPECT_EQ(
      call("users.create", {{"name", "eve"}, {"password", "12345678"}, {"is_admin", true}}, nobody)
          .status()
          .code(),
      Code::kPermissionDenied);
  std::string target;
  EXPECT_EQ(
      call("projects.delete", {{"id", "00000000-0000-4000-8000-00000000000f"}, {"cascade", false}},
           admin_, &target)
          .status()
          .code(),
      Code::kNotFound);
  EXPECT_EQ(target, "00000000-0000-4000-8000-00000000000f");
}

// The declarations through the real validator, then the handler: what validation hands over is
// what the handlers read (defaults included).
TEST_F(AccountRoutesTest, ValidatedInputDrivesTheHandlers) {
  auto validated = [&](std::string_view operation_id, Request request) {
    request.method = endpoint(operation_id).method;
    ValidatedInput input = validateInput(endpoint(operation_id), request);
    for (const FieldError& error : input.errors) {
      ADD_FAILURE() << operation_id << ": " << error.field << ": " << error.message;
    }
    return input.input;
  };
  Request create_project;
  create_project.headers["content-type"] = "application/json";
  create_project.body = R"({"name": "research"})";
  Result<Reply> project =
      call("projects.create", validated("projects.create", create_project), admin_);
  ASSERT_TRUE(project.ok()) << project.status().toString();
  const std::string project_id = project->body["id"];

  Request create_key;
  create_key.path_params["id"] = project_id;
  create_key.headers["content-type"] = "application/json";
  create_key.body = R"({"name": "ci-key", "expires_in_s": 60})";
  Result<Reply> key = call("apikeys.create", validated("apikeys.create", create_key), admin_);
  ASSERT_TRUE(key.ok()) << key.status().toString();
  EXPECT_EQ(key->body["role"], "member");  // the declared default
  EXPECT_EQ(key->body["expires_at"], "2026-09-21T14:14:20.000Z");

  Request list_projects;
  list_projects.query = "limit=1";
  Result<Reply> page = call("projects.list", validated("projects.list", list_projects), admin_);
  ASSERT_TRUE(page.ok()) << page.status().toString();
  EXPECT_EQ(page->body["items"].size(), 1u);
  EXPECT_TRUE(page->body["items"][0]["role"].is_null());

  Request delete_project;
  delete_project.path_params["id"] = project_id;
  delete_project.query = "cascade=true";
  EXPECT_TRUE(call("projects.delete", validated("projects.delete", delete_project), admin_).ok());
  EXPECT_EQ(store_->getProject(project_id).status().code(), Code::kNotFound);

  Request audit;
  audit.query = "user_id=" + admin_.user_id + "&action=users.create";
  EXPECT_TRUE(call("audit.list", validated("audit.list", audit), admin_).ok());
}

TEST_F(AccountRoutesTest, MalformedTimesAreFieldErrorsOfValidation) {
  for (const char* operation_id : {"audit.list", "errors.list"}) {
    for (const auto& [query, field] :
         std::vector<std::pair<std::string, std::string>>{{"from=yesterday", "from"},
                                                          {"to=2026-13-01", "to"},
                                                          {"from=2026-11-21T08:46:17", "from"},
                                                          {"to=2026-11-21T08:46:17.1234Z", "to"}}) {
      Request request;
      request.method = "GET";
      request.query = query;
      ValidatedInput input = validateInput(endpoint(operation_id), request);
      ASSERT_EQ(input.errors.size(), 1u) << operation_id << " " << query;
      EXPECT_EQ(input.errors[0].field, field) << query;
    }
    Request good;
    good.method = "GET";
    good.query = "from=2026-11-21T08:46:17Z&to=2026-11-21T08:46:17.123%2B00:00";
    EXPECT_TRUE(validateInput(endpoint(operation_id), good).ok()) << operation_id;
  }
}

TEST_F(AccountRoutesTest, AuditTimesAreParsedAndBadOnesRefused) {
  audit_->record(admin_, "users.create", "x", "ok");
  Result<Reply> in_window =
      call("audit.list",
           {{"from", "2026-09-21T14:13:20Z"}, {"to", "2026-09-21T14:13:20.001Z"}, {"limit", 50}},
           admin_);
  ASSERT_TRUE(in_window.ok()) << in_window.status().toString();
  ASSERT_EQ(in_window->body["items"].size(), 1u);
  EXPECT_EQ(in_window->body["items"][0]["action"], "users.create");
  Result<Reply> after = call("audit.list", {{"from", "2026-09-21T14:13:20.001Z"}}, admin_);
  ASSERT_TRUE(after.ok());
  EXPECT_TRUE(after->body["items"].empty());
  EXPECT_TRUE(failsWith(call("audit.list", {{"from", "2026-02-30T00:00:00Z"}}, admin_).status(),
                        Code::kInvalidArgument, "from:"));
  EXPECT_TRUE(failsWith(call("errors.list", {{"to", "yesterday"}}, admin_).status(),
                        Code::kInvalidArgument, "to:"));
}

}  // namespace
}  // namespace tendril::api
