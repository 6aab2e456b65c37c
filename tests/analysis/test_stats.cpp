// The statistics of paired comparisons against values computed by hand.
#include <gtest/gtest.h>

#include <cmath>

#include "crossover/analysis/stats.h"
#include "crossover/util/random.h"

namespace crossover {
namespace {

TEST(McNemarTest, MatchesHandComputedValues) {
  // b = 10, c = 2: n = 12; P(X <= 2) = (1 + 12 + 66) / 4096, doubled: 0.0385742...;
  // chi2 = (|10 - 2| - 1)^2 / 12 = 49 / 12, upper tail of chi-square(1) = erfc(sqrt(49 / 24)).
  const McNemar m = mcnemar(10, 2);
  EXPECT_EQ(m.b, 10);
  EXPECT_EQ(m.c, 2);
  EXPECT_NEAR(m.exact_p, 158.0 / 4096.0, 1e-12);
  EXPECT_NEAR(m.chi2, 49.0 / 12.0, 1e-12);
  EXPECT_NEAR(m.chi2_p, 0.0433081428, 1e-9);
  // Symmetric in the two models.
  EXPECT_NEAR(mcnemar(2, 10).exact_p, m.exact_p, 1e-15);
  // No discordant pairs, or as many each way: no evidence.
  EXPECT_EQ(mcnemar(0, 0).exact_p, 1.0);
  EXPECT_EQ(mcnemar(7, 7).exact_p, 1.0);
  EXPECT_EQ(mcnemar(7, 7).chi2, 0.0);
  // A large lopsided count: tiny p without overflow (log-space binomial).
  EXPECT_LT(mcnemar(900, 100).exact_p, 1e-100);
  // From per-example correctness: only-first = 2, only-second = 1.
  const McNemar v = mcnemar({true, true, true, false, false}, {true, false, false, true, false});
  EXPECT_EQ(v.b, 2);
  EXPECT_EQ(v.c, 1);
  EXPECT_NEAR(v.exact_p, 1.0, 1e-12);  // 2 (1 + 3) / 8 = 1
  EXPECT_THROW(mcnemar({true}, {true, false}), std::invalid_argument);
}

TEST(PairedBootstrap, AgreesWithTheAnalyticPairedStandardError) {
  // Differences with sd s over n items: the bootstrap se of their mean is about
  // s sqrt((n - 1) / n) / sqrt(n).
  const int n = 400;
  std::vector<double> a(n), b(n);
  SplitMix64 rng(3);
  double sum = 0, sum2 = 0;
  for (int i = 0; i < n; ++i) {
    a[i] = 5 + 2 * rng.uniform();  // shared between the two: cancels in the pairing
    b[i] = a[i] - 0.3 + (rng.uniform() - 0.5);
    sum += b[i] - a[i];
    sum2 += (b[i] - a[i]) * (b[i] - a[i]);
  }
  const double sd = std::sqrt((sum2 - sum * sum / n) / n);
  const double analytic = sd / std::sqrt(static_cast<double>(n));
  const double boot = paired_bootstrap_se(a, b, 4000);
  EXPECT_NEAR(boot, analytic, 0.05 * analytic);
  // Reproducible, and zero when every item differs by the same amount.
  EXPECT_EQ(paired_bootstrap_se(a, b, 4000), boot);
  std::vector<double> shifted(a);
  for (auto& v : shifted) v += 0.25;
  EXPECT_NEAR(paired_bootstrap_se(a, shifted), 0.0, 1e-12);
  EXPECT_THROW(paired_bootstrap_se(a, std::vector<double>(3)), std::invalid_argument);
}

TEST(SeedSpreadTest, MeanAndStandardErrorAcrossSeeds) {
  const SeedSpread s = seed_spread({3.1, 3.2});
  EXPECT_NEAR(s.mean, 3.15, 1e-12);
  EXPECT_NEAR(s.se, 0.05, 1e-12);
  EXPECT_EQ(s.n, 2);
  EXPECT_EQ(seed_spread({4.0}).se, 0.0);
}

}  // namespace
}  // namespace crossover
