// Direct-IO frames on a real (small) cluster: both encodings end to end, every way a frame can be
// wrong, the locks against a concurrent trainer, deletion and the synapse quota.
#include "service/direct.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>
#include <thread>

#include "engine/template.h"

namespace tendril::service {
namespace {

// Two input ports (a: 3 values, b: 2) and one output port (out: 2 values).
constexpr std::string_view kTemplate = R"(version: 1
settings:
    learning_rate: 0.1
bricks:
    1,1,1
        input: a
        number_of_neurons: 3
    1,2,1
        input: b
        number_of_neurons: 2
    2,1,1
        number_of_neurons: 16
    2,2,1
        number_of_neurons: 16
    3,1,1
        output: out
        number_of_neurons: 2
)";

// The API maps codes to problems (api/problem.h); here a stand-in that keeps the status apart.
DirectErrorKind describe(Code code) {
  const unsigned status = code == Code::kInvalidArgument     ? 400
                          : code == Code::kNotFound          ? 404
                          : code == Code::kResourceExhausted ? 429
                                                             : 500;
  return {status, "urn:test:problem", "Test problem"};
}

std::shared_ptr<LiveCluster> makeLiveCluster() {
  Result<engine::Template> tmpl = engine::parseTemplateText(kTemplate);
  EXPECT_TRUE(tmpl.ok()) << tmpl.status().toString();
  Result<std::unique_ptr<engine::Cluster>> cluster = engine::Cluster::create(*tmpl);
  EXPECT_TRUE(cluster.ok()) << cluster.status().toString();
  return std::make_shared<LiveCluster>("c1", "p1", std::move(cluster).value());
}

nlohmann::json parse(const DirectSession::Reply& reply) {
  EXPECT_FALSE(reply.binary);
  return nlohmann::json::parse(reply.payload);
}

// The reply's error object (null when it is no error).
nlohmann::json jsonError(DirectSession& session, std::string_view frame) {
  const nlohmann::json reply = parse(session.handle(frame, false));
  return reply.value("error", nlohmann::json());
}

DirectBinaryReply binaryReply(DirectSession& session, std::string_view frame) {
  const DirectSession::Reply& reply = session.handle(frame, true);
  EXPECT_TRUE(reply.binary);
  Result<DirectBinaryReply> decoded = decodeDirectBinaryReply(reply.payload);
  EXPECT_TRUE(decoded.ok()) << decoded.status().toString();
  return decoded.ok() ? *decoded : DirectBinaryReply{};
}

// A binary header with arbitrary fields, for frames that lie.
std::string rawHeader(uint8_t op, uint32_t id, uint32_t n_inputs, uint32_t n_expected) {
  std::string frame = encodeDirectBinaryFrame(static_cast<DirectOp>(op), id, {}, {});
  std::memcpy(frame.data() + 8, &n_inputs, 4);
  std::memcpy(frame.data() + 12, &n_expected, 4);
  return frame;
}

class DirectTest : public testing::Test {
 protected:
  DirectOptions options() {
    DirectOptions options;
    options.describe_error = describe;
    return options;
  }
  std::shared_ptr<LiveCluster> cluster_ = makeLiveCluster();
  DirectSession session_{cluster_, options()};
};

TEST_F(DirectTest, JsonTrainingByPortNameLearnsTheLabelAndCountsChanges) {
  const std::string train =
      R"({"id": 7, "op": "train", "inputs": {"a": [0, 4, 0], "b": [2, 0]},
          "expected": {"out": [0, 1]}})";
  for (int i = 1; i <= 100; ++i) {
    const nlohmann::json reply = parse(session_.handle(train, false));
    ASSERT_EQ(reply["trained"], true) << reply.dump();
    EXPECT_EQ(reply["samples_trained"], i);
    EXPECT_EQ(reply["id"], 7);
  }
  EXPECT_EQ(cluster_->changes(), 100u);
  const nlohmann::json reply = parse(session_.handle(
      R"({"id": "q", "op": "request", "inputs": {"b": [2, 0], "a": [0, 4, 0]}})", false));
  ASSERT_TRUE(reply.contains("outputs")) << reply.dump();
  const std::vector<float> out = reply["outputs"]["out"];
  ASSERT_EQ(out.size(), 2u);
  EXPECT_GT(out[1], out[0]);
  EXPECT_GT(out[1], 0.5f);
  EXPECT_EQ(reply["id"], "q");
  EXPECT_EQ(cluster_->changes(), 100u);  // a request changes nothing
}

