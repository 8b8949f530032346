// `tendril direct CLUSTER --input PORT=VALUES`: one sample through a cluster's direct-IO
// WebSocket from the terminal (docs/api.md "Direct IO"): a request that prints the outputs and
// the index of the largest one, or, with --expected, training cycles (--repeat N).
#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <memory>

#include "cli/client_context.h"
#include "cli/commands.h"

namespace tendril::cli {
namespace {

using nlohmann::json;

// Numbers separated by commas, spaces or line breaks: the text itself, or the file it names.
Result<json> parseValues(const std::string& text) {
  std::string source = text;
  std::error_code error;
  if (std::filesystem::is_regular_file(text, error)) {
    Result<std::string> file = readTextFile(text);
    if (!file.ok()) return file.status();
    source = *file;
  }
  json values = json::array();
  size_t position = 0;
  while (position < source.size()) {
    size_t end = source.find_first_of(", \t\r\n", position);
    if (end == std::string::npos) end = source.size();
    std::string token = source.substr(position, end - position);
    position = end + 1;
    if (token.empty()) continue;
    char* rest = nullptr;
    errno = 0;
    double value = std::strtod(token.c_str(), &rest);
    if (rest == token.c_str() || *rest != '\0' || errno == ERANGE) {
      return Status::Invalid("'" + token + "' is not a number");
    }
    values.push_back(value);
  }
  return values;
}

// "PORT=VALUES" entries as {port: [...]}, or one entry without a port name as a flat array.
Result<json> parseSample(const std::vector<std::string>& entries, const char* what) {
  json ports = json::object();
  for (const std::string& entry : entries) {
    size_t equals = entry.find('=');
    std::string port = equals == std::string::npos ? std::string() : entry.substr(0, equals);
    Result<json> values =
        parseValues(equals == std::string::npos ? entry : entry.substr(equals + 1));
    if (!values.ok()) return Status::Invalid(std::string(what) + ": " + values.status().message());
    if (port.empty()) {
      if (entries.size() != 1) {
        return Status::Invalid(std::string(what) + ": name each port (PORT=VALUES)");
      }
      return *values;
    }
    ports[port] = *values;
  }
  return ports;
}

struct DirectOptions {
  std::string cluster;
  std::vector<std::string> inputs, expected;
  int repeat = 1;
};

Status replyStatus(const json& reply) {
  if (!reply.is_object()) return Status::Internal("the direct socket answered no JSON object");
  auto error = reply.find("error");
  if (error == reply.end()) return Status::Ok();
  return client::statusFromReply(error->value("status", 500u), error->dump());
}

void printOutputs(const json& outputs) {
  for (const auto& [port, values] : outputs.items()) {
    size_t best = 0;
    std::string line;
    for (size_t i = 0; i < values.size(); ++i) {
      line += (i == 0 ? "" : " ") + values[i].dump();
      if (values[i].get<double>() > values[best].get<double>()) best = i;
    }
    std::cout << port << ": " << line << "\n" << port << " argmax: " << best << "\n";
  }
}

Status runDirect(ClientSession& s, const DirectOptions& options) {
  Result<json> inputs = parseSample(options.inputs, "--input");
  if (!inputs.ok()) return inputs.status();
  const bool train = !options.expected.empty();
  json frame = {{"op", train ? "train" : "request"}, {"inputs", *inputs}};
  if (train) {
    Result<json> expected = parseSample(options.expected, "--expected");
    if (!expected.ok()) return expected.status();
    frame["expected"] = *expected;
  }
  Result<std::unique_ptr<client::WebSocket>> socket =
      s.client().openWebSocket("/api/v1/clusters/" + percentEncode(options.cluster) + "/direct");
  if (!socket.ok()) return socket.status();
  const int frames = train ? std::max(1, options.repeat) : 1;
  // Frames are pipelined in windows: replies come back in order.
  constexpr int kWindow = 32;
  std::string last;
  for (int sent = 0; sent < frames;) {
    const int batch = std::min(kWindow, frames - sent);
    for (int i = 0; i < batch; ++i) {
      frame["id"] = sent + i;
      TENDRIL_RETURN_IF_ERROR((*socket)->sendText(frame.dump()));
    }
    for (int i = 0; i < batch; ++i) {
      Result<std::optional<client::WebSocket::Message>> message = (*socket)->read();
      if (!message.ok()) return message.status();
      if (!message->has_value()) return Status::Io("the direct socket closed early");
      last = (*message)->data;
      TENDRIL_RETURN_IF_ERROR(replyStatus(json::parse(last, nullptr, false)));
    }
    sent += batch;
  }
  (*socket)->close();
  if (s.json) {
    std::cout << last << "\n";
    return Status::Ok();
  }
  json reply = json::parse(last);
  if (train) {
    std::cout << "trained " << frames << " cycle(s); samples_trained "
              << reply.value("samples_trained", json()).dump() << "\n";
  } else {
    printOutputs(reply.value("outputs", json::object()));
  }
  return Status::Ok();
}

}  // namespace

void addDirectCommand(CLI::App& app) {
  auto options = std::make_shared<DirectOptions>();
  CLI::App* direct = addClientCommand(app, "direct", "one sample through a cluster, right now",
                                      [options](auto& s) { return runDirect(s, *options); });
  addIdOption(direct, "cluster", options->cluster, "/api/v1/clusters", "cluster id")->required();
  direct
      ->add_option("-i,--input", options->inputs,
                   "PORT=VALUES or PORT=FILE (numbers split by commas, spaces, lines); "
                   "repeat per port, or one flat list without PORT=")
      ->required();
  direct->add_option("-e,--expected", options->expected,
                     "train instead of request: expected outputs, like --input");
  direct->add_option("--repeat", options->repeat, "training cycles to run (with --expected)")
      ->check(CLI::Range(1, 1000000));
}

}  // namespace tendril::cli
