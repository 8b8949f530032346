// Brick geometry: the hexagonal 3-D grid, its 12 sides, the forward brick graph, the topological
// processing order and the per-brick lists of possible section targets.
//
// The grid uses odd-row offset coordinates within a z-plane (odd y rows are shifted half a cell
// to +x) and stacks planes in z, giving 12 neighbours per cell; opposite(side) = 11 - side.
// Sections only grow along the 7 forward sides {9, 3, 1, 4, 11, 5, 2}.
//
// Thread safety: all functions are pure.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <vector>

#include "common/status.h"
#include "engine/template.h"

namespace tendril::engine {

inline constexpr int kSideCount = 12;
inline constexpr std::array<int, 7> kForwardSides = {9, 3, 1, 4, 11, 5, 2};
inline constexpr uint32_t kPossibleTargetCount = 64;
inline constexpr uint32_t kNoBrick = 0xFFFFFFFFu;

// The neighbouring position across `side` (0..11), or nullopt where a coordinate would drop
// below 1.
std::optional<Position> neighbourPosition(const Position& position, int side);

// The bricks of a template wired together. Indices are declaration indices of Template::bricks.
struct BrickGraph {
  std::vector<std::array<uint32_t, kSideCount>> neighbours;  // kNoBrick where no brick is
  // Forward successors of each brick: bricks across a forward side that are not input bricks.
  // Output bricks have none (they never own sections).
  std::vector<std::vector<uint32_t>> forward;
  std::vector<uint32_t> topological_order;  // every brick once; inputs first
};

// Builds the graph and checks it: every brick touches another brick; the forward graph has no
// cycle (vertically stacked bricks linked both up and down are a cycle: the error names both
// bricks); every input and hidden brick reaches an output brick. Messages name the brick.
Result<BrickGraph> buildBrickGraph(const Template& tmpl);

// The fixed list of kPossibleTargetCount target bricks of a non-output brick. Entry k is the end
// of random walk k: the first step goes to a uniformly chosen forward successor; before each
// further step (up to max_distance steps in all) the walk stops with probability 1/2; a walk
// that dead-ends stops at the last brick reached. Nearer bricks are therefore more likely.
// Deterministic in (seed, brick). Empty for output bricks and bricks without successors.
std::vector<uint32_t> possibleTargets(const BrickGraph& graph, uint32_t brick,
                                      uint32_t max_distance, uint64_t seed);

}  // namespace tendril::engine
