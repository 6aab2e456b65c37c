// Learning rate per step: linear warmup from 0, then cosine decay to min_lr, warmup-stable-decay
// (constant, then a linear decay to min_lr over the last decay_fraction of the steps), or
// constant.
#pragma once

#include <cstdint>

#include "crossover/config/config.h"

namespace crossover {

double learning_rate(const ScheduleConfig& schedule, const OptimizerConfig& optimizer, int64_t step,
                     int64_t total_steps);

}  // namespace crossover
