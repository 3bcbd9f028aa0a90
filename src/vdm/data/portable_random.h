// Random draws that give the same numbers on every platform and standard library.
// std::uniform_real_distribution, std::uniform_int_distribution and std::shuffle are
// implementation-defined (libstdc++ and libc++ draw differently), while std::mt19937_64's
// output sequence is fixed by the standard. The data sets promise "same seed, same clip"
// across builds, so they only use mt19937_64's raw output through these helpers.
#pragma once
#include <cstdint>
#include <random>

namespace vdm::data {

// SplitMix64 (Steele et al. 2014): a bijective 64-bit mixer, used to turn (seed, index)
// into well-spread generator seeds.
inline uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// Uniform in [0, 1) with 53 random bits.
inline double uniform01(std::mt19937_64& rng) {
  return static_cast<double>(rng() >> 11) * (1.0 / 9007199254740992.0);
}

inline double uniform(std::mt19937_64& rng, double lo, double hi) {
  return lo + (hi - lo) * uniform01(rng);
}

// Uniform integer in [0, n), n >= 1, without modulo bias (rejection of the short tail).
inline uint64_t uniform_below(std::mt19937_64& rng, uint64_t n) {
  const uint64_t limit = UINT64_MAX - UINT64_MAX % n;
  uint64_t x;
  do x = rng();
  while (x >= limit);
  return x % n;
}

inline bool bernoulli(std::mt19937_64& rng, double p) { return uniform01(rng) < p; }

}  // namespace vdm::data
