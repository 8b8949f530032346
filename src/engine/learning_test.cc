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

namespace tendril::engine {
namespace {

// Hanami's 3-D template (A11 tests): input 1,1,1 -> hidden 2,2,2 (one plane up, side 11) ->
// output 3,2,2. It must validate, order the bricks and learn like a flat one.
TEST(LearningTest, ThreeDimensionalTemplateLearns) {
  Template tmpl;
  tmpl.bricks.push_back({{1, 1, 1}, BrickRole::kInput, "in", 32, 0});
  tmpl.bricks.push_back({{2, 2, 2}, BrickRole::kHidden, "", 128, 0});
  tmpl.bricks.push_back({{3, 2, 2}, BrickRole::kOutput, "out", 4, 0});
  EXPECT_GE(learnBands(tmpl, 255.0f), 0.95);
}

// Two named inputs, each with its own hidden brick, and two named outputs (the hidden bricks also
// reach each other's output and 2,2,1 feeds 2,1,1). Output "a" must learn
// the class of the band lit in input "x", output "b" the class of input "y": the ports, their
// offsets in the flat sample vectors and the output bricks must all line up.
TEST(LearningTest, SeveralNamedInputAndOutputBricks) {
  Template tmpl;
  tmpl.bricks.push_back({{1, 1, 1}, BrickRole::kInput, "x", 16, 0});
  tmpl.bricks.push_back({{1, 2, 1}, BrickRole::kInput, "y", 16, 0});
  tmpl.bricks.push_back({{2, 1, 1}, BrickRole::kHidden, "", 128, 0});
  tmpl.bricks.push_back({{2, 2, 1}, BrickRole::kHidden, "", 128, 0});
  tmpl.bricks.push_back({{3, 1, 1}, BrickRole::kOutput, "a", 2, 0});
  tmpl.bricks.push_back({{3, 2, 1}, BrickRole::kOutput, "b", 2, 0});
  auto cluster = makeCluster(tmpl);
  ASSERT_NE(cluster, nullptr);
  ASSERT_EQ(cluster->inputs().size(), 2u);
  ASSERT_EQ(cluster->outputs().size(), 2u);
  EXPECT_EQ(cluster->inputs()[1].name, "y");
  EXPECT_EQ(cluster->inputs()[1].offset, 16u);
  EXPECT_EQ(cluster->outputs()[1].name, "b");
  EXPECT_EQ(cluster->outputs()[1].offset, 2u);
  auto make = [](uint32_t count, uint64_t seed) {
    const auto xs = bandTask(count, 16, 2, 255.0f, seed);
    const auto ys = bandTask(count, 16, 2, 255.0f, seed + 100);
    std::vector<testing::Sample> samples(count);
    for (uint32_t i = 0; i < count; ++i) {
      samples[i].inputs = xs[i].inputs;
      samples[i].inputs.insert(samples[i].inputs.end(), ys[i].inputs.begin(), ys[i].inputs.end());
      samples[i].expected = xs[i].expected;
      samples[i].expected.insert(samples[i].expected.end(), ys[i].expected.begin(),
                                 ys[i].expected.end());
      samples[i].label = xs[i].label * 2 + ys[i].label;
    }
    return samples;
  };
  for (const auto& s : make(4000, 1)) ASSERT_TRUE(cluster->train(s.inputs, s.expected).ok());
  Workspace workspace;
  std::vector<float> outputs(4);
  uint32_t right_a = 0, right_b = 0;
  const auto test = make(500, 2);
  for (const auto& s : test) {
    ASSERT_TRUE(cluster->request(s.inputs, outputs, workspace).ok());
    if ((outputs[1] > outputs[0]) == (s.label / 2 == 1)) ++right_a;
    if ((outputs[3] > outputs[2]) == (s.label % 2 == 1)) ++right_b;
  }
  EXPECT_GE(right_a, 475u);  // 95 %
  EXPECT_GE(right_b, 475u);
}

}  // namespace
}  // namespace tendril::engine
