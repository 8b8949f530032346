#include "data/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <exception>
#include <ios>
#include <new>
#include <streambuf>
#include <vector>

namespace tendril::data {
namespace {

constexpr size_t kBufferBytes = size_t{1} << 16;
constexpr size_t kReadPieceBytes = size_t{1} << 16;
constexpr int kCreateAttempts = 16;
constexpr size_t kMaxNameInTempName = 96;  // keeps temporary names below NAME_MAX

std::string systemError(int error) { return std::strerror(error); }

Status ioError(const std::filesystem::path& path, const std::string& what, int error) {
  return Status::Io(path.string() + ": " + what + ": " + systemError(error));
}

// Writes all of `size` bytes, retrying after signals and short writes. Returns 0 or an errno.
int writeAll(int fd, const char* data, size_t size) {
  while (size > 0) {
    const ssize_t written = ::write(fd, data, size);
    if (written < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    data += written;
    size -= static_cast<size_t>(written);
  }
  return 0;
}

// A buffered output stream buffer over a file descriptor. The first failed write is kept
// (error()) and makes every later one fail too, so a stream never skips a hole silently.
class FdWriteBuffer final : public std::streambuf {
 public:
  explicit FdWriteBuffer(int fd) : fd_(fd), buffer_(kBufferBytes) {
    setp(buffer_.data(), buffer_.data() + buffer_.size());
  }
  int error() const { return error_; }

 protected:
  int_type overflow(int_type c) override {
    if (!flushBuffer()) return traits_type::eof();
    if (!traits_type::eq_int_type(c, traits_type::eof())) {
      *pptr() = traits_type::to_char_type(c);
      pbump(1);
    }
    return traits_type::not_eof(c);
  }

  std::streamsize xsputn(const char* data, std::streamsize count) override {
    if (count < static_cast<std::streamsize>(buffer_.size())) {
      return std::streambuf::xsputn(data, count);
    }
    // Large pieces (a block of synapses) go straight to the file.
    if (!flushBuffer() || !put(data, static_cast<size_t>(count))) return 0;
    return count;
  }

  int sync() override { return flushBuffer() ? 0 : -1; }

 private:
  bool put(const char* data, size_t size) {
    if (error_ == 0) error_ = writeAll(fd_, data, size);
    return error_ == 0;
  }
  bool flushBuffer() {
    const bool ok = put(pbase(), static_cast<size_t>(pptr() - pbase()));
    setp(buffer_.data(), buffer_.data() + buffer_.size());
    return ok;
  }

  int fd_;
  std::vector<char> buffer_;
  int error_ = 0;
};

// The temporary file of one write: removed on destruction unless it was renamed into place.
class TempFile {
 public:
  TempFile() = default;
  ~TempFile() {
    closeQuietly();
    if (!path_.empty() && !renamed_) ::unlink(path_.c_str());
  }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;

  // Creates a new file with a name no other writer uses.
  Status create(const std::filesystem::path& target) {
    static std::atomic<uint64_t> sequence{0};
    const std::filesystem::path directory = directoryOf(target);
    const std::string name = target.filename().string().substr(0, kMaxNameInTempName);
    for (int attempt = 0; attempt < kCreateAttempts; ++attempt) {
      // The clock and the counter make names differ between attempts and between processes
      // that reuse a pid; O_EXCL makes a clash harmless.
      const auto ticks =
          static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
      const std::string suffix = ".tmp-" + std::to_string(::getpid()) + "-" +
                                 std::to_string(sequence.fetch_add(1)) + "-" +
                                 std::to_string(ticks % 1000000007u);
      std::filesystem::path candidate = directory / ("." + name + suffix);
      const int fd = ::open(candidate.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
      if (fd >= 0) {
        fd_ = fd;
        path_ = std::move(candidate);
        return Status::Ok();
      }
      if (errno != EEXIST && errno != EINTR) {
        return ioError(directory, "cannot create a temporary file", errno);
      }
    }
    return Status::Io(directory.string() +
                      ": cannot create a temporary file: every name tried "
                      "exists");
  }

  int fd() const { return fd_; }
  const std::filesystem::path& path() const { return path_; }

  Status syncAndClose() {
    if (::fsync(fd_) != 0) return ioError(path_, "fsync failed", errno);
    const int fd = fd_;
    fd_ = -1;
    // After a failed close the descriptor is gone all the same; retrying could close another.
    if (::close(fd) != 0) return ioError(path_, "close failed", errno);
    return Status::Ok();
  }

  Status renameTo(const std::filesystem::path& target) {
    if (::rename(path_.c_str(), target.c_str()) != 0) {
      return ioError(target, "cannot rename the temporary file over it", errno);
    }
    renamed_ = true;
    return Status::Ok();
  }

  static std::filesystem::path directoryOf(const std::filesystem::path& target) {
    std::filesystem::path directory = target.parent_path();
    return directory.empty() ? std::filesystem::path(".") : directory;
  }

 private:
  void closeQuietly() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

  int fd_ = -1;
  std::filesystem::path path_;
  bool renamed_ = false;
};

// Makes a rename in `directory` durable. File systems that cannot sync a directory say EINVAL;
// there is nothing more to do on those.
Status syncDirectory(const std::filesystem::path& directory) {
  const int fd = ::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ioError(directory, "cannot open the directory to sync it", errno);
  const int rc = ::fsync(fd);
  const int error = errno;
  ::close(fd);
  if (rc != 0 && error != EINVAL) return ioError(directory, "directory fsync failed", error);
  return Status::Ok();
}

// Runs the caller's writer; an exception becomes a Status here, while the temporary file is
// still owned by a TempFile that removes it.
Status runWriter(const std::function<Status(std::ostream&)>& write, std::ostream& out,
                 const std::filesystem::path& path) {
  try {
    return write(out);
  } catch (const std::bad_alloc&) {
    return Status::Exhausted(path.string() + ": out of memory while writing");
  } catch (const std::ios_base::failure& error) {
    // A writer that turned on stream exceptions: the stream failed, as a full disk makes it.
    return Status::Io(path.string() + ": writing failed: " + error.what());
  } catch (const std::exception& error) {
    return Status(Code::kInternal, path.string() + ": the writer threw: " + error.what());
  } catch (...) {
    return Status(Code::kInternal, path.string() + ": the writer threw");
  }
}

Status writeAtomically(const std::filesystem::path& path,
                       const std::function<Status(std::ostream&)>& write) {
  if (!path.has_filename()) return Status::Invalid(path.string() + ": names no file");
  TempFile temp;
  TENDRIL_RETURN_IF_ERROR(temp.create(path));
  {
    FdWriteBuffer buffer(temp.fd());
    std::ostream out(&buffer);
    TENDRIL_RETURN_IF_ERROR(runWriter(write, out, path));
    out.flush();
    if (buffer.error() != 0) return ioError(temp.path(), "write failed", buffer.error());
    if (!out) return Status::Io(temp.path().string() + ": the output stream failed");
  }
  TENDRIL_RETURN_IF_ERROR(temp.syncAndClose());
  TENDRIL_RETURN_IF_ERROR(temp.renameTo(path));
  return syncDirectory(TempFile::directoryOf(path));
}

}  // namespace

Status writeFileAtomically(const std::filesystem::path& path,
                           const std::function<Status(std::ostream&)>& write) {
  try {
    return writeAtomically(path, write);
  } catch (const std::bad_alloc&) {
    return Status::Exhausted(path.string() + ": out of memory while writing");
  } catch (const std::exception& error) {
    return Status(Code::kInternal, path.string() + ": " + error.what());
  }
}

Result<std::string> readFileBounded(const std::filesystem::path& path, uint64_t max_bytes) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return Status::NotFound(path.string() + ": no such file");
    return ioError(path, "cannot open", errno);
  }
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  auto tooLarge = [&] {
    return Status::Exhausted(path.string() + ": larger than the limit of " +
                             std::to_string(max_bytes) + " bytes");
  };
  try {
    std::string bytes;
    struct stat info {};
    if (::fstat(fd, &info) == 0 && S_ISREG(info.st_mode)) {
      if (static_cast<uint64_t>(info.st_size) > max_bytes) return tooLarge();
      bytes.reserve(static_cast<size_t>(info.st_size));
    }
    std::vector<char> piece(kReadPieceBytes);
    for (;;) {
      const ssize_t got = ::read(fd, piece.data(), piece.size());
      if (got < 0) {
        if (errno == EINTR) continue;
        return ioError(path, "read failed", errno);
      }
      if (got == 0) break;
      if (bytes.size() + static_cast<uint64_t>(got) > max_bytes) return tooLarge();
      bytes.append(piece.data(), static_cast<size_t>(got));
    }
    return bytes;
  } catch (const std::bad_alloc&) {
    return Status::Exhausted(path.string() + ": out of memory while reading");
  }
}

}  // namespace tendril::data
