#include "engine/cluster.h"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>

#include "engine/cluster_state.h"
#include "engine/test_support.h"
#include "engine/thread_pool.h"
#include "engine/walk.h"

namespace tendril::engine {
namespace {

using testing::addSection;
using testing::lineTemplate;
using testing::makeCluster;

// One input value without sign split: input neuron 0, hidden neurons 1..64 (block 0), output
// neurons 65..74 (block 1).
std::unique_ptr<Cluster> workedExampleCluster() {
  Template tmpl = lineTemplate(1, 64, 10);
  tmpl.settings.sign_split_inputs = false;
  return makeCluster(tmpl);
}

constexpr uint32_t kHidden0 = 1;
constexpr uint32_t kOutput0 = 65;

// hanami-core.md §3.5, "H4 section, inference".
TEST(ClusterWorkedExample, InferenceWalkStopsInsidePartlyCoveredSynapse) {
  auto cluster = workedExampleCluster();
  ASSERT_NE(cluster, nullptr);
  ClusterState& state = cluster->state();
  addSection(state, 0, 0, 0.0f, {{100, 0.10f, 3}, {50, -0.05f, 7}, {20, 0.08f, 3}});
  const size_t n = state.neuronCount();
  std::vector<float> input(n, 0.0f), activation(n, 0.0f), carried(n, 0.0f);
  std::vector<uint8_t> refractory(n, 1);
  const float value = 130.0f;
  writeInputs(state, {&value, 1}, activation);
  forwardInfer(state, input, activation, carried, refractory);
  EXPECT_NEAR(carried[kHidden0 + 3], 0.10f, 1e-7);       // s0 fully passed
  EXPECT_NEAR(carried[kHidden0 + 7], -0.03f, 1e-7);      // s1 covered 30 of 50
  EXPECT_NEAR(activation[kHidden0 + 3], 0.13750, 1e-5);  // log2(1.10)
  EXPECT_EQ(activation[kHidden0 + 7], 0.0f);             // negative: inactive
}

// hanami-core.md §3.5, "H4 section, training, split".
TEST(ClusterWorkedExample, TrainingWalkSplitsWideSynapse) {
  auto cluster = workedExampleCluster();
  ClusterState& state = cluster->state();
  const uint32_t index =
      addSection(state, 0, 0, 0.0f, {{100, 0.10f, 3}, {50, -0.05f, 7}, {20, 0.08f, 3}});
  const float value = 110.0f;
  writeInputs(state, {&value, 1}, state.activation);
  std::vector<std::vector<GrowthRequest>> growth(state.blocks.size());
  forwardTrain(state, growth);
  const BlockState& block = state.blocks[0];
  ASSERT_EQ(block.count[index], 3);
  EXPECT_EQ(testing::sectionBorders(block, index), (std::vector<float>{100.0f, 25.0f, 45.0f}));
  EXPECT_NEAR(state.carried[kHidden0 + 7], -0.02f, 1e-7);  // -0.05 * 10 / 25
  EXPECT_NEAR(state.carried[kHidden0 + 3], 0.10f, 1e-7);
}

// hanami-core.md §3.5, "H4 backward".
TEST(ClusterWorkedExample, BackwardUpdatesWeightAndHiddenDelta) {
  auto cluster = workedExampleCluster();
  ClusterState& state = cluster->state();
  const uint32_t index = addSection(state, 1, kHidden0, 0.0f, {{0.1f, 0.3f, 0}});
  state.activation[kHidden0] = 0.1375035f;
  state.activation[kOutput0] = 1.0f / (1.0f + std::exp(-0.5f));
  state.reached_count[1] = collectReachedSections(state.blocks[1], state.activation.data(),
                                                  state.reached_index[1], state.reached_start[1]);
  std::vector<float> expected(10, 0.0f);
  expected[0] = 1.0f;
  backward(state, expected);
  EXPECT_NEAR(state.delta[kOutput0], -0.0887235f, 1e-6);
  const BlockState& block = state.blocks[1];
  EXPECT_NEAR(block.weights[block.sectionStart(index)], 0.3044362f, 1e-6);
  EXPECT_NEAR(state.delta[kHidden0], -0.0349095f, 1e-6);
}

// spec/engine.md §5: constant input 100, cooldown 1.5, refractory 3 gives the carried values
// 100, 66.7, 44.4, 129.6, ... (integration every third cycle, division every cycle).
TEST(ClusterSpiking, MatchesTheDocumentedFigure) {
  Template tmpl = lineTemplate(1, 64, 10);
  tmpl.settings.neuron_cooldown = 1.5;
  tmpl.settings.refractory_time = 3;
  auto cluster = makeCluster(tmpl);
  ASSERT_NE(cluster, nullptr);
  ClusterState& state = cluster->state();
  const uint32_t neuron = state.bricks[1].first_neuron;
  const std::vector<float> figure = {100.0f,   66.6667f, 44.4444f, 129.6296f,
                                     86.4198f, 57.6132f, 138.4088f};
  std::vector<std::vector<GrowthRequest>> growth(state.blocks.size());
  for (float carried : figure) {
    state.input[neuron] = 100.0f;
    forwardTrain(state, growth);
    EXPECT_NEAR(state.carried[neuron], carried, 1e-3);
    EXPECT_NEAR(state.activation[neuron], std::log2(1.0f + carried), 1e-4);
  }
}

// Dropout silences about the configured share of the hidden neurons a training cycle would
// activate, and only those: the same cluster without dropout computes the same activations for
// every neuron that was not dropped.
TEST(ClusterDropout, SilencesAboutTheGivenShareOfHiddenNeurons) {
  Template tmpl = lineTemplate(32, 256, 4);
  auto plain = makeCluster(tmpl);
  tmpl.settings.hidden_dropout = 0.5;
  auto dropping = makeCluster(tmpl);
  const auto samples = testing::bandTask(1, 32, 4, 255.0f, 3);
  for (Cluster* cluster : {plain.get(), dropping.get()}) {
    ClusterState& state = cluster->state();
    for (BlockState& block : state.blocks) {  // same wiring: every hidden neuron gets input
      if (state.bricks[block.brick].role != BrickRole::kHidden) continue;
      for (uint32_t source = 0; source < 32; ++source) {
        addSection(state, static_cast<uint32_t>(&block - state.blocks.data()), source, 0.0f,
                   {{300.0f, 0.05f, source % block.size}, {300.0f, 0.05f, (source + 7) % block.size}});
      }
    }
    writeInputs(state, samples[0].inputs, state.activation);
    forwardTrain(state, state.growth);
  }
  const BrickState& hidden = plain->state().bricks[1];
  uint32_t active = 0;
  uint32_t dropped = 0;
  for (uint32_t i = hidden.first_neuron; i < hidden.first_neuron + hidden.neuron_count; ++i) {
    const float a = plain->state().activation[i];
    const float b = dropping->state().activation[i];
    if (a > 0.0f) ++active;
    if (a > 0.0f && b == 0.0f) ++dropped;
    if (b != 0.0f) {
      EXPECT_EQ(a, b);  // kept neurons are untouched
    }
  }
  ASSERT_GT(active, 100u);
  EXPECT_NEAR(static_cast<double>(dropped) / active, 0.5, 0.12);
}

TEST(ClusterActivation, Log2OnePlusMatchesTheLibraryToFloatPrecision) {
  EXPECT_EQ(log2OnePlus(0.0f), 0.0f);  // inactive neurons must be exactly 0
  for (float c = 1e-6f; c < 1e30f; c *= 1.37f) {
    const double exact = std::log2(1.0 + static_cast<double>(c));
    EXPECT_NEAR(log2OnePlus(c), exact, 2e-7 * std::max(1.0, exact)) << c;
  }
}

TEST(ClusterGrowth, FirstSampleGrowsOneSynapseTakingTheWholeValue) {
  Template tmpl = lineTemplate(1, 64, 2);
  tmpl.settings.sign_split_inputs = false;
  auto cluster = makeCluster(tmpl);
  const float value = 200.0f;
  const float expected[2] = {1.0f, 0.0f};
  ASSERT_TRUE(cluster->train({&value, 1}, expected).ok());
  const ClusterState& state = cluster->state();
  EXPECT_EQ(state.section_count[0], 1);
  uint64_t synapses = 0;
  for (const BlockState& block : state.blocks) {
    for (uint32_t k = 0; k < block.sectionCount(); ++k) {
      if (block.source[k] != 0) continue;
      ASSERT_EQ(block.count[k], 1);
      EXPECT_EQ(testing::sectionBorders(block, k), std::vector<float>{200.0f});
      EXPECT_LT(std::abs(block.weights[block.sectionStart(k)]), 0.21f);
      ++synapses;
    }
  }
  EXPECT_EQ(synapses, 1u);
  EXPECT_EQ(cluster->stats().cycles_trained, 1u);
}

TEST(ClusterGrowth, FullSectionWithPotentialLeftGetsASuccessor) {
  Template tmpl = lineTemplate(1, 64, 2);
  tmpl.settings.sign_split_inputs = false;
  tmpl.settings.synapses_per_section = 4;
  auto cluster = makeCluster(tmpl);
  ClusterState& state = cluster->state();
  addSection(state, 0, 0, 0.0f, {{10, 0.1f, 1}, {10, 0.1f, 2}, {10, 0.1f, 3}, {10, 0.1f, 4}});
  const float value = 50.0f;
  const float expected[2] = {1.0f, 0.0f};
  ASSERT_TRUE(cluster->train({&value, 1}, expected).ok());
  EXPECT_EQ(state.section_count[0], 2);
  bool found = false;
  for (const BlockState& block : state.blocks) {
    for (uint32_t k = 0; k < block.sectionCount(); ++k) {
      if (block.source[k] == 0 && testing::sectionOffset(block, k) == 40.0f) found = true;
    }
  }
  EXPECT_TRUE(found) << "successor section with offset 40 (consumed potential) expected";
}

TEST(ClusterReduction, RemovesDeadSynapsesAndKeepsLaterThresholds) {
  Template tmpl = lineTemplate(1, 64, 2);
  tmpl.settings.sign_split_inputs = false;
  tmpl.settings.enable_reduction = true;
  auto cluster = makeCluster(tmpl);
  ClusterState& state = cluster->state();
  const uint32_t index = addSection(
      state, 0, 0, 0.0f, {{1, 0.1f, 1, 1}, {2, 0.2f, 2, 10}, {3, 0.3f, 3, 1}, {4, 0.4f, 4, 5}});
  reduce(state);
  const BlockState& block = state.blocks[0];
  const uint32_t start = block.sectionStart(index);
  ASSERT_EQ(block.count[index], 2);
  EXPECT_EQ(testing::sectionOffset(block, index), 1.0f);  // the section now starts where s1 did
  EXPECT_EQ(testing::sectionBorders(block, index), (std::vector<float>{5.0f, 4.0f}));  // 2+3, 4
  EXPECT_EQ(metaCounter(block.meta[start]), 10u);  // persistent: untouched
  EXPECT_EQ(metaCounter(block.meta[start + 1]), 4u);
  EXPECT_EQ(block.weights[start], 0.2f);
  EXPECT_EQ(block.weights[start + 1], 0.4f);
}

TEST(ClusterReduction, EmptySectionIsReleasedAndRecreatedNextCycle) {
  Template tmpl = lineTemplate(1, 64, 2);
  tmpl.settings.sign_split_inputs = false;
  tmpl.settings.enable_reduction = true;
  auto cluster = makeCluster(tmpl);
  ClusterState& state = cluster->state();
  addSection(state, 0, 0, 7.0f, {{1, 0.1f, 1, 1}});
  reduce(state);
  EXPECT_EQ(state.blocks[0].sectionCount(), 0u);
  EXPECT_EQ(state.blocks[0].synapseCount(), 0u);
  EXPECT_EQ(state.section_count[0], 0);
  ASSERT_EQ(state.pending_recreate.size(), 1u);
  EXPECT_EQ(state.pending_recreate[0].start, 7.0f);
  EXPECT_EQ(state.pending_recreate[0].end, 8.0f);
  const float value = 0.0f;  // an inactive input: only the release is re-created
  const float expected[2] = {0.0f, 0.0f};
  ASSERT_TRUE(cluster->train({&value, 1}, expected).ok());
  EXPECT_EQ(state.section_count[0], 1);
  EXPECT_TRUE(state.pending_recreate.empty());
}

TEST(ClusterApi, RejectsWrongWidthsAndNonFiniteValues) {
  auto cluster = makeCluster(lineTemplate(4, 64, 2));
  std::vector<float> inputs(4, 1.0f), expected(2, 0.0f), outputs(2);
  EXPECT_EQ(cluster->train(std::vector<float>(3, 1.0f), expected).code(), Code::kInvalidArgument);
  EXPECT_EQ(cluster->train(inputs, std::vector<float>(3)).code(), Code::kInvalidArgument);
  inputs[2] = std::nanf("");
  EXPECT_EQ(cluster->train(inputs, expected).code(), Code::kInvalidArgument);
  Workspace workspace;
  EXPECT_EQ(cluster->request(inputs, outputs, workspace).code(), Code::kInvalidArgument);
  inputs[2] = 2e30f;
  EXPECT_EQ(cluster->train(inputs, expected).code(), Code::kInvalidArgument);
  EXPECT_EQ(cluster->request(inputs, outputs, workspace).code(), Code::kInvalidArgument);
  inputs[2] = 1e30f;  // the largest accepted magnitude trains normally
  EXPECT_TRUE(cluster->train(inputs, expected).ok());
  EXPECT_TRUE(cluster->request(inputs, outputs, workspace).ok());
  for (float y : outputs) EXPECT_TRUE(std::isfinite(y));
  inputs[2] = 1.0f;
  std::vector<float> too_wide(5);
  EXPECT_EQ(cluster->request(inputs, too_wide, workspace).code(), Code::kInvalidArgument);
  EXPECT_EQ(cluster->stats().cycles_trained, 1u);  // only the one valid call trained
}

void trainBand(Cluster& cluster, uint32_t count, uint64_t seed) {
  for (const auto& s : testing::bandTask(count, 32, 4, 255.0f, seed)) {
    ASSERT_TRUE(cluster.train(s.inputs, s.expected).ok());
  }
}

TEST(ClusterDeterminism, SameSeedSameDataIsBitIdenticalForAnyThreadCount) {
  for (bool reduction : {false, true}) {
    Template tmpl = lineTemplate(32, 200, 4);
    tmpl.settings.enable_reduction = reduction;
    tmpl.settings.hidden_dropout = reduction ? 0.25 : 0.0;  // the second run drops neurons too
    tmpl.settings.seed = 42;
    auto single = makeCluster(tmpl);
    ThreadPool two(2), four(4);
    auto parallel2 = makeCluster(tmpl, &two);
    auto parallel4 = makeCluster(tmpl, &four);
    // These bricks are small: make the pool take every brick anyway.
    parallel2->setParallelThreshold(0);
    parallel4->setParallelThreshold(0);
    trainBand(*single, 600, 9);
    trainBand(*parallel2, 600, 9);
    trainBand(*parallel4, 600, 9);
    EXPECT_GT(single->stats().synapses, 100u);
    EXPECT_TRUE(single->sameStateAs(*parallel2)) << "reduction " << reduction;
    EXPECT_TRUE(single->sameStateAs(*parallel4)) << "reduction " << reduction;
    tmpl.settings.seed = 43;
    auto other_seed = makeCluster(tmpl);
    trainBand(*other_seed, 600, 9);
    EXPECT_FALSE(single->sameStateAs(*other_seed));
  }
}

TEST(ClusterRequest, NeverChangesTheClusterAndRepeatsExactly) {
  Template tmpl = lineTemplate(32, 128, 4);
  auto a = makeCluster(tmpl);
  auto b = makeCluster(tmpl);
  trainBand(*a, 300, 1);
  trainBand(*b, 300, 1);
  Workspace workspace;
  std::vector<float> first(4), second(4);
  for (const auto& s : testing::bandTask(50, 32, 4, 255.0f, 77)) {
    ASSERT_TRUE(a->request(s.inputs, first, workspace).ok());
    ASSERT_TRUE(a->request(s.inputs, second, workspace).ok());
    EXPECT_EQ(first, second);
  }
  EXPECT_TRUE(a->sameStateAs(*b));
}

// requestMany walks each section once for several samples; every sample's outputs must equal a
// single request() bit for bit, for every output rule, with a tail batch of fewer samples and
// with inputs that reach different parts of the sections.
TEST(ClusterRequestMany, IsBitIdenticalToSingleRequests) {
  for (bool portable : {false, true}) {
    portableBatchesOnly() = portable;
    for (OutputLoss loss :
         {OutputLoss::kSquaredError, OutputLoss::kCrossEntropy, OutputLoss::kSoftmax}) {
      Template tmpl = lineTemplate(32, 150, 4);
      tmpl.settings.output_loss = loss;
      auto cluster = makeCluster(tmpl);
      trainBand(*cluster, 500, 3);
      const auto samples = testing::bandTask(21, 32, 4, 255.0f, 8);  // 2 full batches + 5
      std::vector<float> inputs, batched(21 * 4), single(4);
      for (const auto& sample : samples)
        inputs.insert(inputs.end(), sample.inputs.begin(), sample.inputs.end());
      inputs[5] = -40.0f;  // a negative value: the sign-split channel
      Workspace workspace;
      ASSERT_TRUE(cluster->requestMany(inputs, batched, samples.size(), workspace).ok());
      for (size_t i = 0; i < samples.size(); ++i) {
        ASSERT_TRUE(
            cluster->request(std::span<const float>(inputs).subspan(i * 32, 32), single, workspace)
                .ok());
        for (size_t o = 0; o < 4; ++o) {
          EXPECT_EQ(std::bit_cast<uint32_t>(batched[i * 4 + o]), std::bit_cast<uint32_t>(single[o]))
              << "loss " << static_cast<int>(loss) << " sample " << i << " output " << o
              << (portable ? " (4-lane path)" : "");
        }
      }
    }
  }
  portableBatchesOnly() = false;
}

TEST(ClusterRequestMany, SpikingClustersAndBadSizes) {
  Template tmpl = lineTemplate(32, 128, 4);
  tmpl.settings.neuron_cooldown = 1.5;
  tmpl.settings.refractory_time = 3;
  auto cluster = makeCluster(tmpl);
  trainBand(*cluster, 200, 4);
  const auto samples = testing::bandTask(3, 32, 4, 255.0f, 9);
  std::vector<float> inputs, batched(12), single(4);
  for (const auto& sample : samples)
    inputs.insert(inputs.end(), sample.inputs.begin(), sample.inputs.end());
  Workspace workspace;
  ASSERT_TRUE(cluster->requestMany(inputs, batched, 3, workspace).ok());
  for (size_t i = 0; i < 3; ++i) {
    ASSERT_TRUE(
        cluster->request(std::span<const float>(inputs).subspan(i * 32, 32), single, workspace)
            .ok());
    EXPECT_EQ(std::vector<float>(batched.begin() + i * 4, batched.begin() + i * 4 + 4), single);
  }
  EXPECT_EQ(cluster->requestMany(inputs, batched, 4, workspace).code(), Code::kInvalidArgument);
  inputs[40] = std::nanf("");
  EXPECT_EQ(cluster->requestMany(inputs, batched, 3, workspace).code(), Code::kInvalidArgument);
}

}  // namespace
}  // namespace tendril::engine
