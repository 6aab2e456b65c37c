#include "crossover/analysis/stats.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "crossover/util/random.h"

namespace crossover {

double paired_bootstrap_se(const std::vector<double>& a, const std::vector<double>& b,
                           int resamples, uint64_t seed) {
  if (a.size() != b.size())
    throw std::invalid_argument("paired_bootstrap_se: " + std::to_string(a.size()) + " and " +
                                std::to_string(b.size()) + " items are not paired");
  const size_t n = a.size();
  if (n < 2 || resamples < 2) return 0;
  std::vector<double> d(n);
  for (size_t i = 0; i < n; ++i) d[i] = b[i] - a[i];
  SplitMix64 rng(seed);
  double sum = 0, sum2 = 0;
  for (int r = 0; r < resamples; ++r) {
    double m = 0;
    for (size_t i = 0; i < n; ++i) m += d[rng.below(n)];
    m /= static_cast<double>(n);
    sum += m;
    sum2 += m * m;
  }
  const double R = resamples;
  return std::sqrt(std::max(0.0, (sum2 - sum * sum / R) / (R - 1)));
}

SeedSpread seed_spread(const std::vector<double>& values) {
  SeedSpread s;
  s.n = static_cast<int>(values.size());
  if (values.empty()) return s;
  for (const double v : values) s.mean += v;
  s.mean /= s.n;
  if (s.n > 1) {
    double ss = 0;
    for (const double v : values) ss += (v - s.mean) * (v - s.mean);
    s.se = std::sqrt(ss / (s.n - 1) / s.n);
  }
  return s;
}

McNemar mcnemar(int64_t b, int64_t c) {
  if (b < 0 || c < 0) throw std::invalid_argument("mcnemar: negative counts");
  McNemar m;
  m.b = b;
  m.c = c;
  const int64_t n = b + c;
  if (n == 0) return m;
  // P(X <= min(b, c)) for X ~ Binomial(n, 1/2), summed in log space; doubled, at most 1.
  const int64_t k = std::min(b, c);
  const double ln_half_n = -static_cast<double>(n) * std::log(2.0);
  double tail = 0;
  for (int64_t i = 0; i <= k; ++i)
    tail += std::exp(std::lgamma(n + 1.0) - std::lgamma(i + 1.0) - std::lgamma(n - i + 1.0) +
                     ln_half_n);
  m.exact_p = std::min(1.0, 2 * tail);
  const double diff = std::max(0.0, std::fabs(static_cast<double>(b - c)) - 1);
  m.chi2 = diff * diff / static_cast<double>(n);
  m.chi2_p = std::erfc(std::sqrt(m.chi2 / 2));  // the chi-square(1) upper tail
  return m;
}

McNemar mcnemar(const std::vector<bool>& first, const std::vector<bool>& second) {
  if (first.size() != second.size())
    throw std::invalid_argument("mcnemar: " + std::to_string(first.size()) + " and " +
                                std::to_string(second.size()) + " examples are not paired");
  int64_t b = 0, c = 0;
  for (size_t i = 0; i < first.size(); ++i) {
    b += first[i] && !second[i];
    c += !first[i] && second[i];
  }
  return mcnemar(b, c);
}

}  // namespace crossover
