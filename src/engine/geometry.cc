// Brick geometry: neighbours on the hexagonal grid, the checked forward graph, processing order
// and possible-target walks. See docs/templates.md ("Geometry") for the tables.
#include "engine/geometry.h"

#include <algorithm>
#include <limits>
#include <map>
#include <set>
#include <string>
#include <utility>

#include "engine/random.h"

namespace tendril::engine {
namespace {

// Offsets of the 12 sides. dx depends on the row's parity because odd rows (y odd) sit half a
// cell further towards +x; opposite(side) = 11 - side mirrors every offset.
struct SideOffset {
  int dz;
  int dy;
  int dx_even_row;
  int dx_odd_row;
};

constexpr std::array<SideOffset, kSideCount> kSideOffsets = {{
    {-1, -1, -1, 0},  // 0: lower plane, upper-left
    {-1, -1, 0, 1},   // 1: lower plane, upper-right
    {-1, 0, 0, 0},    // 2: straight below
    {0, -1, 0, 1},    // 3: same plane, upper-right
    {0, 0, 1, 1},     // 4: same plane, right
    {0, 1, 0, 1},     // 5: same plane, lower-right
    {0, -1, -1, 0},   // 6: same plane, upper-left
    {0, 0, -1, -1},   // 7: same plane, left
    {0, 1, -1, 0},    // 8: same plane, lower-left
    {1, 0, 0, 0},     // 9: straight above
    {1, 1, -1, 0},    // 10: upper plane, lower-left
    {1, 1, 0, 1},     // 11: upper plane, lower-right
}};

// Separates these draws from every other use of the cluster seed.
constexpr uint64_t kTargetWalkStream = 0x7461726765747321ull;  // "targets!" in ASCII

std::optional<uint32_t> shifted(uint32_t coordinate, int delta) {
  const int64_t value = static_cast<int64_t>(coordinate) + delta;
  // Coordinates start at 1; the top bound keeps the arithmetic from wrapping.
  if (value < 1 || value > std::numeric_limits<uint32_t>::max()) return std::nullopt;
  return static_cast<uint32_t>(value);
}

// Names the bricks of a cycle that Kahn's algorithm could not order. Every brick left over has
// a left-over predecessor, so walking predecessors from one of them must revisit a brick.
std::string describeCycle(const Template& tmpl, const std::vector<std::vector<uint32_t>>& preds,
                          const std::vector<bool>& ordered) {
  uint32_t current = 0;
  while (ordered[current]) ++current;
  std::vector<uint32_t> walk;
  std::vector<int> visited_at(tmpl.bricks.size(), -1);
  while (visited_at[current] < 0) {
    visited_at[current] = static_cast<int>(walk.size());
    walk.push_back(current);
    for (uint32_t pred : preds[current]) {  // ascending: the smallest left-over predecessor
      if (!ordered[pred]) {
        current = pred;
        break;
      }
    }
  }
  // walk[visited_at[current]..] runs against the edges: reverse it, then start the cycle at its
  // first-declared brick so the message does not depend on where the search entered it.
  std::vector<uint32_t> cycle(walk.rbegin(), walk.rend() - visited_at[current]);
  std::rotate(cycle.begin(), std::min_element(cycle.begin(), cycle.end()), cycle.end());
  std::string text;
  for (uint32_t b : cycle) text += describeBrick(tmpl.bricks[b]) + " -> ";
  return text + describeBrick(tmpl.bricks[cycle.front()]);
}

}  // namespace

std::optional<Position> neighbourPosition(const Position& position, int side) {
  if (side < 0 || side >= kSideCount) return std::nullopt;
  const SideOffset& offset = kSideOffsets[side];
  const int dx = position.y % 2 == 1 ? offset.dx_odd_row : offset.dx_even_row;
  const auto x = shifted(position.x, dx);
  const auto y = shifted(position.y, offset.dy);
  const auto z = shifted(position.z, offset.dz);
  if (!x || !y || !z) return std::nullopt;
  return Position{*x, *y, *z};
}

Result<BrickGraph> buildBrickGraph(const Template& tmpl) {
  const auto& bricks = tmpl.bricks;
  const auto count = static_cast<uint32_t>(bricks.size());
  std::map<Position, uint32_t> index_of;
  for (uint32_t b = 0; b < count; ++b) {
    if (const auto [it, inserted] = index_of.emplace(bricks[b].position, b); !inserted) {
      return Status::Invalid(describeBrick(bricks[b]) + ": position already used by " +
                             describeBrick(bricks[it->second]));
    }
  }

  BrickGraph graph;
  graph.neighbours.resize(count);
  graph.forward.resize(count);
  for (uint32_t b = 0; b < count; ++b) {
    bool touches = false;
    for (int side = 0; side < kSideCount; ++side) {
      const std::optional<Position> position = neighbourPosition(bricks[b].position, side);
      const auto it = position ? index_of.find(*position) : index_of.end();
      graph.neighbours[b][side] = it == index_of.end() ? kNoBrick : it->second;
      touches = touches || it != index_of.end();
    }
    if (!touches) {
      return Status::Invalid(describeBrick(bricks[b]) +
                             ": touches no other brick; every brick must share one of its 12 "
                             "sides with another brick");
    }
    if (bricks[b].role == BrickRole::kOutput) continue;  // outputs never own sections
    for (int side : kForwardSides) {
      const uint32_t next = graph.neighbours[b][side];
      if (next != kNoBrick && bricks[next].role != BrickRole::kInput) {
        graph.forward[b].push_back(next);
      }
    }
  }

  // Kahn's algorithm. The ready set orders by (not an input, declaration index): inputs have
  // no predecessors, so they all come first, and ties are broken the same way on every run.
  std::vector<std::vector<uint32_t>> preds(count);
  std::vector<uint32_t> waiting_for(count, 0);
  for (uint32_t b = 0; b < count; ++b) {
    for (uint32_t next : graph.forward[b]) {
      preds[next].push_back(b);
      ++waiting_for[next];
    }
  }
  const auto readyKey = [&bricks](uint32_t b) {
    return std::pair<bool, uint32_t>(bricks[b].role != BrickRole::kInput, b);
  };
  std::set<std::pair<bool, uint32_t>> ready;
  for (uint32_t b = 0; b < count; ++b) {
    if (waiting_for[b] == 0) ready.insert(readyKey(b));
  }
  std::vector<bool> ordered(count, false);
  while (!ready.empty()) {
    const uint32_t b = ready.begin()->second;
    ready.erase(ready.begin());
    ordered[b] = true;
    graph.topological_order.push_back(b);
    for (uint32_t next : graph.forward[b]) {
      if (--waiting_for[next] == 0) ready.insert(readyKey(next));
    }
  }
  if (graph.topological_order.size() != count) {
    return Status::Invalid(
        "the bricks form a cycle over forward sides: " + describeCycle(tmpl, preds, ordered) +
        ". Bricks stacked straight above each other that are both hidden link each other up "
        "and down (sides 9 and 2), which is a cycle; cycles are not supported in v1 (make one "
        "of them an input or output brick, or move it)");
  }

  // Reachability: walk the forward edges backwards from every output brick.
  std::vector<bool> reaches_output(count, false);
  std::vector<uint32_t> stack;
  for (uint32_t b = 0; b < count; ++b) {
    if (bricks[b].role == BrickRole::kOutput) {
      reaches_output[b] = true;
      stack.push_back(b);
    }
  }
  while (!stack.empty()) {
    const uint32_t b = stack.back();
    stack.pop_back();
    for (uint32_t pred : preds[b]) {
      if (!reaches_output[pred]) {
        reaches_output[pred] = true;
        stack.push_back(pred);
      }
    }
  }
  for (uint32_t b = 0; b < count; ++b) {
    if (!reaches_output[b]) {
      return Status::Invalid(describeBrick(bricks[b]) +
                             ": no output brick can be reached from it by forward hops (forward "
                             "sides lead towards +x, or straight up or down)");
    }
  }
  return graph;
}

std::vector<uint32_t> possibleTargets(const BrickGraph& graph, uint32_t brick,
                                      uint32_t max_distance, uint64_t seed) {
  if (brick >= graph.forward.size() || graph.forward[brick].empty()) return {};
  const uint32_t steps = std::max<uint32_t>(max_distance, 1);  // the first step always happens
  std::vector<uint32_t> targets(kPossibleTargetCount);
  for (uint32_t walk = 0; walk < kPossibleTargetCount; ++walk) {
    uint32_t current = brick;
    for (uint32_t step = 0; step < steps; ++step) {
      const uint64_t hash = hashKeys(seed, {kTargetWalkStream, brick, walk, step});
      if (step > 0 && (hash & 1) == 0) break;  // bit 0: stop early, probability 1/2
      const std::vector<uint32_t>& next = graph.forward[current];
      if (next.empty()) break;  // dead end: the walk ends where it is
      current = next[uniformBelow(hash, static_cast<uint32_t>(next.size()))];  // high bits
    }
    targets[walk] = current;
  }
  return targets;
}

}  // namespace tendril::engine
