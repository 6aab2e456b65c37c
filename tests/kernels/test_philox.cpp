// kernels/philox.h: Philox4x32-10 against Random123's known-answer vectors and against ATen's
// independent implementation (at::Philox4_32), and the counter layout of token_bits.
#include <gtest/gtest.h>

#include <ATen/core/PhiloxRNGEngine.h>

#include <array>
#include <cmath>
#include <cstdint>
#include <random>
#include <set>

#include "crossover/kernels/philox.h"

namespace crossover::kernels {
namespace {

Philox4 counter(uint32_t c0, uint32_t c1, uint32_t c2, uint32_t c3) { return {{c0, c1, c2, c3}}; }
uint64_t key(uint32_t k0, uint32_t k1) { return (static_cast<uint64_t>(k1) << 32) | k0; }

// ATen's engine holds the counter as (offset lo, offset hi, subsequence lo, subsequence hi) and
// the key as (seed lo, seed hi); each call returns one word of the block, in order.
std::array<uint32_t, 4> aten_block(const Philox4& c, uint64_t k) {
  const uint64_t offset = (static_cast<uint64_t>(c.v[1]) << 32) | c.v[0];
  const uint64_t subsequence = (static_cast<uint64_t>(c.v[3]) << 32) | c.v[2];
  at::Philox4_32 engine(k, subsequence, offset);
  std::array<uint32_t, 4> out;
  for (auto& w : out) w = engine();
  return out;
}

void expect_block(const Philox4& got, std::array<uint32_t, 4> want) {
  for (int i = 0; i < 4; ++i) EXPECT_EQ(got.v[i], want[i]) << "word " << i;
}

// Random123 kat_vectors, philox4x32 with 10 rounds: counter words, key words, output words.
TEST(Philox, KnownAnswerZeroCounterZeroKey) {
  const auto c = counter(0, 0, 0, 0);
  expect_block(philox4x32_10(c, key(0, 0)), {0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u});
  expect_block(philox4x32_10(c, key(0, 0)), aten_block(c, key(0, 0)));
}

TEST(Philox, KnownAnswerAllOnes) {
  const auto c = counter(0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu);
  const uint64_t k = key(0xffffffffu, 0xffffffffu);
  expect_block(philox4x32_10(c, k), {0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu});
  expect_block(philox4x32_10(c, k), aten_block(c, k));
}

TEST(Philox, KnownAnswerPiDigits) {
  const auto c = counter(0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u);
  const uint64_t k = key(0xa4093822u, 0x299f31d0u);
  expect_block(philox4x32_10(c, k), {0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u});
  expect_block(philox4x32_10(c, k), aten_block(c, k));
}

TEST(Philox, MatchesAtenEngineOnRandomCountersAndKeys) {
  std::mt19937_64 rng(20240607);
  for (int i = 0; i < 2000; ++i) {
    const uint64_t a = rng(), b = rng(), k = rng();
    const auto c = counter(static_cast<uint32_t>(a), static_cast<uint32_t>(a >> 32),
                           static_cast<uint32_t>(b), static_cast<uint32_t>(b >> 32));
    const Philox4 got = philox4x32_10(c, k);
    const auto want = aten_block(c, k);
    for (int w = 0; w < 4; ++w) ASSERT_EQ(got.v[w], want[w]) << "draw " << i << " word " << w;
  }
}

// token_bits is Philox at counter (block, row lo, step lo, stream ^ row hi << 8 ^ step hi << 20)
// under the seed: the layout the CPU reference and the CUDA kernel share.
TEST(Philox, TokenBitsCounterLayoutMatchesAten) {
  std::mt19937_64 rng(99);
  for (int i = 0; i < 500; ++i) {
    const uint64_t seed = rng();
    // Steps and rows with high words set, so their folding into word 3 is exercised.
    const uint64_t step = i % 2 ? rng() % 100000 : rng() >> 20;
    const uint64_t row = i % 3 ? rng() % 4096 : rng() >> 28;
    const uint32_t block = static_cast<uint32_t>(rng());
    const uint32_t stream = static_cast<uint32_t>(rng() % 2);
    const uint32_t word3 = stream ^ (static_cast<uint32_t>(row >> 32) << 8) ^
                           (static_cast<uint32_t>(step >> 32) << 20);
    const auto c = counter(block, static_cast<uint32_t>(row), static_cast<uint32_t>(step), word3);
    const Philox4 got = token_bits(seed, step, row, block, stream);
    const auto want = aten_block(c, seed);
    for (int w = 0; w < 4; ++w) ASSERT_EQ(got.v[w], want[w]) << "draw " << i << " word " << w;
  }
}

TEST(Philox, TokenBitsSeparateStreamsStepsRowsAndBlocks) {
  const uint64_t seed = 1234;
  const Philox4 base = token_bits(seed, 7, 3, 5, kStreamTokenMask);
  std::set<uint32_t> firsts{base.v[0]};
  firsts.insert(token_bits(seed, 7, 3, 5, kStreamForcedMask).v[0]);
  firsts.insert(token_bits(seed, 8, 3, 5, kStreamTokenMask).v[0]);
  firsts.insert(token_bits(seed, 7, 4, 5, kStreamTokenMask).v[0]);
  firsts.insert(token_bits(seed, 7, 3, 6, kStreamTokenMask).v[0]);
  firsts.insert(token_bits(seed + 1, 7, 3, 5, kStreamTokenMask).v[0]);
  // Row 2^32 + 3 and step 2^32 + 7 differ from row 3 and step 7 only in their high words.
  firsts.insert(token_bits(seed, 7, (1ull << 32) + 3, 5, kStreamTokenMask).v[0]);
  firsts.insert(token_bits(seed, (1ull << 32) + 7, 3, 5, kStreamTokenMask).v[0]);
  EXPECT_EQ(firsts.size(), 8u);
  // Pure function: the same inputs give the same block.
  const Philox4 again = token_bits(seed, 7, 3, 5, kStreamTokenMask);
  for (int w = 0; w < 4; ++w) EXPECT_EQ(again.v[w], base.v[w]);
}

TEST(Philox, UniformFromBitsIsExactAndInUnitInterval) {
  EXPECT_EQ(uniform_from_bits(0), 0.0f);
  EXPECT_EQ(uniform_from_bits(0xffu), 0.0f);  // the low 8 bits are dropped
  EXPECT_EQ(uniform_from_bits(0x100u), 1.0f / 16777216.0f);
  EXPECT_EQ(uniform_from_bits(0x80000000u), 0.5f);
  EXPECT_LT(uniform_from_bits(0xffffffffu), 1.0f);
  EXPECT_EQ(uniform_from_bits(0xffffffffu), 1.0f - 1.0f / 16777216.0f);
  // Mean of many draws is close to 1/2 (the standard error is 0.29 / sqrt(n)).
  double sum = 0;
  const int n = 1 << 16;
  for (int i = 0; i < n / 4; ++i) {
    const Philox4 b = token_bits(5, 0, 0, static_cast<uint32_t>(i), kStreamTokenMask);
    for (uint32_t w : b.v) sum += uniform_from_bits(w);
  }
  EXPECT_NEAR(sum / n, 0.5, 6 * 0.29 / std::sqrt(double(n)));
}

}  // namespace
}  // namespace crossover::kernels
