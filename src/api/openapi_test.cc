#include "api/openapi.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "api/api_page.h"

namespace tendril::api {
namespace {

using service::PolicyRole;

constexpr PolicyRole kEveryone[] = {PolicyRole::kUser, PolicyRole::kMember,
                                    PolicyRole::kProjectAdmin, PolicyRole::kAdmin};

Endpoint declare(std::string method, std::string path, std::string id, std::string tag,
                 std::vector<PolicyRole> roles, std::vector<Field> input) {
  Endpoint endpoint;
  endpoint.method = std::move(method);
  endpoint.path = std::move(path);
  endpoint.operation_id = std::move(id);
  endpoint.tag = std::move(tag);
  endpoint.summary = "summary of " + endpoint.operation_id;
  endpoint.roles = std::move(roles);
  endpoint.input = std::move(input);
  endpoint.output = {{"id", FieldType::kString, "the id", false},
                     {"expires_at", FieldType::kString, "", true}};
  return endpoint;
}

// A representative set shaped like the shipped declarations.
std::vector<Endpoint> sampleEndpoints() {
  std::vector<Endpoint> endpoints;
  Endpoint create = declare(
      "POST", "/api/v1/users", "users.create", "users", {PolicyRole::kAdmin},
      {Field::string("name")
           .required()
           .length(kMinNameLength, kMaxNameLength)
           .pattern(kNamePattern),
       Field::string("password").required().length(8, 1024).secret().describe("the password"),
       Field::boolean("is_admin").defaultsTo(false)});
  create.success_status = 201;
  endpoints.push_back(create);
  Endpoint list = declare("GET", "/api/v1/users", "users.list", "users", {PolicyRole::kAdmin},
                          {Field::integer("limit").inQuery().range(1, 1000).defaultsTo(50),
                           Field::string("cursor").inQuery().length(0, 200)});
  list.paged = true;
  endpoints.push_back(list);
  endpoints.push_back(declare("GET", "/api/v1/users/{id}", "users.get", "users",
                              {std::begin(kEveryone), std::end(kEveryone)},
                              {Field::string("id").inPath().pattern(kUuidPattern)}));
  Endpoint remove = declare("DELETE", "/api/v1/users/{id}", "users.delete", "users",
                            {PolicyRole::kAdmin}, {Field::string("id").inPath()});
  remove.success_status = 204;
  endpoints.push_back(remove);
  endpoints.push_back(
      declare("PUT", "/api/v1/projects/{id}/members/{user_id}", "projects.members.put", "projects",
              {PolicyRole::kProjectAdmin, PolicyRole::kAdmin},
              {Field::string("id").inPath(), Field::string("user_id").inPath(),
               Field::string("role").required().oneOf({"member", "project-admin"})}));
  endpoints.push_back(
      declare("POST", "/api/v1/auth/login", "auth.login", "auth", {PolicyRole::kAnonymous},
              {Field::string("name").required(), Field::string("password").required().secret(),
               Field::string("project_id").pattern(kUuidPattern)}));
  endpoints.push_back(declare("GET", "/api/v1/version", "system.version", "system",
                              {PolicyRole::kAnonymous, PolicyRole::kUser}, {}));
  Endpoint samples = declare(
      "POST", "/api/v1/samples", "samples.add", "data", {PolicyRole::kMember},
      {Field::array("values").required().length(1, 100), Field::number("weight").range(0, 10),
       Field::object("meta"), Field::string("code").pattern("[A-Z]+")});
  endpoints.push_back(samples);
  return endpoints;
}

std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

class OpenApiTest : public ::testing::Test {
 protected:
  std::vector<Endpoint> endpoints_ = sampleEndpoints();
  nlohmann::json doc_ = openApiDocument(endpoints_, "1.2.3");

