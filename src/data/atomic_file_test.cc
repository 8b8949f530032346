#include "data/atomic_file.h"

#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <fstream>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

namespace tendril::data {
namespace {

namespace fs = std::filesystem;

// A fresh directory per test, removed afterwards.
class AtomicFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    directory_ = fs::temp_directory_path() /
                 ("tendril-atomic-" + std::to_string(::getpid()) + "-" + info->name());
    fs::remove_all(directory_);
    ASSERT_TRUE(fs::create_directories(directory_));
    fs::permissions(directory_, fs::perms::owner_all | fs::perms::group_read |
                                    fs::perms::group_exec | fs::perms::others_read |
                                    fs::perms::others_exec);
  }
  void TearDown() override {
    std::error_code ignored;
    fs::permissions(directory_, fs::perms::owner_all, fs::perm_options::add, ignored);
    fs::remove_all(directory_, ignored);
  }

  // Names in the directory, so a test can see that no temporary file is left behind.
  std::vector<std::string> entries() const {
    std::vector<std::string> names;
    for (const auto& entry : fs::directory_iterator(directory_)) {
      names.push_back(entry.path().filename().string());
    }
    std::sort(names.begin(), names.end());
    return names;
  }

  static std::string contents(const fs::path& path) {
    Result<std::string> bytes = readFileBounded(path, 1u << 30);
    EXPECT_TRUE(bytes.ok()) << bytes.status().toString();
    return bytes.ok() ? *bytes : std::string();
  }

  static void put(const fs::path& path, const std::string& bytes) {
    std::ofstream out(path, std::ios::binary);
    out << bytes;
  }

  static std::function<Status(std::ostream&)> writing(std::string bytes) {
    return [bytes = std::move(bytes)](std::ostream& out) {
      out << bytes;
      return Status::Ok();
    };
  }

  fs::path directory_;
};

