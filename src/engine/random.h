// Counter-based random numbers.
//
// Every random draw of a cluster is a pure function of (seed, a few integer keys) — the cycle,
// brick, block, section and slot it is drawn for — so results never depend on which thread ran
// a task or in which order tasks finished. The mixing function is SplitMix64's finaliser, applied
// once per key; it is statistically solid for this use and costs a few multiplications.
#pragma once

#include <cstdint>
#include <initializer_list>

namespace tendril::engine {

constexpr uint64_t mix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// Hash of a seed and any number of keys.
constexpr uint64_t hashKeys(uint64_t seed, std::initializer_list<uint64_t> keys) {
  uint64_t h = mix64(seed);
  for (uint64_t key : keys) h = mix64(h ^ key);
  return h;
}

// Uniform in [0, 1) from the top 24 bits of a hash.
constexpr float unitFloat(uint64_t hash) {
  return static_cast<float>(hash >> 40) * (1.0f / 16777216.0f);
}

// Uniform in [0, n) for n > 0 (multiply-shift; bias below 2^-32 for n < 2^32).
constexpr uint32_t uniformBelow(uint64_t hash, uint32_t n) {
  return static_cast<uint32_t>(((hash >> 32) * static_cast<uint64_t>(n)) >> 32);
}

}  // namespace tendril::engine
