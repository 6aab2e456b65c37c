// kernels/weighted_ce.h, CPU reference: loss and dlogits against a naive ATen computation in
// double precision (log_softmax over the first num_valid columns), the excluded columns, the
// weight-0 rows and grad_scale.
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <cstdint>

#include "crossover/kernels/weighted_ce.h"

namespace crossover::kernels {
namespace {

struct Case {
  int64_t rows, V, ld, num_valid;
  float grad_scale;
  double logit_scale = 3.0, logit_shift = 0.0;
};

struct Inputs {
  at::Tensor logits;   // [rows, ld] float
  at::Tensor targets;  // [rows] int64, < num_valid
  at::Tensor weights;  // [rows] float, every 4th row 0
};

constexpr float kPadding = 12345.0f;  // columns >= V: must come back untouched

Inputs make_inputs(const Case& c, uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  Inputs in;
  in.logits = at::randn({c.rows, c.ld}, gen, at::kFloat) * c.logit_scale + c.logit_shift;
  in.logits.narrow(1, c.V, c.ld - c.V).fill_(kPadding);
  in.targets = at::randint(0, c.num_valid, {c.rows}, gen, at::kLong);
  in.weights = at::rand({c.rows}, gen, at::kFloat) + 0.5;
  for (int64_t r = 3; r < c.rows; r += 4) in.weights[r].fill_(0.0f);
  return in;
}

struct Output {
  at::Tensor dlogits, loss;
};

Output run_cpu(const Inputs& in, const Case& c) {
  Output out{in.logits.clone(), at::empty({c.rows}, at::kFloat)};
  weighted_ce_cpu(out.dlogits.data_ptr<float>(), c.rows, c.V, c.ld, c.num_valid,
                  in.targets.data_ptr<int64_t>(), in.weights.data_ptr<float>(), c.grad_scale,
                  out.loss.data_ptr<float>());
  return out;
}

// The naive reference in double: log_softmax over the valid columns, gather, softmax - onehot.
Output reference(const Inputs& in, const Case& c) {
  const at::Tensor x = in.logits.narrow(1, 0, c.num_valid).to(at::kDouble);
  const at::Tensor w = in.weights.to(at::kDouble);
  const at::Tensor logp = at::log_softmax(x, 1);
  const at::Tensor nll = -logp.gather(1, in.targets.unsqueeze(1)).squeeze(1);
  const at::Tensor onehot = at::zeros_like(x).scatter_(1, in.targets.unsqueeze(1), 1.0);
  const at::Tensor grad = (logp.exp() - onehot) * (w * c.grad_scale).unsqueeze(1);
  Output out{at::zeros({c.rows, c.V}, at::kDouble), w * nll};
  out.dlogits.narrow(1, 0, c.num_valid).copy_(grad);
  return out;
}

// |got - want| <= rtol * |want| + atol, elementwise, reporting the first failure.
void expect_close(const at::Tensor& got, const at::Tensor& want, double rtol, double atol,
                  const char* what) {
  const at::Tensor g = got.to(at::kDouble).contiguous(), w = want.to(at::kDouble).contiguous();
  ASSERT_EQ(g.sizes(), w.sizes()) << what;
  const double* gp = g.data_ptr<double>();
  const double* wp = w.data_ptr<double>();
  for (int64_t i = 0; i < g.numel(); ++i) {
    ASSERT_LE(std::abs(gp[i] - wp[i]), rtol * std::abs(wp[i]) + atol)
        << what << " element " << i << ": got " << gp[i] << ", want " << wp[i];
  }
}

void check_against_reference(const Case& c, uint64_t seed) {
  const Inputs in = make_inputs(c, seed);
  const Output got = run_cpu(in, c);
  const Output want = reference(in, c);
  expect_close(got.loss, want.loss, 1e-5, 1e-7, "loss");
  // An absolute floor of 1e-6 of the row's gradient scale: the target column is p - 1, where
  // fp32 cancellation leaves a few ulps of w * grad_scale.
  const double max_wg = in.weights.max().item<double>() * std::abs(c.grad_scale);
  expect_close(got.dlogits.narrow(1, 0, c.V), want.dlogits, 1e-5, 1e-6 * max_wg, "dlogits");
  // Columns >= V are not part of the row: untouched.
  if (c.ld > c.V) {
    EXPECT_TRUE(at::all(got.dlogits.narrow(1, c.V, c.ld - c.V) == kPadding).item<bool>());
  }
}

TEST(WeightedCeCpu, MatchesNaiveDoubleReference) {
  check_against_reference({16, 50, 50, 50, 1.0f}, 1);
}

TEST(WeightedCeCpu, MatchesReferenceWithExcludedColumnsAndPaddedRows) {
  // V = 50 logits in rows of 56, of which the last 5 (e.g. [MASK] and padding) are excluded.
  check_against_reference({13, 50, 56, 45, 0.5f}, 2);
}

TEST(WeightedCeCpu, MatchesReferenceOnLargeVocabularyAndManyRows) {
  check_against_reference({64, 8195, 8200, 8193, 0.01f}, 3);
  check_against_reference({8, 50304, 50304, 50257, 1.0f}, 9);  // GPT-2's padded vocabulary
}

TEST(WeightedCeCpu, StableForLargeLogits) {
  // Logits around 1000 with spread 30: exp() without the max shift would overflow.
  check_against_reference({8, 300, 300, 299, 1.0f, 30.0, 1000.0}, 4);
  const Inputs in = make_inputs({8, 300, 300, 299, 1.0f, 30.0, 1000.0}, 4);
  const Output got = run_cpu(in, {8, 300, 300, 299, 1.0f});
  EXPECT_TRUE(at::isfinite(got.loss).all().item<bool>());
  EXPECT_TRUE(at::isfinite(got.dlogits).all().item<bool>());
}

TEST(WeightedCeCpu, ExcludedColumnsGetZeroGradientAndNoProbability) {
  const Case c{6, 40, 40, 30, 1.0f};
  Inputs in = make_inputs(c, 5);
  // Huge excluded logits would dominate the softmax if they took part in it.
  in.logits.narrow(1, 30, 10).fill_(500.0f);
  const Output got = run_cpu(in, c);
  EXPECT_TRUE(at::all(got.dlogits.narrow(1, 30, 10) == 0.0f).item<bool>());
  expect_close(got.loss, reference(in, c).loss, 1e-5, 1e-7, "loss");
  // Gradients of a weighted row sum to zero over the valid columns (softmax minus one-hot).
  const at::Tensor row_sums = got.dlogits.narrow(1, 0, 30).sum(1);
  EXPECT_LT(row_sums.abs().max().item<float>(), 1e-5f);
}

TEST(WeightedCeCpu, WeightZeroRowsGiveZeroLossAndZeroGradient) {
  const Case c{12, 64, 64, 60, 1.0f};
  Inputs in = make_inputs(c, 6);  // rows 3, 7, 11 have weight 0
  in.targets[7].fill_(1000);      // a weight-0 row's target is never read
  const Output got = run_cpu(in, c);
  for (int64_t r : {3, 7, 11}) {
    EXPECT_EQ(got.loss[r].item<float>(), 0.0f);
    EXPECT_TRUE(at::all(got.dlogits[r] == 0.0f).item<bool>()) << "row " << r;
  }
  for (int64_t r : {0, 1, 2, 4}) {
    EXPECT_GT(got.loss[r].item<float>(), 0.0f);
    EXPECT_GT(got.dlogits[r].abs().sum().item<float>(), 0.0f);
  }
}

TEST(WeightedCeCpu, GradScaleScalesOnlyTheGradient) {
  const Case one{10, 100, 100, 97, 1.0f}, three{10, 100, 100, 97, 3.0f};
  const Inputs in = make_inputs(one, 7);
  const Output a = run_cpu(in, one), b = run_cpu(in, three);
  EXPECT_TRUE(at::equal(a.loss, b.loss));
  // The floor covers the cancellation in the target column (weights are below 1.5).
  expect_close(b.dlogits, a.dlogits * 3.0, 1e-6, 1e-6 * 3 * 1.5, "dlogits x3");
}

TEST(WeightedCeCpu, LossIsWeightTimesCrossEntropy) {
  // Doubling the weights doubles loss and gradient exactly (a power of two scales exactly).
  const Case c{10, 100, 100, 100, 1.0f};
  Inputs in = make_inputs(c, 8);
  const Output a = run_cpu(in, c);
  in.weights *= 2.0f;
  const Output b = run_cpu(in, c);
  EXPECT_TRUE(at::equal(b.loss, a.loss * 2.0f));
  EXPECT_TRUE(at::equal(b.dlogits, a.dlogits * 2.0f));
}

}  // namespace
}  // namespace crossover::kernels
