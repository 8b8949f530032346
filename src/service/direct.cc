#include "service/direct.h"

#include <algorithm>
#include <bit>
#include <charconv>
#include <cmath>
#include <cstring>
#include <exception>
#include <nlohmann/json.hpp>
#include <utility>

namespace tendril::service {
namespace {

// The largest magnitude a cluster accepts (engine::Cluster::train's contract). Checked here too,
// before any lock is taken, so that the error names the port and a JSON number beyond the float
// range is refused as such instead of turning into infinity.
constexpr double kMaxValueMagnitude = 1e30;
// A JSON id may nest this deep; deeper ids are refused before anything walks them recursively.
constexpr int kMaxIdDepth = 16;
// Unknown member names are quoted in errors up to this length.
constexpr size_t kMaxQuotedName = 64;

// --- little-endian fields ---------------------------------------------------------------------

uint32_t loadU32(const char* at) {
  unsigned char bytes[4];
  std::memcpy(bytes, at, 4);
  return static_cast<uint32_t>(bytes[0]) | static_cast<uint32_t>(bytes[1]) << 8 |
         static_cast<uint32_t>(bytes[2]) << 16 | static_cast<uint32_t>(bytes[3]) << 24;
}

void appendU32(std::string& out, uint32_t value) {
  const char bytes[4] = {static_cast<char>(value & 0xFF), static_cast<char>((value >> 8) & 0xFF),
                         static_cast<char>((value >> 16) & 0xFF),
                         static_cast<char>((value >> 24) & 0xFF)};
  out.append(bytes, 4);
}

// The common 4 bytes that open every frame and reply: op, a zero byte, a u16.
void appendOpening(std::string& out, uint8_t op, uint16_t word) {
  const char bytes[4] = {static_cast<char>(op), 0, static_cast<char>(word & 0xFF),
                         static_cast<char>(word >> 8)};
  out.append(bytes, 4);
}

void appendFloats(std::string& out, std::span<const float> values) {
  if (values.empty()) return;
  if constexpr (std::endian::native == std::endian::little) {
    out.append(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(float));
  } else {
    for (float value : values) appendU32(out, std::bit_cast<uint32_t>(value));
  }
}

void loadFloats(const char* at, size_t count, std::vector<float>& out) {
  out.resize(count);
  if (count == 0) return;  // memcpy with an empty vector's null data() is undefined
  if constexpr (std::endian::native == std::endian::little) {
    std::memcpy(out.data(), at, count * sizeof(float));
  } else {
    for (size_t i = 0; i < count; ++i) out[i] = std::bit_cast<float>(loadU32(at + 4 * i));
  }
}

// --- values -----------------------------------------------------------------------------------

bool acceptable(double value) {
  return std::isfinite(value) && std::fabs(value) <= kMaxValueMagnitude;
}

// "inputs: port \"pixels\" value 12 is not finite" for flat position `index`.
Status valueError(std::string_view what, const std::vector<engine::Port>& ports, size_t index,
                  double value) {
  std::string where = std::string(what) + ": value " + std::to_string(index);
  for (const engine::Port& port : ports) {
    if (index >= port.offset && index < port.offset + port.width) {
      where = std::string(what) + ": port " + nlohmann::json(port.name).dump() + " value " +
              std::to_string(index - port.offset);
    }
  }
  return Status::Invalid(where + (std::isfinite(value) ? " is beyond +-1e30" : " is not finite"));
}

Status checkFloats(std::string_view what, const std::vector<engine::Port>& ports,
                   std::span<const float> values) {
  for (size_t i = 0; i < values.size(); ++i) {
    if (!acceptable(values[i])) return valueError(what, ports, i, values[i]);
  }
  return Status::Ok();
}

void appendFloatText(std::string& out, float value) {
  if (!std::isfinite(value)) {  // JSON has no NaN or infinity; an engine output never is one
    out += "null";
    return;
  }
  char buffer[32];
  const auto [end, error] = std::to_chars(buffer, buffer + sizeof(buffer), value);
  out.append(buffer, error == std::errc() ? end : buffer);
}

// --- JSON -------------------------------------------------------------------------------------

std::string jsonText(const nlohmann::json& value) {
  return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

bool nestsDeeperThan(const nlohmann::json& value, int depth) {
  if (!value.is_structured()) return false;
  if (depth == 0) return true;
  for (const auto& item : value) {
    if (nestsDeeperThan(item, depth - 1)) return true;
  }
  return false;
}

std::string quotedName(std::string_view name) {
  if (name.size() > kMaxQuotedName) return "a member with a long name";
  return nlohmann::json(std::string(name))
      .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// `inputs` or `expected` of a JSON frame ({port: [numbers]} or one flat array) into `out`, flat
// in port order.
Status decodeJsonValues(const nlohmann::json& value, const std::vector<engine::Port>& ports,
                        uint32_t width, std::string_view what, std::vector<float>& out) {
  out.resize(width);
  // One array of `count` numbers into out[offset...].
  auto take = [&](const nlohmann::json& array, uint32_t offset, uint32_t count,
                  const std::string& label) -> Status {
    if (!array.is_array()) return Status::Invalid(label + " must be an array of numbers");
    if (array.size() != count) {
      return Status::Invalid(label + " has " + std::to_string(array.size()) +
                             " values; the cluster takes " + std::to_string(count));
    }
    for (uint32_t i = 0; i < count; ++i) {
      const nlohmann::json& item = array[i];
      if (!item.is_number()) {
        return Status::Invalid(label + " value " + std::to_string(i) + " is not a number");
      }
      const auto number = item.get<double>();
      if (!acceptable(number)) return valueError(what, ports, offset + i, number);
      out[offset + i] = static_cast<float>(number);
    }
    return Status::Ok();
  };
  if (value.is_array()) return take(value, 0, width, std::string(what));
  if (!value.is_object()) {
    return Status::Invalid(std::string(what) +
                           " is an object {port: [numbers]} or a flat array of numbers");
  }
  for (const engine::Port& port : ports) {
    const auto found = value.find(port.name);
    const std::string label = std::string(what) + ": port " + nlohmann::json(port.name).dump();
    if (found == value.end()) return Status::Invalid(label + " is missing");
    TENDRIL_RETURN_IF_ERROR(take(*found, port.offset, port.width, label));
  }
  if (value.size() != ports.size()) {
    for (const auto& [name, item] : value.items()) {
      bool known = false;
      for (const engine::Port& port : ports) known = known || port.name == name;
      if (!known) {
        return Status::Invalid(std::string(what) + ": the cluster has no port " + quotedName(name));
      }
    }
  }
  return Status::Ok();
}

}  // namespace

// --- the client side ----------------------------------------------------------------------------

std::string encodeDirectBinaryFrame(DirectOp op, uint32_t id, std::span<const float> inputs,
                                    std::span<const float> expected) {
  std::string out;
  out.reserve(kDirectFrameHeaderBytes + (inputs.size() + expected.size()) * sizeof(float));
  appendOpening(out, static_cast<uint8_t>(op), 0);
  appendU32(out, id);
  appendU32(out, static_cast<uint32_t>(inputs.size()));
  appendU32(out, static_cast<uint32_t>(expected.size()));
  appendFloats(out, inputs);
  appendFloats(out, expected);
  return out;
}

Result<DirectBinaryReply> decodeDirectBinaryReply(std::string_view bytes) {
  if (bytes.size() < kDirectReplyHeaderBytes) {
    return Status::Invalid("a reply is at least " + std::to_string(kDirectReplyHeaderBytes) +
                           " bytes, got " + std::to_string(bytes.size()));
  }
  DirectBinaryReply reply;
  const auto op = static_cast<uint8_t>(bytes[0]);
  reply.id = loadU32(bytes.data() + 4);
  const uint64_t n = loadU32(bytes.data() + 8);
  if (op == kDirectErrorOp) {
    reply.error = true;
    reply.status =
        static_cast<uint16_t>(static_cast<uint8_t>(bytes[2]) | static_cast<uint8_t>(bytes[3]) << 8);
    if (bytes.size() != kDirectReplyHeaderBytes + n) {
      return Status::Invalid("error reply length does not match its size");
    }
    reply.message.assign(bytes.substr(kDirectReplyHeaderBytes));
    return reply;
  }
  if (op != (kDirectReplyFlag | 1) && op != (kDirectReplyFlag | 2)) {
    return Status::Invalid("unknown reply op " + std::to_string(op));
  }
  reply.op = static_cast<DirectOp>(op & ~kDirectReplyFlag);
  if (bytes.size() != kDirectReplyHeaderBytes + 4 * n) {
    return Status::Invalid("reply length does not match its size");
  }
  loadFloats(bytes.data() + kDirectReplyHeaderBytes, static_cast<size_t>(n), reply.values);
  return reply;
}

// --- the session --------------------------------------------------------------------------------

struct DirectSession::Frame {
  DirectOp op = DirectOp::kRequest;
  uint32_t binary_id = 0;
  std::string json_id = "null";  // the JSON text echoed as "id"
  std::vector<float> inputs;
  std::vector<float> expected;
  std::vector<float> outputs;
  uint64_t samples_trained = 0;
};

DirectSession::DirectSession(std::shared_ptr<LiveCluster> cluster, DirectOptions options)
    : cluster_(std::move(cluster)),
      options_(std::move(options)),
      frame_(std::make_unique<Frame>()) {
  auto lock = cluster_->lockReader();
  inputs_ = cluster_->cluster().inputs();
  outputs_ = cluster_->cluster().outputs();
  input_width_ = cluster_->cluster().inputWidth();
  output_width_ = cluster_->cluster().outputWidth();
  frame_->outputs.resize(output_width_);
}

DirectSession::~DirectSession() = default;

const DirectSession::Reply& DirectSession::handle(std::string_view payload, bool binary) {
  reply_.binary = binary;
  reply_.payload.clear();
  Frame& frame = *frame_;
  frame.binary_id = 0;
  frame.json_id = "null";
  frame.inputs.clear();
  frame.expected.clear();
  try {
    Status status = binary ? decodeBinary(payload) : decodeJson(payload);
    if (status.ok()) status = run();
    if (status.ok()) {
      encodeSuccess();
    } else {
      encodeError(status);
    }
  } catch (const std::exception& error) {
    try {
      reply_.payload.clear();
      encodeError(Status::Internal(std::string("direct frame: ") + error.what()));
    } catch (...) {
      reply_.payload = binary ? std::string() : std::string(R"({"id":null,"error":{}})");
    }
  }
  return reply_;
}

Status DirectSession::decodeBinary(std::string_view bytes) {
  Frame& frame = *frame_;
  if (bytes.size() >= 8) frame.binary_id = loadU32(bytes.data() + 4);
  if (bytes.size() < kDirectFrameHeaderBytes) {
    return Status::Invalid("a binary frame of " + std::to_string(bytes.size()) +
                           " bytes is shorter than its 16-byte header");
  }
  const auto op = static_cast<uint8_t>(bytes[0]);
  if (op != static_cast<uint8_t>(DirectOp::kRequest) &&
      op != static_cast<uint8_t>(DirectOp::kTrain)) {
    return Status::Invalid("unknown op " + std::to_string(op) + " in byte 0 (1 request, 2 train)");
  }
  frame.op = static_cast<DirectOp>(op);
  if (bytes[1] != 0 || bytes[2] != 0 || bytes[3] != 0) {
    return Status::Invalid("bytes 1 to 3 of a binary frame must be zero");
  }
  const uint64_t n_inputs = loadU32(bytes.data() + 8);
  const uint64_t n_expected = loadU32(bytes.data() + 12);
  const uint64_t announced = kDirectFrameHeaderBytes + 4 * (n_inputs + n_expected);
  if (bytes.size() != announced) {
    return Status::Invalid("the frame is " + std::to_string(bytes.size()) +
                           " bytes but its header announces " + std::to_string(announced) +
                           " (16 + 4 x (n_inputs + n_expected))");
  }
  if (n_inputs != input_width_) {
    return Status::Invalid("n_inputs is " + std::to_string(n_inputs) + "; the cluster takes " +
                           std::to_string(input_width_) + " input values");
  }
  const uint64_t wanted_expected = frame.op == DirectOp::kTrain ? output_width_ : 0;
  if (n_expected != wanted_expected) {
    return Status::Invalid(frame.op == DirectOp::kTrain
                               ? "n_expected is " + std::to_string(n_expected) +
                                     "; the cluster has " + std::to_string(output_width_) +
                                     " output values"
                               : std::string("a request carries no expected values "
                                             "(n_expected must be 0)"));
  }
  const char* values = bytes.data() + kDirectFrameHeaderBytes;
  loadFloats(values, static_cast<size_t>(n_inputs), frame.inputs);
  loadFloats(values + 4 * n_inputs, static_cast<size_t>(n_expected), frame.expected);
  TENDRIL_RETURN_IF_ERROR(checkFloats("inputs", inputs_, frame.inputs));
  return checkFloats("expected", outputs_, frame.expected);
}

Status DirectSession::decodeJson(std::string_view text) {
  Frame& frame = *frame_;
  // nlohmann's lexer ends at a NUL byte, which would accept `{...}\0junk`.
  if (text.find('\0') != std::string_view::npos) {
    return Status::Invalid("the text frame holds a NUL byte");
  }
  const nlohmann::json document = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (document.is_discarded()) return Status::Invalid("the text frame is not JSON");
  if (!document.is_object()) {
    return Status::Invalid("a text frame is a JSON object {\"id\", \"op\", \"inputs\", ...}");
  }
  if (const auto id = document.find("id"); id != document.end()) {
    if (nestsDeeperThan(*id, kMaxIdDepth)) {
      return Status::Invalid("the id nests deeper than " + std::to_string(kMaxIdDepth) + " levels");
    }
    std::string id_text = jsonText(*id);
    if (id_text.size() > kDirectMaxIdBytes) {
      return Status::Invalid("the id is " + std::to_string(id_text.size()) +
                             " bytes of JSON; at most " + std::to_string(kDirectMaxIdBytes));
    }
    frame.json_id = std::move(id_text);
  }
  for (const auto& [name, value] : document.items()) {
    if (name != "id" && name != "op" && name != "inputs" && name != "expected") {
      return Status::Invalid("unknown member " + quotedName(name) +
                             " (a frame has id, op, inputs and expected)");
    }
  }
  const auto op = document.find("op");
  if (op == document.end()) return Status::Invalid("missing \"op\" (\"request\" or \"train\")");
  if (*op == "request") {
    frame.op = DirectOp::kRequest;
  } else if (*op == "train") {
    frame.op = DirectOp::kTrain;
  } else {
    return Status::Invalid("unknown op; it is \"request\" or \"train\"");
  }
  const auto inputs = document.find("inputs");
  if (inputs == document.end()) return Status::Invalid("missing \"inputs\"");
  TENDRIL_RETURN_IF_ERROR(decodeJsonValues(*inputs, inputs_, input_width_, "inputs", frame.inputs));
  const auto expected = document.find("expected");
  if (frame.op == DirectOp::kRequest) {
    if (expected != document.end()) {
      return Status::Invalid("\"expected\" belongs to op \"train\", not to a request");
    }
    return Status::Ok();
  }
  if (expected == document.end()) return Status::Invalid("a train frame needs \"expected\"");
  return decodeJsonValues(*expected, outputs_, output_width_, "expected", frame.expected);
}

Status DirectSession::checkQuota() {
  if (!options_.check_synapse_quota) return Status::Ok();
  const uint64_t interval = std::max<uint32_t>(options_.quota_check_interval, 1);
  if (quota_checked_ && !quota_refused_ && train_frames_since_check_ < interval) {
    ++train_frames_since_check_;
    return Status::Ok();
  }
  Status status = options_.check_synapse_quota(cluster_->projectId());
  quota_checked_ = true;
  quota_refused_ = !status.ok();
  train_frames_since_check_ = 1;
  return status;
}

Status DirectSession::run() {
  Frame& frame = *frame_;
  const auto deleted = [] { return Status::NotFound("cluster deleted"); };
  if (cluster_deleted_) return deleted();
  if (frame.op == DirectOp::kTrain) {
    TENDRIL_RETURN_IF_ERROR(checkQuota());
    auto lock = cluster_->lockWriter();
    if (cluster_->closed()) {
      cluster_deleted_ = true;
      return deleted();
    }
    TENDRIL_RETURN_IF_ERROR(cluster_->cluster().train(frame.inputs, frame.expected));
    cluster_->noteChange();
    frame.samples_trained = cluster_->cluster().stats().cycles_trained;
    return Status::Ok();
  }
  auto lock = cluster_->lockReader();
  if (cluster_->closed()) {
    cluster_deleted_ = true;
    return deleted();
  }
  frame.outputs.resize(cluster_->cluster().outputWidth());
  return cluster_->cluster().request(frame.inputs, frame.outputs, workspace_);
}

void DirectSession::encodeSuccess() {
  const Frame& frame = *frame_;
  std::string& out = reply_.payload;
  const std::span<const float> values = frame.op == DirectOp::kRequest
                                            ? std::span<const float>(frame.outputs)
                                            : std::span<const float>();
  if (reply_.binary) {
    appendOpening(out, static_cast<uint8_t>(kDirectReplyFlag | static_cast<uint8_t>(frame.op)), 0);
    appendU32(out, frame.binary_id);
    appendU32(out, static_cast<uint32_t>(values.size()));
    appendFloats(out, values);
    return;
  }
  out += "{\"id\":";
  out += frame.json_id;
  if (frame.op == DirectOp::kTrain) {
    out += ",\"trained\":true,\"samples_trained\":";
    out += std::to_string(frame.samples_trained);
    out += '}';
    return;
  }
  out += ",\"outputs\":{";
  for (size_t p = 0; p < outputs_.size(); ++p) {
    const engine::Port& port = outputs_[p];
    if (p > 0) out += ',';
    out += jsonText(port.name);
    out += ":[";
    for (uint32_t i = 0; i < port.width; ++i) {
      if (i > 0) out += ',';
      appendFloatText(out, values[port.offset + i]);
    }
    out += ']';
  }
  out += "}}";
}

void DirectSession::encodeError(const Status& status) {
  const DirectErrorKind kind =
      options_.describe_error ? options_.describe_error(status.code()) : DirectErrorKind{};
  std::string& out = reply_.payload;
  if (reply_.binary) {
    appendOpening(out, kDirectErrorOp, static_cast<uint16_t>(kind.status));
    appendU32(out, frame_->binary_id);
    appendU32(out, static_cast<uint32_t>(status.message().size()));
    out += status.message();
    return;
  }
  const nlohmann::json error = {{"type", kind.type},
                                {"title", kind.title},
                                {"status", kind.status},
                                {"detail", status.message()}};
  out = "{\"id\":" + frame_->json_id + ",\"error\":" + jsonText(error) + "}";
}

}  // namespace tendril::service
