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

EvalSchedule::EvalSchedule(const EvalConfig& eval, int64_t total_steps)
    : every_(eval.every), total_steps_(total_steps),
      log_steps_(log_spaced_steps(total_steps, eval.log_points)) {}

bool EvalSchedule::due(int64_t step) const {
  if (step >= total_steps_) return false;
  if (every_ > 0 && step % every_ == 0) return true;
  return std::binary_search(log_steps_.begin(), log_steps_.end(), step);
}

}  // namespace crossover
