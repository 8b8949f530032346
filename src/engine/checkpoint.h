// Checkpoints: the complete state of a cluster as a versioned, checksummed byte stream.
//
// The byte-level format is specified in docs/formats/checkpoint.md. A checkpoint holds the
// template (text format), every learned array and the counters that drive randomness, so that
// training N samples, checkpointing, restoring and training M more gives a cluster bit-identical
// to one trained N + M samples without the checkpoint.
//
// The engine only reads and writes streams; writing a file atomically (temp file, fsync,
// rename) is src/data/atomic_file.h's job.
//
// Thread safety: writeCheckpoint reads the cluster and must not overlap a training cycle;
// readCheckpoint builds a new cluster and touches no shared state.
#pragma once

#include <istream>
#include <memory>
#include <ostream>

#include "common/status.h"
#include "engine/cluster.h"

namespace tendril::engine {

inline constexpr uint32_t kCheckpointVersion = 1;

// Writes the cluster. Fails with Io when the stream fails.
Status writeCheckpoint(const Cluster& cluster, std::ostream& out);

// Reads and validates a checkpoint. Bad magic, unknown version, checksum mismatch, truncation,
// trailing bytes and any inconsistent value give a Corrupt status that says what is wrong;
// memory is only allocated for chunks as their bytes actually arrive.
Result<std::unique_ptr<Cluster>> readCheckpoint(std::istream& in, ThreadPool* pool = nullptr,
                                                const TemplateLimits& limits = {});

}  // namespace tendril::engine
