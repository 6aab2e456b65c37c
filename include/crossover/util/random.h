// Small deterministic randomness that is identical on every platform and standard library
// (std::shuffle and std::uniform_int_distribution are not): SplitMix64 hashing, a seeded
// generator, and a keyed pseudo-random permutation of [0, n) with O(1) memory.
#pragma once

#include <cstdint>

namespace crossover {

// SplitMix64 finaliser: a strong 64-bit mixing function.
constexpr uint64_t mix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// Combines values into one key, order-sensitive.
constexpr uint64_t hash_combine(uint64_t a, uint64_t b) { return mix64(a ^ mix64(b)); }

// SplitMix64 generator.
class SplitMix64 {
 public:
  explicit SplitMix64(uint64_t seed) : state_(seed) {}
  uint64_t next() { return mix64(state_++); }
  // Uniform in [0, 1) with 53 random bits.
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  // Uniform integer in [0, bound), bound > 0 (Lemire's method, unbiased).
  uint64_t below(uint64_t bound);

 private:
  uint64_t state_;
};

// A bijection of [0, n) chosen by `key`: a balanced Feistel network on the smallest
// even-bit power of two >= n, with cycle walking back into range. Random access in O(1)
// expected time, no tables: permuting billions of indices costs no memory.
class IndexPermutation {
 public:
  IndexPermutation(uint64_t n, uint64_t key);
  uint64_t operator()(uint64_t i) const;
  uint64_t size() const { return n_; }

 private:
  uint64_t feistel(uint64_t x) const;
  uint64_t n_, key_;
  int half_bits_;
  uint64_t half_mask_;
};

}  // namespace crossover
