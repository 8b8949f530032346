#include "service/uploads.h"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <system_error>
#include <utility>

namespace tendril::service {
namespace {

constexpr size_t kHashChunk = size_t{1} << 20;

std::string systemError(std::string_view doing) {
  return std::string(doing) + ": " + std::strerror(errno);
}

// Closes a descriptor on every path out of a function.
class FileDescriptor {
 public:
  explicit FileDescriptor(int fd) : fd_(fd) {}
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  ~FileDescriptor() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }

 private:
  int fd_;
};

bool isHex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

// Upload ids and part names are plain file names, so they can never reach outside the staging
// directory.
Status checkNames(std::string_view upload_id, std::string_view part) {
  for (std::string_view name : {upload_id, part}) {
    bool plain = !name.empty() && name.size() <= 64 && name != "." && name != "..";
    for (char c : name) {
      plain = plain && ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                        (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.');
    }
    if (!plain) return Status::Invalid(name == part ? "bad part name" : "bad upload id");
  }
  return Status::Ok();
}

// Flushes a directory, so that a file created in it survives a power cut.
Status syncDirectory(const std::filesystem::path& directory) {
  FileDescriptor fd(::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd.valid() || ::fsync(fd.get()) != 0) {
    return Status::Io(systemError("cannot flush the staging directory"));
  }
  return Status::Ok();
}

Result<uint64_t> fileSize(int fd) {
  struct stat info {};
  if (::fstat(fd, &info) != 0) return Status::Io(systemError("cannot stat the staged part"));
  return static_cast<uint64_t>(info.st_size);
}

}  // namespace

Status checkUploadSpec(const UploadSpec& spec, uint64_t max_bytes) {
  if (spec.size == 0) return Status::Invalid("size must be at least 1 byte");
  if (spec.size > max_bytes) {
    // InvalidArgument, not ResourceExhausted: this request can never succeed, and clients
    // retry on 429.
    return Status::Invalid("size " + std::to_string(spec.size) +
                           " exceeds the largest upload of " + std::to_string(max_bytes) +
                           " bytes (max_upload_bytes)");
  }
  if (spec.sha256.size() != 64 || !std::all_of(spec.sha256.begin(), spec.sha256.end(), isHex)) {
    return Status::Invalid("sha256 must be 64 hex digits");
  }
  return Status::Ok();
}

std::string normalizeSha256(std::string_view hex) {
  std::string lower(hex);
  for (char& c : lower) {
    if (c >= 'A' && c <= 'F') c = static_cast<char>(c - 'A' + 'a');
  }
  return lower;
}

Result<std::string> sha256OfFile(const std::filesystem::path& file) {
  FileDescriptor fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) {
    if (errno == ENOENT) return Status::NotFound("the file does not exist");
    return Status::Io(systemError("cannot open the file to hash it"));
  }
  crypto_hash_sha256_state state;
  crypto_hash_sha256_init(&state);
  std::vector<unsigned char> buffer(kHashChunk);
  for (;;) {
    ssize_t got = ::read(fd.get(), buffer.data(), buffer.size());
    if (got < 0) {
      if (errno == EINTR) continue;
      return Status::Io(systemError("cannot read the file to hash it"));
    }
    if (got == 0) break;
    crypto_hash_sha256_update(&state, buffer.data(), static_cast<unsigned long long>(got));
  }
  std::array<unsigned char, crypto_hash_sha256_BYTES> digest{};
  crypto_hash_sha256_final(&state, digest.data());
  std::array<char, crypto_hash_sha256_BYTES * 2 + 1> hex{};
  sodium_bin2hex(hex.data(), hex.size(), digest.data(), digest.size());
  return std::string(hex.data());
}

// --- UploadLock ------------------------------------------------------------------------------

UploadLock::UploadLock(UploadStaging* staging, std::string upload_id,
                       std::shared_ptr<std::mutex> mutex)
    : staging_(staging),
      upload_id_(std::move(upload_id)),
      mutex_(std::move(mutex)),
      hold_(*mutex_) {}

UploadLock::UploadLock(UploadLock&& other) noexcept
    : staging_(std::exchange(other.staging_, nullptr)),
      upload_id_(std::move(other.upload_id_)),
      mutex_(std::move(other.mutex_)),
      hold_(std::move(other.hold_)) {}

UploadLock& UploadLock::operator=(UploadLock&& other) noexcept {
  if (this != &other) {
    unlock();
    staging_ = std::exchange(other.staging_, nullptr);
    upload_id_ = std::move(other.upload_id_);
    mutex_ = std::move(other.mutex_);
    hold_ = std::move(other.hold_);
  }
  return *this;
}

UploadLock::~UploadLock() { unlock(); }

void UploadLock::unlock() {
  if (staging_ == nullptr) return;
  if (hold_.owns_lock()) hold_.unlock();
  staging_->release(upload_id_);
  staging_ = nullptr;
}

// --- UploadStaging ---------------------------------------------------------------------------

UploadStaging::UploadStaging(std::filesystem::path root) : root_(std::move(root)) {}

UploadLock UploadStaging::lock(std::string_view upload_id) {
  std::shared_ptr<std::mutex> mutex;
  {
    std::lock_guard guard(locks_mutex_);
    auto it = locks_.find(upload_id);
    if (it == locks_.end()) {
      it = locks_.emplace(std::string(upload_id), LockEntry{std::make_shared<std::mutex>(), 0})
               .first;
    }
    ++it->second.users;
    mutex = it->second.mutex;
  }
  return UploadLock(this, std::string(upload_id), std::move(mutex));  // blocks here
}

