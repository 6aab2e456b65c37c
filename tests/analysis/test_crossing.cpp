// Crossing detection on synthetic curves with known answers, both metric directions, and the
// effective-data fit recovering a known R*.
#include <gtest/gtest.h>

#include <cmath>

#include "crossover/analysis/crossing.h"
#include "crossover/analysis/fit.h"

namespace crossover {
namespace {

Curve flat(std::vector<double> x, double y) {
  Curve c;
  c.x = std::move(x);
  c.y.assign(c.x.size(), y);
  return c;
}

TEST(SweepCrossing, NoneWhenArStaysAhead) {
  const Curve ar = {{1, 2, 3, 4}, {3.0, 2.8, 2.7, 2.65}};
  const Curve mdm = {{1, 2, 3, 4}, {3.5, 3.3, 3.1, 3.0}};
  const auto c = compare_curves(ar, mdm, Better::lower);
  ASSERT_TRUE(c.overlap);
  EXPECT_TRUE(c.crossings.empty());
  EXPECT_FALSE(c.mdm_first_ahead.has_value());
  EXPECT_LT(c.mdm_advantage, 0);
  EXPECT_LT(c.mdm_advantage_begin, 0);
  EXPECT_DOUBLE_EQ(c.ar_end, 2.65);
  EXPECT_DOUBLE_EQ(c.mdm_end, 3.0);
  EXPECT_TRUE(c.trend.has_value());  // MDM behind at the end: extrapolate
}

TEST(SweepCrossing, OneCrossingInterpolatedBetweenEvals) {
  // MDM's loss falls 0.1 per 1e5 tokens from 3.4; AR sits at 3.05: they meet at 4.5e5.
  Curve mdm;
  for (int i = 1; i <= 10; ++i) mdm.x.push_back(i * 1e5), mdm.y.push_back(3.5 - 0.1 * i);
  const auto c = compare_curves(flat(mdm.x, 3.05), mdm, Better::lower);
  ASSERT_EQ(c.crossings.size(), 1u);
  EXPECT_TRUE(c.crossings[0].mdm_overtakes);
  EXPECT_NEAR(c.crossings[0].x, 4.5e5, 1e-6);
  EXPECT_NEAR(c.mdm_advantage, 3.05 - 2.5, 1e-12);
  EXPECT_FALSE(c.trend.has_value());  // MDM ahead at the end: nothing to extrapolate
}

TEST(SweepCrossing, SeveralCrossingsInOrder) {
  const Curve mdm = {{1, 2, 3, 4}, {3.1, 2.9, 3.1, 2.9}};
  const auto c = compare_curves(flat({1, 2, 3, 4}, 3.0), mdm, Better::lower);
  ASSERT_EQ(c.crossings.size(), 3u);
  EXPECT_NEAR(*c.mdm_first_ahead, 1.5, 1e-12);
  EXPECT_NEAR(c.crossings[0].x, 1.5, 1e-12);
  EXPECT_TRUE(c.crossings[0].mdm_overtakes);
  EXPECT_NEAR(c.crossings[1].x, 2.5, 1e-12);
  EXPECT_FALSE(c.crossings[1].mdm_overtakes);
  EXPECT_NEAR(c.crossings[2].x, 3.5, 1e-12);
  EXPECT_TRUE(c.crossings[2].mdm_overtakes);
}

TEST(SweepCrossing, HigherIsBetterForAccuracy) {
  // MDM's accuracy rises past AR's 0.5 between x = 3 (0.45) and x = 4 (0.6): at 3 + 1/3.
  const Curve mdm = {{1, 2, 3, 4, 5}, {0.3, 0.4, 0.45, 0.6, 0.7}};
  const auto c = compare_curves(flat({1, 2, 3, 4, 5}, 0.5), mdm, Better::higher);
  ASSERT_EQ(c.crossings.size(), 1u);
  EXPECT_TRUE(c.crossings[0].mdm_overtakes);
  EXPECT_NEAR(c.crossings[0].x, 3.0 + 1.0 / 3.0, 1e-12);
  EXPECT_NEAR(c.mdm_advantage, 0.2, 1e-12);
  EXPECT_NEAR(*c.mdm_first_ahead, 3.0 + 1.0 / 3.0, 1e-12);
  // The same numbers as losses: MDM starts ahead and AR overtakes it.
  const auto l = compare_curves(flat({1, 2, 3, 4, 5}, 0.5), mdm, Better::lower);
  ASSERT_EQ(l.crossings.size(), 1u);
  EXPECT_FALSE(l.crossings[0].mdm_overtakes);
  EXPECT_GT(l.mdm_advantage_begin, 0);
  EXPECT_DOUBLE_EQ(*l.mdm_first_ahead, 1.0);
}

TEST(SweepCrossing, DifferentEvalGridsAndPartialOverlap) {
  // AR evaluated at 1, 3, 5 (flat 3.0); MDM at 2 and 4 going 3.2 -> 2.8: they meet at 3.
  const Curve mdm = {{2, 4}, {3.2, 2.8}};
  const auto c = compare_curves(flat({1, 3, 5}, 3.0), mdm, Better::lower);
  EXPECT_DOUBLE_EQ(c.x_begin, 2);
  EXPECT_DOUBLE_EQ(c.x_end, 4);  // only the shared range is compared
  ASSERT_EQ(c.crossings.size(), 1u);
  EXPECT_NEAR(c.crossings[0].x, 3.0, 1e-12);
  // No shared range at all.
  EXPECT_FALSE(compare_curves(flat({1, 2}, 3), flat({3, 4}, 2), Better::lower).overlap);
  EXPECT_FALSE(compare_curves(Curve{}, flat({3, 4}, 2), Better::lower).overlap);
}

TEST(SweepCrossing, TouchingWithoutCrossingIsNotACrossing) {
  const Curve mdm = {{1, 2, 3}, {3.1, 3.0, 3.1}};
  const auto c = compare_curves(flat({1, 2, 3}, 3.0), mdm, Better::lower);
  EXPECT_TRUE(c.crossings.empty());
  // Reaching a tie and then passing: one crossing, where the gap first reached zero.
  const Curve pass = {{1, 2, 3, 4}, {3.1, 3.0, 3.0, 2.9}};
  const auto p = compare_curves(flat({1, 2, 3, 4}, 3.0), pass, Better::lower);
  ASSERT_EQ(p.crossings.size(), 1u);
  EXPECT_DOUBLE_EQ(p.crossings[0].x, 2.0);
}

TEST(SweepCrossing, TrendsExtrapolatedInLogTokens) {
  // AR: 2 + 0.05 L (overfitting), MDM: 4 - 0.1 L, L = ln tokens = 1..8. At L = 8 MDM trails
  // by 0.8 and gains 0.15 per e-fold: they meet at L = 8 + 0.8 / 0.15.
  Curve ar, mdm;
  for (int l = 1; l <= 8; ++l) {
    ar.x.push_back(std::exp(l)), ar.y.push_back(2 + 0.05 * l);
    mdm.x.push_back(std::exp(l)), mdm.y.push_back(4 - 0.1 * l);
  }
  const auto c = compare_curves(ar, mdm, Better::lower);
  EXPECT_TRUE(c.crossings.empty());
  ASSERT_TRUE(c.trend.has_value());
  EXPECT_EQ(c.trend->points, 3);
  EXPECT_NEAR(c.trend->ar_slope, 0.05, 1e-9);
  EXPECT_NEAR(c.trend->mdm_slope, -0.1, 1e-9);
  ASSERT_TRUE(c.trend->crosses);
  EXPECT_NEAR(std::log(c.trend->x), 8 + 0.8 / 0.15, 1e-9);
  // Diverging: MDM falls slower than AR.
  Curve slow = mdm;
  for (size_t i = 0; i < slow.x.size(); ++i) slow.y[i] = 4 - 0.01 * std::log(slow.x[i]);
  Curve falling = ar;
  for (size_t i = 0; i < falling.x.size(); ++i) falling.y[i] = 3 - 0.1 * std::log(falling.x[i]);
  const auto d = compare_curves(falling, slow, Better::lower);
  ASSERT_TRUE(d.trend.has_value());
  EXPECT_FALSE(d.trend->crosses);
  EXPECT_FALSE(d.trend->parallel);
  // Parallel: a constant gap.
  Curve shifted = falling;
  for (double& y : shifted.y) y += 0.5;
  const auto p = compare_curves(falling, shifted, Better::lower);
  ASSERT_TRUE(p.trend.has_value());
  EXPECT_FALSE(p.trend->crosses);
  EXPECT_TRUE(p.trend->parallel);
}

TEST(SweepCrossing, LevelStartsAndTies) {
  // Both curves start at the untrained loss; MDM pulls ahead without a change of leader.
  const Curve ar = {{0, 1, 2}, {8.0, 3.0, 2.9}};
  const Curve mdm = {{0, 1, 2}, {8.0, 2.9, 2.8}};
  const auto c = compare_curves(ar, mdm, Better::lower);
  EXPECT_TRUE(c.crossings.empty());
  EXPECT_EQ(c.mdm_advantage_begin, 0);
  EXPECT_GT(c.mdm_advantage, 0);
  ASSERT_TRUE(c.mdm_first_ahead.has_value());
  EXPECT_DOUBLE_EQ(*c.mdm_first_ahead, 0.0);  // level at 0, ahead right after
  // Identical curves: level throughout, nothing to extrapolate.
  const auto same = compare_curves(ar, ar, Better::higher);
  EXPECT_TRUE(same.crossings.empty());
  EXPECT_EQ(same.mdm_advantage, 0);
  EXPECT_FALSE(same.trend.has_value());
}

// Synthetic noisy curves: an exact AR loss and an MDM loss whose points carry a standard error.
Curve noisy(std::vector<double> y, double se) {
  Curve c;
  for (size_t i = 0; i < y.size(); ++i) c.x.push_back(1000.0 * (i + 1));
  c.y = std::move(y);
  c.se.assign(c.y.size(), se);
  return c;
}

TEST(SweepCrossover, NotResolvedWhenArStaysAheadBeyondTheNoise) {
  const Curve ar = noisy({5, 4, 3.5, 3.2, 3.1}, 0);
  const Curve mdm = noisy({5.1, 4.5, 4.0, 3.6, 3.4}, 0.02);
  const auto r = resolve_crossover(ar, mdm, Better::lower);
  EXPECT_FALSE(r.resolved);
  EXPECT_EQ(r.why_not, "AR leads beyond the noise at the end");
}

TEST(SweepCrossover, OneCrossingIsCalledWithTheIntervalItLiesIn) {
  // AR leads by far more than 2 SE until 3000 tokens, the gap closes within the noise at 4000,
  // and MDM leads beyond it from 5000 to the end.
  const Curve ar = noisy({5, 4, 3.6, 3.55, 3.6, 3.7, 3.8}, 0);
  const Curve mdm = noisy({5.2, 4.3, 3.8, 3.56, 3.5, 3.45, 3.4}, 0.02);
  const auto r = resolve_crossover(ar, mdm, Better::lower);
  ASSERT_TRUE(r.resolved) << r.why_not;
  EXPECT_EQ(r.x_lo, 3000);
  EXPECT_EQ(r.x_hi, 5000);
  // The raw comparison places the mean crossing inside that interval.
  const auto c = compare_curves(ar, mdm, Better::lower);
  ASSERT_EQ(c.crossings.size(), 1u);
  EXPECT_GT(c.crossings[0].x, r.x_lo);
  EXPECT_LT(c.crossings[0].x, r.x_hi);
  EXPECT_TRUE(c.resolved.resolved);
}

TEST(SweepCrossover, ANoiseOnlyTouchIsNotACrossover) {
  // The means cross twice and end with MDM ahead by 0.01, inside 2 SE of 0.02: the raw
  // comparison sees crossings, the noise-aware one does not call any.
  const Curve ar = noisy({5, 4, 3.50, 3.40, 3.35, 3.33}, 0);
  const Curve mdm = noisy({5.3, 4.2, 3.49, 3.42, 3.34, 3.32}, 0.02);
  EXPECT_GE(compare_curves(ar, mdm, Better::lower).crossings.size(), 2u);
  const auto r = resolve_crossover(ar, mdm, Better::lower);
  EXPECT_FALSE(r.resolved);
  EXPECT_EQ(r.why_not, "at the end the curves are within 2 combined standard errors");
}

TEST(SweepCrossover, ALeadThatFallsBackIntoTheNoiseRestartsTheCount) {
  // MDM leads beyond the noise at 4000, falls back within it at 5000, and leads again from 6000.
  const Curve ar = noisy({5, 4, 3.6, 3.6, 3.6, 3.7, 3.8}, 0);
  const Curve mdm = noisy({5.3, 4.3, 3.8, 3.5, 3.58, 3.5, 3.5}, 0.02);
  const auto r = resolve_crossover(ar, mdm, Better::lower);
  ASSERT_TRUE(r.resolved) << r.why_not;
  EXPECT_EQ(r.x_lo, 3000);
  EXPECT_EQ(r.x_hi, 6000);
}

TEST(SweepCrossover, AccuracyUsesBinomialErrorsAndHigherIsBetter) {
  EXPECT_DOUBLE_EQ(binomial_se(0.5, 400), 0.025);
  EXPECT_DOUBLE_EQ(binomial_se(0.0, 100), 0.0);
  EXPECT_TRUE(std::isnan(binomial_se(0.5, 0)));
  // 400 examples: SE 0.025 around 0.5, so a lead of 0.03 is noise and one of 0.09 is not.
  auto acc = [](std::vector<double> y) {
    Curve c = noisy(y, 0);
    for (size_t i = 0; i < y.size(); ++i) c.se[i] = binomial_se(y[i], 400);
    return c;
  };
  const Curve ar = acc({0.30, 0.45, 0.52, 0.50, 0.48});
  EXPECT_FALSE(resolve_crossover(ar, acc({0.25, 0.40, 0.50, 0.53, 0.51}), Better::higher).resolved);
  const auto r = resolve_crossover(ar, acc({0.25, 0.36, 0.50, 0.59, 0.60}), Better::higher);
  ASSERT_TRUE(r.resolved) << r.why_not;
  EXPECT_EQ(r.x_lo, 2000);
  EXPECT_EQ(r.x_hi, 4000);
}

TEST(SweepCrossover, NoStandardErrorNoCall) {
  Curve mdm = noisy({5.2, 4.3, 3.8, 3.5, 3.4}, 0.02);
  mdm.se[2] = std::nan("");  // an eval without an error estimate
  const auto r = resolve_crossover(noisy({5, 4, 3.6, 3.7, 3.8}, 0), mdm, Better::lower);
  EXPECT_FALSE(r.resolved);
  EXPECT_EQ(r.why_not, "the data carry no standard error for every evaluation");
  mdm.se.pop_back();
  EXPECT_THROW(resolve_crossover(noisy({5, 4, 3.6, 3.7, 3.8}, 0), mdm, Better::lower),
               std::invalid_argument);
}

TEST(SweepCrossover, MdmAheadFromTheStartHasNothingToCross) {
  const auto r = resolve_crossover(noisy({5, 4.5, 4}, 0), noisy({4, 3.5, 3}, 0.01), Better::lower);
  EXPECT_FALSE(r.resolved);
  EXPECT_EQ(r.why_not, "MDM leads beyond the noise throughout: nothing to cross");
}

TEST(SweepFit, EffectiveDataFormula) {
  EXPECT_DOUBLE_EQ(effective_data(5e5, 1e6, 15), 5e5);  // no repetition: D' = D
  EXPECT_DOUBLE_EQ(effective_data(1e6, 1e6, 15), 1e6);
  // Many repetitions saturate at U (1 + R*).
  EXPECT_NEAR(effective_data(1e6 * 1e4, 1e6, 15), 1e6 * 16, 1);
  // One repetition is worth R* (1 - exp(-1/R*)) < 1 epochs of fresh data.
  EXPECT_NEAR(effective_data(2e6, 1e6, 15), 1e6 + 1e6 * 15 * (1 - std::exp(-1.0 / 15)), 1e-6);
}

std::vector<FitSample> synthetic(double E, double A, double alpha, double r_star) {
  std::vector<FitSample> s;
  for (double u : {0.5e6, 1e6, 2e6, 4e6, 32e6})
    for (int i = 1; i <= 24; ++i) {
      const double d = 32e6 * i / 24.0;
      s.push_back({d, u, E + A / std::pow(effective_data(d, u, r_star), alpha)});
    }
  return s;
}

TEST(SweepFit, RecoversAKnownRStar) {
  for (double r_star : {5.0, 15.0, 40.0}) {
    const auto f = fit_effective_data(synthetic(2.0, 400.0, 0.35, r_star));
    ASSERT_TRUE(f.ok);
    EXPECT_TRUE(f.repeated);
    EXPECT_NEAR(f.r_star, r_star, 0.02 * r_star) << r_star;
    EXPECT_NEAR(f.alpha, 0.35, 0.01);
    EXPECT_NEAR(f.E, 2.0, 0.02);
    EXPECT_GT(f.r2, 0.9999);
    EXPECT_FALSE(f.r_star_at_bound);
  }
}

TEST(SweepFit, SaysWhenRStarIsNotIdentifiable) {
  // No run repeats its data.
  std::vector<FitSample> fresh;
  for (int i = 1; i <= 10; ++i) fresh.push_back({1e5 * i, 1e7, 2 + 10 / std::sqrt(1e5 * i)});
  const auto f = fit_effective_data(fresh);
  ASSERT_TRUE(f.ok);
  EXPECT_FALSE(f.repeated);
  // Too few points.
  EXPECT_FALSE(fit_effective_data({{1, 1, 1}, {2, 1, 1}}).ok);
  // A loss that rises with repetition (overfitting) fits poorly and the R^2 shows it.
  std::vector<FitSample> rising;
  for (int i = 1; i <= 20; ++i) {
    const double d = 1e5 * i;
    rising.push_back({d, 1e5, i <= 5 ? 4.0 - 0.3 * i : 2.5 + 0.1 * (i - 5)});
  }
  EXPECT_LT(fit_effective_data(rising).r2, 0.9);
}

}  // namespace
}  // namespace crossover
