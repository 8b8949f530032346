#include "engine/checkpoint.h"

#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "engine/cluster_state.h"

namespace tendril::engine {
namespace {

constexpr char kMagic[8] = {'T', 'N', 'D', 'R', 'L', 'C', 'K', 'P'};
constexpr size_t kHeaderBytes = 16;
constexpr size_t kReadPiece = 1u << 20;  // chunk payloads are read in pieces of this size

// Little-endian encoding into a byte buffer, independent of the host's byte order.
class Writer {
 public:
  void u8(uint8_t v) { bytes_.push_back(v); }
  void u16(uint16_t v) { put(v, 2); }
  void u32(uint32_t v) { put(v, 4); }
  void u64(uint64_t v) { put(v, 8); }
  void f32(float v) { u32(std::bit_cast<uint32_t>(v)); }
  void f64(double v) { u64(std::bit_cast<uint64_t>(v)); }
  void text(const std::string& s) {
    u32(static_cast<uint32_t>(s.size()));
    bytes_.insert(bytes_.end(), s.begin(), s.end());
  }
  std::vector<uint8_t>& bytes() { return bytes_; }

 private:
  void put(uint64_t v, int n) {
    for (int i = 0; i < n; ++i) bytes_.push_back(static_cast<uint8_t>(v >> (8 * i)));
  }
  std::vector<uint8_t> bytes_;
};

// Bounds-checked little-endian decoding; every read past the end sets a sticky failure.
class Reader {
 public:
  explicit Reader(const std::vector<uint8_t>& bytes) : bytes_(bytes) {}
  bool failed() const { return failed_; }
  bool atEnd() const { return pos_ == bytes_.size(); }
  size_t remaining() const { return bytes_.size() - pos_; }
  uint8_t u8() { return static_cast<uint8_t>(get(1)); }
  uint16_t u16() { return static_cast<uint16_t>(get(2)); }
  uint32_t u32() { return static_cast<uint32_t>(get(4)); }
  uint64_t u64() { return get(8); }
  float f32() { return std::bit_cast<float>(u32()); }
  double f64() { return std::bit_cast<double>(u64()); }
  std::string text() {
    const uint32_t n = u32();
    if (failed_ || n > remaining()) {
      failed_ = true;
      return {};
    }
    std::string s(bytes_.begin() + pos_, bytes_.begin() + pos_ + n);
    pos_ += n;
    return s;
  }