// Runs `fn` in a child process and returns its exit code (-1 when it did not exit normally).
// The child exits with _exit, so no test state of the parent is touched twice.
int exitCodeInChild(const std::function<int()>& fn) {
  const pid_t pid = ::fork();
  if (pid == 0) ::_exit(fn());
  int status = 0;
  if (pid < 0 || ::waitpid(pid, &status, 0) != pid) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST_F(AtomicFileTest, WritesANewFile) {
  const fs::path path = directory_ / "model.ckpt";
  ASSERT_TRUE(writeFileAtomically(path, writing("hello, disk")).ok());
  EXPECT_EQ(contents(path), "hello, disk");
  EXPECT_EQ(entries(), std::vector<std::string>{"model.ckpt"});
  // Mode 0644 less the umask.
  const mode_t mask = ::umask(0);
  ::umask(mask);
  EXPECT_EQ(static_cast<mode_t>(fs::status(path).permissions()), 0644 & ~mask);
}

TEST_F(AtomicFileTest, ReplacesAnExistingFile) {
  const fs::path path = directory_ / "model.ckpt";
  put(path, std::string(10000, 'o'));
  ASSERT_TRUE(writeFileAtomically(path, writing("new")).ok());
  EXPECT_EQ(contents(path), "new");
  EXPECT_EQ(entries(), std::vector<std::string>{"model.ckpt"});
}

TEST_F(AtomicFileTest, WritesLargeContentThroughSmallAndLargePieces) {
  const fs::path path = directory_ / "big";
  std::string expected;
  for (int i = 0; i < 200000; ++i) expected += static_cast<char>('a' + i % 26);
  const std::string block(3u << 20, 'z');  // larger than the stream's buffer: written directly
  expected += block;
  ASSERT_TRUE(writeFileAtomically(path, [&](std::ostream& out) {
                for (int i = 0; i < 200000; ++i) out.put(static_cast<char>('a' + i % 26));
                out.write(block.data(), static_cast<std::streamsize>(block.size()));
                return Status::Ok();
              }).ok());
  EXPECT_EQ(contents(path), expected);
}

TEST_F(AtomicFileTest, RelativePathInTheWorkingDirectory) {
  const fs::path previous = fs::current_path();
  fs::current_path(directory_);
  const Status status = writeFileAtomically("plain-name", writing("x"));
  fs::current_path(previous);
  ASSERT_TRUE(status.ok()) << status.toString();
  EXPECT_EQ(contents(directory_ / "plain-name"), "x");
  EXPECT_EQ(entries(), std::vector<std::string>{"plain-name"});
}

TEST_F(AtomicFileTest, FailingWriterLeavesTheOldFileIntact) {
  const fs::path path = directory_ / "model.ckpt";
  put(path, "old checkpoint");
  const Status status = writeFileAtomically(path, [](std::ostream& out) {
    out << std::string(200000, 'n');  // more than one buffer: some of it reached the disk
    return Status::Io("the engine gave up halfway");
  });
  EXPECT_EQ(status.code(), Code::kIo);
  EXPECT_EQ(status.message(), "the engine gave up halfway");
  EXPECT_EQ(contents(path), "old checkpoint");
  EXPECT_EQ(entries(), std::vector<std::string>{"model.ckpt"});
}

TEST_F(AtomicFileTest, ThrowingWriterLeavesTheOldFileIntactAndThrowsNothing) {
  const fs::path path = directory_ / "model.ckpt";
  put(path, "old checkpoint");
  Status status;
  EXPECT_NO_THROW(status = writeFileAtomically(path, [](std::ostream& out) -> Status {
                    out << "partial";
                    throw std::runtime_error("boom");
                  }));
  EXPECT_EQ(status.code(), Code::kInternal);
  EXPECT_NE(status.message().find("boom"), std::string::npos) << status.message();
  EXPECT_NO_THROW(status = writeFileAtomically(path, [](std::ostream&) -> Status {
                    throw 42;  // not even a std::exception
                  }));
  EXPECT_EQ(status.code(), Code::kInternal);
  EXPECT_EQ(contents(path), "old checkpoint");
  EXPECT_EQ(entries(), std::vector<std::string>{"model.ckpt"});
}

TEST_F(AtomicFileTest, BrokenStreamGivesIoEvenWhenTheWriterSaysOk) {
  const fs::path path = directory_ / "model.ckpt";
  put(path, "old checkpoint");
  const Status status = writeFileAtomically(path, [](std::ostream& out) {
    out << "partial";
    out.setstate(std::ios::badbit);
    return Status::Ok();
  });
  EXPECT_EQ(status.code(), Code::kIo);
  EXPECT_EQ(contents(path), "old checkpoint");
  EXPECT_EQ(entries(), std::vector<std::string>{"model.ckpt"});
}

TEST_F(AtomicFileTest, FullDiskGivesIoAndKeepsTheOldFile) {
  const fs::path path = directory_ / "model.ckpt";
  put(path, "old checkpoint");
  // A file size limit makes write() fail with EFBIG as a full disk fails with ENOSPC.
  const int code = exitCodeInChild([&] {
    std::signal(SIGXFSZ, SIG_IGN);
    const rlimit limit{4096, 4096};
    if (::setrlimit(RLIMIT_FSIZE, &limit) != 0) return 100;
    return static_cast<int>(writeFileAtomically(path, writing(std::string(1u << 20, 'n'))).code());
  });
  EXPECT_EQ(code, static_cast<int>(Code::kIo));
  EXPECT_EQ(contents(path), "old checkpoint");
  EXPECT_EQ(entries(), std::vector<std::string>{"model.ckpt"});
}

TEST_F(AtomicFileTest, UnwritableDirectoryGivesIo) {
  const fs::path path = directory_ / "model.ckpt";
  put(path, "old checkpoint");
  fs::permissions(directory_,
                  fs::perms::owner_write | fs::perms::group_write | fs::perms::others_write,
                  fs::perm_options::remove);
  // Root ignores directory permissions, so as root the write runs as "nobody".
  const int code = exitCodeInChild([&] {
    if (::geteuid() == 0 && (::setgid(65534) != 0 || ::setuid(65534) != 0)) return 100;
    const Status status = writeFileAtomically(path, writing("new"));
    if (status.message().find(directory_.string()) == std::string::npos) return 101;
    return static_cast<int>(status.code());
  });
  EXPECT_EQ(code, static_cast<int>(Code::kIo)) << "100: could not drop privileges; 101: the "
                                                  "message does not name the directory";
  EXPECT_EQ(contents(path), "old checkpoint");
  EXPECT_EQ(entries(), std::vector<std::string>{"model.ckpt"});
}

TEST_F(AtomicFileTest, MissingDirectoryGivesIo) {
  const Status status = writeFileAtomically(directory_ / "no" / "such" / "dir" / "f", writing("x"));
  EXPECT_EQ(status.code(), Code::kIo);
  EXPECT_NE(status.message().find("No such file"), std::string::npos) << status.message();
}

TEST_F(AtomicFileTest, DirectoryThatIsAFileGivesIo) {
  put(directory_ / "plain", "x");
  EXPECT_EQ(writeFileAtomically(directory_ / "plain" / "f", writing("x")).code(), Code::kIo);
  EXPECT_EQ(entries(), std::vector<std::string>{"plain"});
}

TEST_F(AtomicFileTest, TargetThatIsADirectoryGivesIoAndNoTemporaryFile) {
  fs::create_directory(directory_ / "taken");
  put(directory_ / "taken" / "inside", "x");
  EXPECT_EQ(writeFileAtomically(directory_ / "taken", writing("x")).code(), Code::kIo);
  EXPECT_EQ(entries(), std::vector<std::string>{"taken"});
}

TEST_F(AtomicFileTest, PathWithoutAFileNameIsInvalid) {
  EXPECT_EQ(writeFileAtomically(directory_.string() + "/", writing("x")).code(),
            Code::kInvalidArgument);
  EXPECT_TRUE(entries().empty());
}

TEST_F(AtomicFileTest, LongFileNamesStillGetATemporaryFile) {
  const fs::path path = directory_ / std::string(250, 'n');
  ASSERT_TRUE(writeFileAtomically(path, writing("long")).ok());
  EXPECT_EQ(contents(path), "long");
  EXPECT_EQ(entries().size(), 1u);
}

TEST_F(AtomicFileTest, ReadFileBoundedReadsUpToTheLimit) {
  const fs::path path = directory_ / "data";
  put(path, "0123456789");
  Result<std::string> bytes = readFileBounded(path, 10);
  ASSERT_TRUE(bytes.ok());
  EXPECT_EQ(*bytes, "0123456789");
  Result<std::string> too_large = readFileBounded(path, 9);
  EXPECT_EQ(too_large.status().code(), Code::kResourceExhausted);
  EXPECT_NE(too_large.status().message().find(path.string()), std::string::npos);
  put(directory_ / "empty", "");
  Result<std::string> empty = readFileBounded(directory_ / "empty", 0);
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
}

TEST_F(AtomicFileTest, ReadFileBoundedBoundsStreamsWithoutASize) {
  // A pipe has no size up front: the bound applies to what is read.
  int pipe_fds[2];
  ASSERT_EQ(::pipe(pipe_fds), 0);
  const std::string chunk(1000, 'p');
  for (int i = 0; i < 10; ++i) {
    ASSERT_EQ(::write(pipe_fds[1], chunk.data(), chunk.size()), static_cast<ssize_t>(chunk.size()));
  }
  ::close(pipe_fds[1]);
  const fs::path path = "/proc/self/fd/" + std::to_string(pipe_fds[0]);
  Result<std::string> bytes = readFileBounded(path, 5000);
  ::close(pipe_fds[0]);
  EXPECT_EQ(bytes.status().code(), Code::kResourceExhausted);
}

TEST_F(AtomicFileTest, ReadFileBoundedReportsMissingAndUnreadableFiles) {
  EXPECT_EQ(readFileBounded(directory_ / "missing", 100).status().code(), Code::kNotFound);
  EXPECT_EQ(readFileBounded(directory_, 100).status().code(), Code::kIo);  // a directory
}

}  // namespace
}  // namespace tendril::data
