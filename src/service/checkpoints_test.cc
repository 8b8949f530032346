// CheckpointService against a real in-memory store, a temporary data directory and the real
// scheduler and task service: save and restore as tasks, template checks, uploads with full
// validation, autosave, startup recovery after a "restart" (new service objects over the same
// store and directory), and visibility.
#include "service/checkpoints.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <span>
#include <string>

#include "service/clusters_test_support.h"

namespace tendril::service {
namespace {

using testing_support::ClusterWorldTest;
using testing_support::kLineTemplateJson;
using testing_support::kWideTemplate;

class CheckpointsTest : public ClusterWorldTest {
 protected:
  // Uploads `bytes` as a new checkpoint (declared with their own digest) in two chunks.
  store::Resource upload(const Principal& caller, const std::string& name,
                         const std::string& bytes) {
    store::Resource row =
        make(world_->checkpoints.beginUpload(caller, name, bytes.size(), sha256Hex(bytes)));
    EXPECT_EQ(row.state, kCheckpointUploading);
    const size_t half = bytes.size() / 2;
    EXPECT_EQ(make(world_->checkpoints.appendUpload(caller, row.id, 0, asBytes(bytes, 0, half)))
                  .received,
              half);
    CheckpointUploadProgress done = make(world_->checkpoints.appendUpload(
        caller, row.id, half, asBytes(bytes, half, bytes.size() - half)));
    EXPECT_EQ(done.received, bytes.size());
    EXPECT_EQ(done.size, bytes.size());
    return row;
  }

  static std::span<const uint8_t> asBytes(const std::string& bytes, size_t offset, size_t size) {
    return {reinterpret_cast<const uint8_t*>(bytes.data()) + offset, size};
  }

