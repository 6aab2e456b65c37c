// When a run evaluates: every eval.every steps, and at eval.log_points log-spaced steps, which
// are dense early. Under heavy repetition an AR run reaches its best validation loss within a
// few epochs and then overfits; a regular cadence sized for the whole run can miss that best.
#pragma once

#include <cstdint>
#include <vector>

#include "crossover/config/config.h"

namespace crossover {

// round(total^(i / points)) for i = 1..points, ascending, without repeats.
std::vector<int64_t> log_spaced_steps(int64_t total_steps, int64_t points);

// The evaluation steps of one run, worked out once.
class EvalSchedule {
 public:
  EvalSchedule() = default;
  EvalSchedule(const EvalConfig& eval, int64_t total_steps);
  // Whether step (1-based, < total_steps: the final step is always evaluated) is an evaluation.
  bool due(int64_t step) const;

 private:
  int64_t every_ = 0, total_steps_ = 0;
  std::vector<int64_t> log_steps_;
};

}  // namespace crossover
