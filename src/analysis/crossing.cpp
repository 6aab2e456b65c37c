// Crossing detection on piecewise-linear curves and log-linear trend extrapolation.
#include "crossover/analysis/crossing.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>
#include <utility>

namespace crossover {

namespace {
std::string fmt_z(double z) {
  std::string s = std::to_string(z);
  s.erase(s.find_last_not_of('0') + 1);
  if (!s.empty() && s.back() == '.') s.pop_back();
  return s;
}
}  // namespace

double interpolate(const Curve& c, double x) {
  if (c.x.empty()) return std::nan("");
  if (x <= c.x.front()) return c.y.front();
  if (x >= c.x.back()) return c.y.back();
  const size_t i = std::upper_bound(c.x.begin(), c.x.end(), x) -
                   c.x.begin();  // c.x[i-1] <= x < c.x[i]
  const double t = (x - c.x[i - 1]) / (c.x[i] - c.x[i - 1]);
  return c.y[i - 1] + t * (c.y[i] - c.y[i - 1]);
}

std::pair<double, double> log_trend(const Curve& c, int points) {
  const size_t n = c.x.size();
  const size_t k = std::min<size_t>(n, static_cast<size_t>(std::max(points, 1)));
  double sx = 0, sy = 0, sxx = 0, sxy = 0;
  for (size_t i = n - k; i < n; ++i) {
    const double lx = std::log(c.x[i]);
    sx += lx, sy += c.y[i], sxx += lx * lx, sxy += lx * c.y[i];
  }
  const double var = sxx - sx * sx / k;
  const double b = k > 1 && var > 0 ? (sxy - sx * sy / k) / var : 0.0;
  return {(sy - b * sx) / k, b};
}

namespace {

// The eval points of both curves within [begin, end], sorted, without repeats.
std::vector<double> shared_grid(const Curve& a, const Curve& b, double begin, double end) {
  std::vector<double> grid;
  for (const auto* c : {&a, &b})
    for (double x : c->x)
      if (x >= begin && x <= end) grid.push_back(x);
  std::sort(grid.begin(), grid.end());
  grid.erase(std::unique(grid.begin(), grid.end()), grid.end());
  return grid;
}

double se_at(const Curve& c, double x) {
  if (c.se.empty()) return 0;
  return interpolate(Curve{c.x, c.se, {}}, x);
}

}  // namespace

double binomial_se(double accuracy, double examples) {
  if (!(examples > 0) || !std::isfinite(accuracy)) return std::nan("");
  const double p = std::clamp(accuracy, 0.0, 1.0);
  return std::sqrt(p * (1 - p) / examples);
}

ResolvedCrossover resolve_crossover(const Curve& ar, const Curve& mdm, Better better, double z,
                                    const Curve& gap_se) {
  ResolvedCrossover r;
  if (ar.x.empty() || mdm.x.empty()) {
    r.why_not = "no evaluations of both runs";
    return r;
  }
  const double begin = std::max(ar.x.front(), mdm.x.front());
  const double end = std::min(ar.x.back(), mdm.x.back());
  if (begin > end) {
    r.why_not = "no shared range of tokens";
    return r;
  }
  for (const Curve* c : {&ar, &mdm}) {
    if (!c->se.empty() && c->se.size() != c->x.size())
      throw std::invalid_argument("resolve_crossover: a curve with " + std::to_string(c->x.size()) +
                                  " points and " + std::to_string(c->se.size()) +
                                  " standard errors");
    for (double e : c->se)
      if (!std::isfinite(e)) {
        r.why_not = "the data carry no standard error for every evaluation";
        return r;
      }
  }
  const double sign = better == Better::lower ? 1.0 : -1.0;
  const std::vector<double> grid = shared_grid(ar, mdm, begin, end);
  // At each point: +1 MDM leads beyond the noise, -1 AR does, 0 within it.
  std::vector<int> verdict;
  for (double x : grid) {
    const double lead = sign * (interpolate(ar, x) - interpolate(mdm, x));
    const double gap = gap_se.x.empty() ? 0.0 : interpolate(gap_se, x);
    const double noise =
        z * std::sqrt(std::pow(se_at(ar, x), 2) + std::pow(se_at(mdm, x), 2) + gap * gap);
    verdict.push_back(lead > noise ? 1 : lead < -noise ? -1 : 0);
  }
  // The first point from which MDM's lead holds beyond the noise to the end.
  size_t from = grid.size();
  while (from > 0 && verdict[from - 1] == 1) --from;
  if (from == grid.size()) {
    r.why_not = verdict.back() == -1
                    ? "AR leads beyond the noise at the end"
                    : "at the end the curves are within " + fmt_z(z) + " combined standard errors";
    return r;
  }
  size_t ar_led = from;  // the last point before `from` where AR led beyond the noise
  for (size_t i = from; i-- > 0;)
    if (verdict[i] == -1) {
      ar_led = i;
      break;
    }
  if (ar_led == from) {
    r.why_not = from == 0 ? "MDM leads beyond the noise throughout: nothing to cross"
                          : "MDM leads at the end, but AR never led beyond the noise before";
    return r;
  }
  r.resolved = true;
  r.x_lo = grid[ar_led];
  r.x_hi = grid[from];
  return r;
}

CurveComparison compare_curves(const Curve& ar, const Curve& mdm, Better better,
                               const Curve& gap_se) {
  CurveComparison r;
  if (ar.x.empty() || mdm.x.empty()) return r;
  r.x_begin = std::max(ar.x.front(), mdm.x.front());
  r.x_end = std::min(ar.x.back(), mdm.x.back());
  if (r.x_begin > r.x_end) return r;
  r.overlap = true;

  // The gap, signed so that > 0 means MDM is better, on the union grid of the shared range.
  const double sign = better == Better::lower ? 1.0 : -1.0;
  auto advantage = [&](double x) { return sign * (interpolate(ar, x) - interpolate(mdm, x)); };
  const std::vector<double> grid = shared_grid(ar, mdm, r.x_begin, r.x_end);
  r.resolved = resolve_crossover(ar, mdm, better, 2, gap_se);

  // A crossing is a change of the leader; exact ties (gap 0) keep the previous leader, and the
  // crossing is placed where the gap first reaches zero.
  int leader = 0;  // +1 MDM, -1 AR, 0 not yet known
  double prev_x = grid.front(), prev_g = advantage(grid.front());
  r.mdm_advantage_begin = prev_g;
  double zero_since = std::nan("");
  if (prev_g != 0) leader = prev_g > 0 ? 1 : -1;
  else zero_since = prev_x;
  if (prev_g > 0) r.mdm_first_ahead = prev_x;
  for (size_t i = 1; i < grid.size(); ++i) {
    const double x = grid[i], g = advantage(x);
    if (g == 0) {
      if (std::isnan(zero_since)) zero_since = x;
    } else {
      const int now = g > 0 ? 1 : -1;
      // Where the lead changed hands (or, after a level start, where MDM's lead began).
      const double at = !std::isnan(zero_since) ? zero_since
                        : prev_g == 0           ? prev_x
                                                : prev_x + (x - prev_x) * prev_g / (prev_g - g);
      if (leader != 0 && now != leader) r.crossings.push_back({at, now > 0});
      if (now > 0 && !r.mdm_first_ahead) r.mdm_first_ahead = leader == 0 ? prev_x : at;
      leader = now;
      zero_since = std::nan("");
    }
    prev_x = x, prev_g = g;
  }

  r.ar_end = interpolate(ar, r.x_end);
  r.mdm_end = interpolate(mdm, r.x_end);
  r.mdm_advantage = sign * (r.ar_end - r.mdm_end);

  if (r.mdm_advantage < 0) {
    // The last quarter of each curve's points (at least 3) within the shared range; log-tokens
    // leave out an evaluation at step 0.
    auto shared = [&](const Curve& c) {
      Curve s;
      for (size_t i = 0; i < c.x.size(); ++i)
        if (c.x[i] > 0 && c.x[i] <= r.x_end) s.x.push_back(c.x[i]), s.y.push_back(c.y[i]);
      return s;
    };
    const Curve a = shared(ar), m = shared(mdm);
    const size_t n = std::min(a.x.size(), m.x.size());
    if (n >= 2) {
      TrendCrossing t;
      t.points = static_cast<int>(std::max<size_t>(std::min<size_t>(3, n), n / 4));
      const double ab = log_trend(a, t.points).second;
      const double mb = log_trend(m, t.points).second;
      t.ar_slope = ab, t.mdm_slope = mb;
      // From the measured gap at the end, MDM gains sign * (ab - mb) per e-fold of tokens.
      const double gain = sign * (ab - mb);
      t.parallel = std::fabs(gain) <= 1e-9 * (std::fabs(ab) + std::fabs(mb)) + 1e-15;
      if (gain > 0 && !t.parallel) {
        const double L = std::log(r.x_end) - r.mdm_advantage / gain;
        if (L < 700) t.crosses = true, t.x = std::exp(L);
      }
      r.trend = t;
    }
  }
  return r;
}

}  // namespace crossover
