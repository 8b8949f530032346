// `tendril bench --direct`: the direct-IO WebSocket measured end to end. Starts the service in
// this process on 127.0.0.1 (a temporary data directory, a generated admin password), logs in
// over HTTP, creates a cluster over the API, opens /api/v1/clusters/{id}/direct with a Beast
// client (TCP_NODELAY) and times train and request round trips of whole samples, frame by frame,
// in each encoding on a fresh cluster. Warm-up frames are sent first and not counted.
#include <sys/socket.h>
#include <sys/time.h>

// clang-format off
#include <utility>  // before Asio: boost/asio/awaitable.hpp uses std::exchange without including it
// clang-format on

#include <algorithm>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <span>
#include <sstream>
#include <thread>

#include "cli/bench.h"
#include "cli/bench_templates.h"
#include "cli/commands.h"
#include "cli/service_app.h"
#include "service/config.h"
#include "service/credentials.h"
#include "service/direct.h"

namespace tendril::cli {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

constexpr std::string_view kAdminName = "bench-admin";
constexpr int kSocketTimeoutSeconds = 30;  // a reply that takes longer fails the bench

// A port of the cluster, as the API describes it.
struct PortInfo {
  std::string name;
  uint32_t width = 0;
};
struct ClusterInfo {
  std::string id;
  std::vector<PortInfo> inputs;
  std::vector<PortInfo> outputs;
};

uint32_t totalWidth(const std::vector<PortInfo>& ports) {
  uint32_t width = 0;
  for (const PortInfo& port : ports) width += port.width;
  return width;
}

std::vector<PortInfo> portsFromJson(const nlohmann::json& ports) {
  std::vector<PortInfo> out;
  for (const nlohmann::json& port : ports) {
    out.push_back({port.value("name", std::string()), port.value("width", 0u)});
  }
  return out;
}

// Every blocking socket operation fails instead of hanging past kSocketTimeoutSeconds.
void setTimeouts(tcp::socket& socket) {
  timeval limit{kSocketTimeoutSeconds, 0};
  setsockopt(socket.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof(limit));
  setsockopt(socket.native_handle(), SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof(limit));
}

// --- HTTP -------------------------------------------------------------------------------------

struct HttpReply {
  unsigned status = 0;
  nlohmann::json body;
};

Result<HttpReply> httpCall(uint16_t port, http::verb method, const std::string& target,
                           const nlohmann::json& body, const std::string& token) {
  asio::io_context io;
  tcp::socket socket(io);
  beast::error_code error;
  socket.connect({asio::ip::make_address("127.0.0.1"), port}, error);
  if (error) return Status::Io("connect: " + error.message());
  setTimeouts(socket);
  http::request<http::string_body> request(method, target, 11);
  request.set(http::field::host, "127.0.0.1");
  if (!token.empty()) request.set(http::field::authorization, "Bearer " + token);
  if (!body.is_null()) {
    request.set(http::field::content_type, "application/json");
    request.body() = body.dump();
  }
  request.prepare_payload();
  http::write(socket, request, error);
  if (error) return Status::Io(target + ": " + error.message());
  beast::flat_buffer buffer;
  http::response<http::string_body> response;
  http::read(socket, buffer, response, error);
  if (error) return Status::Io(target + ": " + error.message());
  HttpReply reply;
  reply.status = response.result_int();
  reply.body = nlohmann::json::parse(response.body(), nullptr, false);
  return reply;
}

// The reply's body when its status is `expected`, else an error naming the call.
Result<nlohmann::json> expectStatus(Result<HttpReply> reply, unsigned expected,
                                    const std::string& what) {
  if (!reply.ok()) return reply.status();
  if (reply->status != expected) {
    return Status::Internal(what + " answered " + std::to_string(reply->status) + ": " +
                            reply->body.dump());
  }
  return reply->body;
}

// --- the direct socket client -----------------------------------------------------------------

class DirectClient {
 public:
  Status connect(uint16_t port, const std::string& cluster_id, const std::string& token) {
    beast::error_code error;
    ws_.next_layer().connect({asio::ip::make_address("127.0.0.1"), port}, error);
    if (error) return Status::Io("connect: " + error.message());
    ws_.next_layer().set_option(tcp::no_delay(true));
    setTimeouts(ws_.next_layer());
    ws_.set_option(websocket::stream_base::decorator([token](websocket::request_type& request) {
      request.set(http::field::authorization, "Bearer " + token);
    }));
    websocket::response_type response;
    ws_.handshake(response, "127.0.0.1", "/api/v1/clusters/" + cluster_id + "/direct", error);
    if (error) {
      return Status::Internal("direct socket handshake: " + error.message() + " (HTTP " +
                              std::to_string(response.result_int()) + ")");
    }
    return Status::Ok();
  }

