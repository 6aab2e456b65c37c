// The effective-data fit: a refined grid search over (log R*, log alpha) with E and A in closed
// form (A >= 0, E >= 0). Tokens are scaled by their geometric mean before the power so that A stays well
// conditioned at 1e10 tokens; A is reported in unscaled units.
#include "crossover/analysis/fit.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace crossover {

namespace {

constexpr double kMinAlpha = 0.01, kMaxAlpha = 3.0;

struct Eval {
  double sse = std::numeric_limits<double>::infinity();
  double E = 0, A_scaled = 0;
};

Eval evaluate(const std::vector<FitSample>& s, double scale, double r_star, double alpha) {
  const size_t n = s.size();
  double sx = 0, sy = 0, sxx = 0, sxy = 0;
  std::vector<double> x(n);
  for (size_t i = 0; i < n; ++i) {
    x[i] = std::pow(effective_data(s[i].tokens, s[i].unique, r_star) / scale, -alpha);
    sx += x[i], sy += s[i].loss, sxx += x[i] * x[i], sxy += x[i] * s[i].loss;
  }
  Eval e;
  const double var = sxx - sx * sx / n;
  e.A_scaled = var > 0 ? std::max(0.0, (sxy - sx * sy / n) / var) : 0.0;
  e.E = (sy - e.A_scaled * sx) / n;
  if (e.E < 0) {  // a loss floor below zero is not a loss: fit A alone with E = 0
    e.E = 0;
    e.A_scaled = sxx > 0 ? std::max(0.0, sxy / sxx) : 0.0;
  }
  e.sse = 0;
  for (size_t i = 0; i < n; ++i) {
    const double r = s[i].loss - (e.E + e.A_scaled * x[i]);
    e.sse += r * r;
  }
  return e;
}

}  // namespace

double effective_data(double tokens, double unique, double r_star) {
  if (tokens <= unique) return tokens;
  const double repeats = tokens / unique - 1.0;
  return unique + unique * r_star * (1.0 - std::exp(-repeats / r_star));
}

EffectiveDataFit fit_effective_data(const std::vector<FitSample>& all) {
  EffectiveDataFit f;
  std::vector<FitSample> s;
  for (const auto& x : all)
    if (x.tokens > 0 && x.unique > 0 && std::isfinite(x.loss)) s.push_back(x);
  f.samples = s.size();
  if (s.size() < 4) return f;
  double log_sum = 0;
  for (const auto& x : s) {
    log_sum += std::log(x.tokens);
    f.repeated |= x.tokens > x.unique * (1 + 1e-9);
  }
  const double scale = std::exp(log_sum / s.size());

  const double lr_lo = std::log(kMinRStar), lr_hi = std::log(kMaxRStar);
  const double la_lo = std::log(kMinAlpha), la_hi = std::log(kMaxAlpha);
  double best_lr = 0, best_la = 0;
  Eval best;
  auto search = [&](double lr0, double lr1, double la0, double la1, int n) {
    for (int i = 0; i < n; ++i)
      for (int j = 0; j < n; ++j) {
        const double lr = lr0 + (lr1 - lr0) * i / (n - 1);
        const double la = la0 + (la1 - la0) * j / (n - 1);
        const Eval e = evaluate(s, scale, std::exp(lr), std::exp(la));
        if (e.sse < best.sse) best = e, best_lr = lr, best_la = la;
      }
  };
  search(lr_lo, lr_hi, la_lo, la_hi, 61);
  double wr = (lr_hi - lr_lo) / 60, wa = (la_hi - la_lo) / 60;
  for (int round = 0; round < 12; ++round) {
    const double cr = best_lr, ca = best_la;
    search(std::max(lr_lo, cr - 2 * wr), std::min(lr_hi, cr + 2 * wr), std::max(la_lo, ca - 2 * wa),
           std::min(la_hi, ca + 2 * wa), 21);
    wr /= 5, wa /= 5;
  }

  f.ok = true;
  f.r_star = std::exp(best_lr);
  f.alpha = std::exp(best_la);
  f.E = best.E;
  f.A = best.A_scaled * std::pow(scale, f.alpha);
  double mean = 0;
  for (const auto& x : s) mean += x.loss;
  mean /= s.size();
  double sst = 0;
  for (const auto& x : s) sst += (x.loss - mean) * (x.loss - mean);
  f.r2 = sst > 0 ? 1.0 - best.sse / sst : (best.sse == 0 ? 1.0 : 0.0);
  f.rmse = std::sqrt(best.sse / s.size());
  f.r_star_at_bound = best_lr <= lr_lo + 0.05 || best_lr >= lr_hi - 0.05;
  return f;
}

}  // namespace crossover
