// Muennighoff et al.'s effective data under repetition, fitted per objective:
//
//   D'(D, U) = D                                     for D <= U (no repetition yet)
//            = U + U R* (1 - exp(-(D/U - 1) / R*))   otherwise (R = D/U - 1 repeated epochs)
//   val loss = E + A / D'^alpha
//
// R* is the number of repetitions after which extra epochs are worth 1/e of fresh data: about
// 15 for AR in their work, about 500 for diffusion in Prabhudesai et al.'s. The fit is a search
// over (R*, alpha) on log scales, coarse then refined around the best, with E and A by closed-
// form least squares (A >= 0, E >= 0) at each pair. The law has no term for a loss that rises with
// repetition: the report fits each run's best val loss so far (what early stopping keeps).
#pragma once

#include <cstddef>
#include <vector>

namespace crossover {

struct FitSample {
  double tokens = 0;  // D: tokens seen
  double unique = 0;  // U: unique tokens of the run
  double loss = 0;
};

struct EffectiveDataFit {
  bool ok = false;  // at least 4 samples with tokens > 0
  double E = 0, A = 0, alpha = 0, r_star = 0;
  double r2 = 0, rmse = 0;
  size_t samples = 0;
  bool repeated = false;         // some sample saw repeated data (R* is identifiable only then)
  bool r_star_at_bound = false;  // the best R* is at an edge of the searched range
};

inline constexpr double kMinRStar = 0.1, kMaxRStar = 1e5;

double effective_data(double tokens, double unique, double r_star);
EffectiveDataFit fit_effective_data(const std::vector<FitSample>& samples);

}  // namespace crossover
