// MDM (LLaDA) generation: the schedule as a contract, blocks in order, threshold decoding, the
// prefix cache, determinism and batching.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <algorithm>
#include <map>
#include <set>

#include "crossover/generate/mdm.h"
#include "crossover/generate/mdm_schedule.h"
#include "tiny_model.h"

namespace crossover {
namespace {

const std::vector<Prompt> kPrompts = {
    {1, 2, 3, 4, 5, 6}, {9, 8, 7, 6, 5, 4}, {20, 21, 22, 23, 24, 25}};

MdmOptions options(int64_t steps, int64_t block, double temperature = 0.0) {
  MdmOptions o;
  o.max_new = 20;
  o.steps = steps;
  o.block_length = block;
  o.sampling = {temperature, 0, 1.0};
  o.seed = 5;
  o.trace = true;
  return o;
}

TEST(GenerateSchedule, CommitCountsSpreadTheRemainderOverTheFirstSteps) {
  EXPECT_EQ(commit_counts(10, 4), (std::vector<int64_t>{3, 3, 2, 2}));
  EXPECT_EQ(commit_counts(8, 8), std::vector<int64_t>(8, 1));
  EXPECT_EQ(commit_counts(5, 10), std::vector<int64_t>(5, 1));  // never an idle step
  EXPECT_EQ(commit_counts(7, 1), std::vector<int64_t>{7});
  for (int64_t n = 1; n < 40; ++n)
    for (int64_t s = 1; s <= n; ++s) {
      const auto c = commit_counts(n, s);
      ASSERT_EQ(static_cast<int64_t>(c.size()), s);
      int64_t sum = 0;
      for (size_t i = 0; i < c.size(); ++i) {
        sum += c[i];
        EXPECT_TRUE(c[i] == n / s || c[i] == n / s + 1);
        if (i > 0) EXPECT_LE(c[i], c[i - 1]);
      }
      EXPECT_EQ(sum, n);
    }
}

TEST(GenerateSchedule, BlocksShareTheSteps) {
  const auto plan = plan_blocks(100, 32, 10);
  ASSERT_EQ(plan.size(), 4u);
  const std::vector<int64_t> starts = {0, 32, 64, 96}, lengths = {32, 32, 32, 4},
                             steps = {3, 3, 2, 2};
  for (size_t b = 0; b < 4; ++b) {
    EXPECT_EQ(plan[b].start, starts[b]);
    EXPECT_EQ(plan[b].length, lengths[b]);
    EXPECT_EQ(plan[b].steps, steps[b]);
  }
  const auto one = plan_blocks(64, 0, 0);  // defaults: one block, one token per step
  ASSERT_EQ(one.size(), 1u);
  EXPECT_EQ(one[0].length, 64);
  EXPECT_EQ(one[0].steps, 64);
  EXPECT_EQ(plan_blocks(20, 8, 1000)[2].steps, 4);              // capped at the block's length
  EXPECT_THROW(plan_blocks(64, 16, 3), std::invalid_argument);  // 4 blocks need 4 steps
}

// Replays a trace: every step commits `expected[step]` positions per row, all inside the step's
// block, while every earlier block is complete and no later position is committed; at the end
// every position is committed exactly once.
void check_trace(const MdmResult& r, const MdmOptions& o, const std::vector<int64_t>& expected) {
  const auto plan = plan_blocks(o.max_new, o.block_length, o.steps);
  std::vector<std::set<int64_t>> done(r.tokens.size());
  ASSERT_EQ(r.trace.size(), expected.size());
  for (size_t s = 0; s < r.trace.size(); ++s) {
    const MdmStepTrace& st = r.trace[s];
    const MdmBlock& blk = plan[st.block];
    for (size_t i = 0; i < st.rows.size(); ++i) {
      auto& d = done[st.rows[i]];
      EXPECT_EQ(static_cast<int64_t>(st.committed[i].size()), expected[s]) << "step " << s;
      for (int64_t p = 0; p < blk.start; ++p)
        EXPECT_TRUE(d.count(p)) << "step " << s << " pos " << p;
      for (int64_t p : d) EXPECT_LT(p, blk.start + blk.length) << "step " << s;
      for (int64_t p : st.committed[i]) {
        EXPECT_GE(p, blk.start);
        EXPECT_LT(p, blk.start + blk.length) << "committed past the current block";
        EXPECT_TRUE(d.insert(p).second) << "position " << p << " committed twice";
      }
    }
  }
  for (const auto& d : done) EXPECT_EQ(static_cast<int64_t>(d.size()), o.max_new);
}

TEST(GenerateMdm, CommitsExactlyTheScheduledCountPerStepBlockByBlock) {
  const auto t = testing::tiny_model();
  for (Remasking remasking : {Remasking::LowConfidence, Remasking::Random})
    for (double temperature : {0.0, 1.0}) {
      // 20 positions in blocks of 8, 8, 4 with 10 steps: 4, 3, 3 steps.
      MdmOptions o = options(10, 8, temperature);
      o.remasking = remasking;
      const MdmResult r = generate_mdm(*t.model, t.flats, kPrompts, o);
      check_trace(r, o, {2, 2, 2, 2, 3, 3, 2, 2, 1, 1});
      // One token per step, one block (the defaults).
      const MdmOptions d = options(0, 0, temperature);
      check_trace(generate_mdm(*t.model, t.flats, kPrompts, d), d, std::vector<int64_t>(20, 1));
    }
}

TEST(GenerateMdm, OutputHasNoMaskKeepsThePromptAndIsDeterministic) {
  const auto t = testing::tiny_model();
  for (double temperature : {0.0, 1.0}) {
    const MdmOptions o = options(10, 8, temperature);
    const MdmResult r = generate_mdm(*t.model, t.flats, kPrompts, o);
    for (size_t i = 0; i < kPrompts.size(); ++i) {
      ASSERT_EQ(r.tokens[i].size(), 20u);
      for (int64_t id : r.tokens[i]) {
        EXPECT_GE(id, 0);
        EXPECT_LT(id, t.model->vocab()) << "[MASK] or worse in the output";
      }
      EXPECT_EQ(Prompt(r.sequences[i].begin(), r.sequences[i].begin() + 6), kPrompts[i]);
      EXPECT_EQ(std::vector<int64_t>(r.sequences[i].begin() + 6, r.sequences[i].end()),
                r.tokens[i]);
    }
    EXPECT_EQ(generate_mdm(*t.model, t.flats, kPrompts, o).tokens, r.tokens);
    if (temperature > 0) {
      MdmOptions other = o;
      other.seed = 6;
      EXPECT_NE(generate_mdm(*t.model, t.flats, kPrompts, other).tokens, r.tokens);
    }
  }
}

TEST(GenerateMdm, ThresholdCommitsAtLeastOnePerStep) {
  const auto t = testing::tiny_model();
  // Near 1: nothing is that confident, so exactly one per step (the most confident).
  MdmOptions o = options(0, 8);
  o.threshold = 0.999999;
  const MdmResult strict = generate_mdm(*t.model, t.flats, kPrompts, o);
  check_trace(strict, o, std::vector<int64_t>(20, 1));
  // Near 0: the whole block at its first step.
  o.threshold = 1e-12;
  check_trace(generate_mdm(*t.model, t.flats, kPrompts, o), o, {8, 8, 4});
  // In between: data-dependent counts, at least one per row and step until the row has
  // finished the block (rows finish a block at different steps; the batch waits for all).
  o.threshold = 0.2;
  const MdmResult mid = generate_mdm(*t.model, t.flats, kPrompts, o);
  std::map<std::pair<int64_t, int64_t>, int64_t> left;  // (row, block) -> still masked
  size_t most = 0;
  for (const auto& st : mid.trace)
    for (size_t i = 0; i < st.rows.size(); ++i) {
      const auto key = std::make_pair(st.rows[i], st.block);
      if (!left.count(key)) left[key] = st.block == 2 ? 4 : 8;
      if (left[key] > 0) EXPECT_GE(st.committed[i].size(), 1u);
      left[key] -= static_cast<int64_t>(st.committed[i].size());
      most = std::max(most, st.committed[i].size());
    }
  for (const auto& [key, n] : left) EXPECT_EQ(n, 0);
  EXPECT_GT(most, 1u) << "the threshold never committed more than one: the test lost its point";
  o.remasking = Remasking::Random;
  EXPECT_THROW(generate_mdm(*t.model, t.flats, kPrompts, o), std::invalid_argument);
}

TEST(GenerateMdm, PrefixCacheIsExactForACausalModelAndCheaper) {
  const auto t = testing::tiny_model();
  for (double temperature : {0.0, 1.0}) {
    MdmOptions o = options(10, 8, temperature);
    o.causal_attention = true;
    const MdmResult plain = generate_mdm(*t.model, t.flats, kPrompts, o);
    o.cache = MdmCache::Prefix;
    const MdmResult cached = generate_mdm(*t.model, t.flats, kPrompts, o);
    EXPECT_EQ(cached.tokens, plain.tokens) << "temperature " << temperature;
    EXPECT_EQ(cached.forward_calls, plain.forward_calls);
    EXPECT_LT(cached.forward_tokens, plain.forward_tokens);
    // Per row: 26 positions at the first step, then from the block's start (6, 14, 22), the
    // first step of blocks 2 and 3 from the previous block's start.
    EXPECT_EQ(cached.forward_tokens, 3 * (26 + 3 * 20 + (20 + 2 * 12) + (12 + 2 * 4)));
  }
}

TEST(GenerateMdm, PrefixCacheOnABidirectionalModelKeepsTheContract) {
  const auto t = testing::tiny_model();
  MdmOptions o = options(10, 8);
  const MdmResult plain = generate_mdm(*t.model, t.flats, kPrompts, o);
  o.cache = MdmCache::Prefix;
  const MdmResult cached = generate_mdm(*t.model, t.flats, kPrompts, o);
  check_trace(cached, o, {2, 2, 2, 2, 3, 3, 2, 2, 1, 1});
  // The first step runs the whole sequence, as without the cache: the same commits.
  EXPECT_EQ(cached.trace[0].committed, plain.trace[0].committed);
  for (const auto& row : cached.tokens)
    for (int64_t id : row) EXPECT_LT(id, t.model->vocab());
}

TEST(GenerateMdm, PromptsOfDifferentLengthsDoNotAffectEachOther) {
  const auto t = testing::tiny_model();
  for (double temperature : {0.0, 1.0}) {
    const MdmOptions o = options(10, 8, temperature);
    std::vector<Prompt> changed = kPrompts;
    changed[1] = {30, 31, 32};
    const MdmResult a = generate_mdm(*t.model, t.flats, kPrompts, o);
    const MdmResult b = generate_mdm(*t.model, t.flats, changed, o);
    EXPECT_EQ(a.tokens[0], b.tokens[0]);
    EXPECT_EQ(a.tokens[2], b.tokens[2]);
    EXPECT_NE(a.tokens[1], b.tokens[1]);
    EXPECT_EQ(b.sequences[1].size(), 23u);
    if (temperature == 0) {
      const MdmResult alone = generate_mdm(*t.model, t.flats, {changed[1]}, o);
      EXPECT_EQ(alone.tokens[0], b.tokens[1]);
    }
  }
}

TEST(GenerateMdm, ThresholdSamplingDoesNotDependOnTheBatch) {
  // With a threshold, rows of one batch finish a block at different steps; a row's noise is
  // keyed by its own step count, so a batch-mate that takes longer changes nothing.
  const auto t = testing::tiny_model();
  MdmOptions o = options(0, 8, 1.0);
  o.threshold = 0.2;
  std::vector<Prompt> changed = kPrompts;
  changed[1] = {40, 41, 42, 43, 44, 45};  // same length: same batch
  const MdmResult a = generate_mdm(*t.model, t.flats, kPrompts, o);
  const MdmResult b = generate_mdm(*t.model, t.flats, changed, o);
  EXPECT_EQ(a.tokens[0], b.tokens[0]);
  EXPECT_EQ(a.tokens[2], b.tokens[2]);
  EXPECT_NE(a.tokens[1], b.tokens[1]);
  EXPECT_NE(a.forward_calls, 3 * 20) << "some step committed several tokens";
}

TEST(GenerateMdm, RefusesBadOptions) {
  const auto t = testing::tiny_model(50, 48);
  MdmOptions o = options(10, 8);
  o.max_new = 43;  // 6 + 43 > 48
  try {
    generate_mdm(*t.model, t.flats, kPrompts, o);
    FAIL() << "no error";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("48"), std::string::npos) << e.what();
  }
  o.max_new = 20;
  o.steps = 2;  // 3 blocks
  EXPECT_THROW(generate_mdm(*t.model, t.flats, kPrompts, o), std::invalid_argument);
  o.steps = 10;
  o.threshold = 1.5;
  EXPECT_THROW(generate_mdm(*t.model, t.flats, kPrompts, o), std::invalid_argument);
  EXPECT_THROW(parse_remasking("lowest"), std::invalid_argument);
  EXPECT_THROW(parse_mdm_cache("full"), std::invalid_argument);
}

}  // namespace
}  // namespace crossover
