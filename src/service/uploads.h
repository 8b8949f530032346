// Staged uploads: large files sent in chunks at explicit offsets, resumable after a dropped
// connection or a restart, checked against a declared size and SHA-256 before anyone uses them.
// Datasets (one staged file per part) and checkpoint uploads both build on this.
//
// Layout: <root>/<upload_id>/<part>, where root is <data_dir>/uploads. The caller keeps the
// declaration (size + sha256) in its own metadata row and passes it with every call; the staging
// area keeps only bytes. How many bytes of a part have arrived ("received") is the size of its
// file on disk, so it survives restarts and always equals the bytes really there: every append
// is written with pwrite and flushed with fdatasync before it is acknowledged.
//
// Rules of append(): the chunk must start exactly at `received` (else FailedPrecondition naming
// the current offset, so the client can resume there) and must not end past the declared size
// (InvalidArgument). Appends, verification and removal of one upload are serialised by holding
// its UploadLock (lock()); the functions that change an upload take the lock as proof that the
// caller holds it. Different uploads proceed in parallel.
//
// Errors: NotFound when a part or upload was never created (or is gone), Io for file trouble
// (messages never name paths), InvalidArgument / FailedPrecondition as above. No exception
// escapes. Thread safety: all members may be called from any thread.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace tendril::service {

// What the client promised to send for one staged file.
struct UploadSpec {
  uint64_t size = 0;   // exact byte count, 1..max
  std::string sha256;  // 64 lower-case hex digits
};

// Checks a declaration: size 1..max_bytes (ResourceExhausted above it, naming both), sha256 of
// 64 hex digits (InvalidArgument). Callers should store normalizeSha256() of the digest.
Status checkUploadSpec(const UploadSpec& spec, uint64_t max_bytes);
// `hex` in lower case (the stored and compared form).
std::string normalizeSha256(std::string_view hex);

// Lower-case hex SHA-256 of a whole file, read in bounded pieces (never loaded whole).
// NotFound / Io (without the path in the message).
Result<std::string> sha256OfFile(const std::filesystem::path& file);

class UploadStaging;

// Exclusive hold of one upload (see UploadStaging::lock()). Movable; releases on destruction.
class UploadLock {
 public:
  UploadLock(UploadLock&& other) noexcept;
  UploadLock& operator=(UploadLock&& other) noexcept;
  UploadLock(const UploadLock&) = delete;
  UploadLock& operator=(const UploadLock&) = delete;
  ~UploadLock();
  const std::string& uploadId() const { return upload_id_; }

 private:
  friend class UploadStaging;
  UploadLock(UploadStaging* staging, std::string upload_id, std::shared_ptr<std::mutex> mutex);
  void unlock();

  UploadStaging* staging_ = nullptr;
  std::string upload_id_;
  std::shared_ptr<std::mutex> mutex_;
  std::unique_lock<std::mutex> hold_;
};

class UploadStaging {
 public:
  // `root` (created on demand) holds one directory per upload.
  explicit UploadStaging(std::filesystem::path root);
  UploadStaging(const UploadStaging&) = delete;
  UploadStaging& operator=(const UploadStaging&) = delete;

  // Blocks until no one else holds `upload_id`, then holds it until the lock is destroyed.
  // Do not take a second lock while holding one (locks are not ordered).
  UploadLock lock(std::string_view upload_id);

  // Creates the empty part file (and the upload's directory). An existing part is emptied.
  // `part` must be a plain file name ([A-Za-z0-9_.-], not "." or ".."): InvalidArgument.
  Status create(const UploadLock& upload, std::string_view part);

  // Bytes of the part on disk now. NotFound when the part does not exist.
  Result<uint64_t> received(std::string_view upload_id, std::string_view part) const;

  // Appends `bytes` at `offset` (see the rules above) and returns the new received count.
  // A zero-length chunk at the right offset is accepted and changes nothing.
  Result<uint64_t> append(const UploadLock& upload, std::string_view part, const UploadSpec& spec,
                          uint64_t offset, std::span<const uint8_t> bytes);

  // Checks that the part is complete (FailedPrecondition "… R of S bytes received" otherwise)
  // and that its SHA-256, computed by reading the file in pieces, equals the declared one
  // (InvalidArgument naming both digests otherwise).
  Status verify(const UploadLock& upload, std::string_view part, const UploadSpec& spec) const;

  // Where the part's bytes are (for readers once verify() passed). Never show it to a client.
  std::filesystem::path partPath(std::string_view upload_id, std::string_view part) const;

  // Removes the upload's directory and everything in it (ok when it does not exist).
  Status remove(const UploadLock& upload);

  // The upload ids that have a directory (for cleaning up after a crash).
  Result<std::vector<std::string>> uploadIds() const;

 private:
  friend class UploadLock;
  void release(const std::string& upload_id);

  std::filesystem::path root_;
  std::mutex locks_mutex_;
  // Upload id → its mutex and how many UploadLocks hold or wait for it (erased at zero).
  struct LockEntry {
    std::shared_ptr<std::mutex> mutex;
    size_t users = 0;
  };
  std::map<std::string, LockEntry, std::less<>> locks_;
};

}  // namespace tendril::service
