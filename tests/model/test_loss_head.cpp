#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include "crossover/model/loss_head.h"

namespace crossover {
namespace {

// The naive computation: full logits, log-softmax, weighted sum.
at::Tensor naive_loss(const at::Tensor& h, const at::Tensor& w, const at::Tensor& y,
                      const at::Tensor& weights) {
  const at::Tensor logp = at::log_softmax(at::matmul(h, w.t()), -1);
  return -(logp.gather(1, y.unsqueeze(1)).squeeze(1) * weights).sum();
}

// ||a - b|| / ||b||: fp32 accumulation differs from double element by element, the tensor as a
// whole must agree to 1e-5.
double relative_error(const at::Tensor& a, const at::Tensor& b) {
  const at::Tensor bd = b.to(at::kDouble);
  return (a.to(at::kDouble) - bd).norm().item<double>() / bd.norm().item<double>();
}

struct Case {
  const char* name;
  double signal_fraction;  // 1: ar (every row), 0.5: mdm-like
  int64_t chunk;
};

class LossHeadMatchesNaive : public ::testing::TestWithParam<Case> {};

TEST_P(LossHeadMatchesNaive, InLossAndGradients) {
  const Case c = GetParam();
  at::manual_seed(11);
  const int64_t N = 53, d = 24, V = 97;
  const at::Tensor h0 = at::randn({N, d}), w0 = at::randn({V, d}) * 0.3;
  const at::Tensor y = at::randint(0, V, {N});
  at::Tensor weights = at::rand({N}) + 0.5;
  weights = weights * (at::rand({N}) < c.signal_fraction).to(at::kFloat);

  at::Tensor h1 = h0.clone().set_requires_grad(true), w1 = w0.clone().set_requires_grad(true);
  const at::Tensor fused = weighted_cross_entropy(h1, w1, y, weights, c.chunk);
  (fused * 1.7).backward();  // a non-unit upstream gradient

  at::Tensor h2 = h0.to(at::kDouble).set_requires_grad(true),
             w2 = w0.to(at::kDouble).set_requires_grad(true);
  const at::Tensor naive = naive_loss(h2, w2, y, weights.to(at::kDouble));
  (naive * 1.7).backward();

  EXPECT_NEAR(fused.item<double>(), naive.item<double>(), 1e-5 * std::abs(naive.item<double>()));
  EXPECT_LT(relative_error(h1.grad(), h2.grad()), 1e-5) << c.name;
  EXPECT_LT(relative_error(w1.grad(), w2.grad()), 1e-5) << c.name;
  // Rows without signal get exactly zero gradient.
  const at::Tensor silent = weights.eq(0);
  if (silent.any().item<bool>())
    EXPECT_EQ(h1.grad().index({silent}).abs().max().item<float>(), 0.0f);
}

INSTANTIATE_TEST_SUITE_P(Objectives, LossHeadMatchesNaive,
                         ::testing::Values(Case{"ar_one_chunk", 1.0, 0},
                                           Case{"ar_chunks_of_7", 1.0, 7},
                                           Case{"mdm_rows_of_1", 0.5, 1},
                                           Case{"mdm_chunks_of_16", 0.5, 16}),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(LossHead, TokenNllIsThePerRowCrossEntropy) {
  at::manual_seed(5);
  const at::Tensor h = at::randn({9, 8}), w = at::randn({13, 8});
  const at::Tensor y = at::randint(0, 13, {9});
  const at::Tensor expected =
      -at::log_softmax(at::matmul(h, w.t()), -1).gather(1, y.unsqueeze(1)).squeeze(1);
  EXPECT_TRUE(at::allclose(token_nll(h, w, y, 4), expected, 1e-5, 1e-6));
}

TEST(LossHead, UniformLogitsGiveLnVPerWeightUnit) {
  const int64_t V = 300;
  const at::Tensor h = at::randn({10, 6}), w = at::zeros({V, 6});
  const at::Tensor weights = at::full({10}, 0.1f);
  EXPECT_NEAR(weighted_cross_entropy(h, w, at::randint(0, V, {10}), weights).item<double>(),
              std::log(300.0), 1e-5);
}

// The sync-free selection (a count known on the host) picks the rows nonzero() picks, in the
// same order, so the loss and gradients are the same bit for bit.
TEST(LossHead, SignalRowIndexIsNonzerosIndexWithoutReadingTheDevice) {
  at::manual_seed(3);
  for (double fraction : {0.0, 0.03, 0.5, 1.0}) {
    const at::Tensor w = at::rand({301}) * (at::rand({301}) < fraction).to(at::kFloat);
    const at::Tensor expected = w.ne(0).nonzero().squeeze(1);
    const int64_t count = expected.numel();
    EXPECT_TRUE(at::equal(signal_row_index(w, count), expected)) << fraction;
    EXPECT_TRUE(at::equal(signal_row_index(w, -1), expected)) << fraction;  // nonzero() itself
  }
}

TEST(LossHead, AKnownSignalCountGivesTheSameLossAndGradients) {
  at::manual_seed(9);
  const int64_t N = 64, d = 16, V = 41;
  const at::Tensor h0 = at::randn({N, d}), w0 = at::randn({V, d}) * 0.3;
  const at::Tensor y = at::randint(0, V, {N});
  const at::Tensor weights = (at::rand({N}) + 0.5) * (at::rand({N}) < 0.5).to(at::kFloat);
  const int64_t count = weights.ne(0).sum().item<int64_t>();
  at::Tensor h1 = h0.clone().set_requires_grad(true), w1 = w0.clone().set_requires_grad(true);
  at::Tensor h2 = h0.clone().set_requires_grad(true), w2 = w0.clone().set_requires_grad(true);
  const at::Tensor counted = weighted_cross_entropy(h1, w1, y, weights, 8);
  const at::Tensor known = weighted_cross_entropy(h2, w2, y, weights, 8, count);
  counted.backward();
  known.backward();
  EXPECT_EQ(known.item<float>(), counted.item<float>());
  EXPECT_TRUE(at::equal(h2.grad(), h1.grad()));
  EXPECT_TRUE(at::equal(w2.grad(), w1.grad()));
}

}  // namespace
}  // namespace crossover
