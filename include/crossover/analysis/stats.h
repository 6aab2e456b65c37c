// The statistics of a comparison between two models scored on the same items: the standard
// error of a paired mean difference by bootstrap over the items, the spread across training
// seeds, and McNemar's test of two classifiers on the same examples.
#pragma once

#include <cstdint>
#include <vector>

namespace crossover {

// The bootstrap standard error of mean(b_i - a_i): items (validation windows) drawn with
// replacement `resamples` times from a fixed seed. a and b are scores of the same items, in the
// same order. 0 for fewer than two items.
double paired_bootstrap_se(const std::vector<double>& a, const std::vector<double>& b,
                           int resamples = 2000, uint64_t seed = 0x626f6f74ull);

// Mean, and the standard error of the mean across values (sd / sqrt(n); 0 for one value).
struct SeedSpread {
  double mean = 0, se = 0;
  int n = 0;
};
SeedSpread seed_spread(const std::vector<double>& values);

// McNemar's test on paired predictions: b = examples only the first model gets right, c = only
// the second. exact_p: two-sided binomial test of b against Binomial(b + c, 1/2); chi2 and
// chi2_p: the continuity-corrected statistic (|b - c| - 1)^2 / (b + c) on one degree of
// freedom. Both p are 1 when b + c = 0.
struct McNemar {
  int64_t b = 0, c = 0;
  double exact_p = 1, chi2 = 0, chi2_p = 1;
};
McNemar mcnemar(int64_t b, int64_t c);
// The same from per-example correctness of two models (equal lengths).
McNemar mcnemar(const std::vector<bool>& first_correct, const std::vector<bool>& second_correct);

}  // namespace crossover
