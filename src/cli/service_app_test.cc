// The endpoint list of the assembled service against what is written about it: the shipped
// policy file, docs/api.md and the declarations' own consistency. Each check fails when someone adds an endpoint and forgets
// one of the places.
#include "cli/service_app.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "api/api.h"
#include "api/router.h"
#include "service/config.h"

namespace tendril::api {
namespace {

std::string readSourceFile(const std::string& relative) {
  std::ifstream file(std::string(TENDRIL_SOURCE_DIR) + "/" + relative);
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

// The whole service as `tendril serve` assembles it (not started), over a fresh data directory.
class EndpointsTest : public testing::Test {
 protected:
  void SetUp() override {
    data_dir_ = std::filesystem::path(testing::TempDir()) /
                ("app_" + std::string(testing::UnitTest::GetInstance()->current_test_info()->name()));
    std::filesystem::remove_all(data_dir_);
    service::ServiceConfig config;
    config.data_dir = data_dir_;
    config.listen = "127.0.0.1:0";
    config.password_hash_cost = service::HashCost::kTesting;
    std::ostringstream out;
    service::Environment env = [](std::string_view name) -> std::optional<std::string> {
      if (name == service::kAdminNameEnv) return "admin";
      if (name == service::kAdminPasswordEnv) return "admin-password-0";
      if (name == service::kTokenKeyEnv) return std::string(40, 'k');
      return std::nullopt;
    };
    Result<std::unique_ptr<cli::ServiceApp>> app = cli::ServiceApp::create(config, env, out);
    ASSERT_TRUE(app.ok()) << app.status().toString();
    app_ = std::move(app).value();
    endpoints_ = app_->endpoints();
    openapi_ = app_->openapi();
  }
  void TearDown() override {
    app_.reset();
    std::filesystem::remove_all(data_dir_);
  }

  std::filesystem::path data_dir_;
  std::unique_ptr<cli::ServiceApp> app_;
  std::shared_ptr<const nlohmann::json> openapi_;
  std::vector<Endpoint> endpoints_;
};

TEST_F(EndpointsTest, TheShippedPolicyFileIsTheDeclaredDefault) {
  std::string expected = defaultPolicyText(endpoints_);
  std::string shipped = readSourceFile("config/policy.conf");
  if (shipped != expected) {
    std::ofstream("policy.conf.expected") << expected;
  }
  EXPECT_EQ(shipped, expected)
      << "config/policy.conf differs from the endpoint declarations; the expected text was "
         "written to policy.conf.expected in the test's working directory";
  Result<service::Policy> policy = service::Policy::parse(expected, "default");
  ASSERT_TRUE(policy.ok()) << policy.status().toString();
  EXPECT_TRUE(policy->unknownRules(declaredRoutes(endpoints_)).empty());
  EXPECT_TRUE(policy->uncovered(declaredRoutes(endpoints_)).empty());
}

TEST_F(EndpointsTest, EveryEndpointIsInTheApiGuide) {
  std::string guide = readSourceFile("docs/api.md");
  for (const Endpoint& endpoint : endpoints_) {
    std::string entry = endpoint.method + " " + endpoint.path;
    EXPECT_NE(guide.find(entry), std::string::npos) << entry << " is not in docs/api.md";
  }
}

TEST_F(EndpointsTest, DeclarationsAreConsistent) {
  std::set<std::string> operation_ids;
  std::set<std::pair<std::string, std::string>> routes;
  for (const Endpoint& endpoint : endpoints_) {
    SCOPED_TRACE(endpoint.operation_id);
    EXPECT_TRUE(operation_ids.insert(endpoint.operation_id).second) << "duplicate operation id";
    EXPECT_TRUE(routes.insert({endpoint.method, endpoint.path}).second) << "duplicate route";
    EXPECT_TRUE(static_cast<bool>(endpoint.handler));
    EXPECT_FALSE(endpoint.summary.empty());
    EXPECT_FALSE(endpoint.roles.empty());
    std::set<std::string> path_params;
    for (std::string_view segment : splitPath(endpoint.path)) {
      if (segment.size() > 2 && segment.front() == '{') {
        path_params.insert(std::string(segment.substr(1, segment.size() - 2)));
      }
    }
    std::set<std::string> declared_path_fields;
    for (const Field& field : endpoint.input) {
      if (field.source == FieldSource::kPath) declared_path_fields.insert(field.name);
      if (field.source == FieldSource::kBody) {
        EXPECT_TRUE(endpoint.method == "POST" || endpoint.method == "PUT" ||
                    endpoint.method == "PATCH")
            << field.name << " is a body field of a " << endpoint.method;
      }
    }
    EXPECT_EQ(path_params, declared_path_fields);
  }
  ASSERT_NE(openapi_, nullptr);
  size_t operations = 0;
  for (const auto& [path, methods] : (*openapi_)["paths"].items()) operations += methods.size();
  EXPECT_EQ(operations, endpoints_.size() + 5);  // + the plain routes: probes, metrics, page
  for (const char* plain : {"/healthz", "/readyz", "/api/v1/version", "/metrics", "/api/docs"}) {
    EXPECT_TRUE((*openapi_)["paths"].contains(plain)) << plain;
  }
}

}  // namespace
}  // namespace tendril::api
