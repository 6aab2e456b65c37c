#include "crossover/optim/lr_schedule.h"

#include <algorithm>
#include <cmath>

namespace crossover {

double learning_rate(const ScheduleConfig& s, const OptimizerConfig& o, int64_t step,
                     int64_t total_steps) {
  const double peak = o.lr, floor = o.min_lr;
  const int64_t warmup = std::min(s.warmup_steps, total_steps);
  if (step < warmup) return peak * static_cast<double>(step + 1) / static_cast<double>(warmup);
  if (s.type == LrShape::kConstant) return peak;
  if (s.type == LrShape::kWsd) {
    const int64_t decay_steps =
        std::max<int64_t>(1, static_cast<int64_t>(std::llround(s.decay_fraction * total_steps)));
    const int64_t decay_start = std::max(warmup, total_steps - decay_steps);
    if (step < decay_start) return peak;
    const double progress = static_cast<double>(step - decay_start + 1) /
                            static_cast<double>(std::max<int64_t>(1, total_steps - decay_start));
    return peak + (floor - peak) * std::min(1.0, progress);
  }
  // cosine
  const double span = static_cast<double>(std::max<int64_t>(1, total_steps - warmup - 1));
  const double progress = std::min(1.0, static_cast<double>(step - warmup) / span);
  return floor + 0.5 * (peak - floor) * (1.0 + std::cos(M_PI * progress));
}

}  // namespace crossover
