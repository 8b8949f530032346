// The generic ML resource rows and project quotas.
#include "store/store_test_support.h"

namespace tendril::store {
namespace {

class StoreResources : public StoreTest {
 protected:
  void SetUp() override {
    StoreTest::SetUp();
    ASSERT_OK(store().createUser(makeUser("u1", "alice")));
    ASSERT_OK(store().createUser(makeUser("u2", "bob")));
    ASSERT_OK(store().createProject(makeProject("p1", "one")));
    ASSERT_OK(store().createProject(makeProject("p2", "two")));
  }

  static Resource make(std::string id, ResourceKind kind, std::string project, std::string owner,
                       std::string name, TimeMs created_ms) {
    Resource resource;
    resource.id = std::move(id);
    resource.kind = kind;
    resource.project_id = std::move(project);
    resource.owner_id = std::move(owner);
    resource.name = std::move(name);
    resource.state = "ready";
    resource.created_ms = created_ms;
    resource.updated_ms = created_ms;
    return resource;
  }
};
INSTANTIATE_TEST_SUITE_P(Backings, StoreResources,
                         testing::Values(Backing::kFile, Backing::kMemory), backingName);

TEST_P(StoreResources, InsertGetUpdateDeleteKeepsEveryField) {
  Resource row = make("c1", ResourceKind::kCluster, "p1", "u1", "net", 10);
  row.parent_id = kHostile;
  row.ref_id = "d1";
  row.bytes = int64_t{1} << 40;
  row.attrs = R"({"template":")" + kHostile + "\"}";
  ASSERT_OK(store().insertResource(row));
  ASSERT_OK_AND_ASSIGN(Resource read, store().getResource(ResourceKind::kCluster, "c1"));
  EXPECT_EQ(read.parent_id, kHostile);
  EXPECT_EQ(read.attrs, row.attrs);
  EXPECT_EQ(read.bytes, row.bytes);
  EXPECT_EQ(read.owner_id, "u1");
  // Another kind with the same id is a different lookup.
  EXPECT_EQ(store().getResource(ResourceKind::kDataset, "c1").status().code(), Code::kNotFound);

  read.name = "renamed";
  read.state = "busy";
  read.updated_ms = 20;
  read.project_id = "p2";  // never changes
  ASSERT_OK(store().updateResource(read));
  ASSERT_OK_AND_ASSIGN(Resource updated, store().getResource(ResourceKind::kCluster, "c1"));
  EXPECT_EQ(updated.name, "renamed");
  EXPECT_EQ(updated.state, "busy");
  EXPECT_EQ(updated.project_id, "p1");
  EXPECT_EQ(updated.created_ms, 10);

