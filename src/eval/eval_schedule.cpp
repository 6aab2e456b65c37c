#include "crossover/eval/eval_schedule.h"

#include <algorithm>
#include <cmath>

namespace crossover {

std::vector<int64_t> log_spaced_steps(int64_t total_steps, int64_t points) {
  std::vector<int64_t> steps;
  if (total_steps < 1 || points < 1) return steps;
  const double log_total = std::log(static_cast<double>(total_steps));
  for (int64_t i = 1; i <= points; ++i) {
    const auto s = static_cast<int64_t>(
        std::llround(std::exp(log_total * static_cast<double>(i) / static_cast<double>(points))));
    if (steps.empty() || s > steps.back()) steps.push_back(std::min(s, total_steps));
  }
  return steps;
}

bool evaluation_due(const EvalConfig& eval, int64_t step, int64_t total_steps) {
  if (step >= total_steps) return false;
  if (eval.every > 0 && step % eval.every == 0) return true;
  const auto steps = log_spaced_steps(total_steps, eval.log_points);
  return std::binary_search(steps.begin(), steps.end(), step);
}

}  // namespace crossover
