// Where does MDM overtake AR? Two eval curves of one metric (val loss: lower is better; a
// task's accuracy: higher is better) on the shared tokens axis are compared over the range both
// cover: each curve is linear between its eval points, so their gap is piecewise linear on the
// union of both grids, and every sign change of the gap is located exactly by interpolation.
// None, one or several crossings are all reported, in order.
//
// A crossing of the means is not yet a crossover: two noisy curves can touch, or cross and cross
// back, by chance. resolve_crossover calls one only where MDM's lead exceeds `z` combined standard
// errors (sqrt(se_ar^2 + se_mdm^2): the MC standard error of MDM's val loss, a binomial one for an
// accuracy) at an eval point and at every later one to the end of the shared range; the crossing
// lies between the last point where AR led by as much and that point. Anything else is "not
// resolved", with the reason. The sweep report's curves carry every error term it has in their
// se: Monte-Carlo, across seeds (a curve averaged over seeds), and the paired-window term of
// the difference as gap_se.
//
// When MDM is behind at the end, each curve's last trend (a least-squares line in
// log-tokens) says how fast the measured end gap closes: the tokens where it would reach zero,
// or that the curves diverge or run parallel.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace crossover {

struct Curve {
  std::vector<double> x;   // tokens seen, strictly increasing
  std::vector<double> y;   // the metric
  std::vector<double> se;  // its standard error at each x (empty: exact, as AR's val loss)
};

enum class Better { lower, higher };

struct Crossing {
  double x = 0;
  bool mdm_overtakes = true;  // false: AR moves back ahead
};

struct TrendCrossing {
  int points = 0;       // eval points per curve the trends were fitted on
  double ar_slope = 0;  // metric change per e-fold of tokens
  double mdm_slope = 0;
  bool crosses = false;   // the gap closes at the trends' rates
  bool parallel = false;  // the trends keep the gap (equal slopes up to rounding)
  double x = 0;           // tokens where it would reach zero (when crosses)
};

struct ResolvedCrossover {
  bool resolved = false;
  double x_lo = 0, x_hi = 0;  // when resolved: the crossing lies in [x_lo, x_hi]
  std::string why_not;        // when not: what the data show
};

struct CurveComparison {
  bool overlap = false;  // both curves have points and share a tokens range
  double x_begin = 0, x_end = 0;
  std::vector<Crossing> crossings;
  double ar_end = 0, mdm_end = 0;         // both curves at x_end
  double mdm_advantage = 0;               // at x_end, > 0 when MDM is better (either direction)
  double mdm_advantage_begin = 0;         // the same at x_begin
  std::optional<double> mdm_first_ahead;  // where MDM first leads (x_begin when it starts ahead)
  std::optional<TrendCrossing> trend;     // when MDM is behind at x_end
  ResolvedCrossover resolved;             // resolve_crossover at z = 2
};

// gap_se: a standard error of the difference itself (e.g. the paired-window bootstrap term),
// interpolated at every eval point and added in quadrature; empty: none.
ResolvedCrossover resolve_crossover(const Curve& ar, const Curve& mdm, Better better, double z = 2,
                                    const Curve& gap_se = {});

// The binomial standard error of an accuracy over n examples, sqrt(p (1 - p) / n).
double binomial_se(double accuracy, double examples);

// Linear interpolation of `c` at x (clamped to its ends).
double interpolate(const Curve& c, double x);

CurveComparison compare_curves(const Curve& ar, const Curve& mdm, Better better,
                               const Curve& gap_se = {});

// Least-squares line y = a + b ln(x) through the last `points` points of `c`; returns {a, b}.
std::pair<double, double> log_trend(const Curve& c, int points);

}  // namespace crossover
