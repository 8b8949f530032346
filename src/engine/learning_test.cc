// End-to-end learning on generated tasks: the network must reach a stated accuracy within a few
// seconds. These tests fail when growth, the walk or the backward pass break.
#include <gtest/gtest.h>

#include "engine/cluster.h"
#include "engine/test_support.h"

namespace tendril::engine {
namespace {

using testing::argmax;
using testing::bandTask;
using testing::lineTemplate;
using testing::makeCluster;

double accuracyOn(const Cluster& cluster, const std::vector<testing::Sample>& samples) {
  Workspace workspace;
  std::vector<float> outputs(cluster.outputWidth());
  size_t hits = 0;
  for (const auto& s : samples) {
    EXPECT_TRUE(cluster.request(s.inputs, outputs, workspace).ok());
    if (argmax(outputs) == s.label) ++hits;
  }
  return static_cast<double>(hits) / static_cast<double>(samples.size());
}

double learnBands(Template tmpl, float range) {
  auto cluster = makeCluster(tmpl);
  EXPECT_NE(cluster, nullptr);
  if (!cluster) return 0.0;
  for (const auto& s : bandTask(3000, 32, 4, range, 1)) {
    EXPECT_TRUE(cluster->train(s.inputs, s.expected).ok());
  }
  return accuracyOn(*cluster, bandTask(1000, 32, 4, range, 2));
}

TEST(LearningTest, LearnsBandTaskOnRawInputs) {
  EXPECT_GE(learnBands(lineTemplate(32, 128, 4), 255.0f), 0.95);
}

TEST(LearningTest, LearnsTheSameTaskAtAnyInputScale) {
  EXPECT_GE(learnBands(lineTemplate(32, 128, 4), 1.0f), 0.95);
  EXPECT_GE(learnBands(lineTemplate(32, 128, 4), 1e5f), 0.95);
}

TEST(LearningTest, NegativeInputsNeedTheSignSplit) {
  Template tmpl = lineTemplate(32, 128, 4);
  EXPECT_GE(learnBands(tmpl, -255.0f), 0.95);
  // Without the split a negative input is inactive: nothing can be learned (chance is 25 %).
  tmpl.settings.sign_split_inputs = false;
  EXPECT_LE(learnBands(tmpl, -255.0f), 0.40);
}

TEST(LearningTest, DirectTrainingOfOneSampleMakesItClassifiedRight) {
  // The Hanami direct-IO check: train one sample 100 times, then it must be answered right.
  auto cluster = makeCluster(lineTemplate(32, 128, 4));
  const auto samples = bandTask(40, 32, 4, 255.0f, 5);
  for (const auto& s : samples) ASSERT_TRUE(cluster->train(s.inputs, s.expected).ok());
  testing::Sample probe = samples[0];
  probe.label = (probe.label + 1) % 4;  // teach it a label the band does not suggest
  std::fill(probe.expected.begin(), probe.expected.end(), 0.0f);
  probe.expected[probe.label] = 1.0f;
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(cluster->train(probe.inputs, probe.expected).ok());
  EXPECT_EQ(accuracyOn(*cluster, {probe}), 1.0);
}

}  // namespace
}  // namespace tendril::engine
