#include "data/checkpoint_file.h"

#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>

#include "data/atomic_file.h"
#include "engine/test_support.h"
#include "engine/thread_pool.h"

namespace tendril::data {
namespace {

namespace fs = std::filesystem;

class CheckpointFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    directory_ = fs::temp_directory_path() /
                 ("tendril-ckpt-file-" + std::to_string(::getpid()) + "-" + info->name());
    fs::remove_all(directory_);
    ASSERT_TRUE(fs::create_directories(directory_));
  }
  void TearDown() override {
    std::error_code ignored;
    fs::remove_all(directory_, ignored);
  }

  // A cluster trained on a few samples of the band task.
  static std::unique_ptr<engine::Cluster> trainedCluster(uint32_t samples) {
    engine::Template tmpl = engine::testing::lineTemplate(8, 80, 2);
    tmpl.settings.enable_reduction = true;
    auto cluster = engine::testing::makeCluster(tmpl);
    for (const auto& s : engine::testing::bandTask(samples, 8, 2, 255.0f, 3)) {
      EXPECT_TRUE(cluster->train(s.inputs, s.expected).ok());
    }
    return cluster;
  }

  size_t entryCount() const {
    size_t count = 0;
    for ([[maybe_unused]] const auto& entry : fs::directory_iterator(directory_)) ++count;
    return count;
  }

  fs::path directory_;
};

TEST_F(CheckpointFileTest, SavedFileLoadsIntoTheSameCluster) {
  auto cluster = trainedCluster(250);
  const fs::path path = directory_ / "cluster.tckp";
  ASSERT_TRUE(saveCheckpointFile(*cluster, path).ok());
  Result<std::unique_ptr<engine::Cluster>> loaded = loadCheckpointFile(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status().toString();
  EXPECT_TRUE((*loaded)->sameStateAs(*cluster));
  // The file holds exactly the engine's stream.
  std::stringstream stream;
  ASSERT_TRUE(engine::writeCheckpoint(*cluster, stream).ok());
  Result<std::string> bytes = readFileBounded(path, 1u << 26);
  ASSERT_TRUE(bytes.ok());
  EXPECT_EQ(*bytes, stream.str());
  EXPECT_EQ(entryCount(), 1u);
}

TEST_F(CheckpointFileTest, LoadedClusterTrainsOnWithItsPool) {
  const auto samples = engine::testing::bandTask(300, 8, 2, 255.0f, 3);
  auto reference = trainedCluster(300);
  auto cluster = trainedCluster(150);
  const fs::path path = directory_ / "cluster.tckp";
  ASSERT_TRUE(saveCheckpointFile(*cluster, path).ok());
  engine::ThreadPool pool(2);
  Result<std::unique_ptr<engine::Cluster>> loaded = loadCheckpointFile(path, &pool);
  ASSERT_TRUE(loaded.ok()) << loaded.status().toString();
  for (size_t i = 150; i < samples.size(); ++i) {
    ASSERT_TRUE((*loaded)->train(samples[i].inputs, samples[i].expected).ok());
  }
  EXPECT_TRUE((*loaded)->sameStateAs(*reference));
}

TEST_F(CheckpointFileTest, SavingAgainReplacesTheFile) {
  const fs::path path = directory_ / "cluster.tckp";
  auto early = trainedCluster(50);
  auto later = trainedCluster(200);
  ASSERT_TRUE(saveCheckpointFile(*early, path).ok());
  ASSERT_TRUE(saveCheckpointFile(*later, path).ok());
  Result<std::unique_ptr<engine::Cluster>> loaded = loadCheckpointFile(path);
  ASSERT_TRUE(loaded.ok());
  EXPECT_TRUE((*loaded)->sameStateAs(*later));
  EXPECT_EQ(entryCount(), 1u);
}

TEST_F(CheckpointFileTest, FailedSaveKeepsThePreviousCheckpoint) {
  const fs::path path = directory_ / "cluster.tckp";
  auto early = trainedCluster(50);
  auto later = trainedCluster(200);
  ASSERT_TRUE(saveCheckpointFile(*early, path).ok());
  const uintmax_t size = fs::file_size(path);
  // The second save runs out of space (a file size limit) part way through.
  const pid_t pid = ::fork();
  if (pid == 0) {
    std::signal(SIGXFSZ, SIG_IGN);
    const rlimit limit{size / 2, size / 2};
    if (::setrlimit(RLIMIT_FSIZE, &limit) != 0) ::_exit(100);
    ::_exit(static_cast<int>(saveCheckpointFile(*later, path).code()));
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), static_cast<int>(Code::kIo));
  Result<std::unique_ptr<engine::Cluster>> loaded = loadCheckpointFile(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status().toString();
  EXPECT_TRUE((*loaded)->sameStateAs(*early));
  EXPECT_EQ(entryCount(), 1u);
}

TEST_F(CheckpointFileTest, MissingFileIsNotFound) {
  Result<std::unique_ptr<engine::Cluster>> loaded = loadCheckpointFile(directory_ / "none");
  EXPECT_EQ(loaded.status().code(), Code::kNotFound);
  EXPECT_NE(loaded.status().message().find("none"), std::string::npos);
}

TEST_F(CheckpointFileTest, DirectoryIsNotACheckpoint) {
  EXPECT_EQ(loadCheckpointFile(directory_).status().code(), Code::kInvalidArgument);
}

TEST_F(CheckpointFileTest, DamagedFileIsCorruptAndNamed) {
  auto cluster = trainedCluster(100);
  const fs::path path = directory_ / "cluster.tckp";
  ASSERT_TRUE(saveCheckpointFile(*cluster, path).ok());
  Result<std::string> bytes = readFileBounded(path, 1u << 26);
  ASSERT_TRUE(bytes.ok());
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << bytes->substr(0, bytes->size() - 7);
  }
  Result<std::unique_ptr<engine::Cluster>> loaded = loadCheckpointFile(path);
  EXPECT_EQ(loaded.status().code(), Code::kCorrupt);
  EXPECT_EQ(loaded.status().message().rfind(path.string() + ": ", 0), 0u)
      << loaded.status().message();
  EXPECT_NE(loaded.status().message().find("truncated"), std::string::npos);
}

}  // namespace
}  // namespace tendril::data
