// ClusterService against a real in-memory store, a temporary data directory and the real task
// service: create/read/list/rename/delete, template errors, quotas, visibility, project cascade.
#include "service/clusters.h"

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <thread>

#include "data/template_json.h"
#include "service/clusters_test_support.h"

namespace tendril::service {
namespace {

using testing_support::ClusterWorldTest;
using testing_support::kLineTemplate;
using testing_support::kLineTemplateJson;
using testing_support::kWideTemplate;

using ClustersTest = ClusterWorldTest;

TEST_F(ClustersTest, CreateGivesAnUntrainedClusterWithItsPortsAndStats) {
  ClusterView cluster = createCluster(bob_, "digits");
  EXPECT_EQ(cluster.row.name, "digits");
  EXPECT_EQ(cluster.row.project_id, p_);
  EXPECT_EQ(cluster.row.owner_id, bob_.user_id);
  EXPECT_TRUE(cluster.loaded);
  ASSERT_EQ(cluster.inputs.size(), 1u);
  EXPECT_EQ(cluster.inputs[0].name, "in");
  EXPECT_EQ(cluster.inputs[0].width, 4u);
  ASSERT_EQ(cluster.outputs.size(), 1u);
  EXPECT_EQ(cluster.outputs[0].name, "out");
  EXPECT_EQ(cluster.outputs[0].width, 2u);
  EXPECT_EQ(cluster.stats.bricks, 3u);
  // 4 inputs, each split into a positive and a negative channel (sign_split_inputs), 8 hidden,
  // 2 outputs.
  EXPECT_EQ(cluster.stats.neurons, 18u);
  EXPECT_EQ(cluster.stats.synapses, 0u);
  EXPECT_EQ(cluster.stats.cycles_trained, 0u);
  EXPECT_FALSE(cluster.last_checkpoint);
  EXPECT_FALSE(cluster.active_task_id);
  EXPECT_NE(world_->registry.find(cluster.row.id), nullptr);
}

TEST_F(ClustersTest, ViewShowsLiveTrainingFigures) {
  ClusterView cluster = createCluster(bob_, "digits");
  train(*live(bob_, cluster.row.id), 25);
  ClusterView seen = make(world_->clusters.view(bob_, cluster.row.id));
  EXPECT_EQ(seen.stats.cycles_trained, 25u);
  EXPECT_GT(seen.stats.synapses, 0u);
  EXPECT_GT(seen.stats.synapse_bytes, 0u);
  EXPECT_GE(seen.stats.bytes, seen.stats.synapse_bytes);
}

TEST_F(ClustersTest, TemplateIsKeptVerbatimAndParsed) {
  ClusterView text = createCluster(bob_, "from-text");
  ClusterView json = createCluster(bob_, "from-json", kLineTemplateJson);
  ClusterTemplate kept = make(world_->clusters.templateOf(bob_, text.row.id));
  EXPECT_EQ(kept.text, kLineTemplate);
  ClusterTemplate kept_json = make(world_->clusters.templateOf(bob_, json.row.id));
  EXPECT_EQ(kept_json.text, kLineTemplateJson);
  // Both encodings describe the same template: the same canonical JSON and digest.
  EXPECT_EQ(data::templateToJson(kept.tmpl), data::templateToJson(kept_json.tmpl));
  EXPECT_EQ(templateSha256(kept.tmpl), templateSha256(kept_json.tmpl));
  EXPECT_EQ(attr(text.row, "template_sha256"), templateSha256(kept.tmpl));
}

TEST_F(ClustersTest, BadTemplatesAreRefusedNamingTheLineOrPathAndCreateNothing) {
  std::string text(kLineTemplate);
  text.replace(text.find("number_of_neurons: 8"), 20, "number_of_neurons: x");
  EXPECT_TRUE(failsWith(world_->clusters.create(bob_, "broken", text).status(),
                        Code::kInvalidArgument, "template: line 9"));
  EXPECT_TRUE(failsWith(
      world_->clusters.create(bob_, "broken", R"({"version": 1, "bricks": [{"neurons": -1}]})")
          .status(),
      Code::kInvalidArgument, "bricks[0]"));
  EXPECT_TRUE(failsWith(world_->clusters.create(bob_, "broken", "").status(),
                        Code::kInvalidArgument, "template"));
  std::string huge(std::size_t{1} << 21, '#');
  EXPECT_TRUE(failsWith(world_->clusters.create(bob_, "broken", huge).status(),
                        Code::kInvalidArgument, "template"));
  EXPECT_TRUE(failsWith(world_->clusters.create(bob_, "x", kLineTemplate).status(),
                        Code::kInvalidArgument, "cluster names"));
  EXPECT_EQ(countRows(store::ResourceKind::kCluster), 0);
  EXPECT_TRUE(world_->registry.all().empty());
}

TEST_F(ClustersTest, CreateNeedsAProjectAndAFreeName) {
  EXPECT_TRUE(failsWith(world_->clusters.create(root_, "digits", kLineTemplate).status(),
                        Code::kFailedPrecondition, "select a project first"));
  createCluster(bob_, "digits");
  EXPECT_TRUE(failsWith(world_->clusters.create(alice_, "digits", kLineTemplate).status(),
                        Code::kAlreadyExists, "already exists"));
  // Names are per project.
  createCluster(carol_, "digits");
  EXPECT_EQ(countRows(store::ResourceKind::kCluster), 2);
  EXPECT_EQ(world_->registry.all().size(), 2u);
}

TEST_F(ClustersTest, QuotaRefusalsChangeNothing) {
  ASSERT_TRUE(world_->quotas.set({p_, 1, std::nullopt, std::nullopt, std::nullopt}).ok());
  createCluster(bob_, "first");
  EXPECT_TRUE(failsWith(world_->clusters.create(bob_, "second", kLineTemplate).status(),
                        Code::kResourceExhausted, "quota: clusters"));
  EXPECT_EQ(countRows(store::ResourceKind::kCluster), 1);
  EXPECT_EQ(world_->registry.all().size(), 1u);

  // Synapse memory: the project's clusters already hold more than the limit allows.
  ClusterView grown = createCluster(carol_, "grown");
  train(*live(carol_, grown.row.id), 10);
  ASSERT_TRUE(world_->quotas.set({q_, std::nullopt, 1, std::nullopt, std::nullopt}).ok());
  EXPECT_TRUE(failsWith(world_->clusters.create(carol_, "another", kLineTemplate).status(),
                        Code::kResourceExhausted, "quota: synapse bytes"));
  EXPECT_EQ(countRows(store::ResourceKind::kCluster), 2);
  EXPECT_EQ(world_->registry.all().size(), 2u);
}

TEST_F(ClustersTest, MembersSeeTheirOwnProjectAdminsTheProjectAdminsEverything) {
  ClusterView bobs = createCluster(bob_, "bobs");
  ClusterView alices = createCluster(alice_, "alices");
  ClusterView carols = createCluster(carol_, "carols");

  auto names = [&](const Principal& caller) {
    std::vector<std::string> out;
    for (const ClusterView& view : make(world_->clusters.list(caller, {})).items) {
      out.push_back(view.row.name);
    }
    return out;
  };
  EXPECT_EQ(names(bob_), (std::vector<std::string>{"bobs"}));
  EXPECT_EQ(names(alice_), (std::vector<std::string>{"bobs", "alices"}));
  EXPECT_EQ(names(carol_), (std::vector<std::string>{"carols"}));
  EXPECT_EQ(names(root_), (std::vector<std::string>{"bobs", "alices", "carols"}));

  // Invisible is exactly like unknown, for every operation.
  const std::string unknown = newUuid();
  for (const std::string& id : {alices.row.id, carols.row.id, unknown}) {
    EXPECT_TRUE(failsWith(world_->clusters.view(bob_, id).status(), Code::kNotFound,
                          "cluster not found"));
    EXPECT_EQ(world_->clusters.get(bob_, id).status().message(), "cluster not found");
    EXPECT_TRUE(failsWith(world_->clusters.open(bob_, id).status(), Code::kNotFound, ""));
    EXPECT_TRUE(failsWith(world_->clusters.rename(bob_, id, "mine").status(), Code::kNotFound, ""));
    EXPECT_TRUE(failsWith(world_->clusters.templateOf(bob_, id).status(), Code::kNotFound, ""));
    EXPECT_TRUE(failsWith(world_->clusters.remove(bob_, id), Code::kNotFound, ""));
  }
  EXPECT_EQ(world_->registry.all().size(), 3u);
  EXPECT_TRUE(make(world_->clusters.view(alice_, bobs.row.id)).loaded);
  EXPECT_NE(live(root_, carols.row.id), nullptr);
}

TEST_F(ClustersTest, ListPagesWithACursor) {
  for (int i = 0; i < 5; ++i) createCluster(alice_, "cluster-" + std::to_string(i));
  store::Page<ClusterView> first = make(world_->clusters.list(alice_, {2, {}}));
  ASSERT_EQ(first.items.size(), 2u);
  EXPECT_EQ(first.items[0].row.name, "cluster-0");
  ASSERT_FALSE(first.next_cursor.empty());
  store::Page<ClusterView> second = make(world_->clusters.list(alice_, {2, first.next_cursor}));
  ASSERT_EQ(second.items.size(), 2u);
  EXPECT_EQ(second.items[0].row.name, "cluster-2");
}

TEST_F(ClustersTest, RenameRefusesATakenName) {
  ClusterView first = createCluster(bob_, "first");
  createCluster(bob_, "second");
  EXPECT_TRUE(failsWith(world_->clusters.rename(bob_, first.row.id, "second").status(),
                        Code::kAlreadyExists, "'second' already exists"));
  EXPECT_TRUE(failsWith(world_->clusters.rename(bob_, first.row.id, "no spaces").status(),
                        Code::kInvalidArgument, "cluster names"));
  ClusterView renamed = make(world_->clusters.rename(bob_, first.row.id, "third"));
  EXPECT_EQ(renamed.row.name, "third");
  EXPECT_EQ(make(world_->clusters.get(bob_, first.row.id)).name, "third");
  // Renaming to its own name changes nothing and is fine.
  EXPECT_TRUE(world_->clusters.rename(bob_, first.row.id, "third").ok());
}

TEST_F(ClustersTest, DeleteFreesTheClusterAndItsAutosaveButKeepsUserCheckpoints) {
  ClusterView cluster = createCluster(bob_, "doomed");
  std::shared_ptr<LiveCluster> held = live(bob_, cluster.row.id);
  train(*held, 5);
  store::Resource manual = saveNow(bob_, cluster.row.id, "keep-me");
  train(*held, 5, 5);
  ASSERT_TRUE(world_->checkpoints.autosaveChanged().ok());
  store::ResourceFilter autosaves;
  autosaves.kind = store::ResourceKind::kCheckpoint;
  autosaves.parent_id = cluster.row.id;
  ASSERT_EQ(make(store_->countResources(autosaves)), 2);

  ASSERT_TRUE(world_->clusters.remove(bob_, cluster.row.id).ok());
  EXPECT_TRUE(held->closed());
  EXPECT_EQ(world_->registry.find(cluster.row.id), nullptr);
  EXPECT_TRUE(failsWith(world_->clusters.view(bob_, cluster.row.id).status(), Code::kNotFound,
                        "cluster not found"));
  // Only the manual checkpoint is left, still naming the cluster it came from.
  store::Page<store::Resource> left = make(store_->listResources(autosaves, {}));
  ASSERT_EQ(left.items.size(), 1u);
  EXPECT_EQ(left.items[0].id, manual.id);
  EXPECT_TRUE(std::filesystem::exists(checkpointFile(manual.id)));
  size_t files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(data_dir_ / "checkpoints")) {
    (void)entry;
    ++files;
  }
  EXPECT_EQ(files, 1u);
}

TEST_F(ClustersTest, DeleteCancelsTheClustersTasksFirst) {
  ClusterView cluster = createCluster(bob_, "busy");
  std::shared_ptr<LiveCluster> held = live(bob_, cluster.row.id);
  // The writer lock held here keeps the save job from taking its snapshot; the delete starts
  // meanwhile, cancels the job, and waits for it to end once the lock is free.
  auto lock = held->lockWriter();
  CheckpointSave save = make(world_->checkpoints.save(bob_, cluster.row.id, "pending"));
  Status removed;
  std::thread deleter([&] { removed = world_->clusters.remove(bob_, cluster.row.id); });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  lock.unlock();
  deleter.join();
  ASSERT_TRUE(removed.ok()) << removed.toString();
  EXPECT_TRUE(held->closed());
  store::Resource task = make(world_->tasks.get(bob_, save.task.id));
  EXPECT_EQ(task.state, kTaskCancelled);
  // The checkpoint that never got written is failed, not left "saving" forever.
  store::Resource checkpoint = make(world_->checkpoints.get(bob_, save.checkpoint.id));
  EXPECT_EQ(checkpoint.state, kCheckpointFailed);
  EXPECT_FALSE(std::filesystem::exists(checkpointFile(save.checkpoint.id)));
}

TEST_F(ClustersTest, ProjectDeleteNeedsCascadeAndCascadeFreesClustersAndFiles) {
  AccountService accounts(*store_, clock(), HashCost::kTesting);
  accounts.addProjectContent(world_->clusters.projectContent());
  accounts.addProjectContent(world_->checkpoints.projectContent());
  ClusterView cluster = createCluster(carol_, "in-q");
  train(*live(carol_, cluster.row.id), 5);
  store::Resource manual = saveNow(carol_, cluster.row.id, "q-save");
  ASSERT_TRUE(store_->removeMembership(q_, carol_.user_id).ok());

  EXPECT_TRUE(failsWith(accounts.deleteProject(root_, q_, false), Code::kFailedPrecondition,
                        "1 cluster(s)"));
  EXPECT_NE(world_->registry.find(cluster.row.id), nullptr);
  ASSERT_TRUE(accounts.deleteProject(root_, q_, true).ok());
  EXPECT_EQ(world_->registry.find(cluster.row.id), nullptr);
  EXPECT_EQ(countRows(store::ResourceKind::kCluster), 0);
  EXPECT_EQ(countRows(store::ResourceKind::kCheckpoint), 0);
  EXPECT_FALSE(std::filesystem::exists(checkpointFile(manual.id)));
}

TEST_F(ClustersTest, OpenGivesTheLiveClusterThatTasksAndDirectIoUse) {
  ClusterView cluster = createCluster(bob_, "shared");
  std::shared_ptr<LiveCluster> first = live(bob_, cluster.row.id);
  std::shared_ptr<LiveCluster> second = live(alice_, cluster.row.id);
  EXPECT_EQ(first, second);
  EXPECT_EQ(first->projectId(), p_);
  train(*first, 3);
  EXPECT_EQ(make(world_->clusters.view(alice_, cluster.row.id)).stats.cycles_trained, 3u);
}

TEST_F(ClustersTest, DifferentTemplatesHaveDifferentDigests) {
  ClusterView line = createCluster(bob_, "line");
  ClusterView wide = createCluster(bob_, "wide", kWideTemplate);
  EXPECT_NE(attr(line.row, "template_sha256"), attr(wide.row, "template_sha256"));
  EXPECT_EQ(attr(line.row, "template_sha256").size(), 64u);
}

}  // namespace
}  // namespace tendril::service
