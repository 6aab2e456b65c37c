#include <gtest/gtest.h>

#include "crossover/eval/eval_schedule.h"

namespace crossover {
namespace {

TEST(EvalSchedule, LogSpacedStepsAreDenseEarlyAndEndAtTheTotal) {
  // 1000^(i/6) = 3.16, 10, 31.6, 100, 316, 1000.
  EXPECT_EQ(log_spaced_steps(1000, 6), (std::vector<int64_t>{3, 10, 32, 100, 316, 1000}));
  // Repeats at the start collapse: 10^(i/8) rounds to 1, 2, 2, 3, 4, 6, 7, 10.
  EXPECT_EQ(log_spaced_steps(10, 8), (std::vector<int64_t>{1, 2, 3, 4, 6, 7, 10}));
  EXPECT_TRUE(log_spaced_steps(1000, 0).empty());
}

TEST(EvalSchedule, RegularAndLogSpacedEvaluationsCombine) {
  EvalConfig e;
  e.every = 400;
  e.log_points = 6;
  std::vector<int64_t> due;
  const EvalSchedule schedule(e, 1000);
  for (int64_t s = 1; s <= 1000; ++s)
    if (schedule.due(s)) due.push_back(s);
  // The last step is the run's final evaluation, made by the trainer itself.
  EXPECT_EQ(due, (std::vector<int64_t>{3, 10, 32, 100, 316, 400, 800}));
  e.log_points = 0;
  e.every = 0;
  const EvalSchedule none(e, 1000);
  for (int64_t s = 1; s <= 1000; ++s) EXPECT_FALSE(none.due(s));
}

}  // namespace
}  // namespace crossover
