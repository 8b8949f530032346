// Checkpoint files: the engine's checkpoint stream (engine/checkpoint.h, specified in
// docs/formats/checkpoint.md) stored on disk, replaced atomically (data/atomic_file.h).
//
// Thread safety: reentrant. Saving reads the cluster and must not overlap a training cycle on it.
#pragma once

#include <filesystem>
#include <memory>

#include "common/status.h"
#include "engine/checkpoint.h"
#include "engine/cluster.h"
#include "engine/template.h"

namespace tendril::data {

// Writes a checkpoint of `cluster` to `path`: afterwards `path` holds either its old content or
// the complete new checkpoint, also after a crash. Errors as writeFileAtomically (Io above all).
Status saveCheckpointFile(const engine::Cluster& cluster, const std::filesystem::path& path);

// Reads a checkpoint file into a new cluster that uses `pool` (may be null) for training.
// The file is read in pieces; memory grows only as its bytes arrive.
// Errors: NotFound when there is no such file; InvalidArgument when it is not a regular file;
// Corrupt for anything readCheckpoint refuses; Io when the system fails to read it;
// ResourceExhausted when memory runs out. Messages start with the path.
Result<std::unique_ptr<engine::Cluster>> loadCheckpointFile(
    const std::filesystem::path& path, engine::ThreadPool* pool = nullptr,
    const engine::TemplateLimits& limits = {});

}  // namespace tendril::data