TEST_F(DirectTest, BinaryTrainingLearnsTheLabelAndRequestsMatchJsonBitForBit) {
  const std::vector<float> inputs = {0, 4, 0, 2, 0};  // flat: a then b
  const std::vector<float> expected = {1, 0};
  for (uint32_t i = 1; i <= 100; ++i) {
    DirectBinaryReply reply =
        binaryReply(session_, encodeDirectBinaryFrame(DirectOp::kTrain, i, inputs, expected));
    ASSERT_FALSE(reply.error) << reply.message;
    EXPECT_EQ(reply.op, DirectOp::kTrain);
    EXPECT_EQ(reply.id, i);
    EXPECT_TRUE(reply.values.empty());
  }
  DirectBinaryReply reply =
      binaryReply(session_, encodeDirectBinaryFrame(DirectOp::kRequest, 0xFFFFFFFF, inputs, {}));
  ASSERT_FALSE(reply.error) << reply.message;
  EXPECT_EQ(reply.op, DirectOp::kRequest);
  EXPECT_EQ(reply.id, 0xFFFFFFFFu);
  ASSERT_EQ(reply.values.size(), 2u);
  EXPECT_GT(reply.values[0], reply.values[1]);
  // The JSON reply prints the shortest text that reads back as the same float.
  const nlohmann::json json =
      parse(session_.handle(R"({"op": "request", "inputs": [0, 4, 0, 2, 0]})", false));
  EXPECT_TRUE(json["id"].is_null());
  EXPECT_EQ(json["outputs"]["out"][0].get<float>(), reply.values[0]);
  EXPECT_EQ(json["outputs"]["out"][1].get<float>(), reply.values[1]);
}

TEST_F(DirectTest, IdsOfAnyJsonTypeAreEchoedAndOversizedOnesRefused) {
  for (const std::string id : {"null", "3.5", "\"abc\"", "[1,{\"k\":\"v\"}]", "{\"n\":true}"}) {
    const nlohmann::json reply = parse(session_.handle(
        R"({"id": )" + id + R"(, "op": "request", "inputs": [1, 2, 3, 4, 5]})", false));
    EXPECT_EQ(reply["id"], nlohmann::json::parse(id));
    EXPECT_TRUE(reply.contains("outputs")) << reply.dump();
  }
  const std::string long_id = "\"" + std::string(300, 'x') + "\"";
  nlohmann::json reply = parse(session_.handle(
      R"({"id": )" + long_id + R"(, "op": "request", "inputs": [1, 2, 3, 4, 5]})", false));
  EXPECT_TRUE(reply["id"].is_null());
  EXPECT_EQ(reply["error"]["status"], 400);
  const std::string deep_id = std::string(1000, '[') + std::string(1000, ']');
  reply = parse(session_.handle(R"({"id": )" + deep_id + R"(, "op": "request"})", false));
  EXPECT_TRUE(reply["id"].is_null());
  EXPECT_NE(reply["error"]["detail"].get<std::string>().find("nests deeper"), std::string::npos);
}

TEST_F(DirectTest, WrongJsonWidthsAndPortsAreRefusedWithTheirName) {
  struct Case {
    std::string frame;
    std::string detail;
  };
  const std::vector<Case> cases = {
      {R"({"op": "request", "inputs": [1, 2, 3, 4]})", "inputs has 4 values; the cluster takes 5"},
      {R"({"op": "request", "inputs": {"a": [1, 2, 3]}})", "inputs: port \"b\" is missing"},
      {R"({"op": "request", "inputs": {"a": [1, 2], "b": [1, 2]}})",
       "inputs: port \"a\" has 2 values; the cluster takes 3"},
      {R"({"op": "request", "inputs": {"a": [1, 2, 3], "b": [1, 2], "c": [1]}})",
       "inputs: the cluster has no port \"c\""},
      {R"({"op": "train", "inputs": [1, 2, 3, 4, 5], "expected": [1]})",
       "expected has 1 values; the cluster takes 2"},
      {R"({"op": "train", "inputs": [1, 2, 3, 4, 5], "expected": {"outs": [1, 0]}})",
       "expected: port \"out\" is missing"},
      {R"({"op": "train", "inputs": [1, 2, 3, 4, 5]})", "a train frame needs \"expected\""},
      {R"({"op": "request", "inputs": [1, 2, 3, 4, 5], "expected": [1, 0]})",
       "\"expected\" belongs to op \"train\""},
      {R"({"op": "request", "inputs": 5})", "inputs is an object"},
      {R"({"op": "request", "inputs": {"a": 1, "b": [1, 2]}})",
       "inputs: port \"a\" must be an array"},
  };
  for (const Case& c : cases) {
    const nlohmann::json error = jsonError(session_, c.frame);
    ASSERT_FALSE(error.is_null()) << c.frame;
    EXPECT_EQ(error["status"], 400) << c.frame;
    EXPECT_EQ(error["type"], "urn:test:problem");
    EXPECT_EQ(error["title"], "Test problem");
    EXPECT_NE(error["detail"].get<std::string>().find(c.detail), std::string::npos)
        << error["detail"] << " should contain " << c.detail;
  }
  EXPECT_EQ(cluster_->changes(), 0u);
}

