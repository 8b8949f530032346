// The forward pass: sections walk their source potential through their synapses into the
// neurons of the block they target; then the block's neurons update (spiking, activation).
//
// Training and inference share the neuron update and the contribution rule but have separate
// walks: the training walk grows and refines synapses, the inference walk is read-only and
// tight, since it is what requests spend their time in.
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>

#include "engine/cluster_state.h"
#include "engine/random.h"
#include "engine/walk.h"

namespace tendril::engine {
namespace {

// The neuron arrays a pass reads and writes: the cluster's own (training) or a workspace's.
struct NeuronArrays {
  float* input;
  float* activation;
  float* carried;
  uint8_t* refractory;
};

inline float sigmoid(float x) { return 1.0f / (1.0f + std::exp(-x)); }

// Hidden neurons: spiking update, then a = log2(1 + x) for x > 0. Output neurons: a sigmoid of
// the input, or 0 when no synapse reached them. Inputs are cleared for the next cycle.
void updateNeurons(const ClusterState& state, const BlockState& block, const NeuronArrays& n) {
  const uint32_t first = block.first_neuron;
  if (state.bricks[block.brick].role == BrickRole::kOutput) {
    if (state.tmpl.settings.output_loss == OutputLoss::kSoftmax) {
      // Raw sums for now; softmaxBrick() normalises once every block of the brick is done.
      for (uint32_t i = first; i < first + block.size; ++i) {
        n.activation[i] = n.input[i];
        n.input[i] = 0.0f;
      }
      return;
    }
    for (uint32_t i = first; i < first + block.size; ++i) {
      const float x = n.input[i];
      n.activation[i] = x != 0.0f ? sigmoid(x) : 0.0f;
      n.input[i] = 0.0f;
    }
    return;
  }
  const float cooldown = static_cast<float>(state.tmpl.settings.neuron_cooldown);
  const uint8_t refractory_time = static_cast<uint8_t>(state.tmpl.settings.refractory_time);
  if (refractory_time == 1) {
    // Every cycle integrates (the default): no countdown, and a loop the compiler vectorises.
    for (uint32_t i = first; i < first + block.size; ++i) {
      const float carried = n.carried[i] / cooldown + n.input[i];
      n.carried[i] = carried;
      n.input[i] = 0.0f;
      n.activation[i] = log2OnePlus(std::max(carried, 0.0f));
    }
    return;
  }
  for (uint32_t i = first; i < first + block.size; ++i) {
    float carried = n.carried[i] / cooldown;
    uint8_t countdown = static_cast<uint8_t>(n.refractory[i] - 1);
    if (countdown == 0) {
      carried += n.input[i];
      countdown = refractory_time;
    }
    n.carried[i] = carried;
    n.refractory[i] = countdown;
    n.activation[i] = log2OnePlus(std::max(carried, 0.0f));
    n.input[i] = 0.0f;
  }
}

// Read-only walk of every section targeting `block`: fully passed synapses add their weight,
// the synapse the potential ends in adds its share (see walk.h).
void inferBlock(const ClusterState& state, const BlockState& block, const NeuronArrays& n,
                std::vector<uint32_t>& reached_index, std::vector<uint32_t>& reached_start) {
  float* input = n.input + block.first_neuron;
  const uint32_t reached =
      collectReachedSections(block, n.activation, reached_index, reached_start);
  for (uint32_t r = 0; r < reached; ++r) {
    const uint32_t k = reached_index[r];
    const float potential = n.activation[block.source[k]];
    const uint32_t* m = block.meta.data() + reached_start[r];
    const float* w = block.weights.data() + reached_start[r];
    const uint32_t count = block.count[k];
    const PassedRun run = passFullSynapses(m, count, block.end[k], potential,
                                           [&](uint32_t i) { input[metaTarget(m[i])] += w[i]; });
    if (run.passed < count && potential - run.threshold > kPotentialCutoff) {
      input[metaTarget(m[run.passed])] +=
          w[run.passed] * coverage(potential, run.threshold, run.next);
    }
  }
  updateNeurons(state, block, n);
}

// Dropout: silences a random share of a hidden block's neurons for this training cycle. A
// silenced neuron passes nothing on, learns nothing and grows nothing this cycle; its carried
// potential is kept. Requests never drop. The draw depends on (seed, cycle, neuron) only.
void dropHiddenNeurons(ClusterState& state, const BlockState& block) {
  const double share = state.tmpl.settings.hidden_dropout;
  if (share <= 0.0 || state.bricks[block.brick].role != BrickRole::kHidden) return;
  const float threshold = static_cast<float>(share);
  for (uint32_t i = block.first_neuron; i < block.first_neuron + block.size; ++i) {
    if (unitFloat(hashKeys(state.tmpl.settings.seed, {0xD80F0u, state.cycle, i})) < threshold) {
      state.activation[i] = 0.0f;
    }
  }
}

// Training walk of every section targeting block `block_index`. Fully passed synapses behave as
// in a request; the one synapse where the potential ends is where the H4 rules apply:
// - refinement: a synapse more than twice as wide as the potential reaching into it gives the
//   upper half of its range to the next synapse (or to a new one when it is the last);
// - growth: potential left beyond the section's end gets a new synapse covering it all;
// - a full section with potential left requests a successor section starting at its end.
void trainBlock(ClusterState& state, uint32_t block_index, std::vector<GrowthRequest>& growth) {
  BlockState& block = state.blocks[block_index];
  std::vector<uint32_t>& reached_index = state.reached_index[block_index];
  std::vector<uint32_t>& reached_start = state.reached_start[block_index];
  const uint32_t max_count = state.tmpl.settings.synapses_per_section;
  float* input = state.input.data() + block.first_neuron;
  const uint32_t reached =
      collectReachedSections(block, state.activation.data(), reached_index, reached_start);
  state.reached_count[block_index] = reached;
  uint32_t inserted = 0;  // synapses grown so far: later sections start that much further on
  for (uint32_t r = 0; r < reached; ++r) {
    const uint32_t k = reached_index[r];
    const uint32_t start = reached_start[r] + inserted;
    reached_start[r] = start;
    const uint32_t source = block.source[k];
    const float potential = state.activation[source];
    const PassedRun run = [&] {
      const uint32_t* m = block.meta.data() + start;
      const float* w = block.weights.data() + start;
      return passFullSynapses(m, block.count[k], block.end[k], potential,
                              [&](uint32_t i) { input[metaTarget(m[i])] += w[i]; });
    }();
    const uint32_t slot = run.passed;
    float threshold = run.threshold;
    float next = run.next;
    const uint64_t key = (uint64_t{k} << 8) | slot;
    if (slot == block.count[k]) {
      // Every synapse passed: grow into the potential left, or ask for a successor.
      if (potential - block.end[k] <= kPotentialCutoff) continue;
      if (block.count[k] >= max_count) {
        if (block.successor[k] == 0) {
          block.successor[k] = 1;
          growth.push_back({source, block.end[k], potential, 0});
        }
        continue;
      }
      threshold = block.end[k];
      block.end[k] = quantizeUp(potential);
      next = block.end[k];
      insertSynapse(state, block_index, k, start, slot, threshold, key);
      ++inserted;
    }
    const float reach = potential - threshold;
    if (reach <= kPotentialCutoff) continue;
    if (next - threshold > 2.0f * reach && slot + 1 < max_count) {
      const float middle = quantizeDown(threshold + 0.5f * (next - threshold));
      // Both halves must stay wider than the cut-off (a fully passed synapse is then always
      // reached, which the walks rely on).
      if (middle - threshold > kPotentialCutoff && next - middle > kPotentialCutoff) {
        if (slot + 1 == block.count[k]) {
          insertSynapse(state, block_index, k, start, slot + 1, middle, key + 1);
          ++inserted;
        } else {
          uint32_t& following = block.meta[start + slot + 1];
          following = withThreshold(following, middle);
        }
        next = middle;
      }
    }
    input[metaTarget(block.meta[start + slot])] +=
        block.weights[start + slot] * coverage(potential, threshold, next);
  }
  updateNeurons(
      state, block,
      {state.input.data(), state.activation.data(), state.carried.data(), state.refractory.data()});
  dropHiddenNeurons(state, block);
}

// Softmax over an output brick's raw sums (max-shifted so exp cannot overflow).
void softmaxBrick(const ClusterState& state, const BrickState& brick, float* activation) {
  if (brick.role != BrickRole::kOutput || state.tmpl.settings.output_loss != OutputLoss::kSoftmax) {
    return;
  }
  float* y = activation + brick.first_neuron;
  const float top = *std::max_element(y, y + brick.neuron_count);
  float sum = 0.0f;
  for (uint32_t i = 0; i < brick.neuron_count; ++i) {
    y[i] = std::exp(y[i] - top);
    sum += y[i];
  }
  for (uint32_t i = 0; i < brick.neuron_count; ++i) y[i] /= sum;
}

}  // namespace

void writeInputs(const ClusterState& state, std::span<const float> values,
                 std::span<float> activation) {
  const bool split = state.tmpl.settings.sign_split_inputs;
  for (const Port& port : state.inputs) {
    const BrickState& brick = state.bricks[port.brick];
    float* positive = activation.data() + brick.first_neuron;
    const float* in = values.data() + port.offset;
    if (split) {
      float* negative = positive + port.width;
      for (uint32_t i = 0; i < port.width; ++i) {
        positive[i] = in[i] > 0.0f ? in[i] : 0.0f;
        negative[i] = in[i] < 0.0f ? -in[i] : 0.0f;
      }
    } else {
      for (uint32_t i = 0; i < port.width; ++i) positive[i] = in[i] > 0.0f ? in[i] : 0.0f;
    }
  }
}

void forwardTrain(ClusterState& state, std::vector<std::vector<GrowthRequest>>& growth) {
  for (uint32_t b : state.order) {
    forEachBlock(state, state.bricks[b],
                 [&](uint32_t block) { trainBlock(state, block, growth[block]); });
    softmaxBrick(state, state.bricks[b], state.activation.data());
  }
}

void forwardInfer(const ClusterState& state, std::span<float> input, std::span<float> activation,
                  std::span<float> carried, std::span<uint8_t> refractory) {
  const NeuronArrays arrays{input.data(), activation.data(), carried.data(), refractory.data()};
  // Requests run on the caller's thread: parallelism for requests is across samples.
  thread_local std::vector<uint32_t> reached_index;
  thread_local std::vector<uint32_t> reached_start;
  for (uint32_t b : state.order) {
    const BrickState& brick = state.bricks[b];
    for (uint32_t k = 0; k < brick.block_count; ++k) {
      inferBlock(state, state.blocks[brick.first_block + k], arrays, reached_index, reached_start);
    }
    softmaxBrick(state, brick, activation.data());
  }
}

}  // namespace tendril::engine