void UploadStaging::release(const std::string& upload_id) {
  std::lock_guard guard(locks_mutex_);
  auto it = locks_.find(upload_id);
  if (it != locks_.end() && --it->second.users == 0) locks_.erase(it);
}

std::filesystem::path UploadStaging::partPath(std::string_view upload_id,
                                              std::string_view part) const {
  return root_ / std::string(upload_id) / std::string(part);
}

Status UploadStaging::create(const UploadLock& upload, std::string_view part) {
  TENDRIL_RETURN_IF_ERROR(checkNames(upload.uploadId(), part));
  std::error_code error;
  std::filesystem::create_directories(root_ / upload.uploadId(), error);
  if (error) return Status::Io("cannot create the staging directory: " + error.message());
  FileDescriptor fd(::open(partPath(upload.uploadId(), part).c_str(),
                           O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!fd.valid()) return Status::Io(systemError("cannot create the staged part"));
  return syncDirectory(root_ / upload.uploadId());
}

Result<uint64_t> UploadStaging::received(std::string_view upload_id, std::string_view part) const {
  TENDRIL_RETURN_IF_ERROR(checkNames(upload_id, part));
  struct stat info {};
  if (::stat(partPath(upload_id, part).c_str(), &info) != 0) {
    if (errno == ENOENT) return Status::NotFound("no staged part " + std::string(part));
    return Status::Io(systemError("cannot stat the staged part"));
  }
  return static_cast<uint64_t>(info.st_size);
}

Result<uint64_t> UploadStaging::append(const UploadLock& upload, std::string_view part,
                                       const UploadSpec& spec, uint64_t offset,
                                       std::span<const uint8_t> bytes) {
  TENDRIL_RETURN_IF_ERROR(checkNames(upload.uploadId(), part));
  FileDescriptor fd(::open(partPath(upload.uploadId(), part).c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd.valid()) {
    if (errno == ENOENT) return Status::NotFound("no staged part " + std::string(part));
    return Status::Io(systemError("cannot open the staged part"));
  }
  Result<uint64_t> received = fileSize(fd.get());
  if (!received.ok()) return received.status();
  if (offset != *received) {
    return Status::Precondition("offset " + std::to_string(offset) + " does not match the " +
                                std::to_string(*received) + " bytes received; resume at offset " +
                                std::to_string(*received));
  }
  if (bytes.size() > spec.size || offset > spec.size - bytes.size()) {
    return Status::Invalid("the chunk ends at byte " + std::to_string(offset + bytes.size()) +
                           ", past the declared size of " + std::to_string(spec.size));
  }
  if (bytes.empty()) return *received;
  size_t written = 0;
  while (written < bytes.size()) {
    ssize_t wrote = ::pwrite(fd.get(), bytes.data() + written, bytes.size() - written,
                             static_cast<off_t>(offset + written));
    if (wrote < 0) {
      if (errno == EINTR) continue;
      std::string message = systemError("cannot write the staged part");
      // Keep `received` honest: drop what this chunk half wrote.
      (void)::ftruncate(fd.get(), static_cast<off_t>(offset));
      return Status::Io(message);
    }
    written += static_cast<size_t>(wrote);
  }
  if (::fdatasync(fd.get()) != 0) {
    std::string message = systemError("cannot flush the staged part");
    (void)::ftruncate(fd.get(), static_cast<off_t>(offset));
    return Status::Io(message);
  }
  return offset + bytes.size();
}

Status UploadStaging::verify(const UploadLock& upload, std::string_view part,
                             const UploadSpec& spec) const {
  Result<uint64_t> have = received(upload.uploadId(), part);
  if (!have.ok()) return have.status();
  if (*have != spec.size) {
    return Status::Precondition("part " + std::string(part) +
                                " is incomplete: " + std::to_string(*have) + " of " +
                                std::to_string(spec.size) + " bytes received");
  }
  Result<std::string> digest = sha256OfFile(partPath(upload.uploadId(), part));
  if (!digest.ok()) return digest.status();
  if (*digest != normalizeSha256(spec.sha256)) {
    return Status::Invalid("part " + std::string(part) + ": sha256 mismatch: declared " +
                           normalizeSha256(spec.sha256) + ", received " + *digest);
  }
  return Status::Ok();
}

Status UploadStaging::remove(const UploadLock& upload) {
  TENDRIL_RETURN_IF_ERROR(checkNames(upload.uploadId(), "part"));
  std::error_code error;
  std::filesystem::remove_all(root_ / upload.uploadId(), error);
  if (error) return Status::Io("cannot remove the staged upload: " + error.message());
  return Status::Ok();
}

Result<std::vector<std::string>> UploadStaging::uploadIds() const {
  std::vector<std::string> ids;
  std::error_code error;
  if (!std::filesystem::exists(root_, error)) return ids;
  for (std::filesystem::directory_iterator it(root_, error), end; !error && it != end;
       it.increment(error)) {
    if (it->is_directory(error)) ids.push_back(it->path().filename().string());
  }
  if (error) return Status::Io("cannot list the staging directory: " + error.message());
  return ids;
}

}  // namespace tendril::service
