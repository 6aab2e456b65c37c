// model.dropout: counter-based masks, keyed so that recompute, resume and any rank layout draw
// the same ones, and absent outside training.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include "crossover/model/dropout.h"
#include "crossover/model/transformer.h"

namespace crossover {
namespace {

DropoutKey key(int64_t step, int64_t row0) { return DropoutKey{true, 7, step, row0}; }

TEST(Dropout, DropsTheRequestedFractionAndScalesTheRest) {
  const double p = 0.25;
  const at::Tensor s = dropout_scale(key(3, 0), 1, DropoutSite::kFfnOut, 16, 4099, p);
  ASSERT_EQ(s.sizes(), (std::vector<int64_t>{16, 4099}));
  const at::Tensor dropped = s.eq(0);
  const at::Tensor kept = s.ne(0);
  EXPECT_TRUE(s.masked_select(kept).eq(static_cast<float>(1.0 / (1.0 - p))).all().item<bool>());
  // 65,584 draws: the dropped fraction is within 4 binomial standard errors (0.0068) of p.
  EXPECT_NEAR(dropped.to(at::kDouble).mean().item<double>(), p, 0.0068);
  // Expectation preserved: the mean scale is 1.
  EXPECT_NEAR(s.to(at::kDouble).mean().item<double>(), 1.0, 0.01);
}

TEST(Dropout, MasksArePureFunctionsOfStepRowLayerAndSite) {
  const double p = 0.5;
  const at::Tensor a = dropout_scale(key(5, 10), 2, DropoutSite::kAttentionOut, 4, 64, p);
  EXPECT_TRUE(a.equal(dropout_scale(key(5, 10), 2, DropoutSite::kAttentionOut, 4, 64, p)));
  // A row's mask does not depend on which micro-batch holds it: rows 12-13 alone equal rows
  // 2-3 of the batch that starts at row 10.
  EXPECT_TRUE(
      dropout_scale(key(5, 12), 2, DropoutSite::kAttentionOut, 2, 64, p).equal(a.narrow(0, 2, 2)));
  // Another step, layer, site or seed draws another mask.
  EXPECT_FALSE(a.equal(dropout_scale(key(6, 10), 2, DropoutSite::kAttentionOut, 4, 64, p)));
  EXPECT_FALSE(a.equal(dropout_scale(key(5, 10), 3, DropoutSite::kAttentionOut, 4, 64, p)));
  EXPECT_FALSE(a.equal(dropout_scale(key(5, 10), 2, DropoutSite::kFfnOut, 4, 64, p)));
  EXPECT_FALSE(
      a.equal(dropout_scale(DropoutKey{true, 8, 5, 10}, 2, DropoutSite::kAttentionOut, 4, 64, p)));
  EXPECT_THROW(dropout_scale(key(0, 0), 80, DropoutSite::kFfnOut, 1, 4, p), std::invalid_argument);
}

TEST(Dropout, OnlyAnActiveKeyDropsAndTheForwardIsReproducible) {
  ModelConfig m;
  m.layers = 2;
  m.d_model = 32;
  m.heads = 4;
  m.dropout = 0.2;
  m.attention = AttentionImpl::kPlain;
  const Transformer model(m, 50, 16);
  std::vector<at::Tensor> flats;
  for (const auto& g : model.layout().groups) {
    at::Tensor f = at::empty({g.numel});
    init_group(g, m, 0, f);
    flats.push_back(f);
  }
  const at::Tensor ids = at::randint(0, 50, {3, 16}, at::kLong);
  ModelConfig off = m;
  off.dropout = 0;
  const Transformer plain(off, 50, 16);
  const at::Tensor reference = plain.hidden(flats, ids, true);
  // Evaluation and generation pass no key: exactly the model without dropout.
  EXPECT_TRUE(model.hidden(flats, ids, true).equal(reference));
  const at::Tensor a = model.hidden(flats, ids, true, nullptr, CacheMode::Read, key(4, 0));
  EXPECT_FALSE(a.allclose(reference, 1e-3, 1e-3));
  EXPECT_TRUE(a.equal(model.hidden(flats, ids, true, nullptr, CacheMode::Read, key(4, 0))));
  // Row 1 of the batch, run alone as global row 1: the same output.
  const at::Tensor row = model.hidden(flats, ids.narrow(0, 1, 1), true, nullptr, CacheMode::Read,
                                      key(4, 1));
  EXPECT_TRUE(row.allclose(a.narrow(0, 1, 1), 1e-5, 1e-6));
  // Attention dropout zeroes probabilities, so a causal model stays causal: changing the last
  // token leaves every earlier position's output as it was.
  at::Tensor ids2 = ids.clone();
  ids2.select(1, 15).fill_(0);
  ids2.select(1, 15).add_(ids.select(1, 15).eq(0).to(at::kLong));
  const at::Tensor b = model.hidden(flats, ids2, true, nullptr, CacheMode::Read, key(4, 0));
  EXPECT_TRUE(b.narrow(1, 0, 15).allclose(a.narrow(1, 0, 15), 1e-5, 1e-6));
}

}  // namespace
}  // namespace crossover