  ASSERT_OK(store().deleteResource(ResourceKind::kCluster, "c1"));
  EXPECT_EQ(store().deleteResource(ResourceKind::kCluster, "c1").code(), Code::kNotFound);
  EXPECT_EQ(store().updateResource(read).code(), Code::kNotFound);
}

TEST_P(StoreResources, NamesAreUniquePerKindAndProject) {
  ASSERT_OK(store().insertResource(make("c1", ResourceKind::kCluster, "p1", "u1", "net", 1)));
  EXPECT_EQ(store().insertResource(make("c2", ResourceKind::kCluster, "p1", "u2", "net", 2)).code(),
            Code::kAlreadyExists);
  ASSERT_OK(store().insertResource(make("c3", ResourceKind::kCluster, "p2", "u1", "net", 3)));
  ASSERT_OK(store().insertResource(make("d1", ResourceKind::kDataset, "p1", "u1", "net", 4)));
  // Unnamed rows never collide.
  ASSERT_OK(store().insertResource(make("t1", ResourceKind::kTask, "p1", "u1", "", 5)));
  ASSERT_OK(store().insertResource(make("t2", ResourceKind::kTask, "p1", "u1", "", 6)));
  // A rename onto a taken name.
  Resource other = make("c4", ResourceKind::kCluster, "p1", "u1", "other", 7);
  ASSERT_OK(store().insertResource(other));
  other.name = "net";
  EXPECT_EQ(store().updateResource(other).code(), Code::kAlreadyExists);
  // Same id twice.
  EXPECT_EQ(store().insertResource(make("c1", ResourceKind::kCluster, "p2", "u1", "x", 8)).code(),
            Code::kAlreadyExists);
}

TEST_P(StoreResources, UnknownProjectOrOwnerIsRefused) {
  EXPECT_EQ(store().insertResource(make("c1", ResourceKind::kCluster, "nope", "u1", "a", 1)).code(),
            Code::kFailedPrecondition);
  EXPECT_EQ(store().insertResource(make("c1", ResourceKind::kCluster, "p1", "nope", "a", 1)).code(),
            Code::kFailedPrecondition);
  EXPECT_EQ(store().insertResource(make("", ResourceKind::kCluster, "p1", "u1", "a", 1)).code(),
            Code::kInvalidArgument);
}

TEST_P(StoreResources, ListFiltersAndPagesOldestFirst) {
  for (int i = 0; i < 7; ++i) {
    Resource task = make("t" + std::to_string(i), ResourceKind::kTask, i < 5 ? "p1" : "p2",
                         i % 2 == 0 ? "u1" : "u2", "", 100 + i / 2);
    task.state = i < 3 ? "queued" : "finished";
    task.parent_id = i < 4 ? "c1" : "c2";
    task.ref_id = "d1";
    task.bytes = i;
    ASSERT_OK(store().insertResource(task));
  }
  ResourceFilter filter;
  filter.kind = ResourceKind::kTask;
  filter.project_id = "p1";
  std::vector<std::string> seen;
  PageRequest request{2, ""};
  do {
    ASSERT_OK_AND_ASSIGN(Page<Resource> page, store().listResources(filter, request));
    EXPECT_LE(page.items.size(), 2u);
    for (const Resource& row : page.items) seen.push_back(row.id);
    request.cursor = page.next_cursor;
  } while (!request.cursor.empty());
  EXPECT_EQ(seen, (std::vector<std::string>{"t0", "t1", "t2", "t3", "t4"}));

  filter.owner_id = "u1";
  filter.states = {"queued", "running"};
  ASSERT_OK_AND_ASSIGN(int64_t count, store().countResources(filter));
  EXPECT_EQ(count, 2);  // t0, t2
  filter = ResourceFilter{};
  filter.kind = ResourceKind::kTask;
  filter.parent_id = "c2";
  ASSERT_OK_AND_ASSIGN(int64_t bytes, store().sumResourceBytes(filter));
  EXPECT_EQ(bytes, 4 + 5 + 6);
  filter.parent_id = "none";
  ASSERT_OK_AND_ASSIGN(int64_t none, store().sumResourceBytes(filter));
  EXPECT_EQ(none, 0);
  filter.kind = ResourceKind::kCluster;
  filter.parent_id.reset();
  ASSERT_OK_AND_ASSIGN(int64_t clusters, store().countResources(filter));
  EXPECT_EQ(clusters, 0);
  EXPECT_EQ(store().listResources(filter, PageRequest{0, ""}).status().code(),
            Code::kInvalidArgument);
  EXPECT_EQ(store().listResources(filter, PageRequest{5, "garbage"}).status().code(),
            Code::kInvalidArgument);
}

TEST_P(StoreResources, ProjectDeleteCascadesAndOwnerDeleteClears) {
  ASSERT_OK(store().insertResource(make("c1", ResourceKind::kCluster, "p1", "u1", "a", 1)));
  ASSERT_OK(store().insertResource(make("c2", ResourceKind::kCluster, "p2", "u2", "b", 1)));
  ASSERT_OK(store().deleteUser("u2"));
  ASSERT_OK_AND_ASSIGN(Resource orphan, store().getResource(ResourceKind::kCluster, "c2"));
  EXPECT_EQ(orphan.owner_id, "");
  ASSERT_OK(store().deleteProject("p1", /*cascade=*/true));
  EXPECT_EQ(store().getResource(ResourceKind::kCluster, "c1").status().code(), Code::kNotFound);
}

TEST_P(StoreResources, QuotasDefaultToUnsetAndReplaceWhole) {
  ASSERT_OK_AND_ASSIGN(ProjectQuota none, store().getQuota("p1"));
  EXPECT_FALSE(none.clusters.has_value());
  EXPECT_FALSE(none.concurrent_tasks.has_value());
  ProjectQuota quota;
  quota.project_id = "p1";
  quota.clusters = 3;
  quota.dataset_bytes = int64_t{1} << 35;
  ASSERT_OK(store().setQuota(quota));
  ASSERT_OK_AND_ASSIGN(ProjectQuota read, store().getQuota("p1"));
  EXPECT_EQ(read.clusters, 3);
  EXPECT_EQ(read.dataset_bytes, int64_t{1} << 35);
  EXPECT_FALSE(read.synapse_bytes.has_value());
  quota.clusters.reset();
  quota.concurrent_tasks = 0;
  ASSERT_OK(store().setQuota(quota));
  ASSERT_OK_AND_ASSIGN(ProjectQuota replaced, store().getQuota("p1"));
  EXPECT_FALSE(replaced.clusters.has_value());
  EXPECT_EQ(replaced.concurrent_tasks, 0);
  quota.project_id = "nope";
  EXPECT_EQ(store().setQuota(quota).code(), Code::kFailedPrecondition);
}

}  // namespace
}  // namespace tendril::store