TEST_F(DirectTest, GarbageTextFramesGetOneErrorEachAndTheSessionGoesOn) {
  const std::vector<std::string> frames = {
      "",
      "not json",
      "[1, 2]",
      "{\"op\": \"request\", \"inputs\": [1, 2, 3, 4, 5]}\0junk",
      std::string("{\"op\": \"request\", \"inputs\": [1, 2, 3, 4, 5]}\0junk", 49),
      R"({"inputs": [1, 2, 3, 4, 5]})",
      R"({"op": "predict", "inputs": [1, 2, 3, 4, 5]})",
      R"({"op": 1, "inputs": [1, 2, 3, 4, 5]})",
      R"({"op": "request", "input": [1, 2, 3, 4, 5]})",
      R"({"op": "request", "inputs": [1, 2, "3", 4, 5]})",
      R"({"op": "request", "inputs": [1, 2, null, 4, 5]})",
      R"({"op": "request", "inputs": [1, 2, 1e31, 4, 5]})",
      R"({"op": "request", "inputs": [1, 2, 1e400, 4, 5]})",
      R"({"op": "train", "inputs": [1, 2, 3, 4, 5], "expected": [-2e30, 0]})",
      R"({"id": 1, "op": "request", "inputs": [1, 2, 3, 4, 5], "op": "train"})",
  };
  size_t errors = 0;
  for (const std::string& frame : frames) {
    const nlohmann::json reply = parse(session_.handle(frame, false));
    if (reply.contains("error")) {
      ++errors;
      EXPECT_EQ(reply["error"]["status"], 400) << frame;
      EXPECT_TRUE(reply["error"]["detail"].is_string());
    }
  }
  // The one with "\0junk" cut off by the string literal is a valid frame (the 4th); the one
  // that keeps its NUL byte is refused; nlohmann keeps the last "op" of duplicates (a train
  // without expected, refused).
  EXPECT_EQ(errors, frames.size() - 1);
  EXPECT_EQ(cluster_->changes(), 0u);
  const nlohmann::json value_error =
      jsonError(session_, R"({"op": "request", "inputs": {"a": [1, 2, 3], "b": [1, 1e300]}})");
  EXPECT_EQ(value_error["detail"], "inputs: port \"b\" value 1 is beyond +-1e30");
  const nlohmann::json ok =
      parse(session_.handle(R"({"op": "request", "inputs": [1, 2, 3, 4, 5]})", false));
  EXPECT_TRUE(ok.contains("outputs"));
}

TEST_F(DirectTest, BinaryFramesWithLyingLengthsOrBadHeadersAreRefused) {
  const std::vector<float> inputs = {1, 2, 3, 4, 5};
  const std::string good = encodeDirectBinaryFrame(DirectOp::kRequest, 9, inputs, {});
  struct Case {
    std::string frame;
    uint32_t id;
    std::string detail;
  };
  std::string reserved = good;
  reserved[2] = 1;
  std::string cut = good;
  cut.pop_back();
  std::string longer = good + "x";
  std::string nan_frame = good;
  const float nan = std::numeric_limits<float>::quiet_NaN();
  std::memcpy(nan_frame.data() + kDirectFrameHeaderBytes + 8, &nan, 4);
  std::vector<float> huge = {1, 2, 3, 4, 2e30f};
  const std::vector<Case> cases = {
      {"", 0, "shorter than its 16-byte header"},
      {std::string("\x01\0\0\0\x05\0", 6), 0, "shorter than its 16-byte header"},
      {good.substr(0, 12), 9, "shorter than its 16-byte header"},
      {rawHeader(3, 9, 5, 0) + good.substr(16), 9, "unknown op 3"},
      {rawHeader(0xFF, 9, 5, 0) + good.substr(16), 9, "unknown op 255"},
      {reserved, 9, "bytes 1 to 3"},
      {cut, 9, "header announces 36"},
      {longer, 9, "header announces 36"},
      {rawHeader(1, 9, 0xFFFFFFFF, 0xFFFFFFFF) + good.substr(16), 9, "header announces"},
      {rawHeader(1, 9, 4, 1) + good.substr(16), 9, "n_inputs is 4; the cluster takes 5"},
      {rawHeader(1, 9, 5, 0) + good.substr(16) + std::string(8, '\0'), 9, "header announces"},
      {encodeDirectBinaryFrame(DirectOp::kRequest, 9, inputs, std::vector<float>{1, 0}), 9,
       "a request carries no expected values"},
      {encodeDirectBinaryFrame(DirectOp::kTrain, 9, inputs, std::vector<float>{1}), 9,
       "n_expected is 1; the cluster has 2"},
      {nan_frame, 9, "inputs: port \"a\" value 2 is not finite"},
      {encodeDirectBinaryFrame(DirectOp::kTrain, 9, huge, std::vector<float>{1, 0}), 9,
       "inputs: port \"b\" value 1 is beyond +-1e30"},
  };
  for (const Case& c : cases) {
    DirectBinaryReply reply = binaryReply(session_, c.frame);
    EXPECT_TRUE(reply.error) << c.detail;
    EXPECT_EQ(reply.status, 400) << c.detail;
    EXPECT_EQ(reply.id, c.id) << c.detail;
    EXPECT_NE(reply.message.find(c.detail), std::string::npos)
        << reply.message << " should contain " << c.detail;
  }
  EXPECT_EQ(cluster_->changes(), 0u);
  EXPECT_FALSE(binaryReply(session_, good).error);
}

