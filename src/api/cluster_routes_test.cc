// The cluster, checkpoint and quota endpoints: their declarations match the contract's tables
// (methods, paths, fields), validation of their inputs, and the handlers driven directly over
// real services (in-memory store, temporary data directory): reply shapes, status codes, raw
// upload bodies, file downloads, and that no reply shows a path on disk.
#include "api/cluster_routes.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <string>

#include "api/checkpoint_routes.h"
#include "api/json_views.h"
#include "api/quota_routes.h"
#include "service/clusters_test_support.h"

namespace tendril::api {
namespace {

using service::testing_support::ClusterWorldTest;
using service::testing_support::kLineTemplate;
using service::testing_support::kWideTemplate;

class ClusterRoutesTest : public ClusterWorldTest {
 protected:
  void SetUp() override {
    ClusterWorldTest::SetUp();
    accounts_ = std::make_unique<service::AccountService>(*store_, clock(),
                                                          service::HashCost::kTesting);
    addClusterEndpoints(endpoints_, world_->clusters, world_->checkpoints);
    addCheckpointEndpoints(endpoints_, world_->checkpoints);
    addQuotaEndpoints(endpoints_, world_->quotas, *accounts_);
  }

  const Endpoint& endpoint(std::string_view operation_id) {
    auto found = std::find_if(endpoints_.begin(), endpoints_.end(),
                              [&](const Endpoint& e) { return e.operation_id == operation_id; });
    EXPECT_NE(found, endpoints_.end()) << operation_id;
    return *found;
  }

  // Runs a handler as `caller` with `input` (typed as validation would give it).
  Result<Reply> call(std::string_view operation_id, nlohmann::json input,
                     const service::Principal& caller, std::string body = {}) {
    Request request;
    request.body = std::move(body);
    Call context{request, caller, std::move(input), "", "", {}};
    Result<Reply> reply = endpoint(operation_id).handler(context);
    if (reply.ok()) {
      EXPECT_EQ(reply->body.dump().find(data_dir_.string()), std::string::npos) << operation_id;
    } else {
      EXPECT_EQ(reply.status().message().find(data_dir_.string()), std::string::npos);
    }
    return reply;
  }

  nlohmann::json body(std::string_view operation_id, nlohmann::json input,
                      const service::Principal& caller) {
    Result<Reply> reply = call(operation_id, std::move(input), caller);
    EXPECT_TRUE(reply.ok()) << operation_id << ": " << reply.status().toString();
    return reply.ok() ? reply->body : nlohmann::json();
  }

  // Validation as the pipeline runs it, for a request to `operation_id`'s endpoint.
  ValidatedInput validate(std::string_view operation_id, std::string query, std::string body,
                          std::map<std::string, std::string> path_params = {}) {
    const Endpoint& e = endpoint(operation_id);
    Request request;
    request.method = e.method;
    request.path = e.path;
    request.query = std::move(query);
    request.body = std::move(body);
    request.path_params = std::move(path_params);
    if (!e.raw_body && !request.body.empty()) {
      request.headers["content-type"] = "application/json";
    }
    return validateInput(e, request);
  }

