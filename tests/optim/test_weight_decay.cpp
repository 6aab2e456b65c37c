// Weight decay's policy over the model's parameter kinds, and the decayed segments of a group
// and of its shards.
#include <gtest/gtest.h>

#include "crossover/optim/weight_decay.h"

namespace crossover {
namespace {

ModelConfig small_model() {
  ModelConfig m;
  m.layers = 2;
  m.d_model = 32;
  m.heads = 4;
  m.qk_norm = true;
  return m;
}

// Every element of a group's buffer, decayed or not, by walking its parameters.
std::vector<bool> decayed_elements(const GroupLayout& g, const OptimizerConfig& c) {
  std::vector<bool> out(static_cast<size_t>(g.numel), false);
  for (const auto& p : g.params)
    for (int64_t i = 0; i < p.numel; ++i)
      out[static_cast<size_t>(p.offset + i)] = decays(p.kind, c);
  return out;
}

std::vector<bool> covered(const std::vector<DecaySegment>& segs, int64_t n, int64_t lo) {
  std::vector<bool> out(static_cast<size_t>(n), false);
  for (const auto& s : segs)
    for (int64_t i = 0; i < s.length; ++i) out.at(static_cast<size_t>(lo + s.offset + i)) = true;
  return out;
}

TEST(WeightDecay, MatricesAlwaysDecayNormsAndEmbeddingsAsConfigured) {
  OptimizerConfig c;
  c.decay_norms = false;
  c.decay_embeddings = false;
  EXPECT_TRUE(decays(ParamKind::Matrix, c));
  EXPECT_FALSE(decays(ParamKind::Norm, c));
  EXPECT_FALSE(decays(ParamKind::Embedding, c));
  c.decay_norms = true;
  c.decay_embeddings = true;
  EXPECT_TRUE(decays(ParamKind::Norm, c));
  EXPECT_TRUE(decays(ParamKind::Embedding, c));
}

TEST(WeightDecay, SegmentsCoverExactlyTheDecayedElementsMerged) {
  OptimizerConfig c;
  c.decay_norms = false;
  const ModelLayout layout = make_layout(small_model(), 50);
  const GroupLayout& block = layout.groups[1];
  const auto segs = decay_segments(block, c, 0, block.numel);
  EXPECT_EQ(covered(segs, block.numel, 0), decayed_elements(block, c));
  // attn_norm | wq wk wv wo | q_norm k_norm ffn_norm | w_gate w_up w_down: two merged runs.
  ASSERT_EQ(segs.size(), 2u);
  for (size_t i = 1; i < segs.size(); ++i)
    EXPECT_GT(segs[i].offset, segs[i - 1].offset + segs[i - 1].length);
}

TEST(WeightDecay, ShardSegmentsTogetherAreTheGroupsSegments) {
  OptimizerConfig c;
  c.decay_embeddings = true;
  const ModelLayout layout = make_layout(small_model(), 50);
  for (const auto& g : layout.groups)
    for (int64_t world : {1, 2, 3, 7}) {
      const int64_t shard = (g.numel + world - 1) / world;
      std::vector<bool> all(static_cast<size_t>(g.numel), false);
      for (int64_t r = 0; r < world; ++r) {
        const int64_t lo = r * shard, hi = std::min(g.numel, lo + shard);
        const auto part = covered(decay_segments(g, c, lo, lo + shard), g.numel, lo);
        for (int64_t i = 0; i < g.numel; ++i)
          if (part[static_cast<size_t>(i)]) {
            EXPECT_TRUE(i >= lo && i < hi) << g.name << " world " << world << " rank " << r;
            all[static_cast<size_t>(i)] = true;
          }
      }
      EXPECT_EQ(all, decayed_elements(g, c)) << g.name << " world " << world;
    }
}

}  // namespace
}  // namespace crossover