TEST_F(DirectTest, ADeletedClusterAnswersNotFoundAndNeverTrainsAgain) {
  EXPECT_FALSE(session_.clusterDeleted());
  {
    auto lock = cluster_->lockWriter();
    cluster_->close();
  }
  DirectBinaryReply reply = binaryReply(
      session_, encodeDirectBinaryFrame(DirectOp::kTrain, 4, std::vector<float>{1, 2, 3, 4, 5},
                                        std::vector<float>{1, 0}));
  EXPECT_TRUE(reply.error);
  EXPECT_EQ(reply.status, 404);
  EXPECT_EQ(reply.message, "cluster deleted");
  EXPECT_TRUE(session_.clusterDeleted());
  const nlohmann::json error =
      jsonError(session_, R"({"op": "request", "inputs": [1, 2, 3, 4, 5]})");
  EXPECT_EQ(error["status"], 404);
  EXPECT_EQ(error["detail"], "cluster deleted");
  EXPECT_EQ(cluster_->changes(), 0u);
  EXPECT_EQ(cluster_->stats().cycles_trained, 0u);
}

TEST_F(DirectTest, TheSynapseQuotaIsCheckedEveryNthTrainFrameAndWhileRefused) {
  int checks = 0;
  bool refuse = false;
  DirectOptions quota_options = options();
  quota_options.quota_check_interval = 4;
  quota_options.check_synapse_quota = [&](std::string_view project_id) {
    EXPECT_EQ(project_id, "p1");
    ++checks;
    return refuse ? Status::Exhausted("quota: synapse_bytes (9 of 8 bytes)") : Status::Ok();
  };
  DirectSession session(cluster_, quota_options);
  const std::string train = R"({"op": "train", "inputs": [1, 2, 3, 4, 5], "expected": [1, 0]})";
  for (int i = 0; i < 9; ++i) EXPECT_TRUE(parse(session.handle(train, false))["trained"]);
  EXPECT_EQ(checks, 3);  // frames 1, 5 and 9
  // Requests never check.
  parse(session.handle(R"({"op": "request", "inputs": [1, 2, 3, 4, 5]})", false));
  EXPECT_EQ(checks, 3);
  refuse = true;
  for (int i = 0; i < 3; ++i) parse(session.handle(train, false));  // 10, 11, 12: no check yet
  const nlohmann::json error = jsonError(session, train);           // 13: checked, refused
  EXPECT_EQ(error["status"], 429);
  EXPECT_EQ(error["detail"], "quota: synapse_bytes (9 of 8 bytes)");
  EXPECT_EQ(cluster_->changes(), 12u);
  EXPECT_EQ(jsonError(session, train)["status"], 429);  // checked again while refused
  EXPECT_EQ(checks, 5);
  refuse = false;
  EXPECT_TRUE(parse(session.handle(train, false))["trained"]);
  EXPECT_EQ(checks, 6);
  EXPECT_EQ(cluster_->changes(), 13u);
}