  // One frame out, its reply in `*reply`.
  Status roundTrip(const std::string& frame, bool binary, std::string* reply) {
    beast::error_code error;
    ws_.binary(binary);
    ws_.write(asio::buffer(frame), error);
    if (error) return Status::Io("direct socket write: " + error.message());
    buffer_.clear();
    ws_.read(buffer_, error);
    if (error) return Status::Io("direct socket read: " + error.message());
    reply->assign(static_cast<const char*>(buffer_.data().data()), buffer_.size());
    return Status::Ok();
  }

  void close() {
    beast::error_code ignored;
    ws_.close(websocket::close_code::normal, ignored);
  }

 private:
  asio::io_context io_;
  websocket::stream<tcp::socket> ws_{io_};
  beast::flat_buffer buffer_;
};

// --- the service under test -------------------------------------------------------------------

// The assembly `tendril serve` runs (ServiceApp), in this process, driven over HTTP and the
// direct socket only, logged in as the admin acting in a fresh project.
class BenchService {
 public:
  static Result<std::unique_ptr<BenchService>> start(const std::filesystem::path& data_dir) {
    service::ServiceConfig config;
    config.data_dir = data_dir;
    config.listen = "127.0.0.1:0";
    const std::string password = service::randomSecret(24);
    const service::Environment env =
        service::fixedEnvironment({{std::string(service::kAdminNameEnv), std::string(kAdminName)},
                                   {std::string(service::kAdminPasswordEnv), password}});
    std::ostringstream quiet;  // the first-admin lines
    Result<std::unique_ptr<ServiceApp>> app = ServiceApp::create(config, env, quiet);
    if (!app.ok()) return app.status();
    TENDRIL_RETURN_IF_ERROR((*app)->start());
    auto service = std::unique_ptr<BenchService>(new BenchService(std::move(*app)));
    TENDRIL_RETURN_IF_ERROR(service->logInToNewProject(password));
    return service;
  }
  ~BenchService() { app_->stop(); }

  uint16_t port() const { return app_->port(); }
  const std::string& token() const { return token_; }

  Result<ClusterInfo> createCluster(const std::string& name, const std::string& template_text) {
    Result<nlohmann::json> cluster =
        expectStatus(httpCall(port(), http::verb::post, "/api/v1/clusters",
                              {{"name", name}, {"template", template_text}}, token_),
                     201, "POST /api/v1/clusters");
    if (!cluster.ok()) return cluster.status();
    return ClusterInfo{cluster->value("id", std::string()), portsFromJson((*cluster)["inputs"]),
                       portsFromJson((*cluster)["outputs"])};
  }

 private:
  explicit BenchService(std::unique_ptr<ServiceApp> app) : app_(std::move(app)) {}

  Status logInToNewProject(const std::string& password) {
    Result<nlohmann::json> login =
        expectStatus(httpCall(port(), http::verb::post, "/api/v1/auth/login",
                              {{"name", kAdminName}, {"password", password}}, ""),
                     200, "login");
    if (!login.ok()) return login.status();
    Result<nlohmann::json> project =
        expectStatus(httpCall(port(), http::verb::post, "/api/v1/projects", {{"name", "bench"}},
                              (*login)["access_token"].get<std::string>()),
                     201, "POST /api/v1/projects");
    if (!project.ok()) return project.status();
    Result<nlohmann::json> switched = expectStatus(
        httpCall(port(), http::verb::post, "/api/v1/auth/switch",
                 {{"project_id", (*project)["id"]}}, (*login)["access_token"].get<std::string>()),
        200, "switch into the project");
    if (!switched.ok()) return switched.status();
    token_ = (*switched)["access_token"].get<std::string>();
    return Status::Ok();
  }