 private:
  uint64_t get(int n) {
    if (failed_ || remaining() < static_cast<size_t>(n)) {
      failed_ = true;
      return 0;
    }
    uint64_t v = 0;
    for (int i = 0; i < n; ++i) v |= static_cast<uint64_t>(bytes_[pos_ + i]) << (8 * i);
    pos_ += n;
    return v;
  }
  const std::vector<uint8_t>& bytes_;
  size_t pos_ = 0;
  bool failed_ = false;
};

uint32_t chunkCrc(const char tag[4], const std::vector<uint8_t>& payload) {
  uLong crc = crc32(0L, reinterpret_cast<const Bytef*>(tag), 4);
  // zlib's crc32 takes a uInt length; feed large payloads in pieces.
  for (size_t done = 0; done < payload.size();) {
    const size_t n = std::min<size_t>(payload.size() - done, 1u << 30);
    crc = crc32(crc, payload.data() + done, static_cast<uInt>(n));
    done += n;
  }
  return static_cast<uint32_t>(crc);
}

Status writeChunk(std::ostream& out, const char tag[4], std::vector<uint8_t>& payload) {
  Writer head;
  head.u64(payload.size());
  Writer tail;
  tail.u32(chunkCrc(tag, payload));
  out.write(tag, 4);
  out.write(reinterpret_cast<const char*>(head.bytes().data()), 8);
  out.write(reinterpret_cast<const char*>(payload.data()),
            static_cast<std::streamsize>(payload.size()));
  out.write(reinterpret_cast<const char*>(tail.bytes().data()), 4);
  return out ? Status::Ok() : Status::Io("writing checkpoint chunk failed");
}

// --- Writing ---------------------------------------------------------------------------------

std::vector<uint8_t> stateChunk(const ClusterState& state) {
  Writer w;
  w.u64(state.cycle);
  w.u32(state.reduction_counter);
  w.u32(state.neuronCount());
  w.u32(static_cast<uint32_t>(state.blocks.size()));
  w.u32(static_cast<uint32_t>(state.pending_recreate.size()));
  for (const GrowthRequest& r : state.pending_recreate) {
    w.u32(r.source);
    w.f32(r.start);
    w.f32(r.end);
    w.u8(r.has_successor);
  }
  return std::move(w.bytes());
}

std::vector<uint8_t> neuronChunk(const ClusterState& state) {
  Writer w;
  for (uint8_t v : state.section_count) w.u8(v);
  for (float v : state.carried) w.f32(v);
  for (uint8_t v : state.refractory) w.u8(v);
  return std::move(w.bytes());
}

std::vector<uint8_t> targetChunk(const ClusterState& state) {
  Writer w;
  for (const BrickState& brick : state.bricks) {
    w.u32(static_cast<uint32_t>(brick.possible_targets.size()));
    for (uint32_t t : brick.possible_targets) w.u32(t);
  }
  return std::move(w.bytes());
}

std::vector<uint8_t> blockChunk(const BlockState& block) {
  Writer w;
  w.u32(block.sectionCount());
  for (uint32_t k = 0; k < block.sectionCount(); ++k) {
    w.u32(block.source[k]);
    w.f32(block.end[k]);
    w.u16(block.count[k]);
    w.u8(block.successor[k]);
  }
  for (uint32_t i = 0; i < block.synapseCount(); ++i) {
    w.f32(block.weights[i]);
    w.u32(block.meta[i]);
  }
  return std::move(w.bytes());
}

}  // namespace

Status writeCheckpoint(const Cluster& cluster, std::ostream& out) {
  const ClusterState& state = cluster.state();
  Writer header;
  header.u32(kCheckpointVersion);
  header.u32(static_cast<uint32_t>(4 + state.blocks.size()));  // chunks that follow
  out.write(kMagic, 8);
  out.write(reinterpret_cast<const char*>(header.bytes().data()), 8);
  Writer tmpl;
  tmpl.text(formatTemplateText(state.tmpl));
  TENDRIL_RETURN_IF_ERROR(writeChunk(out, "TMPL", tmpl.bytes()));
  std::vector<uint8_t> payload = stateChunk(state);
  TENDRIL_RETURN_IF_ERROR(writeChunk(out, "STAT", payload));
  payload = targetChunk(state);
  TENDRIL_RETURN_IF_ERROR(writeChunk(out, "TRGT", payload));
  payload = neuronChunk(state);
  TENDRIL_RETURN_IF_ERROR(writeChunk(out, "NEUR", payload));
  for (const BlockState& block : state.blocks) {
    payload = blockChunk(block);
    TENDRIL_RETURN_IF_ERROR(writeChunk(out, "BLCK", payload));
  }
  out.flush();
  return out ? Status::Ok() : Status::Io("writing checkpoint failed");
}

// --- Reading ---------------------------------------------------------------------------------

namespace {

struct Chunk {
  char tag[5] = {};
  std::vector<uint8_t> payload;
};

Result<Chunk> readChunk(std::istream& in, const char* expected_tag, size_t index) {
  const std::string where = "chunk " + std::to_string(index) + " (" + expected_tag + ")";
  Chunk chunk;
  uint8_t head[12];
  in.read(reinterpret_cast<char*>(head), sizeof head);
  if (in.gcount() != sizeof head)
    return Status::Corrupt("truncated checkpoint: " + where + " is missing");
  std::memcpy(chunk.tag, head, 4);
  if (std::memcmp(chunk.tag, expected_tag, 4) != 0) {
    return Status::Corrupt(where + ": found tag \"" + std::string(chunk.tag, 4) + "\"");
  }
  uint64_t length = 0;
  for (int i = 0; i < 8; ++i) length |= static_cast<uint64_t>(head[4 + i]) << (8 * i);
  // Read in pieces so that a lying length cannot make us allocate memory the file lacks.
  while (chunk.payload.size() < length) {
    const size_t piece =
        static_cast<size_t>(std::min<uint64_t>(kReadPiece, length - chunk.payload.size()));
    const size_t old = chunk.payload.size();
    chunk.payload.resize(old + piece);
    in.read(reinterpret_cast<char*>(chunk.payload.data() + old),
            static_cast<std::streamsize>(piece));
    if (static_cast<size_t>(in.gcount()) != piece) {
      return Status::Corrupt("truncated checkpoint: " + where + " declares " +
                             std::to_string(length) + " bytes, the file ends after " +
                             std::to_string(old + static_cast<size_t>(in.gcount())));
    }
  }
  uint8_t crc_bytes[4];
  in.read(reinterpret_cast<char*>(crc_bytes), 4);
  if (in.gcount() != 4)
    return Status::Corrupt("truncated checkpoint: " + where + " has no checksum");
  uint32_t crc = 0;
  for (int i = 0; i < 4; ++i) crc |= static_cast<uint32_t>(crc_bytes[i]) << (8 * i);
  if (crc != chunkCrc(chunk.tag, chunk.payload)) {
    return Status::Corrupt("checksum mismatch in " + where);
  }
  return chunk;
}

Status corrupt(const std::string& what) {
  return Status::Corrupt("inconsistent checkpoint: " + what);
}

Status readState(const Chunk& chunk, ClusterState& state) {
  Reader r(chunk.payload);
  state.cycle = r.u64();
  state.reduction_counter = r.u32();
  const uint32_t neurons = r.u32();
  const uint32_t blocks = r.u32();
  const uint32_t pending = r.u32();
  if (r.failed()) return corrupt("state chunk too short");
  if (neurons != state.neuronCount() || blocks != state.blocks.size()) {
    return corrupt("neuron or block count does not match the template");
  }
  if (state.reduction_counter >= kReductionInterval)
    return corrupt("reduction counter out of range");
  if (pending > r.remaining() / 13) return corrupt("pending section list longer than its chunk");
  for (uint32_t i = 0; i < pending; ++i) {
    GrowthRequest request;
    request.source = r.u32();
    request.start = r.f32();
    request.end = r.f32();
    request.has_successor = r.u8();
    if (request.source >= neurons || !(request.start >= 0.0f) || !(request.end > request.start) ||
        !std::isfinite(request.end) || request.has_successor > 1) {
      return corrupt("pending section " + std::to_string(i) + " is invalid");
    }
    state.pending_recreate.push_back(request);
  }
  if (r.failed() || !r.atEnd()) return corrupt("state chunk has the wrong length");
  return Status::Ok();
}

// The target lists are derived from the template and seed; the stored copy lets a reader
// detect a checkpoint whose wiring this build would not reproduce.
Status readTargets(const Chunk& chunk, const ClusterState& state) {
  Reader r(chunk.payload);
  for (const BrickState& brick : state.bricks) {
    const uint32_t count = r.u32();
    if (r.failed() || count > r.remaining() / 4) return corrupt("target list too long");
    if (count != brick.possible_targets.size()) return corrupt("target list size does not match");
    for (uint32_t expected : brick.possible_targets) {
      if (r.u32() != expected) {
        return corrupt("a possible-target list differs from the one its template and seed give");
      }
    }
  }
  if (r.failed() || !r.atEnd()) return corrupt("target chunk has the wrong length");
  return Status::Ok();
}

Status readNeurons(const Chunk& chunk, ClusterState& state) {
  const size_t n = state.neuronCount();
  if (chunk.payload.size() != n * 6) return corrupt("neuron chunk has the wrong length");
  Reader r(chunk.payload);
  for (uint8_t& v : state.section_count) v = r.u8();
  for (float& v : state.carried) {
    v = r.f32();
    if (!std::isfinite(v)) return corrupt("a carried potential is not finite");
  }
  for (uint8_t& v : state.refractory) {
    v = r.u8();
    if (v == 0 || v > state.tmpl.settings.refractory_time)
      return corrupt("refractory countdown out of range");
  }
  return Status::Ok();
}

// Whether a section of `source` may live in a block of `brick`: only bricks on its brick's
// possible-target list are ever chosen.
bool canTarget(const ClusterState& state, uint32_t source, uint32_t brick) {
  const auto& targets = state.bricks[state.neuron_brick[source]].possible_targets;
  return std::find(targets.begin(), targets.end(), brick) != targets.end();
}

Status readBlock(const Chunk& chunk, ClusterState& state, uint32_t index,
                 std::vector<uint32_t>& owned) {
  BlockState& block = state.blocks[index];
  const std::string where = "block " + std::to_string(index);
  const Settings& settings = state.tmpl.settings;
  Reader r(chunk.payload);
  const uint32_t sections = r.u32();
  if (r.failed() || sections > r.remaining() / 11)
    return corrupt(where + ": section count too large");
  size_t synapses = 0;
  for (uint32_t k = 0; k < sections; ++k) {
    const uint32_t source = r.u32();
    const float end = r.f32();
    const uint16_t count = r.u16();
    const uint8_t successor = r.u8();
    const bool sorted = k == 0 || block.source.back() <= source;
    if (!sorted || source >= state.neuronCount() ||
        state.bricks[state.neuron_brick[source]].role == BrickRole::kOutput ||
        !canTarget(state, source, block.brick) || !std::isfinite(end) || count == 0 ||
        count > settings.synapses_per_section || successor > 1) {
      return corrupt(where + ": section " + std::to_string(k) + " is invalid");
    }
    block.source.push_back(source);
    block.end.push_back(end);
    block.count.push_back(static_cast<uint8_t>(count));
    block.successor.push_back(successor);
    ++owned[source];
    synapses += count;
  }
  if (r.failed() || r.remaining() != synapses * 8)
    return corrupt(where + ": synapse data has the wrong length");
  block.weights.resize(synapses);
  block.meta.resize(synapses);
  uint32_t i = 0;
  for (uint32_t k = 0; k < sections; ++k) {
    float previous = -1.0f;
    for (uint32_t j = 0; j < block.count[k]; ++j, ++i) {
      block.weights[i] = r.f32();
      block.meta[i] = r.u32();
      const float threshold = metaThreshold(block.meta[i]);
      // Thresholds must increase strictly and stay below the section's end.
      if (!std::isfinite(block.weights[i]) || !(threshold > previous) ||
          !(threshold < block.end[k]) || metaTarget(block.meta[i]) >= block.size ||
          metaCounter(block.meta[i]) == 0 || metaCounter(block.meta[i]) > kPersistentCounter) {
        return corrupt(where + ": a synapse of section " + std::to_string(k) + " is invalid");
      }
      previous = threshold;
    }
  }
  return Status::Ok();
}

}  // namespace

Result<std::unique_ptr<Cluster>> readCheckpoint(std::istream& in, ThreadPool* pool,
                                                const TemplateLimits& limits) {
  char header[kHeaderBytes];
  in.read(header, kHeaderBytes);
  if (in.gcount() != static_cast<std::streamsize>(kHeaderBytes)) {
    return Status::Corrupt("not a Tendril checkpoint: shorter than its 16-byte header");
  }
  if (std::memcmp(header, kMagic, 8) != 0)
    return Status::Corrupt("not a Tendril checkpoint: bad magic");
  uint32_t version = 0;
  uint32_t chunk_count = 0;
  for (int i = 0; i < 4; ++i) {
    version |= static_cast<uint32_t>(static_cast<uint8_t>(header[8 + i])) << (8 * i);
    chunk_count |= static_cast<uint32_t>(static_cast<uint8_t>(header[12 + i])) << (8 * i);
  }
  if (version != kCheckpointVersion) {
    return Status::Corrupt("unsupported checkpoint version " + std::to_string(version) +
                           " (this build reads version " + std::to_string(kCheckpointVersion) +
                           ")");
  }
  Result<Chunk> tmpl_chunk = readChunk(in, "TMPL", 0);
  if (!tmpl_chunk.ok()) return tmpl_chunk.status();
  Reader tmpl_reader(tmpl_chunk->payload);
  const std::string text = tmpl_reader.text();
  if (tmpl_reader.failed() || !tmpl_reader.atEnd())
    return corrupt("template chunk has the wrong length");
  Result<Template> tmpl = parseTemplateText(text, limits);
  if (!tmpl.ok()) return corrupt("its template does not validate: " + tmpl.status().message());
  Result<std::unique_ptr<ClusterState>> built = buildClusterState(*tmpl);
  if (!built.ok()) return built.status();
  ClusterState& state = **built;
  if (chunk_count != 4 + state.blocks.size())
    return corrupt("chunk count does not match the template");

  Result<Chunk> chunk = readChunk(in, "STAT", 1);
  if (!chunk.ok()) return chunk.status();
  TENDRIL_RETURN_IF_ERROR(readState(*chunk, state));
  chunk = readChunk(in, "TRGT", 2);
  if (!chunk.ok()) return chunk.status();
  TENDRIL_RETURN_IF_ERROR(readTargets(*chunk, state));
  chunk = readChunk(in, "NEUR", 3);
  if (!chunk.ok()) return chunk.status();
  TENDRIL_RETURN_IF_ERROR(readNeurons(*chunk, state));
  std::vector<uint32_t> owned(state.neuronCount(), 0);
  for (uint32_t b = 0; b < state.blocks.size(); ++b) {
    chunk = readChunk(in, "BLCK", 4 + b);
    if (!chunk.ok()) return chunk.status();
    TENDRIL_RETURN_IF_ERROR(readBlock(*chunk, state, b, owned));
  }
  for (uint32_t n = 0; n < state.neuronCount(); ++n) {
    if (owned[n] != state.section_count[n] || owned[n] > state.tmpl.settings.sections_per_neuron) {
      return corrupt("section ownership of neuron " + std::to_string(n) + " does not add up");
    }
  }
  if (in.peek() != std::char_traits<char>::eof())
    return Status::Corrupt("trailing bytes after the last checkpoint chunk");
  state.pool = pool;
  return restoreCluster(std::move(built).value());
}

}  // namespace tendril::engine