  static void writeFile(const std::filesystem::path& file, const std::string& bytes) {
    std::ofstream out(file, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  }

  std::vector<store::Resource> checkpointsOf(const std::string& cluster_id) {
    return make(checkpointsOfCluster(*store_, cluster_id));
  }

  // No message may show where the data lives.
  void expectNoPath(const Status& status) {
    EXPECT_EQ(status.message().find(data_dir_.string()), std::string::npos) << status.message();
  }
};

TEST_F(CheckpointsTest, SaveThenRestoreGivesTheSavedStateBack) {
  Trained trained = trainedCluster(bob_, "digits", 20);
  const ClusterView& cluster = trained.view;
  LiveCluster* held = trained.live.get();
  const engine::Cluster& at_20 = *trained.state;

  store::Resource saved = saveNow(bob_, cluster.row.id, "after-20");
  EXPECT_EQ(saved.state, kCheckpointReady);
  EXPECT_EQ(saved.parent_id, cluster.row.id);
  EXPECT_EQ(attr(saved, "kind"), kCheckpointManual);
  EXPECT_EQ(attr(saved, "samples_trained"), "20");
  EXPECT_EQ(attr(saved, "synapses"), std::to_string(at_20.stats().synapses));
  EXPECT_EQ(attr(saved, "template_sha256"), attr(cluster.row, "template_sha256"));
  EXPECT_EQ(static_cast<uintmax_t>(saved.bytes),
            std::filesystem::file_size(checkpointFile(saved.id)));
  ClusterView seen = make(world_->clusters.view(bob_, cluster.row.id));
  ASSERT_TRUE(seen.last_checkpoint);
  EXPECT_EQ(seen.last_checkpoint->id, saved.id);

  train(*held, 10, 20);
  EXPECT_FALSE(sameState(*held, at_20));
  store::Resource task = make(world_->checkpoints.restore(bob_, cluster.row.id, saved.id));
  EXPECT_EQ(attr(task, "type"), kTaskRestore);
  EXPECT_EQ(task.ref_id, saved.id);
  EXPECT_EQ(waitTask(bob_, task.id).state, kTaskFinished);
  EXPECT_TRUE(sameState(*held, at_20));
  EXPECT_EQ(make(world_->clusters.view(bob_, cluster.row.id)).stats.cycles_trained, 20u);

  // Training goes on from there exactly as it would have without the detour.
  train(*held, 10, 20);
  ClusterView twin = createCluster(bob_, "twin");
  std::shared_ptr<LiveCluster> straight = live(bob_, twin.row.id);
  train(*straight, 30);
  EXPECT_TRUE(sameState(*held, *copyOf(*straight)));
}

TEST_F(CheckpointsTest, RestoreWorksAcrossClustersOfTheSameTemplateInAnyEncoding) {
  ClusterView source = createCluster(bob_, "source");
  train(*live(bob_, source.row.id), 12);
  store::Resource saved = saveNow(bob_, source.row.id, "source-12");
  ClusterView target = createCluster(bob_, "target", kLineTemplateJson);
  store::Resource task = make(world_->checkpoints.restore(bob_, target.row.id, saved.id));
  EXPECT_EQ(waitTask(bob_, task.id).state, kTaskFinished);
  EXPECT_TRUE(sameState(*live(bob_, target.row.id), *copyOf(*live(bob_, source.row.id))));
}

TEST_F(CheckpointsTest, RestoreOfAnotherTemplateIsRefusedAtOnce) {
  ClusterView line = createCluster(bob_, "line");
  train(*live(bob_, line.row.id), 5);
  store::Resource saved = saveNow(bob_, line.row.id, "line-5");
  ClusterView wide = createCluster(bob_, "wide", kWideTemplate);
  const int64_t tasks_before = countRows(store::ResourceKind::kTask);
  EXPECT_TRUE(failsWith(world_->checkpoints.restore(bob_, wide.row.id, saved.id).status(),
                        Code::kFailedPrecondition, "checkpoint template differs"));
  EXPECT_EQ(countRows(store::ResourceKind::kTask), tasks_before);
}

TEST_F(CheckpointsTest, NameRulesAndNotReadyStates) {
  ClusterView cluster = createCluster(bob_, "named");
  EXPECT_TRUE(failsWith(world_->checkpoints.save(bob_, cluster.row.id, "?").status(),
                        Code::kInvalidArgument, "checkpoint names"));
  store::Resource first = saveNow(bob_, cluster.row.id, "taken");
  EXPECT_TRUE(failsWith(world_->checkpoints.save(bob_, cluster.row.id, "taken").status(),
                        Code::kAlreadyExists, "'taken' already exists"));
  store::Resource pending = make(world_->checkpoints.beginUpload(bob_, "pending", 10,
                                                                  std::string(64, 'a')));
  EXPECT_TRUE(failsWith(world_->checkpoints.download(bob_, pending.id).status(),
                        Code::kFailedPrecondition, "not ready"));
  EXPECT_TRUE(failsWith(world_->checkpoints.restore(bob_, cluster.row.id, pending.id).status(),
                        Code::kFailedPrecondition, "not ready"));
  CheckpointDownload download = make(world_->checkpoints.download(bob_, first.id));
  EXPECT_EQ(download.filename, "taken.tckp");
  EXPECT_EQ(download.bytes, static_cast<uint64_t>(first.bytes));
  EXPECT_EQ(readAll(download.file).size(), download.bytes);
}

TEST_F(CheckpointsTest, UploadOfADownloadedCheckpointRestoresTheSameState) {
  Trained origin = trainedCluster(bob_, "origin", 15);
  store::Resource saved = saveNow(bob_, origin.id(), "origin-15");
  const std::string bytes = readAll(make(world_->checkpoints.download(bob_, saved.id)).file);

  store::Resource row = upload(alice_, "uploaded", bytes);
  // A chunk at the wrong offset is refused and tells where to resume.
  EXPECT_TRUE(failsWith(
      world_->checkpoints.appendUpload(alice_, row.id, 3, asBytes(bytes, 0, 1)).status(),
      Code::kFailedPrecondition, ""));
  store::Resource ready = make(world_->checkpoints.finalizeUpload(alice_, row.id));
  EXPECT_EQ(ready.state, kCheckpointReady);
  EXPECT_EQ(ready.parent_id, "");
  EXPECT_EQ(attr(ready, "kind"), kCheckpointUpload);
  EXPECT_EQ(attr(ready, "template_sha256"), attr(saved, "template_sha256"));
  EXPECT_EQ(attr(ready, "samples_trained"), "15");
  EXPECT_EQ(static_cast<size_t>(ready.bytes), bytes.size());
  EXPECT_EQ(readAll(checkpointFile(ready.id)), bytes);
  // Finalizing again changes nothing.
  EXPECT_EQ(make(world_->checkpoints.finalizeUpload(alice_, row.id)).state, kCheckpointReady);

  train(*origin.live, 5, 15);
  store::Resource task = make(world_->checkpoints.restore(alice_, origin.id(), ready.id));
  EXPECT_EQ(waitTask(alice_, task.id).state, kTaskFinished);
  EXPECT_TRUE(sameState(*origin.live, *origin.state));
}

TEST_F(CheckpointsTest, CorruptForeignAndIncompleteUploadsAreRefused) {
  ClusterView cluster = createCluster(bob_, "origin");
  train(*live(bob_, cluster.row.id), 8);
  store::Resource saved = saveNow(bob_, cluster.row.id, "good");
  const std::string good = readAll(checkpointFile(saved.id));

  std::string flipped = good;
  flipped[flipped.size() / 2] = static_cast<char>(flipped[flipped.size() / 2] ^ 0x5A);
  store::Resource corrupt = upload(bob_, "corrupt", flipped);
  Result<store::Resource> refused = world_->checkpoints.finalizeUpload(bob_, corrupt.id);
  EXPECT_TRUE(failsWith(refused.status(), Code::kInvalidArgument, "not a valid checkpoint"));
  expectNoPath(refused.status());
  store::Resource failed = make(world_->checkpoints.get(bob_, corrupt.id));
  EXPECT_EQ(failed.state, kCheckpointFailed);
  EXPECT_NE(attr(failed, "error").find("not a valid checkpoint"), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(checkpointFile(corrupt.id)));
  // Once failed, only delete is left.
  EXPECT_TRUE(failsWith(world_->checkpoints.finalizeUpload(bob_, corrupt.id).status(),
                        Code::kFailedPrecondition, "not being uploaded"));
  EXPECT_TRUE(world_->checkpoints.remove(bob_, corrupt.id).ok());

  store::Resource foreign = upload(bob_, "foreign", "this is a CSV file,1,2,3\n");
  Result<store::Resource> refused_foreign = world_->checkpoints.finalizeUpload(bob_, foreign.id);
  EXPECT_TRUE(failsWith(refused_foreign.status(), Code::kInvalidArgument,
                        "not a valid checkpoint"));
  expectNoPath(refused_foreign.status());

  // A digest that does not match the bytes.
  store::Resource lying = make(world_->checkpoints.beginUpload(bob_, "lying", good.size(),
                                                                std::string(64, '0')));
  ASSERT_TRUE(world_->checkpoints.appendUpload(bob_, lying.id, 0, asBytes(good, 0, good.size()))
                  .ok());
  EXPECT_TRUE(failsWith(world_->checkpoints.finalizeUpload(bob_, lying.id).status(),
                        Code::kInvalidArgument, ""));
  EXPECT_EQ(make(world_->checkpoints.get(bob_, lying.id)).state, kCheckpointFailed);

  // Incomplete: refused, but the upload stays open and can be finished.
  store::Resource partial = make(world_->checkpoints.beginUpload(bob_, "partial", good.size(),
                                                                  sha256Hex(good)));
  ASSERT_TRUE(
      world_->checkpoints.appendUpload(bob_, partial.id, 0, asBytes(good, 0, 100)).ok());
  EXPECT_TRUE(failsWith(world_->checkpoints.finalizeUpload(bob_, partial.id).status(),
                        Code::kFailedPrecondition, ""));
  store::Resource still = make(world_->checkpoints.get(bob_, partial.id));
  EXPECT_EQ(still.state, kCheckpointUploading);
  EXPECT_EQ(make(world_->checkpoints.uploadReceived(still)), 100u);
  ASSERT_TRUE(world_->checkpoints
                  .appendUpload(bob_, partial.id, 100, asBytes(good, 100, good.size() - 100))
                  .ok());
  EXPECT_EQ(make(world_->checkpoints.finalizeUpload(bob_, partial.id)).state, kCheckpointReady);
  // Bytes past the declared size are refused.
  store::Resource small = make(world_->checkpoints.beginUpload(bob_, "small", 4,
                                                                sha256Hex("abcd")));
  EXPECT_TRUE(failsWith(
      world_->checkpoints.appendUpload(bob_, small.id, 0, asBytes(good, 0, 5)).status(),
      Code::kInvalidArgument, ""));
}

TEST_F(CheckpointsTest, UploadDeclarationsAreChecked) {
  EXPECT_TRUE(failsWith(
      world_->checkpoints.beginUpload(bob_, "huge", uint64_t{2} << 30, std::string(64, 'a'))
          .status(),
      Code::kInvalidArgument, ""));
  EXPECT_TRUE(failsWith(world_->checkpoints.beginUpload(bob_, "bad-digest", 10, "xyz").status(),
                        Code::kInvalidArgument, ""));
  EXPECT_TRUE(failsWith(
      world_->checkpoints.beginUpload(root_, "no-project", 10, std::string(64, 'a')).status(),
      Code::kFailedPrecondition, "select a project first"));
  EXPECT_EQ(countRows(store::ResourceKind::kCheckpoint), 0);
}

TEST_F(CheckpointsTest, AutosaveKeepsOneNewestCheckpointPerChangedCluster) {
  ClusterView trained = createCluster(bob_, "trained");
  ClusterView idle = createCluster(bob_, "idle");
  std::shared_ptr<LiveCluster> held = live(bob_, trained.row.id);
  train(*held, 6);
  ASSERT_TRUE(world_->checkpoints.autosaveChanged().ok());
  std::vector<store::Resource> first = checkpointsOf(trained.row.id);
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(attr(first[0], "kind"), kCheckpointAutosave);
  EXPECT_EQ(first[0].state, kCheckpointReady);
  EXPECT_EQ(first[0].name, "");
  EXPECT_EQ(first[0].owner_id, bob_.user_id);
  EXPECT_TRUE(checkpointsOf(idle.row.id).empty());

  // Nothing changed: nothing is written.
  ASSERT_TRUE(world_->checkpoints.autosaveChanged().ok());
  ASSERT_EQ(checkpointsOf(trained.row.id).size(), 1u);
  EXPECT_EQ(checkpointsOf(trained.row.id)[0].id, first[0].id);

  train(*held, 4, 6);
  ASSERT_TRUE(world_->checkpoints.autosaveChanged().ok());
  std::vector<store::Resource> second = checkpointsOf(trained.row.id);
  ASSERT_EQ(second.size(), 1u);
  EXPECT_NE(second[0].id, first[0].id);
  EXPECT_EQ(attr(second[0], "samples_trained"), "10");
  EXPECT_FALSE(std::filesystem::exists(checkpointFile(first[0].id)));
  EXPECT_TRUE(std::filesystem::exists(checkpointFile(second[0].id)));
}

TEST_F(CheckpointsTest, TheAutosaveThreadSavesOnItsOwn) {
  ClusterView cluster = createCluster(bob_, "ticking");
  train(*live(bob_, cluster.row.id), 3);
  {
    CheckpointService ticking(*store_, world_->clusters, world_->tasks, world_->uploads, clock(),
                              CheckpointOptions{data_dir_, {}, nullptr, std::chrono::seconds(1),
                                                uint64_t{1} << 20, nullptr});
    ticking.startAutosave();
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (checkpointsOf(cluster.row.id).empty() && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ticking.stopAutosave();
  }
  std::vector<store::Resource> saved = checkpointsOf(cluster.row.id);
  ASSERT_EQ(saved.size(), 1u);
  EXPECT_EQ(saved[0].state, kCheckpointReady);
}

TEST_F(CheckpointsTest, ARestartRestoresEveryClusterFromItsNewestCheckpoint) {
  ClusterView trained = createCluster(bob_, "trained");
  ClusterView fresh = createCluster(alice_, "fresh", kWideTemplate);
  std::shared_ptr<LiveCluster> held = live(bob_, trained.row.id);
  train(*held, 9);
  ASSERT_TRUE(world_->checkpoints.autosaveChanged().ok());
  std::unique_ptr<engine::Cluster> saved_state = copyOf(*held);
  held.reset();

  restart();
  std::shared_ptr<LiveCluster> back = live(bob_, trained.row.id);
  ASSERT_NE(back, nullptr);
  EXPECT_TRUE(sameState(*back, *saved_state));
  EXPECT_EQ(make(world_->clusters.view(bob_, trained.row.id)).stats.cycles_trained, 9u);
  ClusterView rebuilt = make(world_->clusters.view(alice_, fresh.row.id));
  EXPECT_TRUE(rebuilt.loaded);
  EXPECT_EQ(rebuilt.stats.cycles_trained, 0u);
  ASSERT_EQ(rebuilt.outputs.size(), 1u);
  EXPECT_EQ(rebuilt.outputs[0].width, 3u);

  // A restored cluster is not saved again until it changes.
  ASSERT_TRUE(world_->checkpoints.autosaveChanged().ok());
  EXPECT_EQ(checkpointsOf(trained.row.id).size(), 1u);
}

TEST_F(CheckpointsTest, SaveAllNowAtShutdownLosesNothing) {
  ClusterView cluster = createCluster(bob_, "busy");
  std::shared_ptr<LiveCluster> held = live(bob_, cluster.row.id);
  train(*held, 5);
  store::Resource manual = saveNow(bob_, cluster.row.id, "early");
  train(*held, 7, 5);  // trained after the last save
  std::unique_ptr<engine::Cluster> final_state = copyOf(*held);
  held.reset();
  ASSERT_TRUE(world_->checkpoints.saveAllNow().ok());

  restart();
  EXPECT_TRUE(sameState(*live(bob_, cluster.row.id), *final_state));
  EXPECT_EQ(make(world_->checkpoints.get(bob_, manual.id)).state, kCheckpointReady);
}

TEST_F(CheckpointsTest, ADamagedNewestCheckpointIsSkippedForAnOlderOne) {
  Trained damaged_cluster = trainedCluster(bob_, "damaged", 10);
  const std::string cluster_id = damaged_cluster.id();
  store::Resource older = saveNow(bob_, cluster_id, "at-10");
  train(*damaged_cluster.live, 10, 10);
  ASSERT_TRUE(world_->checkpoints.autosaveChanged().ok());
  damaged_cluster.live.reset();
  store::Resource newest;
  for (const store::Resource& row : checkpointsOf(cluster_id)) {
    if (attr(row, "kind") == kCheckpointAutosave) newest = row;
  }
  ASSERT_FALSE(newest.id.empty());
  std::filesystem::resize_file(checkpointFile(newest.id),
                               std::filesystem::file_size(checkpointFile(newest.id)) / 2);

  restart();
  EXPECT_TRUE(sameState(*live(bob_, cluster_id), *damaged_cluster.state));
  store::Resource damaged = make(world_->checkpoints.get(bob_, newest.id));
  EXPECT_EQ(damaged.state, kCheckpointFailed);
  EXPECT_NE(attr(damaged, "error").find("could not be loaded"), std::string::npos);
  EXPECT_EQ(attr(damaged, "error").find(data_dir_.string()), std::string::npos);
  ClusterView seen = make(world_->clusters.view(bob_, cluster_id));
  ASSERT_TRUE(seen.last_checkpoint);
  EXPECT_EQ(seen.last_checkpoint->id, older.id);
}

TEST_F(CheckpointsTest, ACheckpointOfAnotherTemplateIsNeverUsedAtStart) {
  // A (corrupted) row that claims to be this cluster's but holds another template's digest.
  ClusterView cluster = createCluster(bob_, "picky");
  ClusterView wide = createCluster(bob_, "wide", kWideTemplate);
  train(*live(bob_, wide.row.id), 4);
  store::Resource foreign = saveNow(bob_, wide.row.id, "wide-4");
  foreign.parent_id = cluster.row.id;
  ASSERT_TRUE(store_->updateResource(foreign).ok());

  restart();
  ClusterView seen = make(world_->clusters.view(bob_, cluster.row.id));
  EXPECT_TRUE(seen.loaded);
  EXPECT_EQ(seen.stats.cycles_trained, 0u);
  ASSERT_EQ(seen.outputs.size(), 1u);
  EXPECT_EQ(seen.outputs[0].width, 2u);
}

TEST_F(CheckpointsTest, SavesCutShortByARestartAreMarkedFailed) {
  ClusterView cluster = createCluster(bob_, "cut");
  store::Resource row;
  row.id = newUuid();
  row.kind = store::ResourceKind::kCheckpoint;
  row.project_id = p_;
  row.owner_id = bob_.user_id;
  row.name = "cut-short";
  row.state = std::string(kCheckpointSaving);
  row.parent_id = cluster.row.id;
  row.attrs = R"({"kind": "manual"})";
  row.created_ms = row.updated_ms = 5;
  ASSERT_TRUE(store_->insertResource(row).ok());
  std::filesystem::create_directories(data_dir_ / "checkpoints");
  const std::filesystem::path stray =
      data_dir_ / "checkpoints" / ("." + row.id + ".tckp.tmp-1-2-3");
  writeFile(stray, "half a checkpoint");

  restart();
  store::Resource after = make(world_->checkpoints.get(bob_, row.id));
  EXPECT_EQ(after.state, kCheckpointFailed);
  EXPECT_EQ(attr(after, "error"), "interrupted by a restart");
  EXPECT_FALSE(std::filesystem::exists(stray));
  EXPECT_TRUE(make(world_->clusters.view(bob_, cluster.row.id)).loaded);
}

TEST_F(CheckpointsTest, VisibilityFollowsTheResourceRules) {
  ClusterView bobs = createCluster(bob_, "bobs");
  ClusterView alices = createCluster(alice_, "alices");
  ClusterView carols = createCluster(carol_, "carols");
  store::Resource bob_save = saveNow(bob_, bobs.row.id, "bob-save");
  store::Resource alice_save = saveNow(alice_, alices.row.id, "alice-save");
  store::Resource carol_save = saveNow(carol_, carols.row.id, "carol-save");

  auto ids = [&](const Principal& caller, std::optional<std::string> cluster_id = {}) {
    std::vector<std::string> out;
    for (const store::Resource& row : make(world_->checkpoints.list(caller, cluster_id, {}))
                                          .items) {
      out.push_back(row.id);
    }
    return out;
  };
  EXPECT_EQ(ids(bob_), (std::vector<std::string>{bob_save.id}));
  EXPECT_EQ(ids(alice_), (std::vector<std::string>{bob_save.id, alice_save.id}));
  EXPECT_EQ(ids(alice_, alices.row.id), (std::vector<std::string>{alice_save.id}));
  EXPECT_EQ(ids(carol_), (std::vector<std::string>{carol_save.id}));
  EXPECT_EQ(ids(root_).size(), 3u);

  for (const std::string& id : {alice_save.id, carol_save.id, newUuid()}) {
    EXPECT_TRUE(failsWith(world_->checkpoints.get(bob_, id).status(), Code::kNotFound,
                          "checkpoint not found"));
    EXPECT_TRUE(failsWith(world_->checkpoints.download(bob_, id).status(), Code::kNotFound, ""));
    EXPECT_TRUE(failsWith(world_->checkpoints.remove(bob_, id), Code::kNotFound, ""));
    EXPECT_TRUE(failsWith(world_->checkpoints.restore(bob_, bobs.row.id, id).status(),
                          Code::kNotFound, "checkpoint not found"));
  }
  // Someone else's cluster cannot be saved or restored into either.
  EXPECT_TRUE(failsWith(world_->checkpoints.save(bob_, carols.row.id, "steal").status(),
                        Code::kNotFound, "cluster not found"));
  EXPECT_TRUE(failsWith(world_->checkpoints.restore(carol_, bobs.row.id, carol_save.id).status(),
                        Code::kNotFound, "cluster not found"));
  // The project-admin may restore a member's checkpoint into their own cluster.
  ClusterView target = createCluster(alice_, "target");
  store::Resource task = make(world_->checkpoints.restore(alice_, target.row.id, bob_save.id));
  EXPECT_EQ(waitTask(alice_, task.id).state, kTaskFinished);
}

TEST_F(CheckpointsTest, DeleteRemovesTheFileButNotWhileInUse) {
  ClusterView cluster = createCluster(bob_, "owner");
  store::Resource saved = saveNow(bob_, cluster.row.id, "deletable");
  ASSERT_TRUE(std::filesystem::exists(checkpointFile(saved.id)));

  // A queued restore reads it: refused until the restore has run.
  std::shared_ptr<LiveCluster> held = live(bob_, cluster.row.id);
  store::Resource task;
  {
    auto lock = held->lockWriter();
    task = make(world_->checkpoints.restore(bob_, cluster.row.id, saved.id));
    EXPECT_TRUE(failsWith(world_->checkpoints.remove(bob_, saved.id),
                          Code::kFailedPrecondition, "uses the checkpoint"));
  }
  EXPECT_EQ(waitTask(bob_, task.id).state, kTaskFinished);
  ASSERT_TRUE(world_->checkpoints.remove(bob_, saved.id).ok());
  EXPECT_FALSE(std::filesystem::exists(checkpointFile(saved.id)));
  EXPECT_TRUE(failsWith(world_->checkpoints.get(bob_, saved.id).status(), Code::kNotFound, ""));
  EXPECT_FALSE(make(world_->clusters.view(bob_, cluster.row.id)).last_checkpoint);
}

TEST_F(CheckpointsTest, TheTaskQuotaRefusesASaveAndLeavesNoRow) {
  start({64, int64_t{8} << 30, int64_t{16} << 30, 0});
  ClusterView cluster = createCluster(bob_, "limited");
  EXPECT_TRUE(failsWith(world_->checkpoints.save(bob_, cluster.row.id, "refused").status(),
                        Code::kResourceExhausted, "quota"));
  EXPECT_EQ(countRows(store::ResourceKind::kCheckpoint), 0);
}

}  // namespace
}  // namespace tendril::service