  const nlohmann::json& op(const std::string& path, const std::string& method) {
    return doc_.at("paths").at(path).at(method);
  }
};

// Collects every "$ref" value anywhere in `node`.
void collectRefs(const nlohmann::json& node, std::vector<std::string>* refs) {
  if (node.is_object()) {
    for (const auto& [key, value] : node.items()) {
      if (key == "$ref" && value.is_string()) refs->push_back(value.get<std::string>());
      collectRefs(value, refs);
    }
  } else if (node.is_array()) {
    for (const nlohmann::json& item : node) collectRefs(item, refs);
  }
}

// Resolves a local reference ("#/a/b") in `doc`; false when it points nowhere.
bool resolves(const nlohmann::json& doc, const std::string& ref) {
  if (ref.rfind("#/", 0) != 0) return false;
  const nlohmann::json* node = &doc;
  std::string rest = ref.substr(2);
  while (true) {
    size_t slash = rest.find('/');
    std::string token = rest.substr(0, slash);
    // JSON Pointer escapes: ~1 is '/', ~0 is '~'.
    for (size_t at; (at = token.find("~1")) != std::string::npos;) token.replace(at, 2, "/");
    for (size_t at; (at = token.find("~0")) != std::string::npos;) token.replace(at, 2, "~");
    if (!node->is_object() || !node->contains(token)) return false;
    node = &(*node)[token];
    if (slash == std::string::npos) return true;
    rest = rest.substr(slash + 1);
  }
}

TEST_F(OpenApiTest, HasTheTopLevelShapeOfOpenApi31) {
  EXPECT_EQ(doc_["openapi"], "3.1.0");
  EXPECT_EQ(doc_["info"]["title"], "Tendril API");
  EXPECT_EQ(doc_["info"]["version"], "1.2.3");
  EXPECT_EQ(doc_["servers"], nlohmann::json::parse(R"([{"url": "/"}])"));
  EXPECT_EQ(doc_["tags"], nlohmann::json::parse(
                              R"([{"name": "auth"}, {"name": "data"}, {"name": "projects"},
                    {"name": "system"}, {"name": "users"}])"));
  const nlohmann::json& schemes = doc_["components"]["securitySchemes"];
  EXPECT_EQ(
      schemes["bearerAuth"],
      nlohmann::json::parse(R"({"type": "http", "scheme": "bearer", "bearerFormat": "JWT"})"));
  EXPECT_EQ(schemes["apiKey"],
            nlohmann::json::parse(R"({"type": "apiKey", "in": "header", "name": "X-API-Key"})"));
  const nlohmann::json& problem = doc_["components"]["schemas"]["Problem"];
  for (std::string member : {"type", "title", "status", "detail", "instance", "errors"}) {
    EXPECT_TRUE(problem["properties"].contains(member)) << member;
  }
  EXPECT_TRUE(nlohmann::json::accept(doc_.dump()));
}

TEST_F(OpenApiTest, EveryRefResolvesInsideTheDocument) {
  std::vector<std::string> refs;
  collectRefs(doc_, &refs);
  ASSERT_FALSE(refs.empty());
  for (const std::string& ref : refs) EXPECT_TRUE(resolves(doc_, ref)) << ref;
  // The resolver itself can fail.
  EXPECT_FALSE(resolves(doc_, "#/components/schemas/Nope"));
  EXPECT_FALSE(resolves(doc_, "other.json#/x"));
}

TEST_F(OpenApiTest, EveryEndpointAppearsOnceUnderItsPathAndMethod) {
  size_t operations = 0;
  std::set<std::string> ids;
  for (const auto& [path, item] : doc_["paths"].items()) {
    for (const auto& [method, operation] : item.items()) {
      ++operations;
      EXPECT_EQ(method, lower(method));
      EXPECT_TRUE(ids.insert(operation["operationId"].get<std::string>()).second)
          << "operationId repeated: " << operation["operationId"];
    }
  }
  EXPECT_EQ(operations, endpoints_.size());
  for (const Endpoint& endpoint : endpoints_) {
    const nlohmann::json& operation = op(endpoint.path, lower(endpoint.method));
    EXPECT_EQ(operation["operationId"], endpoint.operation_id);
    EXPECT_EQ(operation["summary"], endpoint.summary);
    EXPECT_EQ(operation["tags"], nlohmann::json::array({endpoint.tag}));
  }
}

TEST_F(OpenApiTest, ARepeatedMethodAndPathIsDocumentedOnce) {
  std::vector<Endpoint> twice = endpoints_;
  twice.push_back(twice.front());
  twice.back().operation_id = "users.create.again";
  nlohmann::json doc = openApiDocument(twice, "1");
  EXPECT_EQ(doc["paths"]["/api/v1/users"]["post"]["operationId"], "users.create");
}

TEST_F(OpenApiTest, PathParametersMatchTheTemplateExactly) {
  for (const Endpoint& endpoint : endpoints_) {
    std::set<std::string> in_template;
    for (size_t open = endpoint.path.find('{'); open != std::string::npos;
         open = endpoint.path.find('{', open + 1)) {
      in_template.insert(endpoint.path.substr(open + 1, endpoint.path.find('}', open) - open - 1));
    }
    std::set<std::string> declared;
    const nlohmann::json& operation = op(endpoint.path, lower(endpoint.method));
    for (const nlohmann::json& parameter : operation.value("parameters", nlohmann::json::array())) {
      if (parameter["in"] != "path") continue;
      declared.insert(parameter["name"].get<std::string>());
      EXPECT_EQ(parameter["required"], true);
    }
    EXPECT_EQ(declared, in_template) << endpoint.path;
  }
}

TEST_F(OpenApiTest, RequiredListsMatchTheDeclarations) {
  for (const Endpoint& endpoint : endpoints_) {
    const nlohmann::json& operation = op(endpoint.path, lower(endpoint.method));
    std::vector<std::string> required_body;
    bool has_body = false;
    for (const Field& field : endpoint.input) {
      if (field.source != FieldSource::kBody) continue;
      has_body = true;
      if (field.is_required) required_body.push_back(field.name);
    }
    ASSERT_EQ(operation.contains("requestBody"), has_body) << endpoint.operation_id;
    if (has_body) {
      const nlohmann::json& schema =
          operation["requestBody"]["content"]["application/json"]["schema"];
      EXPECT_EQ(schema["type"], "object");
      EXPECT_EQ(schema["additionalProperties"], false);
      EXPECT_EQ(schema.value("required", nlohmann::json::array()), nlohmann::json(required_body))
          << endpoint.operation_id;
    }
    for (const nlohmann::json& parameter : operation.value("parameters", nlohmann::json::array())) {
      auto field = std::find_if(endpoint.input.begin(), endpoint.input.end(),
                                [&](const Field& f) { return f.name == parameter["name"]; });
      ASSERT_NE(field, endpoint.input.end());
      EXPECT_EQ(parameter["required"], field->is_required) << field->name;
    }
  }
}

TEST_F(OpenApiTest, SchemasCarryTheDeclaredLimits) {
  const nlohmann::json& create =
      op("/api/v1/users", "post")["requestBody"]["content"]["application/json"]["schema"];
  EXPECT_EQ(create["properties"]["name"], nlohmann::json({{"type", "string"},
                                                          {"minLength", 3},
                                                          {"maxLength", 64},
                                                          {"pattern", std::string(kNamePattern)}}));
  const nlohmann::json& password = create["properties"]["password"];
  EXPECT_EQ(password["writeOnly"], true);
  EXPECT_EQ(password["format"], "password");
  EXPECT_EQ(password["minLength"], 8);
  EXPECT_EQ(password["description"], "the password");
  EXPECT_EQ(create["properties"]["is_admin"],
            nlohmann::json({{"type", "boolean"}, {"default", false}}));

  const nlohmann::json& limit = op("/api/v1/users", "get")["parameters"][0];
  EXPECT_EQ(limit["in"], "query");
  EXPECT_EQ(
      limit["schema"],
      nlohmann::json({{"type", "integer"}, {"minimum", 1}, {"maximum", 1000}, {"default", 50}}));

  const nlohmann::json& put = op("/api/v1/projects/{id}/members/{user_id}", "put");
  EXPECT_EQ(
      put["requestBody"]["content"]["application/json"]["schema"]["properties"]["role"]["enum"],
      nlohmann::json::array({"member", "project-admin"}));

  const nlohmann::json& samples =
      op("/api/v1/samples", "post")["requestBody"]["content"]["application/json"]["schema"];
  EXPECT_EQ(samples["properties"]["values"],
            nlohmann::json({{"type", "array"}, {"minItems", 1}, {"maxItems", 100}}));
  EXPECT_EQ(samples["properties"]["weight"],
            nlohmann::json({{"type", "number"}, {"minimum", 0}, {"maximum", 10}}));
  EXPECT_EQ(samples["properties"]["meta"], nlohmann::json({{"type", "object"}}));
  // validateInput matches the whole value; JSON Schema searches, so the pattern is anchored.
  EXPECT_EQ(samples["properties"]["code"]["pattern"], "^(?:[A-Z]+)$");
}

TEST_F(OpenApiTest, SuccessResponsesDescribeTheOutput) {
  const nlohmann::json& created = op("/api/v1/users", "post")["responses"]["201"];
  const nlohmann::json& user = created["content"]["application/json"]["schema"];
  EXPECT_EQ(user["properties"]["id"],
            nlohmann::json({{"type", "string"}, {"description", "the id"}}));
  EXPECT_EQ(user["properties"]["expires_at"]["type"], nlohmann::json::array({"string", "null"}));
  EXPECT_EQ(user["required"], nlohmann::json::array({"id", "expires_at"}));

  const nlohmann::json& page =
      op("/api/v1/users", "get")["responses"]["200"]["content"]["application/json"]["schema"];
  EXPECT_EQ(page["required"], nlohmann::json::array({"items", "next_cursor"}));
  EXPECT_EQ(page["properties"]["items"]["type"], "array");
  EXPECT_EQ(page["properties"]["items"]["items"]["properties"]["id"]["type"], "string");
  EXPECT_EQ(page["properties"]["next_cursor"]["type"], nlohmann::json::array({"string", "null"}));

  const nlohmann::json& deleted = op("/api/v1/users/{id}", "delete")["responses"]["204"];
  EXPECT_FALSE(deleted.contains("content"));
  EXPECT_FALSE(op("/api/v1/users/{id}", "delete")["responses"].contains("200"));
}

TEST_F(OpenApiTest, ErrorResponsesFollowTheEndpoint) {
  auto statuses = [&](const std::string& path, const std::string& method) {
    std::set<std::string> out;
    for (const auto& [status, response] : op(path, method)["responses"].items()) {
      out.insert(status);
      if (status[0] < '4') continue;
      EXPECT_EQ(response["content"][std::string(kProblemContentType)]["schema"]["$ref"],
                "#/components/schemas/Problem");
    }
    return out;
  };
  EXPECT_EQ(statuses("/api/v1/users", "post"),
            (std::set<std::string>{"201", "400", "401", "403", "409", "413", "415", "429", "500"}));
  EXPECT_EQ(statuses("/api/v1/users/{id}", "get"),
            (std::set<std::string>{"200", "400", "401", "403", "404", "413", "429", "500"}));
  EXPECT_EQ(statuses("/api/v1/users/{id}", "delete"),
            (std::set<std::string>{"204", "400", "401", "403", "404", "409", "413", "429", "500"}));
  // Anonymous-only: no 401. No input and no body: no 400.
  EXPECT_EQ(statuses("/api/v1/auth/login", "post").count("401"), 0u);
  EXPECT_EQ(statuses("/api/v1/version", "get"),
            (std::set<std::string>{"200", "401", "403", "413", "429", "500"}));
}

TEST_F(OpenApiTest, SecurityAndRolesFollowTheDeclaration) {
  nlohmann::json authenticated = nlohmann::json::parse(R"([{"bearerAuth": []}, {"apiKey": []}])");
  EXPECT_EQ(op("/api/v1/users", "post")["security"], authenticated);
  EXPECT_EQ(op("/api/v1/users", "post")["x-roles"], nlohmann::json::array({"admin"}));
  EXPECT_EQ(op("/api/v1/auth/login", "post")["security"], nlohmann::json::array());
  EXPECT_EQ(op("/api/v1/auth/login", "post")["x-roles"], nlohmann::json::array({"anonymous"}));
  EXPECT_EQ(op("/api/v1/version", "get")["security"],
            nlohmann::json::parse(R"([{}, {"bearerAuth": []}, {"apiKey": []}])"));
  EXPECT_EQ(op("/api/v1/projects/{id}/members/{user_id}", "put")["x-roles"],
            nlohmann::json::array({"project-admin", "admin"}));
}

TEST_F(OpenApiTest, SameDeclarationsGiveTheSameDocument) {
  EXPECT_EQ(openApiDocument(sampleEndpoints(), "1.2.3").dump(), doc_.dump());
}

// ---- The browsable page ---------------------------------------------------------------------

TEST(ApiPageTest, IsSelfContainedHtmlReadingTheOpenApiDocument) {
  std::string page = apiPageHtml();
  EXPECT_EQ(page.rfind("<!doctype html>", 0), 0u);
  EXPECT_NE(page.find("</html>"), std::string::npos);
  EXPECT_NE(page.find(std::string(kOpenApiPath)), std::string::npos);
  // Nothing from elsewhere: no absolute URLs, external scripts, styles or fonts.
  EXPECT_EQ(page.find("http://"), std::string::npos);
  EXPECT_EQ(page.find("https://"), std::string::npos);
  EXPECT_EQ(page.find("//cdn"), std::string::npos);
  EXPECT_EQ(page.find("<script src"), std::string::npos);
  EXPECT_EQ(page.find("<link"), std::string::npos);
  EXPECT_EQ(page.find("@import"), std::string::npos);
  EXPECT_EQ(page.find("url("), std::string::npos);
}

TEST(ApiPageTest, InsertsDataAsTextAndNeverStoresTheToken) {
  std::string page = apiPageHtml();
  for (std::string risky : {"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write",
                            "eval(", "localStorage", "sessionStorage", "document.cookie"}) {
    EXPECT_EQ(page.find(risky), std::string::npos) << risky;
  }
  EXPECT_NE(page.find("textContent"), std::string::npos);
  EXPECT_NE(page.find("createTextNode"), std::string::npos);
  EXPECT_LT(page.size(), 64u * 1024u);  // small
}

}  // namespace
}  // namespace tendril::api