  std::unique_ptr<ServiceApp> app_;
  std::string token_;
};

// --- samples and frames -----------------------------------------------------------------------

// Flat samples: inputs and expected values of every frame, and the label (arg-max of expected).
struct Samples {
  std::string source;
  std::vector<std::vector<float>> inputs;
  std::vector<std::vector<float>> expected;
  std::vector<size_t> labels;
};

size_t argMax(std::span<const float> values) {
  return static_cast<size_t>(std::max_element(values.begin(), values.end()) - values.begin());
}

// Fashion-MNIST images when the cluster takes them and the files are there, else seeded random
// pixels with a random class.
Samples makeSamples(const SampleSet* images, size_t count, uint32_t in_width, uint32_t out_width,
                    uint32_t seed) {
  Samples samples;
  samples.inputs.resize(count, std::vector<float>(in_width));
  samples.expected.resize(count, std::vector<float>(out_width));
  std::mt19937 random(seed);
  for (size_t i = 0; i < count; ++i) {
    if (images != nullptr) {
      images->sample(i % images->count(), 1.0f, samples.inputs[i], samples.expected[i]);
    } else {
      for (float& value : samples.inputs[i]) value = static_cast<float>(random() % 256);
      samples.expected[i][random() % out_width] = 1.0f;
    }
    samples.labels.push_back(argMax(samples.expected[i]));
  }
  return samples;
}

// {"a": [..], "b": [..]} cut from the flat values by port widths.
void appendPorts(std::string& out, const std::vector<PortInfo>& ports,
                 const std::vector<float>& values) {
  out += '{';
  size_t at = 0;
  for (size_t p = 0; p < ports.size(); ++p) {
    if (p > 0) out += ',';
    out += nlohmann::json(ports[p].name).dump() + ":[";
    for (uint32_t i = 0; i < ports[p].width; ++i, ++at) {
      if (i > 0) out += ',';
      char text[32];
      std::snprintf(text, sizeof(text), "%.9g", static_cast<double>(values[at]));
      out += text;
    }
    out += ']';
  }
  out += '}';
}

std::string encodeFrame(bool binary, service::DirectOp op, uint32_t id, const ClusterInfo& cluster,
                        const std::vector<float>& inputs, const std::vector<float>& expected) {
  const bool train = op == service::DirectOp::kTrain;
  if (binary) {
    return service::encodeDirectBinaryFrame(
        op, id, inputs, train ? std::span<const float>(expected) : std::span<const float>());
  }
  std::string frame = "{\"id\":" + std::to_string(id) + ",\"op\":\"" +
                      (train ? "train" : "request") + "\",\"inputs\":";
  appendPorts(frame, cluster.inputs, inputs);
  if (train) {
    frame += ",\"expected\":";
    appendPorts(frame, cluster.outputs, expected);
  }
  return frame + "}";
}

// The outputs of a successful reply, flat; an error reply or a wrong id is an error.
Result<std::vector<float>> checkReply(bool binary, const std::string& reply, uint32_t id,
                                      const ClusterInfo& cluster) {
  if (binary) {
    Result<service::DirectBinaryReply> decoded = service::decodeDirectBinaryReply(reply);
    if (!decoded.ok()) return decoded.status();
    if (decoded->error) return Status::Internal("error frame: " + decoded->message);
    if (decoded->id != id) return Status::Internal("reply out of order");
    return decoded->values;
  }
  const nlohmann::json json = nlohmann::json::parse(reply, nullptr, false);
  if (!json.is_object()) return Status::Internal("reply is not a JSON object");
  if (json.contains("error")) return Status::Internal("error frame: " + json["error"].dump());
  if (json.value("id", -1) != static_cast<int64_t>(id)) {
    return Status::Internal("reply out of order");
  }
  std::vector<float> values;
  if (json.contains("outputs")) {
    for (const PortInfo& port : cluster.outputs) {
      for (const nlohmann::json& value : json["outputs"][port.name]) {
        values.push_back(value.get<float>());
      }
    }
  }
  return values;
}

// --- measuring --------------------------------------------------------------------------------

struct PhaseReport {
  std::string encoding;
  std::string op;
  size_t frames = 0;
  double p50_us = 0;
  double p99_us = 0;
  double mean_us = 0;
  double frames_per_second = 0;
  std::optional<double> accuracy;  // requests: arg-max of the outputs against the label
};

double percentile(const std::vector<double>& sorted, double share) {
  const auto rank = static_cast<size_t>(std::ceil(share * static_cast<double>(sorted.size())));
  return sorted[std::clamp<size_t>(rank, 1, sorted.size()) - 1];
}

// `warmup` frames, then `frames` timed ones, of samples from index `first` on.
Result<PhaseReport> runPhase(DirectClient& client, bool binary, service::DirectOp op,
                             const ClusterInfo& cluster, const Samples& samples, size_t warmup,
                             size_t frames) {
  const bool train = op == service::DirectOp::kTrain;
  std::vector<std::string> encoded;
  for (size_t i = 0; i < warmup + frames; ++i) {
    const size_t s = i % samples.inputs.size();
    encoded.push_back(encodeFrame(binary, op, static_cast<uint32_t>(i), cluster, samples.inputs[s],
                                  samples.expected[s]));
  }
  std::vector<std::string> replies(warmup + frames);
  std::vector<double> micros;
  micros.reserve(frames);
  Clock::time_point timed_start;
  for (size_t i = 0; i < warmup + frames; ++i) {
    if (i == warmup) timed_start = Clock::now();
    const auto start = Clock::now();
    TENDRIL_RETURN_IF_ERROR(client.roundTrip(encoded[i], binary, &replies[i]));
    if (i >= warmup) {
      micros.push_back(std::chrono::duration<double, std::micro>(Clock::now() - start).count());
    }
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - timed_start).count();
  size_t correct = 0;
  for (size_t i = 0; i < warmup + frames; ++i) {
    Result<std::vector<float>> outputs =
        checkReply(binary, replies[i], static_cast<uint32_t>(i), cluster);
    if (!outputs.ok()) return outputs.status();
    if (!train && i >= warmup && !outputs->empty() &&
        argMax(*outputs) == samples.labels[i % samples.labels.size()]) {
      ++correct;
    }
  }
  PhaseReport report;
  report.encoding = binary ? "binary" : "json";
  report.op = train ? "train" : "request";
  report.frames = frames;
  report.mean_us = 0;
  for (double value : micros) report.mean_us += value;
  report.mean_us /= static_cast<double>(frames);
  std::sort(micros.begin(), micros.end());
  report.p50_us = percentile(micros, 0.5);
  report.p99_us = percentile(micros, 0.99);
  report.frames_per_second = static_cast<double>(frames) / seconds;
  if (!train) report.accuracy = static_cast<double>(correct) / static_cast<double>(frames);
  return report;
}

std::string cpuModel() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) {
      const size_t colon = line.find(':');
      if (colon != std::string::npos) return line.substr(std::min(line.size(), colon + 2));
    }
  }
  return "unknown";
}

