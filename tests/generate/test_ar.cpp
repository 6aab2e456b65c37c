// AR generation: the KV cache changes nothing but the cost; prompts of different lengths batch
// exactly; eos, length limits and seeds behave as documented.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <algorithm>

#include "crossover/generate/ar.h"
#include "tiny_model.h"

namespace crossover {
namespace {

const std::vector<Prompt> kPrompts = {{1, 2, 3, 4, 5}, {7, 8, 9}, {10, 11, 12, 13, 14, 15, 16, 17}};

ArOptions options(double temperature, bool cache, int64_t max_new = 12) {
  ArOptions o;
  o.max_new = max_new;
  o.sampling = {temperature, temperature > 0 ? 20 : 0, 1.0};
  o.seed = 3;
  o.use_cache = cache;
  o.trace = true;
  return o;
}

TEST(GenerateAr, CacheGivesTheSameLogitsAndTokensAsFullRecomputation) {
  const auto t = testing::tiny_model();
  for (double temperature : {0.0, 1.0}) {
    const ArResult cached = generate_ar(*t.model, t.flats, kPrompts, options(temperature, true));
    const ArResult full = generate_ar(*t.model, t.flats, kPrompts, options(temperature, false));
    ASSERT_EQ(cached.trace_logits.size(), full.trace_logits.size());
    EXPECT_EQ(cached.trace_positions, full.trace_positions);
    // Decoding starts after the shortest prompt (3) and ends at the longest prompt + 12.
    EXPECT_EQ(cached.trace_positions.front(), 3);
    EXPECT_EQ(cached.trace_positions.back(), 8 + 12 - 1);
    for (size_t s = 0; s < cached.trace_logits.size(); ++s)
      EXPECT_TRUE(at::allclose(cached.trace_logits[s], full.trace_logits[s], 1e-4, 1e-5))
          << "step " << s << " temperature " << temperature;
    EXPECT_EQ(cached.tokens, full.tokens) << "temperature " << temperature;
    for (const auto& row : cached.tokens) EXPECT_EQ(row.size(), 12u);
    // The cache feeds each position once: 3 rows x (longest prompt + 12 - 1) tokens.
    EXPECT_EQ(cached.forward_tokens, 3 * (8 + 12 - 1));
    EXPECT_GT(full.forward_tokens, 4 * cached.forward_tokens);
  }
}

TEST(GenerateAr, PromptsOfDifferentLengthsBatchAsIfAlone) {
  const auto t = testing::tiny_model();
  const ArResult batch = generate_ar(*t.model, t.flats, kPrompts, options(0.0, true));
  for (size_t i = 0; i < kPrompts.size(); ++i) {
    const ArResult alone = generate_ar(*t.model, t.flats, {kPrompts[i]}, options(0.0, true));
    EXPECT_EQ(alone.tokens[0], batch.tokens[i]) << "prompt " << i;
  }
  // Sampled: a prompt's draws are keyed by its index, so changing another prompt (even its
  // length) leaves it alone.
  std::vector<Prompt> changed = kPrompts;
  changed[1] = {30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40};
  const ArResult a = generate_ar(*t.model, t.flats, kPrompts, options(1.0, true));
  const ArResult b = generate_ar(*t.model, t.flats, changed, options(1.0, true));
  EXPECT_EQ(a.tokens[0], b.tokens[0]);
  EXPECT_EQ(a.tokens[2], b.tokens[2]);
  EXPECT_NE(a.tokens[1], b.tokens[1]);
}

TEST(GenerateAr, SeedDecidesTheSamples) {
  const auto t = testing::tiny_model();
  const ArResult a = generate_ar(*t.model, t.flats, kPrompts, options(1.0, true));
  const ArResult again = generate_ar(*t.model, t.flats, kPrompts, options(1.0, true));
  ArOptions other = options(1.0, true);
  other.seed = 4;
  const ArResult b = generate_ar(*t.model, t.flats, kPrompts, other);
  EXPECT_EQ(a.tokens, again.tokens);
  EXPECT_NE(a.tokens, b.tokens);
}

TEST(GenerateAr, StopsAtEosAndStartsEmptyPromptsFromIt) {
  const auto t = testing::tiny_model();
  const ArResult free = generate_ar(*t.model, t.flats, kPrompts, options(0.0, true));
  // Make a later greedy token of prompt 0 (its first new value) the eos: every row stops at
  // its first occurrence, eos excluded, and rows without it carry on.
  const auto& f0 = free.tokens[0];
  size_t k = 1;
  while (k < f0.size() && std::find(f0.begin(), f0.begin() + k, f0[k]) != f0.begin() + k) ++k;
  ASSERT_LT(k, f0.size());
  ArOptions o = options(0.0, true);
  o.eos_id = f0[k];
  const ArResult stopped = generate_ar(*t.model, t.flats, kPrompts, o);
  EXPECT_TRUE(stopped.stopped_at_eos[0]);
  EXPECT_EQ(stopped.tokens[0], std::vector<int64_t>(f0.begin(), f0.begin() + k));
  for (size_t i = 1; i < kPrompts.size(); ++i) {
    const auto& f = free.tokens[i];
    const auto first = std::find(f.begin(), f.end(), o.eos_id);
    EXPECT_EQ(stopped.tokens[i], std::vector<int64_t>(f.begin(), first)) << i;
    EXPECT_EQ(stopped.stopped_at_eos[i], first != f.end()) << i;
  }
  o.stop_at_eos = false;
  EXPECT_EQ(generate_ar(*t.model, t.flats, kPrompts, o).tokens, free.tokens);

  ArOptions e = options(0.0, true);
  e.eos_id = 3;
  const ArResult from_empty = generate_ar(*t.model, t.flats, {Prompt{}}, e);
  const ArResult from_eos = generate_ar(*t.model, t.flats, {Prompt{3}}, e);
  EXPECT_EQ(from_empty.tokens, from_eos.tokens);
  e.eos_id = -1;
  EXPECT_THROW(generate_ar(*t.model, t.flats, {Prompt{}}, e), std::invalid_argument);
}

TEST(GenerateAr, RefusesToRunPastTheMaximumSequenceLength) {
  const auto t = testing::tiny_model(50, 48);
  const Prompt p(40, 5);
  ArOptions o = options(0.0, true, 8);
  EXPECT_NO_THROW(generate_ar(*t.model, t.flats, {p}, o));
  o.max_new = 9;
  try {
    generate_ar(*t.model, t.flats, {p}, o);
    FAIL() << "no error";
  } catch (const std::invalid_argument& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("40"), std::string::npos) << m;
    EXPECT_NE(m.find("48"), std::string::npos) << m;
  }
  EXPECT_THROW(generate_ar(*t.model, t.flats, {Prompt{1, 50}}, options(0.0, true)),
               std::invalid_argument);  // 50 = [MASK] is not a prompt token
}

}  // namespace
}  // namespace crossover
