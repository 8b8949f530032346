// Quotas: defaults, stored limits, and the checks against real store rows and a live cluster.
#include "service/quotas.h"

#include <gtest/gtest.h>

#include "common/status_testing.h"
#include "engine/test_support.h"

namespace tendril::service {
namespace {

class QuotasTest : public testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(store_, store::openSqliteMemoryStore());
    ASSERT_OK(store_->createProject(store::Project{"p1", "one", "", 1}));
    ASSERT_OK(store_->createProject(store::Project{"p2", "two", "", 1}));
  }

  void addRow(std::string id, store::ResourceKind kind, std::string project, std::string state,
              int64_t bytes) {
    store::Resource row;
    row.id = std::move(id);
    row.kind = kind;
    row.project_id = std::move(project);
    row.state = std::move(state);
    row.bytes = bytes;
    ASSERT_OK(store_->insertResource(row));
  }

  std::unique_ptr<store::MetadataStore> store_;
  ClusterRegistry registry_;
  QuotaLimits defaults_{2, 1 << 20, 1000, 1};
};

TEST_F(QuotasTest, DefaultsApplyUntilSetAndUsageCountsOnlyTheProject) {
  Quotas quotas(*store_, registry_, defaults_);
  ASSERT_OK_AND_ASSIGN(QuotaLimits limits, quotas.limits("p1"));
  EXPECT_EQ(limits.clusters, 2);
  EXPECT_EQ(limits.concurrent_tasks, 1);
  ASSERT_OK(quotas.set(store::ProjectQuota{"p1", 5, std::nullopt, 4000, std::nullopt}));
  ASSERT_OK_AND_ASSIGN(QuotaLimits set, quotas.limits("p1"));
  EXPECT_EQ(set.clusters, 5);
  EXPECT_EQ(set.dataset_bytes, 4000);
  EXPECT_EQ(set.synapse_bytes, 1 << 20);
  EXPECT_EQ(quotas.set(store::ProjectQuota{"p1", -1, {}, {}, {}}).code(), Code::kInvalidArgument);

  addRow("d1", store::ResourceKind::kDataset, "p1", "ready", 700);
  addRow("d2", store::ResourceKind::kDataset, "p2", "ready", 900);
  addRow("t1", store::ResourceKind::kTask, "p1", "running", 0);
  addRow("t2", store::ResourceKind::kTask, "p1", "finished", 0);
  ASSERT_OK_AND_ASSIGN(nlohmann::json view, quotas.view("p1"));
  EXPECT_EQ(view["usage"]["dataset_bytes"], 700);
  EXPECT_EQ(view["usage"]["concurrent_tasks"], 1);
  EXPECT_EQ(view["limits"]["clusters"], 5);
  EXPECT_EQ(view["defaults"], (nlohmann::json{"synapse_bytes", "concurrent_tasks"}));
}

TEST_F(QuotasTest, ChecksRefuseAtTheLimit) {
  Quotas quotas(*store_, registry_, defaults_);
  EXPECT_OK(quotas.checkClusters("p1"));
  addRow("c1", store::ResourceKind::kCluster, "p1", "ready", 0);
  addRow("c2", store::ResourceKind::kCluster, "p1", "ready", 0);
  EXPECT_TRUE(failsWith(quotas.checkClusters("p1"), Code::kResourceExhausted,
                        "quota: clusters (2 of 2 in use"));
  EXPECT_OK(quotas.checkClusters("p2"));

  EXPECT_OK(quotas.checkDatasetBytes("p1", 1000));
  EXPECT_TRUE(failsWith(quotas.checkDatasetBytes("p1", 1001), Code::kResourceExhausted,
                        "dataset bytes"));
  addRow("d1", store::ResourceKind::kDataset, "p1", "uploading", 600);
  EXPECT_OK(quotas.checkDatasetBytes("p1", 400));
  EXPECT_FALSE(quotas.checkDatasetBytes("p1", 401).ok());

  EXPECT_OK(quotas.checkConcurrentTasks("p1"));
  addRow("t1", store::ResourceKind::kTask, "p1", "queued", 0);
  EXPECT_TRUE(failsWith(quotas.checkConcurrentTasks("p1"), Code::kResourceExhausted,
                        "concurrent tasks"));
}

TEST_F(QuotasTest, SynapseBytesComeFromTheLiveClusters) {
  engine::Template tmpl = engine::testing::lineTemplate(4, 8, 2);
  auto cluster = engine::testing::makeCluster(tmpl);
  std::vector<float> in{1, 2, 3, 4};
  std::vector<float> expected{1, 0};
  for (int i = 0; i < 20; ++i) ASSERT_OK(cluster->train(in, expected));
  const uint64_t bytes = cluster->stats().synapse_bytes;
  ASSERT_GT(bytes, 0u);
  registry_.put(std::make_shared<LiveCluster>("c1", "p1", std::move(cluster)));

  Quotas roomy(*store_, registry_, defaults_);
  EXPECT_OK(roomy.checkSynapseBytes("p1"));
  ASSERT_OK(roomy.set(store::ProjectQuota{"p1", {}, static_cast<int64_t>(bytes), {}, {}}));
  EXPECT_TRUE(failsWith(roomy.checkSynapseBytes("p1"), Code::kResourceExhausted, "synapse bytes"));
  EXPECT_OK(roomy.checkSynapseBytes("p2"));
  ASSERT_OK_AND_ASSIGN(QuotaUsage usage, roomy.usage("p1"));
  EXPECT_EQ(usage.synapse_bytes, static_cast<int64_t>(bytes));
}

}  // namespace
}  // namespace tendril::service
