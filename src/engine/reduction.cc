// Reduction: synapses that do not keep proving useful are removed.
//
// Every kReductionInterval training cycles each synapse whose activity counter is below
// kPersistentCounter loses one; a synapse whose counter reaches 0 is removed and its section
// compacted. The removed range is not lost: it goes to the previous synapse of the section (or,
// for the first synapse, the section now starts where the second one did), so every remaining
// synapse keeps the threshold at which it starts. A section left empty is released; its source
// neuron gets a fresh one-synapse section over the same range at the end of the next training
// cycle.
#include <vector>

#include "engine/cluster_state.h"

namespace tendril::engine {

void reduce(ClusterState& state) {
  for (BlockState& block : state.blocks) {
    bool released = false;
    for (SectionHeader& section : block.sections) {
      const float first_threshold = metaThreshold(block.meta[section.start]);
      uint32_t kept = 0;
      for (uint32_t i = 0; i < section.count; ++i) {
        uint32_t meta = block.meta[section.start + i];
        const uint32_t counter = metaCounter(meta);
        if (counter < kPersistentCounter) {
          meta = withCounter(meta, counter - 1);
          // Dropping a synapse's threshold hands its range to the synapse before it (or, for
          // the first one, moves the section's start up): later thresholds do not move.
          if (counter - 1 == 0) continue;
        }
        block.meta[section.start + kept] = meta;
        block.weights[section.start + kept] = block.weights[section.start + i];
        ++kept;
      }
      section.count = static_cast<uint16_t>(kept);
      if (kept == 0) {
        state.pending_recreate.push_back(
            {section.source, first_threshold, section.end, section.has_successor});
        --state.section_count[section.source];
        block.hole_synapses += section.capacity;
        section.source = kFreeSection;
        released = true;
      }
    }
    // Drop released headers; the rest stay sorted by source.
    if (released) {
      std::erase_if(block.sections, [](const SectionHeader& s) { return s.source == kFreeSection; });
    }
  }
}

}  // namespace tendril::engine