  std::unique_ptr<service::AccountService> accounts_;
  std::vector<Endpoint> endpoints_;
};

TEST_F(ClusterRoutesTest, TheRoutesAreExactlyTheContractTables) {
  const std::set<std::pair<std::string, std::string>> expected = {
      {"POST", "/api/v1/clusters"},
      {"GET", "/api/v1/clusters"},
      {"GET", "/api/v1/clusters/{id}"},
      {"PATCH", "/api/v1/clusters/{id}"},
      {"DELETE", "/api/v1/clusters/{id}"},
      {"GET", "/api/v1/clusters/{id}/template"},
      {"POST", "/api/v1/clusters/{id}/restore"},
      {"POST", "/api/v1/checkpoints"},
      {"GET", "/api/v1/checkpoints"},
      {"GET", "/api/v1/checkpoints/{id}"},
      {"GET", "/api/v1/checkpoints/{id}/download"},
      {"POST", "/api/v1/checkpoints/uploads"},
      {"PUT", "/api/v1/checkpoints/{id}/data"},
      {"POST", "/api/v1/checkpoints/{id}/finalize"},
      {"DELETE", "/api/v1/checkpoints/{id}"},
      {"GET", "/api/v1/projects/{id}/quota"},
      {"PUT", "/api/v1/projects/{id}/quota"}};
  std::set<std::pair<std::string, std::string>> routes;
  std::set<std::string> ids;
  for (const Endpoint& e : endpoints_) {
    EXPECT_TRUE(routes.insert({e.method, e.path}).second) << e.method << " " << e.path;
    EXPECT_TRUE(ids.insert(e.operation_id).second) << e.operation_id;
    EXPECT_TRUE(e.handler) << e.operation_id;
    EXPECT_FALSE(e.summary.empty()) << e.operation_id;
    for (const Field& field : e.input) {
      if (field.source == FieldSource::kPath) {
        EXPECT_EQ(field.regex, kUuidPattern) << e.operation_id;
      }
    }
  }
  EXPECT_EQ(routes, expected);
  EXPECT_EQ(endpoint("clusters.create").success_status, 201u);
  EXPECT_EQ(endpoint("clusters.restore").success_status, 202u);
  EXPECT_EQ(endpoint("checkpoints.create").success_status, 202u);
  EXPECT_EQ(endpoint("checkpoints.upload").success_status, 201u);
  EXPECT_EQ(endpoint("checkpoints.finalize").success_status, 200u);
  EXPECT_EQ(endpoint("clusters.delete").success_status, 204u);
  EXPECT_TRUE(endpoint("checkpoints.data").raw_body);
  EXPECT_TRUE(endpoint("clusters.list").paged);
  EXPECT_TRUE(endpoint("checkpoints.list").paged);
}

TEST_F(ClusterRoutesTest, InputsAreValidatedByTheDeclarations) {
  EXPECT_TRUE(validate("clusters.create", "", R"({"name": "ok-name", "template": "x"})").ok());
  EXPECT_FALSE(validate("clusters.create", "", R"({"name": "ok-name"})").ok());
  EXPECT_FALSE(validate("clusters.create", "", R"({"name": "1bad", "template": "x"})").ok());
  EXPECT_FALSE(validate("clusters.create", "", R"({"name": "ok", "template": "x", "z": 1})")
                   .ok());
  const std::map<std::string, std::string> id = {{"id", service::newUuid()}};
  EXPECT_TRUE(validate("checkpoints.data", "offset=0", "\x01\x02 raw bytes", id).ok());
  EXPECT_FALSE(validate("checkpoints.data", "", "bytes", id).ok());
  EXPECT_FALSE(validate("checkpoints.data", "offset=-1", "bytes", id).ok());
  EXPECT_FALSE(validate("checkpoints.upload", "",
                        R"({"name": "up-load", "size": 0, "sha256": ")" + std::string(64, 'a') +
                            "\"}")
                   .ok());
  EXPECT_FALSE(validate("checkpoints.upload", "",
                        R"({"name": "up-load", "size": 5, "sha256": "abc"})")
                   .ok());
  EXPECT_FALSE(validate("clusters.restore", "", R"({"checkpoint_id": "nope"})", id).ok());
  EXPECT_TRUE(validate("projects.quota_set", "", R"({"clusters": 3})", id).ok());
  EXPECT_FALSE(validate("projects.quota_set", "", R"({"clusters": -1})", id).ok());
  EXPECT_TRUE(validate("projects.quota_set", "", R"({"clusters": null})", id).ok());
}

TEST_F(ClusterRoutesTest, ClusterRepliesHaveTheDocumentedShape) {
  nlohmann::json created =
      body("clusters.create", {{"name", "digits"}, {"template", kLineTemplate}}, bob_);
  for (const OutputField& field : clusterOutput()) {
    EXPECT_TRUE(created.contains(field.name)) << field.name;
  }
  EXPECT_EQ(created["name"], "digits");
  EXPECT_EQ(created["project_id"], p_);
  EXPECT_EQ(created["owner_id"], bob_.user_id);
  EXPECT_EQ(created["inputs"], nlohmann::json::parse(R"([{"name": "in", "width": 4}])"));
  EXPECT_EQ(created["outputs"], nlohmann::json::parse(R"([{"name": "out", "width": 2}])"));
  for (const char* stat : {"bricks", "neurons", "sections", "synapses", "bytes", "synapse_bytes",
                           "samples_trained"}) {
    EXPECT_TRUE(created["stats"].contains(stat)) << stat;
  }
  EXPECT_EQ(created["stats"]["bricks"], 3);
  EXPECT_TRUE(created["last_checkpoint"].is_null());
  EXPECT_TRUE(created["active_task_id"].is_null());
  const std::string id = created["id"];

  train(*live(bob_, id), 4);
  EXPECT_EQ(body("clusters.get", {{"id", id}}, bob_)["stats"]["samples_trained"], 4);
  nlohmann::json page = body("clusters.list", {{"limit", 50}}, bob_);
  ASSERT_EQ(page["items"].size(), 1u);
  EXPECT_TRUE(page["next_cursor"].is_null());
  EXPECT_EQ(body("clusters.update", {{"id", id}, {"name", "renamed"}}, bob_)["name"], "renamed");
  nlohmann::json tmpl = body("clusters.template", {{"id", id}}, bob_);
  EXPECT_EQ(tmpl["text"], kLineTemplate);
  EXPECT_EQ(tmpl["json"]["bricks"].size(), 3u);
  EXPECT_EQ(tmpl["json"]["settings"]["seed"], 3);

  Result<Reply> bad = call("clusters.create", {{"name", "bad"}, {"template", "bricks:\n  x\n"}},
                           bob_);
  // "template: ..." names the declared field: the pipeline lists it in `errors`.
  EXPECT_TRUE(failsWith(bad.status(), Code::kInvalidArgument, "template: line"));

  EXPECT_TRUE(call("clusters.delete", {{"id", id}}, bob_).ok());
  EXPECT_TRUE(failsWith(call("clusters.get", {{"id", id}}, bob_).status(), Code::kNotFound,
                        "cluster not found"));
}

TEST_F(ClusterRoutesTest, CheckpointSaveDownloadUploadAndRestoreOverTheHandlers) {
  const std::string cluster_id =
      body("clusters.create", {{"name", "source"}, {"template", kLineTemplate}}, bob_)["id"];
  std::shared_ptr<service::LiveCluster> held = live(bob_, cluster_id);
  train(*held, 6);
  std::unique_ptr<engine::Cluster> at_6 = copyOf(*held);

  nlohmann::json saved =
      body("checkpoints.create", {{"cluster_id", cluster_id}, {"name", "six"}}, bob_);
  ASSERT_TRUE(saved.contains("checkpoint") && saved.contains("task"));
  EXPECT_EQ(saved["checkpoint"]["state"], "saving");
  EXPECT_EQ(saved["checkpoint"]["kind"], "manual");
  EXPECT_EQ(saved["task"]["type"], "checkpoint");
  waitTask(bob_, saved["task"]["id"]);
  const std::string checkpoint_id = saved["checkpoint"]["id"];
  nlohmann::json ready = body("checkpoints.get", {{"id", checkpoint_id}}, bob_);
  for (const OutputField& field : checkpointOutput()) {
    EXPECT_TRUE(ready.contains(field.name)) << field.name;
  }
  EXPECT_EQ(ready["state"], "ready");
  EXPECT_EQ(ready["cluster_id"], cluster_id);
  EXPECT_EQ(ready["samples_trained"], 6);
  EXPECT_EQ(ready["template_sha256"].get<std::string>().size(), 64u);
  EXPECT_TRUE(ready["error"].is_null());
  EXPECT_TRUE(ready["upload"].is_null());
  EXPECT_EQ(body("checkpoints.list", {{"limit", 50}, {"cluster_id", cluster_id}}, bob_)["items"]
                .size(),
            1u);

  Result<Reply> download = call("checkpoints.download", {{"id", checkpoint_id}}, bob_);
  ASSERT_TRUE(download.ok()) << download.status().toString();
  EXPECT_EQ(download->content_type, "application/octet-stream");
  EXPECT_EQ(download->filename, "six.tckp");
  const std::string bytes = readAll(download->file);
  EXPECT_EQ(bytes.size(), ready["bytes"].get<size_t>());

  nlohmann::json begun = body("checkpoints.upload",
                              {{"name", "brought-back"},
                               {"size", bytes.size()},
                               {"sha256", service::sha256Hex(bytes)}},
                              alice_);
  EXPECT_EQ(begun["state"], "uploading");
  EXPECT_EQ(begun["kind"], "upload");
  EXPECT_TRUE(begun["cluster_id"].is_null());
  EXPECT_EQ(begun["upload"]["received"], 0);
  const std::string upload_id = begun["id"];
  Result<Reply> first = call("checkpoints.data", {{"id", upload_id}, {"offset", 0}}, alice_,
                             bytes.substr(0, 64));
  ASSERT_TRUE(first.ok()) << first.status().toString();
  EXPECT_EQ(first->body, (nlohmann::json{{"size", bytes.size()}, {"received", 64}}));
  EXPECT_EQ(body("checkpoints.get", {{"id", upload_id}}, alice_)["upload"]["received"], 64);
  EXPECT_TRUE(failsWith(
      call("checkpoints.data", {{"id", upload_id}, {"offset", 0}}, alice_, "x").status(),
      Code::kFailedPrecondition, "64"));
  ASSERT_TRUE(
      call("checkpoints.data", {{"id", upload_id}, {"offset", 64}}, alice_, bytes.substr(64))
          .ok());
  nlohmann::json finalized = body("checkpoints.finalize", {{"id", upload_id}}, alice_);
  EXPECT_EQ(finalized["state"], "ready");
  EXPECT_EQ(finalized["template_sha256"], ready["template_sha256"]);

  train(*held, 3, 6);
  nlohmann::json task =
      body("clusters.restore", {{"id", cluster_id}, {"checkpoint_id", upload_id}}, alice_);
  EXPECT_EQ(task["type"], "restore");
  EXPECT_EQ(waitTask(alice_, task["id"]).state, service::kTaskFinished);
  EXPECT_TRUE(sameState(*held, *at_6));

  const std::string wide_id =
      body("clusters.create", {{"name", "wide"}, {"template", kWideTemplate}}, alice_)["id"];
  EXPECT_TRUE(failsWith(
      call("clusters.restore", {{"id", wide_id}, {"checkpoint_id", upload_id}}, alice_).status(),
      Code::kFailedPrecondition, "checkpoint template differs"));

  EXPECT_TRUE(call("checkpoints.delete", {{"id", upload_id}}, alice_).ok());
  EXPECT_TRUE(failsWith(call("checkpoints.get", {{"id", upload_id}}, alice_).status(),
                        Code::kNotFound, "checkpoint not found"));
}

TEST_F(ClusterRoutesTest, QuotasAreReadByMembersAndSetByAdmins) {
  body("clusters.create", {{"name", "counted"}, {"template", kLineTemplate}}, bob_);
  nlohmann::json quota = body("projects.quota", {{"id", p_}}, bob_);
  EXPECT_EQ(quota["usage"]["clusters"], 1);
  EXPECT_EQ(quota["limits"]["clusters"], 64);
  EXPECT_EQ(quota["defaults"].size(), 4u);
  EXPECT_TRUE(failsWith(call("projects.quota", {{"id", p_}}, carol_).status(), Code::kNotFound,
                        ""));

  nlohmann::json set =
      body("projects.quota_set", {{"id", p_}, {"clusters", 1}, {"concurrent_tasks", 2}}, root_);
  EXPECT_EQ(set["limits"]["clusters"], 1);
  EXPECT_EQ(set["limits"]["concurrent_tasks"], 2);
  EXPECT_EQ(set["defaults"], nlohmann::json::parse(R"(["synapse_bytes", "dataset_bytes"])"));
  EXPECT_TRUE(failsWith(
      call("clusters.create", {{"name", "over"}, {"template", kLineTemplate}}, bob_).status(),
      Code::kResourceExhausted, "quota: clusters"));
  // A limit not sent keeps its value; null puts it back to the default.
  nlohmann::json kept = body("projects.quota_set", {{"id", p_}, {"dataset_bytes", 5}}, root_);
  EXPECT_EQ(kept["limits"]["clusters"], 1);
  EXPECT_EQ(kept["limits"]["dataset_bytes"], 5);
  EXPECT_EQ(kept["defaults"], nlohmann::json::parse(R"(["synapse_bytes"])"));
  nlohmann::json reset = body("projects.quota_set",
                              {{"id", p_},
                               {"clusters", nullptr},
                               {"dataset_bytes", nullptr},
                               {"concurrent_tasks", nullptr}},
                              root_);
  EXPECT_EQ(reset["defaults"].size(), 4u);
  EXPECT_EQ(reset["limits"]["clusters"], 64);
  EXPECT_TRUE(failsWith(
      call("projects.quota_set", {{"id", service::newUuid()}, {"clusters", 1}}, root_).status(),
      Code::kNotFound, ""));
}

}  // namespace
}  // namespace tendril::api