TEST_F(DirectTest, SessionsInterleaveWithATrainerOnTheSameCluster) {
  std::atomic<bool> stop{false};
  std::atomic<int> trainer_cycles{0};
  // A task-like trainer: one cycle per writer lock, as the scheduler does.
  std::thread trainer([&] {
    const std::vector<float> inputs = {5, 0, 1, 0, 2};
    const std::vector<float> expected = {0, 1};
    while (!stop.load()) {
      auto lock = cluster_->lockWriter();
      ASSERT_TRUE(cluster_->cluster().train(inputs, expected).ok());
      cluster_->noteChange();
      ++trainer_cycles;
    }
  });
  DirectSession other(cluster_, options());
  std::thread requester([&] {
    const std::string request =
        encodeDirectBinaryFrame(DirectOp::kRequest, 1, std::vector<float>{1, 1, 1, 1, 1}, {});
    for (int i = 0; i < 300; ++i) EXPECT_FALSE(binaryReply(other, request).error);
  });
  const std::string train = encodeDirectBinaryFrame(
      DirectOp::kTrain, 2, std::vector<float>{0, 3, 0, 3, 0}, std::vector<float>{1, 0});
  for (int i = 0; i < 300; ++i) EXPECT_FALSE(binaryReply(session_, train).error);
  requester.join();
  stop = true;
  trainer.join();
  EXPECT_EQ(cluster_->changes(), 300u + static_cast<uint64_t>(trainer_cycles.load()));
  EXPECT_EQ(cluster_->stats().cycles_trained, cluster_->changes());
}

// The byte-level example of docs/api.md ("Direct IO"), on a cluster of 4 inputs and 3 outputs.
TEST(DirectCodec, TheDocumentedExampleBytesHold) {
  engine::Template tmpl;
  tmpl.bricks.push_back({{1, 1, 1}, engine::BrickRole::kInput, "in", 4, 0});
  tmpl.bricks.push_back({{2, 1, 1}, engine::BrickRole::kHidden, "", 8, 0});
  tmpl.bricks.push_back({{3, 1, 1}, engine::BrickRole::kOutput, "out", 3, 0});
  auto live = std::make_shared<LiveCluster>("c", "p", engine::Cluster::create(tmpl).value());
  DirectOptions options;
  options.describe_error = describe;
  DirectSession session(live, options);
  const std::string frame = encodeDirectBinaryFrame(DirectOp::kRequest, 7,
                                                    std::vector<float>{1.0f, 0.5f, 2.0f, 0.0f}, {});
  const unsigned char documented[] = {0x01, 0,    0, 0, 0x07, 0,    0, 0,    0x04, 0, 0,
                                      0,    0,    0, 0, 0,    0,    0, 0x80, 0x3f, 0, 0,
                                      0,    0x3f, 0, 0, 0,    0x40, 0, 0,    0,    0};
  EXPECT_EQ(frame, std::string(reinterpret_cast<const char*>(documented), sizeof(documented)));
  const std::string& reply = session.handle(frame, true).payload;
  ASSERT_EQ(reply.size(), 24u);
  EXPECT_EQ(reply.substr(0, 12), std::string("\x81\0\0\0\x07\0\0\0\x03\0\0\0", 12));
  const std::string error =
      session
          .handle(encodeDirectBinaryFrame(DirectOp::kRequest, 7,
                                          std::vector<float>{1.0f, 0.5f, 2.0f}, {}),
                  true)
          .payload;
  EXPECT_EQ(error, std::string("\xff\0\x90\x01\x07\0\0\0\x2f\0\0\0", 12) +
                       "n_inputs is 3; the cluster takes 4 input values");
}

TEST(DirectCodec, RepliesThatLieAboutTheirLengthAreRefused) {
  EXPECT_FALSE(decodeDirectBinaryReply("short").ok());
  std::string reply = std::string("\x81\0\0\0", 4) + std::string("\x07\0\0\0", 4) +
                      std::string("\x02\0\0\0", 4) + std::string(8, '\0');
  Result<DirectBinaryReply> decoded = decodeDirectBinaryReply(reply);
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(decoded->id, 7u);
  EXPECT_EQ(decoded->values, (std::vector<float>{0, 0}));
  EXPECT_FALSE(decodeDirectBinaryReply(reply.substr(0, reply.size() - 1)).ok());
  reply[0] = 0x05;
  EXPECT_FALSE(decodeDirectBinaryReply(reply).ok());
  const std::string error = std::string("\xFF\0\x90\x01", 4) + std::string("\x03\0\0\0", 4) +
                            std::string("\x02\0\0\0", 4) + "no";
  decoded = decodeDirectBinaryReply(error);
  ASSERT_TRUE(decoded.ok());
  EXPECT_TRUE(decoded->error);
  EXPECT_EQ(decoded->status, 400);
  EXPECT_EQ(decoded->message, "no");
  EXPECT_FALSE(decodeDirectBinaryReply(error + "!").ok());
}

}  // namespace
}  // namespace tendril::service
