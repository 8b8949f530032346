// The complete internal state of a cluster and the operations the passes share.
//
// Private to the engine (and its checkpoint code and tests). Layout, in short:
// - Neurons live in flat per-cluster arrays indexed by a global neuron index; each brick owns a
//   contiguous range, cut into neuron blocks of kBlockSize.
// - Every section is stored with the neuron block it targets (a block's sections are written
//   only by that block's task, which makes a cycle race-free when blocks run in parallel).
// - Synapses are structure-of-arrays per block: `weights` (f32) and `meta` (u32 packing the
//   start threshold, the activity counter and the target neuron) — 8 bytes per synapse. A
//   block's sections are contiguous runs of those arrays, in section order, with no gaps.
#pragma once

#include <bit>
#include <cmath>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "engine/cluster.h"
#include "engine/template.h"

namespace tendril::engine {

inline constexpr uint32_t kBlockSize = 64;           // neurons per neuron block
inline constexpr float kPotentialCutoff = 0.01f;     // a walk stops when p <= this
inline constexpr uint8_t kNewSynapseCounter = 5;     // activity counter of a new synapse
inline constexpr uint8_t kPersistentCounter = 10;    // counter value that is never reduced
inline constexpr uint32_t kReductionInterval = 100;  // training cycles between reductions
inline constexpr float kInitialWeightRange = 0.2f;   // new weights are +-U[0, 0.2)
// Below this many synapses in a brick, its blocks run on the calling thread: handing tasks to
// the pool costs a few microseconds, more than a small brick's whole walk (measured with the
// bench's threads experiment). Results are identical either way.
inline constexpr uint64_t kParallelMinSynapses = 32768;
// Inputs and expected values beyond this magnitude are refused: it keeps every threshold and
// section end a finite float with room to round up (raw data is nowhere near it).
inline constexpr float kMaxValueMagnitude = 1e30f;

// --- Synapse meta word ------------------------------------------------------------------------
// bits 0..21  threshold: the source potential at which the synapse starts to conduct, a
//             non-negative f32 with the sign bit dropped and the mantissa cut to 14 bits
//             (relative precision 2^-14 over the whole f32 range)
// bits 22..25 activity counter 0..10
// bits 26..31 target neuron within the block 0..63
//
// A section's synapses have strictly increasing thresholds; synapse i conducts over
// [threshold_i, threshold_i+1) (the last one up to the section's `end`). Its border (width) is
// therefore implicit, and the H4 walk "p -= border" becomes "p_i = potential - threshold_i":
// every synapse's coverage is independent of the others, and moving half a border from one
// synapse to the next (refinement) changes exactly one threshold.
inline constexpr uint32_t kThresholdMask = 0x003FFFFFu;

inline float metaThreshold(uint32_t meta) {
  return std::bit_cast<float>((meta & kThresholdMask) << 9);
}
inline uint32_t metaCounter(uint32_t meta) { return (meta >> 22) & 0xFu; }
inline uint32_t metaTarget(uint32_t meta) { return meta >> 26; }
// Truncates a non-negative value to the stored precision.
inline uint32_t thresholdBits(float value) { return std::bit_cast<uint32_t>(value) >> 9; }
inline float quantizeDown(float value) { return std::bit_cast<float>(thresholdBits(value) << 9); }
// The smallest stored value >= value (so a section's end always covers the potential seen).
inline float quantizeUp(float value) {
  const uint32_t bits = std::bit_cast<uint32_t>(value);
  const uint32_t down = bits & ~0x1FFu;
  return std::bit_cast<float>(down == bits ? bits : down + 0x200u);
}
inline uint32_t makeMeta(float threshold, uint32_t counter, uint32_t target) {
  return thresholdBits(threshold) | (counter << 22) | (target << 26);
}
inline uint32_t withThreshold(uint32_t meta, float threshold) {
  return (meta & ~kThresholdMask) | thresholdBits(threshold);
}
inline uint32_t withCounter(uint32_t meta, uint32_t counter) {
  return (meta & ~(0xFu << 22)) | (counter << 22);
}

// Everything targeting one neuron block.
//
// Sections are stored structure-of-arrays, sorted by source neuron (a neuron's own sections in
// creation order). Their synapses are contiguous in the same order with no gaps, so section
// k's first synapse is the sum of the counts before it: walks compute it as they go, and no
// per-section start or spare room costs memory (10 bytes per section, 8 per synapse).
// A section always holds at least one synapse; its first threshold is where it starts (the H4
// "offset") and `end` is where its last synapse stops conducting.
struct BlockState {
  uint32_t brick = 0;
  uint32_t first_neuron = 0;       // global index of neuron 0 of the block
  uint32_t size = 0;               // neurons in the block (<= kBlockSize)
  std::vector<uint32_t> source;    // per section: global index of the source neuron
  std::vector<float> end;          // per section: end of the last synapse's range
  std::vector<uint8_t> count;      // per section: synapses (1..synapses_per_section)
  std::vector<uint8_t> successor;  // per section: 1 once a successor section was requested
  std::vector<float> weights;      // per synapse
  std::vector<uint32_t> meta;      // per synapse (threshold, counter, target)

