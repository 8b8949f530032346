// The backward pass: output deltas, then bricks in reverse processing order. Each section walks
// the synapses the forward pass reached, sums delta x weight for its source neuron and updates
// each weight by its coverage of the forward pass (a synapse that contributed nothing learns
// nothing). Hidden neurons turn the sum of their sections' sums into their own delta.
#include <algorithm>
#include <cmath>

#include "engine/cluster_state.h"
#include "engine/thread_pool.h"
#include "engine/walk.h"

namespace tendril::engine {
namespace {

constexpr float kLog2e = 1.4426950408889634f;  // d/dx log2(1 + x) = log2(e) * 2^-log2(1 + x)

// The step size of this cycle: constant, or rate x D / (D + cycles) with a decay of D cycles.
float learningRate(const ClusterState& state) {
  const Settings& settings = state.tmpl.settings;
  if (settings.learning_rate_decay == 0) return static_cast<float>(settings.learning_rate);
  const double decay = static_cast<double>(settings.learning_rate_decay);
  return static_cast<float>(settings.learning_rate * decay /
                            (decay + static_cast<double>(state.cycle)));
}

void outputDeltas(ClusterState& state, std::span<const float> expected) {
  const OutputLoss loss = state.tmpl.settings.output_loss;
  for (const Port& port : state.outputs) {
    const BrickState& brick = state.bricks[port.brick];
    for (uint32_t i = 0; i < port.width; ++i) {
      const uint32_t neuron = brick.first_neuron + i;
      const float y = state.activation[neuron];
      const float t = expected[port.offset + i];
      if (loss == OutputLoss::kSoftmax) {
        state.delta[neuron] = y - t;
      } else if (y == 0.0f) {
        // A sigmoid output no synapse reached is 0 and has nothing to update.
        state.delta[neuron] = 0.0f;
      } else {
        state.delta[neuron] = loss == OutputLoss::kCrossEntropy ? y - t : (y - t) * y * (1.0f - y);
      }
    }
  }
}

// Walks the sections of one block that the forward pass reached (its reached lists); stores
// each one's delta sum in `sums`, in the same order.
void backwardBlock(ClusterState& state, uint32_t block_index, std::vector<float>& sums) {
  BlockState& block = state.blocks[block_index];
  const std::vector<uint32_t>& reached_index = state.reached_index[block_index];
  const std::vector<uint32_t>& reached_start = state.reached_start[block_index];
  const float rate = learningRate(state);
  const bool count_activity = state.tmpl.settings.enable_reduction;
  const float* delta = state.delta.data() + block.first_neuron;
  const float* target_activation = state.activation.data() + block.first_neuron;
  sums.resize(state.reached_count[block_index]);
  // Growth since the forward pass only appended synapses or moved thresholds after a
  // section's first, and the forward pass kept the starts up to date: the lists are exact.
  for (uint32_t r = 0; r < state.reached_count[block_index]; ++r) {
    const uint32_t k = reached_index[r];
    const float potential = state.activation[block.source[k]];
    uint32_t* m = block.meta.data() + reached_start[r];
    float* w = block.weights.data() + reached_start[r];
    const uint32_t count = block.count[k];
    float sum = 0.0f;
    // One synapse's update: its share of the source's error and its own weight change.
    auto learn = [&](uint32_t i, float cover) {
      const uint32_t target = metaTarget(m[i]);
      const float weight = w[i];
      sum += delta[target] * weight;
      w[i] = weight - rate * delta[target] * cover;
      if (count_activity) {
        const uint32_t counter = metaCounter(m[i]);
        const bool agrees = (target_activation[target] > 0.0f) == (weight > 0.0f);
        if (agrees && counter < kPersistentCounter) m[i] = withCounter(m[i], counter + 1);
      }
    };
    const PassedRun run =
        passFullSynapses(m, count, block.end[k], potential, [&](uint32_t i) { learn(i, 1.0f); });
    if (run.passed < count && potential - run.threshold > kPotentialCutoff) {
      learn(run.passed, coverage(potential, run.threshold, run.next));
    }
    sums[r] = sum;
  }
}

// Hidden neurons of `brick`: delta = (sum of their sections' sums) * d log2(1 + x) if active.
void hiddenDeltas(ClusterState& state, const BrickState& brick) {
  for (uint32_t i = brick.first_neuron; i < brick.first_neuron + brick.neuron_count; ++i) {
    const float a = state.activation[i];
    state.delta[i] = a > 0.0f ? state.delta[i] * kLog2e * std::exp2(-a) : 0.0f;
  }
}

}  // namespace

void backward(ClusterState& state, std::span<const float> expected) {
  outputDeltas(state, expected);
  // Hidden deltas accumulate section sums before they are scaled; start from zero.
  for (uint32_t b : state.order) {
    const BrickState& brick = state.bricks[b];
    if (brick.role == BrickRole::kHidden) {
      std::fill_n(state.delta.begin() + brick.first_neuron, brick.neuron_count, 0.0f);
    }
  }
  std::vector<std::vector<float>>& section_sums = state.section_sums;
  section_sums.resize(state.blocks.size());
  for (auto it = state.order.rbegin(); it != state.order.rend(); ++it) {
    const BrickState& brick = state.bricks[*it];
    // Every section that feeds this brick's neurons has already added its sum: all of them
    // target later bricks, which were processed before.
    if (brick.role == BrickRole::kHidden) hiddenDeltas(state, brick);
    forEachBlock(state, brick,
                 [&](uint32_t block) { backwardBlock(state, block, section_sums[block]); });
    // Hand the sums to the source neurons in a fixed order (block, section): deterministic
    // and race-free, since several blocks may hold sections of one source neuron.
    for (uint32_t k = 0; k < brick.block_count; ++k) {
      const uint32_t block_index = brick.first_block + k;
      const BlockState& block = state.blocks[block_index];
      const std::vector<float>& sums = section_sums[block_index];
      // Sections the forward pass did not reach have a sum of 0 and are skipped.
      for (uint32_t r = 0; r < state.reached_count[block_index]; ++r) {
        const uint32_t source = block.source[state.reached_index[block_index][r]];
        if (state.bricks[state.neuron_brick[source]].role == BrickRole::kHidden) {
          state.delta[source] += sums[r];
        }
      }
    }
  }
}

}  // namespace tendril::engine
