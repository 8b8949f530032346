#include "engine/geometry.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <set>
#include <string>

namespace tendril::engine {
namespace {

BrickSpec brick(uint32_t x, uint32_t y, uint32_t z, BrickRole role = BrickRole::kHidden,
                std::string name = "") {
  return BrickSpec{{x, y, z}, role, std::move(name), 4, 0};
}
BrickSpec input(uint32_t x, uint32_t y, uint32_t z, std::string name = "in") {
  return brick(x, y, z, BrickRole::kInput, std::move(name));
}
BrickSpec output(uint32_t x, uint32_t y, uint32_t z, std::string name = "out") {
  return brick(x, y, z, BrickRole::kOutput, std::move(name));
}
Template templateOf(std::vector<BrickSpec> bricks) {
  Template tmpl;
  tmpl.bricks = std::move(bricks);
  return tmpl;
}

// input at x = 1, hidden bricks at x = 2..length-1, output at x = length, all in row 1.
Template chain(uint32_t length) {
  std::vector<BrickSpec> bricks = {input(1, 1, 1)};
  for (uint32_t x = 2; x < length; ++x) bricks.push_back(brick(x, 1, 1));
  bricks.push_back(output(length, 1, 1));
  return templateOf(std::move(bricks));
}

BrickGraph graphOf(const Template& tmpl) {
  Result<BrickGraph> graph = buildBrickGraph(tmpl);
  EXPECT_TRUE(graph.ok()) << graph.status().toString();
  return graph.ok() ? std::move(graph).value() : BrickGraph{};
}

TEST(GeometryNeighbours, MatchTheTableOnAnEvenRow) {
  const Position p{2, 2, 2};
  // clang-format off
  const std::array<Position, kSideCount> expected = {{
      {1, 1, 1}, {2, 1, 1}, {2, 2, 1}, {2, 1, 2}, {3, 2, 2}, {2, 3, 2},
      {1, 1, 2}, {1, 2, 2}, {1, 3, 2}, {2, 2, 3}, {1, 3, 3}, {2, 3, 3},
  }};
  // clang-format on
  for (int side = 0; side < kSideCount; ++side) {
    EXPECT_EQ(neighbourPosition(p, side), expected[side]) << "side " << side;
  }
}

TEST(GeometryNeighbours, MatchTheTableOnAnOddRow) {
  const Position p{2, 3, 2};
  // clang-format off
  const std::array<Position, kSideCount> expected = {{
      {2, 2, 1}, {3, 2, 1}, {2, 3, 1}, {3, 2, 2}, {3, 3, 2}, {3, 4, 2},
      {2, 2, 2}, {1, 3, 2}, {2, 4, 2}, {2, 3, 3}, {2, 4, 3}, {3, 4, 3},
  }};
  // clang-format on
  for (int side = 0; side < kSideCount; ++side) {
    EXPECT_EQ(neighbourPosition(p, side), expected[side]) << "side " << side;
  }
}

TEST(GeometryNeighbours, OppositeSidesLeadBack) {
  for (const Position& p : {Position{5, 4, 5}, Position{5, 5, 5}}) {
    std::set<Position> seen;
    for (int side = 0; side < kSideCount; ++side) {
      const std::optional<Position> there = neighbourPosition(p, side);
      ASSERT_TRUE(there.has_value());
      EXPECT_TRUE(seen.insert(*there).second) << "side " << side << " repeats a neighbour";
      EXPECT_EQ(neighbourPosition(*there, kSideCount - 1 - side), p) << "side " << side;
    }
  }
}

TEST(GeometryNeighbours, StopAtCoordinateOne) {
  EXPECT_FALSE(neighbourPosition({1, 1, 1}, 2).has_value());        // z would be 0
  EXPECT_FALSE(neighbourPosition({1, 2, 1}, 7).has_value());        // x would be 0
  EXPECT_FALSE(neighbourPosition({1, 2, 1}, 6).has_value());        // even row: x - 1
  EXPECT_EQ(neighbourPosition({1, 3, 1}, 6), (Position{1, 2, 1}));  // odd row: same x
  EXPECT_FALSE(neighbourPosition({1, 1, 1}, 3).has_value());        // y would be 0
  EXPECT_FALSE(neighbourPosition({1, 1, 1}, 12).has_value());
  EXPECT_FALSE(neighbourPosition({1, 1, 1}, -1).has_value());
}

TEST(GeometryGraph, LinksForwardSidesExceptIntoInputs) {
  // 1,1,1 input with a hidden brick on top of it: the input feeds it (side 9); the hidden
  // brick does not feed back (inputs are never targets), so this stack is no cycle.
  const Template tmpl = templateOf(
      {input(1, 1, 1), brick(1, 1, 2), brick(2, 1, 1), output(3, 1, 1), output(2, 1, 2, "o2")});
  const BrickGraph graph = graphOf(tmpl);
  EXPECT_EQ(graph.neighbours[0][9], 1u);
  EXPECT_EQ(graph.neighbours[1][2], 0u);
  EXPECT_EQ(graph.neighbours[0][4], 2u);
  EXPECT_EQ(graph.forward[0], (std::vector<uint32_t>{1, 2}));  // order of kForwardSides: 9, 4
  EXPECT_EQ(graph.forward[1], (std::vector<uint32_t>{4}));     // 1,1,2 -> 2,1,2 over side 4
  EXPECT_EQ(graph.forward[2], (std::vector<uint32_t>{4, 3}));  // up (9), then right (4)
  EXPECT_TRUE(graph.forward[3].empty());
  EXPECT_TRUE(graph.forward[4].empty());
}

TEST(GeometryGraph, OrdersTopologicallyInputsFirstTiesByDeclaration) {
  // Declared back to front, two inputs; 2,2,1 (even row) feeds 2,1,1 over side 3.
  const Template tmpl = templateOf(
      {output(3, 1, 1), brick(2, 2, 1), brick(2, 1, 1), input(1, 2, 1, "b"), input(1, 1, 1, "a")});
  const BrickGraph graph = graphOf(tmpl);
  EXPECT_EQ(graph.topological_order, (std::vector<uint32_t>{3, 4, 1, 2, 0}));
  // Same input, same order: the result never depends on container iteration order.
  EXPECT_EQ(graphOf(tmpl).topological_order, graph.topological_order);
}

TEST(GeometryGraph, OrderPutsInputsBeforeUnfedHiddenBricks) {
  // Hidden 1,2,1 has no predecessor, like the input declared after it; the input still leads.
  const Template tmpl =
      templateOf({brick(1, 2, 1), input(1, 1, 1), brick(2, 2, 1), output(3, 2, 1)});
  EXPECT_EQ(graphOf(tmpl).topological_order, (std::vector<uint32_t>{1, 0, 2, 3}));
}

TEST(GeometryGraph, RejectsIsolatedBricks) {
  Result<BrickGraph> graph =
      buildBrickGraph(templateOf({input(1, 1, 1), output(2, 1, 1), brick(4, 1, 1)}));
  ASSERT_FALSE(graph.ok());
  EXPECT_EQ(graph.status().message().rfind("brick 4,1,1: touches no other brick", 0), 0u);
}

TEST(GeometryGraph, RejectsVerticalCyclesNamingBothBricks) {
  Template tmpl = templateOf({input(1, 1, 1), brick(2, 1, 2), brick(2, 1, 1), output(3, 1, 1)});
  tmpl.bricks[1].line = 8;
  Result<BrickGraph> graph = buildBrickGraph(tmpl);
  ASSERT_FALSE(graph.ok());
  const std::string& message = graph.status().message();
  EXPECT_NE(message.find("brick 2,1,2 (line 8) -> brick 2,1,1 -> brick 2,1,2 (line 8)"),
            std::string::npos)
      << message;
  EXPECT_NE(message.find("cycles are not supported in v1"), std::string::npos);
}

TEST(GeometryGraph, RejectsBricksThatReachNoOutput) {
  // 1,2,1 (even row) touches only the input 1,1,1, which no brick may feed.
  Result<BrickGraph> graph =
      buildBrickGraph(templateOf({input(1, 1, 1), output(2, 1, 1), brick(1, 2, 1)}));
  ASSERT_FALSE(graph.ok());
  EXPECT_EQ(graph.status().message().rfind("brick 1,2,1: no output brick can be reached", 0), 0u)
      << graph.status().message();
}

TEST(GeometryTargets, AreDeterministicAndComplete) {
  const Template tmpl =
      templateOf({input(1, 1, 1), brick(2, 1, 1), brick(2, 2, 1), brick(3, 1, 1), output(4, 1, 1)});
  const BrickGraph graph = graphOf(tmpl);
  const std::vector<uint32_t> targets = possibleTargets(graph, 0, 2, 7);
  ASSERT_EQ(targets.size(), kPossibleTargetCount);
  EXPECT_EQ(possibleTargets(graph, 0, 2, 7), targets);
  EXPECT_NE(possibleTargets(graph, 0, 2, 8), targets);
  for (uint32_t target : targets) {
    EXPECT_NE(target, 0u);  // never the source, never an input
    EXPECT_LT(target, tmpl.bricks.size());
  }
  EXPECT_TRUE(possibleTargets(graph, 4, 2, 7).empty());   // output bricks own no sections
  EXPECT_TRUE(possibleTargets(graph, 99, 2, 7).empty());  // no such brick
}

TEST(GeometryTargets, DistanceOneReachesOnlyDirectSuccessors) {
  // 1,1,1 (odd row) feeds 2,1,1 over side 4 and 2,2,1 over side 5; both must be drawn.
  const Template tmpl =
      templateOf({input(1, 1, 1), brick(2, 1, 1), brick(2, 2, 1), brick(3, 1, 1), output(4, 1, 1)});
  const std::vector<uint32_t> targets = possibleTargets(graphOf(tmpl), 0, 1, 1);
  const std::set<uint32_t> distinct(targets.begin(), targets.end());
  EXPECT_EQ(distinct, (std::set<uint32_t>{1, 2}));
}

TEST(GeometryTargets, WalksStopEarlyAtDeadEnds) {
  // From 1,1,1 everything ends at the output 2,1,1 however far the walk may go.
  const std::vector<uint32_t> targets =
      possibleTargets(graphOf(templateOf({input(1, 1, 1), output(2, 1, 1)})), 0, 16, 3);
  EXPECT_EQ(targets, std::vector<uint32_t>(kPossibleTargetCount, 1));
}

// In a chain brick i sits i hops from the input, so a target's index is its distance.
TEST(GeometryTargets, NearerBricksAreMoreLikely) {
  const BrickGraph graph = graphOf(chain(10));
  std::array<uint32_t, 4> single_seed{};
  for (uint32_t target : possibleTargets(graph, 0, 3, 0)) {
    ASSERT_TRUE(target >= 1 && target <= 3) << target;
    ++single_seed[target];
  }
  EXPECT_GT(single_seed[1], single_seed[2]);
  EXPECT_GT(single_seed[1], single_seed[3]);

  // Over many seeds, with distance 4: hop d has probability 2^-d, except the last hop, which
  // also takes the walks that would have gone further (1/2, 1/4, 1/8, 1/8).
  std::array<double, 5> share{};
  constexpr int kSeeds = 200;
  for (int seed = 0; seed < kSeeds; ++seed) {
    for (uint32_t target : possibleTargets(graph, 0, 4, seed)) {
      ASSERT_TRUE(target >= 1 && target <= 4) << target;
      share[target] += 1.0 / (kSeeds * kPossibleTargetCount);
    }
  }
  EXPECT_NEAR(share[1], 0.5, 0.02);
  EXPECT_NEAR(share[2], 0.25, 0.02);
  EXPECT_NEAR(share[3], 0.125, 0.02);
  EXPECT_NEAR(share[4], 0.125, 0.02);
  EXPECT_GT(share[1], share[2]);
  EXPECT_GT(share[2], share[3]);
}

}  // namespace
}  // namespace tendril::engine