  uint32_t sectionCount() const { return static_cast<uint32_t>(source.size()); }
  uint32_t synapseCount() const { return static_cast<uint32_t>(weights.size()); }
  // First synapse of section k: O(k), for code off the hot paths.
  uint32_t sectionStart(uint32_t k) const {
    uint32_t start = 0;
    for (uint32_t i = 0; i < k; ++i) start += count[i];
    return start;
  }
};

struct BrickState {
  BrickRole role = BrickRole::kHidden;
  uint32_t first_neuron = 0;
  uint32_t neuron_count = 0;  // internal neurons (2 x width for sign-split input bricks)
  uint32_t width = 0;         // I/O values (input/output bricks), neuron count otherwise
  uint32_t first_block = 0;
  uint32_t block_count = 0;
  std::vector<uint32_t> possible_targets;  // brick indices; empty for output bricks
};

// A section to create (growth is applied after the cycle in a deterministic order). The new
// section gets one synapse conducting over [start, end).
struct GrowthRequest {
  uint32_t source = 0;
  float start = 0.0f;
  float end = 0.0f;
  uint8_t has_successor = 0;
};

class ThreadPool;

class ClusterState {
 public:
  Template tmpl;
  std::vector<Port> inputs;
  std::vector<Port> outputs;
  uint32_t input_width = 0;
  uint32_t output_width = 0;

  std::vector<BrickState> bricks;
  std::vector<uint32_t> order;  // topological processing order (non-input bricks only)
  std::vector<BlockState> blocks;

  // Per neuron (global index).
  std::vector<uint32_t> neuron_brick;
  std::vector<uint8_t> section_count;  // sections owned
  std::vector<float> carried;          // spiking: integrated potential carried between cycles
  std::vector<uint8_t> refractory;     // spiking: countdown to the next integration
  // Per cycle values of the training path (requests use a Workspace instead).
  std::vector<float> input;       // accumulated input of this cycle
  std::vector<float> activation;  // value passed into the neuron's sections (0 if inactive)
  std::vector<float> delta;       // backward pass: error term

  uint64_t cycle = 0;                           // training cycles done
  uint32_t reduction_counter = 0;               // training cycles since the last reduction
  std::vector<GrowthRequest> pending_recreate;  // sections released by reduction

  // Scratch reused across cycles (not state): per block, each section's backward sum, and the
  // growth requests collected during a forward pass.
  std::vector<std::vector<float>> section_sums;
  // Per block: the sections the forward pass reached and their first synapse (kept up to date
  // while the pass grows synapses, so the backward pass can walk the same list).
  std::vector<std::vector<uint32_t>> reached_index;
  std::vector<std::vector<uint32_t>> reached_start;
  std::vector<uint32_t> reached_count;
  std::vector<std::vector<GrowthRequest>> growth;

  ThreadPool* pool = nullptr;
  uint64_t parallel_min_synapses = kParallelMinSynapses;  // tests lower it to force the pool

  uint32_t neuronCount() const { return static_cast<uint32_t>(neuron_brick.size()); }
};

// Builds the state of an empty cluster. Assumes a validated template.
Result<std::unique_ptr<ClusterState>> buildClusterState(const Template& tmpl);

// --- Passes (forward.cc, backward.cc, reduction.cc) -------------------------------------------

// Writes the sample into the input neurons' activations (sign split when enabled).
void writeInputs(const ClusterState& state, std::span<const float> values,
                 std::span<float> activation);

// Training forward pass over all non-input bricks; appends growth requests per block.
void forwardTrain(ClusterState& state, std::vector<std::vector<GrowthRequest>>& growth);

// Inference over all non-input bricks into the workspace arrays.
void forwardInfer(const ClusterState& state, std::span<float> input, std::span<float> activation,
                  std::span<float> carried, std::span<uint8_t> refractory);

// Backward pass after forwardTrain (it walks the sections forwardTrain listed as reached).
void backward(ClusterState& state, std::span<const float> expected);

// One reduction pass: counters down, dead synapses removed, empty sections released.
void reduce(ClusterState& state);

// Creates a section for `source` targeting a brick drawn from its brick's possible targets.
// Returns false when the neuron already owns the maximum number of sections.
bool createSection(ClusterState& state, const GrowthRequest& request, uint64_t key);

// Inserts a synapse with a random target and weight as synapse `slot` of section `index`,
// whose first synapse is `start`; `key` makes the draw unique within the cycle. Synapses after
// it move up by one.
void insertSynapse(ClusterState& state, uint32_t block_index, uint32_t index, uint32_t start,
                   uint32_t slot, float threshold, uint64_t key);

// InvalidArgument naming `what` and the index when a value is not finite or beyond
// kMaxValueMagnitude.
Status checkValues(std::string_view what, std::span<const float> values);

// Tests set this to run requestMany() on its 4-lane path even where the CPU has AVX2.
bool& portableBatchesOnly();

// Bytes held by the section and synapse storage of a block.
uint64_t blockBytes(const BlockState& block);

}  // namespace tendril::engine