Result<std::string> templateText(const BenchOptions& options) {
  if (options.template_path.empty()) return std::string(kFashionMnistTemplate);
  std::ifstream in(options.template_path);
  if (!in) return Status::NotFound("cannot read template " + options.template_path);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// A temporary data directory, removed at the end.
class TemporaryDirectory {
 public:
  TemporaryDirectory() {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "tendril-bench-XXXXXX").string();
    if (mkdtemp(pattern.data()) != nullptr) path_ = pattern;
  }
  ~TemporaryDirectory() {
    std::error_code ignored;
    if (!path_.empty()) std::filesystem::remove_all(path_, ignored);
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

void printPhase(const PhaseReport& r) {
  std::printf("%-8s %-8s %7zu %9.1f %9.1f %9.1f %10.0f", r.encoding.c_str(), r.op.c_str(), r.frames,
              r.p50_us, r.p99_us, r.mean_us, r.frames_per_second);
  if (r.accuracy) std::printf(" %8.2f%%", 100.0 * *r.accuracy);
  std::printf("\n");
  std::fflush(stdout);
}

nlohmann::json phaseJson(const PhaseReport& r) {
  nlohmann::json json = {{"encoding", r.encoding},
                         {"op", r.op},
                         {"frames", r.frames},
                         {"p50_us", r.p50_us},
                         {"p99_us", r.p99_us},
                         {"mean_us", r.mean_us},
                         {"frames_per_second", r.frames_per_second}};
  if (r.accuracy) json["request_accuracy"] = *r.accuracy;
  return json;
}

}  // namespace

void addDirectBenchOptions(CLI::App& bench, DirectBenchOptions& options) {
  bench.add_flag("--direct", options.enabled,
                 "Measure the direct-IO WebSocket: start the service on loopback, create a "
                 "cluster over the API, time train and request round trips");
  bench.add_option("--frames", options.frames, "--direct: timed frames per op and encoding")
      ->check(CLI::Range(10, 10000000))
      ->capture_default_str();
  bench.add_option("--encoding", options.encoding, "--direct: binary, json or both")
      ->check(CLI::IsMember({"binary", "json", "both"}))
      ->capture_default_str();
}

Status runDirectBench(const DirectBenchOptions& direct, const BenchOptions& options) {
  if (!options.dataset.empty() || !options.experiment.empty() || !options.raw_settings.empty()) {
    return Status::Invalid(
        "--direct takes no --dataset, --experiment or --set (its samples are Fashion-MNIST "
        "images when the template takes 784 inputs and 10 outputs, else random values)");
  }
  Result<std::string> text = templateText(options);
  if (!text.ok()) return text.status();
  TemporaryDirectory data_dir;
  if (data_dir.path().empty()) return Status::Io("cannot create a temporary data directory");
  Result<std::unique_ptr<BenchService>> service = BenchService::start(data_dir.path());
  if (!service.ok()) return service.status();

  const auto frames = static_cast<size_t>(direct.frames);
  const size_t warmup = std::clamp<size_t>(frames / 10, 20, 500);
  std::printf(
      "tendril bench --direct: `tendril serve` in this process on 127.0.0.1:%u, "
      "clusters made with POST /api/v1/clusters\n",
      (*service)->port());
  std::printf("machine: %u hardware threads, %s\n", std::thread::hardware_concurrency(),
              cpuModel().c_str());
  std::printf("%-8s %-8s %7s %9s %9s %9s %10s %9s\n", "encoding", "op", "frames", "p50_us",
              "p99_us", "mean_us", "frames/s", "accuracy");
  nlohmann::json document = {
      {"mode", "direct"},
      {"service",
       "tendril serve in-process on 127.0.0.1, clusters made with POST /api/v1/clusters"},
      {"template", options.template_path.empty() ? std::string("fashion-mnist (built in)")
                                                 : options.template_path},
      {"frames", frames},
      {"warmup_frames", warmup},
      {"machine", {{"hardware_threads", std::thread::hardware_concurrency()}, {"cpu", cpuModel()}}},
      {"results", nlohmann::json::array()}};
  std::optional<BenchData> images;  // loaded once, when a cluster takes them
  std::string samples_source;
  for (const bool binary : {true, false}) {
    if (direct.encoding == (binary ? "json" : "binary")) continue;
    // A fresh cluster per encoding, trained on the same samples: the two are comparable.
    Result<ClusterInfo> cluster =
        (*service)->createCluster(std::string("bench-") + (binary ? "binary" : "json"), *text);
    if (!cluster.ok()) return cluster.status();
    const uint32_t in_width = totalWidth(cluster->inputs);
    const uint32_t out_width = totalWidth(cluster->outputs);
    const bool takes_images = in_width == 784 && out_width == 10;
    if (!images && takes_images) {
      Result<BenchData> loaded = loadBenchData("fashion-mnist");
      if (loaded.ok()) images = std::move(*loaded);
    }
    const bool use_images = images && takes_images;
    samples_source = use_images ? "Fashion-MNIST images (train set for train frames, test set "
                                  "for request frames)"
                                : "seeded random values 0..255, random classes";
    const Samples train = makeSamples(use_images ? images->train.get() : nullptr, warmup + frames,
                                      in_width, out_width, 1);
    const Samples test = makeSamples(use_images ? images->test.get() : nullptr, warmup + frames,
                                     in_width, out_width, 2);
    DirectClient client;
    TENDRIL_RETURN_IF_ERROR(client.connect((*service)->port(), cluster->id, (*service)->token()));
    for (const auto op : {service::DirectOp::kTrain, service::DirectOp::kRequest}) {
      Result<PhaseReport> report =
          runPhase(client, binary, op, *cluster, op == service::DirectOp::kTrain ? train : test,
                   warmup, frames);
      if (!report.ok()) return report.status();
      printPhase(*report);
      document["results"].push_back(phaseJson(*report));
    }
    client.close();
  }
  std::printf(
      "samples: %s; %zu warm-up frames per phase not counted; requests follow %zu "
      "training frames\n",
      samples_source.c_str(), warmup, warmup + frames);
  document["samples"] = samples_source;
  if (options.json_path.empty()) return Status::Ok();
  return writeJson(options.json_path, document);
}

}  // namespace tendril::cli
