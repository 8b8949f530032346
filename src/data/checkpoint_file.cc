#include "data/checkpoint_file.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <new>
#include <string>

#include "data/atomic_file.h"

namespace tendril::data {
namespace {

Status withPath(const Status& status, const std::filesystem::path& path) {
  return Status(status.code(), path.string() + ": " + status.message());
}

}  // namespace

Status saveCheckpointFile(const engine::Cluster& cluster, const std::filesystem::path& path) {
  return writeFileAtomically(
      path, [&cluster](std::ostream& out) { return engine::writeCheckpoint(cluster, out); });
}

Result<std::unique_ptr<engine::Cluster>> loadCheckpointFile(const std::filesystem::path& path,
                                                            engine::ThreadPool* pool,
                                                            const engine::TemplateLimits& limits) {
  std::error_code error;
  const auto status = std::filesystem::status(path, error);
  if (!std::filesystem::exists(status)) return Status::NotFound(path.string() + ": no such file");
  if (error) return Status::Io(path.string() + ": cannot stat: " + error.message());
  if (!std::filesystem::is_regular_file(status)) {
    return Status::Invalid(path.string() + ": not a regular file");
  }
  try {
    std::ifstream in(path, std::ios::binary);
    if (!in) return Status::Io(path.string() + ": cannot open: " + std::strerror(errno));
    Result<std::unique_ptr<engine::Cluster>> cluster = engine::readCheckpoint(in, pool, limits);
    // A read error looks like a short file to the reader; the stream knows better.
    if (in.bad()) return Status::Io(path.string() + ": read failed");
    if (!cluster.ok()) return withPath(cluster.status(), path);
    return cluster;
  } catch (const std::bad_alloc&) {
    return Status::Exhausted(path.string() + ": out of memory while reading the checkpoint");
  }
}

}  // namespace tendril::data
