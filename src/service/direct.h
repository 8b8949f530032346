// Direct IO on a live cluster: the frames of the WebSocket /api/v1/clusters/{id}/direct, decoded,
// run on a LiveCluster and answered, with no HTTP types (api/direct_socket.cc is the transport).
//
// A frame asks for one request (inference) or one training cycle. It comes in one of two
// encodings and is answered in the same one (docs/api.md, "Direct IO", has them byte by byte):
//
// - JSON (a WebSocket text frame):
//     {"id": <any JSON, echoed>, "op": "request" | "train",
//      "inputs": {port: [numbers]} | [numbers], "expected": {port: [numbers]} | [numbers]}
//   answered {"id", "outputs": {port: [numbers]}} (request), {"id", "trained": true,
//   "samples_trained": n} (train) or {"id", "error": {"type", "title", "status", "detail"}}.
// - binary (a WebSocket binary frame), little-endian: u8 op (1 request, 2 train), u8 0, u16 0,
//   u32 id, u32 n_inputs, u32 n_expected, then n_inputs f32 and n_expected f32 (flat, port order).
//   Reply: u8 op|0x80, u8 0, u16 0, u32 id, u32 n, n f32 (request: the outputs; train: n = 0).
//   Error: u8 0xFF, u8 0, u16 status, u32 id, u32 n, n bytes of UTF-8 message.
//
// Promises: every frame, however malformed (not JSON, unknown op, wrong widths, a short header,
// length fields that do not match the frame's size, NaN, values beyond +-1e30), gets exactly one
// reply and changes nothing unless it succeeds; no exception leaves DirectSession::handle().
// A train frame holds the cluster's writer lock for its one cycle and a request the reader lock,
// so a task training the same cluster interleaves with a session cycle by cycle. A cluster found
// closed (deleted) answers NotFound "cluster deleted".
//
// Thread safety: the free functions are thread-safe. A DirectSession serves one connection and is
// called by one thread at a time (the connection's strand); sessions on the same cluster may run
// concurrently.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "engine/cluster.h"
#include "service/live_cluster.h"

namespace tendril::service {

enum class DirectOp : uint8_t { kRequest = 1, kTrain = 2 };

// The binary encoding's fixed parts.
inline constexpr size_t kDirectFrameHeaderBytes = 16;  // op, 0, 0 (u16), id, n_inputs, n_expected
inline constexpr size_t kDirectReplyHeaderBytes = 12;  // op|0x80 or 0xFF, 0, status (u16), id, n
inline constexpr uint8_t kDirectReplyFlag = 0x80;
inline constexpr uint8_t kDirectErrorOp = 0xFF;
// A JSON frame's "id" is echoed when its JSON text is at most this long; a longer id is an error
// (answered with id null).
inline constexpr size_t kDirectMaxIdBytes = 256;

// How an error reply describes a failed Status: the API's problem kind for its code (status,
// stable type URI, title), handed in so that this module stays free of HTTP.
struct DirectErrorKind {
  unsigned status = 500;
  std::string_view type;
  std::string_view title;
};
using DirectErrorDescriber = std::function<DirectErrorKind(Code)>;

// Whether the project may grow further: OK, or ResourceExhausted "quota: ..." (service/quotas).
using SynapseQuotaCheck = std::function<Status(std::string_view project_id)>;

struct DirectOptions {
  DirectErrorDescriber describe_error;  // required
  // Checked before a train frame (a cycle may grow synapses); null: no quota. A refusal answers
  // that frame with the Status and trains nothing.
  SynapseQuotaCheck check_synapse_quota;
  // The check runs before the first train frame of a session, then before every N-th one, and
  // before every train frame while the last check refused. Between checks a session may overrun
  // the quota by the growth of at most N cycles (a few KiB for the MNIST templates).
  uint32_t quota_check_interval = 64;
};

// The client side of the binary encoding (tests, `tendril bench --direct`): a binary frame for
// `op` with `id`, and the reply decoded.
std::string encodeDirectBinaryFrame(DirectOp op, uint32_t id, std::span<const float> inputs,
                                    std::span<const float> expected);
struct DirectBinaryReply {
  bool error = false;   // an error frame (op 0xFF)
  DirectOp op{};        // the answered op (not an error)
  uint16_t status = 0;  // error: the problem's HTTP status
  uint32_t id = 0;
  std::vector<float> values;  // request: the outputs, flat in port order
  std::string message;        // error: the detail
};
// InvalidArgument when `bytes` is not a well-formed reply (short, lying length, unknown op).
Result<DirectBinaryReply> decodeDirectBinaryReply(std::string_view bytes);

// One connection's frames on one cluster. Keeps its buffers and its request Workspace between
// frames, so a frame after the first allocates nothing in the binary encoding.
class DirectSession {
 public:
  DirectSession(std::shared_ptr<LiveCluster> cluster, DirectOptions options);
  ~DirectSession();
  DirectSession(const DirectSession&) = delete;
  DirectSession& operator=(const DirectSession&) = delete;

  struct Reply {
    std::string payload;
    bool binary = false;  // the frame's encoding: binary, or JSON text
  };
  // Decodes, runs and answers one frame: `binary` is the WebSocket frame type (binary or text).
  // The reply is valid until the next call.
  const Reply& handle(std::string_view payload, bool binary);

  // True once a frame found the cluster deleted; every later frame is answered with that error.
  bool clusterDeleted() const { return cluster_deleted_; }

 private:
  struct Frame;
  Status decodeJson(std::string_view text);
  Status decodeBinary(std::string_view bytes);
  Status run();
  Status checkQuota();
  void encodeSuccess();
  void encodeError(const Status& status);

  std::shared_ptr<LiveCluster> cluster_;
  DirectOptions options_;
  // The cluster's ports, read once (a restore keeps the template; the engine re-checks widths).
  std::vector<engine::Port> inputs_;
  std::vector<engine::Port> outputs_;
  uint32_t input_width_ = 0;
  uint32_t output_width_ = 0;

  std::unique_ptr<Frame> frame_;
  engine::Workspace workspace_;
  Reply reply_;
  uint64_t train_frames_since_check_ = 0;
  bool quota_refused_ = false;
  bool quota_checked_ = false;
  bool cluster_deleted_ = false;
};

}  // namespace tendril::service
