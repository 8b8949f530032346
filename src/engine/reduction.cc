// Reduction: synapses that do not keep proving useful are removed.
//
// Every kReductionInterval training cycles each synapse whose activity counter is below
// kPersistentCounter loses one; a synapse whose counter reaches 0 is removed and its section
// compacted. The removed range is not lost: it goes to the previous synapse of the section (or,
// for the first synapse, the section now starts where the second one did), so every remaining
// synapse keeps the threshold at which it starts. A section left empty is released; its source
// neuron gets a fresh one-synapse section over the same range at the end of the next training
// cycle.
#include "engine/cluster_state.h"

namespace tendril::engine {

void reduce(ClusterState& state) {
  for (BlockState& block : state.blocks) {
    // One pass compacts sections and synapses in place.
    uint32_t read = 0;
    uint32_t write = 0;
    uint32_t kept_sections = 0;
    for (uint32_t k = 0; k < block.sectionCount(); ++k) {
      const float first_threshold = metaThreshold(block.meta[read]);
      uint32_t kept = 0;
      for (uint32_t i = 0; i < block.count[k]; ++i, ++read) {
        uint32_t meta = block.meta[read];
        const uint32_t counter = metaCounter(meta);
        // Counters are 1..10 in a live cluster (a synapse at 0 is removed in the pass that
        // takes it there); the guard keeps a 0 from wrapping into the target bits.
        if (counter < kPersistentCounter && counter > 0) {
          meta = withCounter(meta, counter - 1);
          // Dropping a synapse's threshold hands its range to the synapse before it (or, for
          // the first one, moves the section's start up): later thresholds do not move.
          if (counter - 1 == 0) continue;
        }
        block.meta[write] = meta;
        block.weights[write] = block.weights[read];
        ++write;
        ++kept;
      }
      if (kept == 0) {
        state.pending_recreate.push_back(
            {block.source[k], first_threshold, block.end[k], block.successor[k]});
        --state.section_count[block.source[k]];
        continue;
      }
      block.source[kept_sections] = block.source[k];
      block.end[kept_sections] = block.end[k];
      block.count[kept_sections] = static_cast<uint8_t>(kept);
      block.successor[kept_sections] = block.successor[k];
      ++kept_sections;
    }
    block.source.resize(kept_sections);
    block.end.resize(kept_sections);
    block.count.resize(kept_sections);
    block.successor.resize(kept_sections);
    block.weights.resize(write);
    block.meta.resize(write);
  }
}

}  // namespace tendril::engine
