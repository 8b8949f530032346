#include "service/uploads.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "common/status_testing.h"
#include "service/credentials.h"

namespace tendril::service {
namespace {

std::span<const uint8_t> bytesOf(std::string_view text) {
  return {reinterpret_cast<const uint8_t*>(text.data()), text.size()};
}

class UploadsTest : public testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK(initCredentials());
    root_ = std::filesystem::temp_directory_path() /
            ("tendril-uploads-" + std::to_string(::getpid()) + "-" +
             testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(root_);
  }
  void TearDown() override { std::filesystem::remove_all(root_); }

  // A declaration of `content`.
  static UploadSpec specOf(std::string_view content) {
    return {content.size(), sha256Hex(content)};
  }

  std::filesystem::path root_;
};

TEST_F(UploadsTest, SpecChecks) {
  const std::string digest(64, 'a');
  EXPECT_OK(checkUploadSpec({10, digest}, 10));
  EXPECT_OK(checkUploadSpec({10, std::string(64, 'F')}, 10));
  EXPECT_TRUE(failsWith(checkUploadSpec({0, digest}, 10), Code::kInvalidArgument, "at least 1"));
  EXPECT_TRUE(failsWith(checkUploadSpec({11, digest}, 10), Code::kInvalidArgument,
                        "size 11 exceeds the largest upload of 10 bytes"));
  EXPECT_TRUE(
      failsWith(checkUploadSpec({10, std::string(63, 'a')}, 10), Code::kInvalidArgument, "64 hex"));
  EXPECT_TRUE(
      failsWith(checkUploadSpec({10, std::string(64, 'g')}, 10), Code::kInvalidArgument, "64 hex"));
  EXPECT_EQ(normalizeSha256("ABCdef"), "abcdef");
}

TEST_F(UploadsTest, FileDigestMatchesTheKnownVectorAndTheInMemoryHash) {
  std::filesystem::create_directories(root_);
  std::ofstream(root_ / "abc") << "abc";
  ASSERT_OK_AND_ASSIGN(std::string abc, sha256OfFile(root_ / "abc"));
  EXPECT_EQ(abc, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  // Larger than one read piece, so the streaming path is exercised.
  std::string big(3 * (1 << 20) + 17, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 31 + i / 977);
  std::ofstream(root_ / "big", std::ios::binary) << big;
  ASSERT_OK_AND_ASSIGN(std::string digest, sha256OfFile(root_ / "big"));
  EXPECT_EQ(digest, sha256Hex(big));
  EXPECT_EQ(sha256OfFile(root_ / "missing").status().code(), Code::kNotFound);
}

TEST_F(UploadsTest, AppendsInOrderThenVerifies) {
  UploadStaging staging(root_);
  const std::string content = "hello, staged world";
  const UploadSpec spec = specOf(content);
  UploadLock upload = staging.lock("u1");
  ASSERT_OK(staging.create(upload, "data"));
  ASSERT_OK_AND_ASSIGN(uint64_t received, staging.received("u1", "data"));
  EXPECT_EQ(received, 0u);
  ASSERT_OK_AND_ASSIGN(received,
                       staging.append(upload, "data", spec, 0, bytesOf(content.substr(0, 5))));
  EXPECT_EQ(received, 5u);
  EXPECT_TRUE(failsWith(staging.verify(upload, "data", spec), Code::kFailedPrecondition,
                        "part data is incomplete: 5 of 19 bytes received"));
  ASSERT_OK_AND_ASSIGN(received, staging.append(upload, "data", spec, 5, {}));
  EXPECT_EQ(received, 5u);
  ASSERT_OK_AND_ASSIGN(received,
                       staging.append(upload, "data", spec, 5, bytesOf(content.substr(5))));
  EXPECT_EQ(received, content.size());
  EXPECT_OK(staging.verify(upload, "data", spec));
  std::ifstream in(staging.partPath("u1", "data"), std::ios::binary);
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(in), {}), content);
}

TEST_F(UploadsTest, WrongOffsetIsRefusedAndNamesTheResumePoint) {
  UploadStaging staging(root_);
  const std::string content = "0123456789";
  UploadLock upload = staging.lock("u1");
  ASSERT_OK(staging.create(upload, "data"));
  ASSERT_OK(staging.append(upload, "data", specOf(content), 0, bytesOf("0123")).status());
  for (uint64_t offset : {0u, 3u, 5u, 100u}) {
    EXPECT_TRUE(
        failsWith(staging.append(upload, "data", specOf(content), offset, bytesOf("x")).status(),
                  Code::kFailedPrecondition, "resume at offset 4"))
        << offset;
  }
  ASSERT_OK_AND_ASSIGN(uint64_t received, staging.received("u1", "data"));
  EXPECT_EQ(received, 4u);
}

TEST_F(UploadsTest, NothingIsWrittenPastTheDeclaredSize) {
  UploadStaging staging(root_);
  const std::string content = "0123456789";
  UploadLock upload = staging.lock("u1");
  ASSERT_OK(staging.create(upload, "data"));
  ASSERT_OK(staging.append(upload, "data", specOf(content), 0, bytesOf("01234567")).status());
  EXPECT_TRUE(failsWith(staging.append(upload, "data", specOf(content), 8, bytesOf("890")).status(),
                        Code::kInvalidArgument,
                        "the chunk ends at byte 11, past the declared size of 10"));
  ASSERT_OK_AND_ASSIGN(uint64_t received, staging.received("u1", "data"));
  EXPECT_EQ(received, 8u);
  ASSERT_OK(staging.append(upload, "data", specOf(content), 8, bytesOf("89")).status());
  EXPECT_TRUE(failsWith(staging.append(upload, "data", specOf(content), 10, bytesOf("x")).status(),
                        Code::kInvalidArgument, "past the declared size"));
  EXPECT_OK(staging.verify(upload, "data", specOf(content)));
}

