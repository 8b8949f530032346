// The forward pass: sections walk their source potential through their synapses into the
// neurons of the block they target; then the block's neurons update (spiking, activation).
//
// Training and inference share the neuron update and the contribution rule but have separate
// walks: the training walk grows and refines synapses, the inference walk is read-only and
// tight, since it is what requests spend their time in.
#include <cmath>

#include "engine/cluster_state.h"
#include "engine/random.h"
#include "engine/thread_pool.h"

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
    for (uint32_t i = first; i < first + block.size; ++i) {
      const float x = n.input[i];
      n.activation[i] = x != 0.0f ? sigmoid(x) : 0.0f;
      n.input[i] = 0.0f;
    }
    return;
  }
  const float cooldown = static_cast<float>(state.tmpl.settings.neuron_cooldown);
  const uint8_t refractory_time = static_cast<uint8_t>(state.tmpl.settings.refractory_time);
  for (uint32_t i = first; i < first + block.size; ++i) {
    float carried = n.carried[i] / cooldown;
    uint8_t countdown = static_cast<uint8_t>(n.refractory[i] - 1);
    if (countdown == 0) {
      carried += n.input[i];
      countdown = refractory_time;
    }
    n.carried[i] = carried;
    n.refractory[i] = countdown;
    n.activation[i] = carried > 0.0f ? std::log2(1.0f + carried) : 0.0f;
    n.input[i] = 0.0f;
  }
}

// Read-only walk of every section targeting `block`.
void inferBlock(const ClusterState& state, const BlockState& block, const NeuronArrays& n) {
  float* input = n.input + block.first_neuron;
  const float* weights = block.weights.data();
  const uint32_t* meta = block.meta.data();
  for (const SectionHeader& section : block.sections) {
    if (section.source == kFreeSection) continue;
    float p = n.activation[section.source] - section.offset;
    const uint32_t end = section.start + section.count;
    for (uint32_t i = section.start; i < end && p > kPotentialCutoff; ++i) {
      const float border = metaBorder(meta[i]);
      const uint32_t target = metaTarget(meta[i]);
      input[target] += p >= border ? weights[i] : weights[i] * (p / border);
      p -= border;
    }
  }
  updateNeurons(state, block, n);
}

// A new synapse at slot `slot` of section `index`: the given border, a random target in the
// block and a random weight in +-[0, 0.2). The key makes each draw unique within the cycle.
void growSynapse(ClusterState& state, uint32_t block_index, uint32_t index, uint32_t slot,
                 float border) {
  BlockState& block = state.blocks[block_index];
  const uint32_t max_capacity = state.tmpl.settings.synapses_per_section;
  const uint32_t start = reserveSynapse(block, index, max_capacity);
  const uint64_t hash = hashKeys(state.tmpl.settings.seed, {state.cycle, block_index, index, slot});
  const float magnitude = unitFloat(hash) * kInitialWeightRange;
  block.weights[start + slot] = (hash & 1u) != 0 ? -magnitude : magnitude;
  block.meta[start + slot] =
      makeMeta(border, kNewSynapseCounter, uniformBelow(mix64(hash), block.size));
  ++block.sections[index].count;
}

// Training walk of every section targeting block `block_index`: growth (an empty slot reached
// with potential left gets a synapse taking all of it), refinement (a synapse wider than twice
// the potential reaching it gives half its border to the next slot), contributions, and a
// successor request when a full section still has potential left.
void trainBlock(ClusterState& state, uint32_t block_index, std::vector<GrowthRequest>& growth) {
  BlockState& block = state.blocks[block_index];
  const uint32_t max_capacity = state.tmpl.settings.synapses_per_section;
  float* input = state.input.data() + block.first_neuron;
  const size_t section_count = block.sections.size();
  for (uint32_t index = 0; index < section_count; ++index) {
    const uint32_t source = block.sections[index].source;
    if (source == kFreeSection) continue;
    const float potential = state.activation[source];
    float p = potential - block.sections[index].offset;
    uint32_t slot = 0;
    while (p > kPotentialCutoff) {
      if (slot == block.sections[index].count) {
        if (slot >= max_capacity) break;
        growSynapse(state, block_index, index, slot, quantizeBorder(p));
      }
      const uint32_t at = block.sections[index].start + slot;
      float border = metaBorder(block.meta[at]);
      if (border > 2.0f * p && slot + 1 < max_capacity) {
        const float half = quantizeBorder(border * 0.5f);
        const float rest = border - half;  // exact: keeps the cumulative thresholds
        block.meta[at] = withBorder(block.meta[at], half);
        if (slot + 1 < block.sections[index].count) {
          uint32_t& next = block.meta[at + 1];
          next = withBorder(next, metaBorder(next) + rest);
        } else {
          growSynapse(state, block_index, index, slot + 1, quantizeBorder(rest));
        }
        border = half;
      }
      const uint32_t at_now = block.sections[index].start + slot;  // growth may relocate
      const float weight = block.weights[at_now];
      input[metaTarget(block.meta[at_now])] += p >= border ? weight : weight * (p / border);
      p -= border;
      ++slot;
    }
    SectionHeader& section = block.sections[index];
    if (p > kPotentialCutoff && !section.has_successor) {
      section.has_successor = 1;
      growth.push_back({source, potential - p, 0});
    }
  }
  updateNeurons(state, block, {state.input.data(), state.activation.data(), state.carried.data(),
                               state.refractory.data()});
}

// Runs fn(block index) for every block of `brick`, in parallel when a pool is attached.
template <typename Fn>
void forEachBlock(const ClusterState& state, const BrickState& brick, Fn&& fn) {
  if (state.pool == nullptr || brick.block_count < 2) {
    for (uint32_t k = 0; k < brick.block_count; ++k) fn(brick.first_block + k);
    return;
  }
  state.pool->parallelFor(brick.block_count,
                          [&](size_t k) { fn(brick.first_block + static_cast<uint32_t>(k)); });
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
  }
}

void forwardInfer(const ClusterState& state, std::span<float> input, std::span<float> activation,
                  std::span<float> carried, std::span<uint8_t> refractory) {
  const NeuronArrays arrays{input.data(), activation.data(), carried.data(), refractory.data()};
  // Requests run on the caller's thread: parallelism for requests is across samples.
  for (uint32_t b : state.order) {
    const BrickState& brick = state.bricks[b];
    for (uint32_t k = 0; k < brick.block_count; ++k) {
      inferBlock(state, state.blocks[brick.first_block + k], arrays);
    }
  }
}

}  // namespace tendril::engine