TEST_F(UploadsTest, ReceivedSurvivesARestart) {
  const std::string content = "resumable content";
  {
    UploadStaging staging(root_);
    UploadLock upload = staging.lock("u1");
    ASSERT_OK(staging.create(upload, "data"));
    ASSERT_OK(
        staging.append(upload, "data", specOf(content), 0, bytesOf(content.substr(0, 9))).status());
  }
  UploadStaging restarted(root_);  // a new process: only the disk is left
  ASSERT_OK_AND_ASSIGN(uint64_t received, restarted.received("u1", "data"));
  EXPECT_EQ(received, 9u);
  UploadLock upload = restarted.lock("u1");
  ASSERT_OK(restarted.append(upload, "data", specOf(content), received, bytesOf(content.substr(9)))
                .status());
  EXPECT_OK(restarted.verify(upload, "data", specOf(content)));
  ASSERT_OK_AND_ASSIGN(std::vector<std::string> ids, restarted.uploadIds());
  EXPECT_EQ(ids, std::vector<std::string>{"u1"});
}

TEST_F(UploadsTest, ShaMismatchNamesBothDigests) {
  UploadStaging staging(root_);
  const std::string content = "the real bytes";
  UploadSpec spec = specOf("the fake bytes");
  UploadLock upload = staging.lock("u1");
  ASSERT_OK(staging.create(upload, "data"));
  ASSERT_OK(staging.append(upload, "data", spec, 0, bytesOf(content)).status());
  EXPECT_TRUE(failsWith(
      staging.verify(upload, "data", spec), Code::kInvalidArgument,
      "part data: sha256 mismatch: declared " + spec.sha256 + ", received " + sha256Hex(content)));
  // An upper-case declaration of the right digest passes.
  UploadSpec upper = specOf(content);
  for (char& c : upper.sha256) c = static_cast<char>(std::toupper(c));
  EXPECT_OK(staging.verify(upload, "data", upper));
}

TEST_F(UploadsTest, ConcurrentAppendsAtTheSameOffsetAreSerialised) {
  UploadStaging staging(root_);
  const std::string content(8 * 4096, 'z');
  const UploadSpec spec = specOf(content);
  {
    UploadLock upload = staging.lock("u1");
    ASSERT_OK(staging.create(upload, "data"));
  }
  // Every thread sends the same first chunk: exactly one may land, the others see the offset
  // moved on. Then every thread keeps appending at whatever it believes `received` is.
  std::atomic<int> first_accepted{0};
  std::atomic<int> refused{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      {
        UploadLock upload = staging.lock("u1");
        Result<uint64_t> got =
            staging.append(upload, "data", spec, 0, bytesOf(content.substr(0, 4096)));
        (got.ok() ? first_accepted : refused)++;
      }
      for (int i = 0; i < 20; ++i) {
        Result<uint64_t> received = staging.received("u1", "data");
        if (!received.ok() || *received >= content.size()) break;
        UploadLock upload = staging.lock("u1");
        (void)staging.append(upload, "data", spec, *received, bytesOf(content.substr(0, 4096)));
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(first_accepted.load(), 1);
  EXPECT_EQ(refused.load(), 7);
  UploadLock upload = staging.lock("u1");
  EXPECT_OK(staging.verify(upload, "data", spec));
}

TEST_F(UploadsTest, NamesCannotEscapeTheStagingDirectory) {
  UploadStaging staging(root_);
  UploadLock upload = staging.lock("u1");
  EXPECT_TRUE(failsWith(staging.create(upload, "../escape"), Code::kInvalidArgument, "part name"));
  EXPECT_TRUE(failsWith(staging.create(upload, ".."), Code::kInvalidArgument, "part name"));
  EXPECT_TRUE(failsWith(staging.create(upload, ""), Code::kInvalidArgument, "part name"));
  UploadLock bad = staging.lock("../u2");
  EXPECT_TRUE(failsWith(staging.create(bad, "data"), Code::kInvalidArgument, "upload id"));
  EXPECT_TRUE(failsWith(staging.remove(bad), Code::kInvalidArgument, "upload id"));
  EXPECT_FALSE(std::filesystem::exists(root_.parent_path() / "escape"));
}

TEST_F(UploadsTest, RemoveDeletesEverything) {
  UploadStaging staging(root_);
  UploadLock upload = staging.lock("u1");
  ASSERT_OK(staging.create(upload, "a"));
  ASSERT_OK(staging.create(upload, "b"));
  ASSERT_OK(staging.remove(upload));
  EXPECT_EQ(staging.received("u1", "a").status().code(), Code::kNotFound);
  EXPECT_EQ(staging.append(upload, "a", {1, std::string(64, '0')}, 0, bytesOf("x")).status().code(),
            Code::kNotFound);
  EXPECT_OK(staging.remove(upload));  // idempotent
  ASSERT_OK_AND_ASSIGN(std::vector<std::string> ids, staging.uploadIds());
  EXPECT_TRUE(ids.empty());
}

}  // namespace
}  // namespace tendril::service
