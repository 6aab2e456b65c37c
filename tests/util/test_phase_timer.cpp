// The step time breakdown: each span between marks belongs to the phase entered at its start,
// so the phases add up to the time between the first and the last mark.
#include <gtest/gtest.h>

#include <memory>
#include <vector>

#include "crossover/util/phase_timer.h"

namespace crossover {
namespace {

// A timeline whose marks read a clock the test advances.
class FakeTimeline final : public Timeline {
 public:
  explicit FakeTimeline(const double* now) : now_(now) {}
  void mark() override { marks_.push_back(*now_); }
  std::vector<double> resolve() override {
    std::vector<double> out;
    for (double m : marks_) out.push_back(m - marks_.front());
    return out;
  }
  void clear() override { marks_.clear(); }

 private:
  const double* now_;
  std::vector<double> marks_;
};

TEST(PhaseTimer, EachSpanBelongsToThePhaseEnteredAtItsStart) {
  double now = 100;
  PhaseTimer timer(std::make_unique<FakeTimeline>(&now), Phase::kData);
  now += 1;  // data
  timer.enter(Phase::kForward);
  now += 2;
  {
    PhaseScope comm(&timer, Phase::kComm);  // a wait inside the forward
    now += 0.5;
  }
  EXPECT_EQ(timer.current(), Phase::kForward);
  now += 1.5;  // forward again
  EXPECT_EQ(timer.enter(Phase::kBackward), Phase::kForward);
  now += 4;
  timer.enter(Phase::kOptimizer);
  now += 0.25;
  const PhaseTimes t = timer.take();
  EXPECT_DOUBLE_EQ(t[Phase::kData], 1);
  EXPECT_DOUBLE_EQ(t[Phase::kForward], 3.5);
  EXPECT_DOUBLE_EQ(t[Phase::kComm], 0.5);
  EXPECT_DOUBLE_EQ(t[Phase::kBackward], 4);
  EXPECT_DOUBLE_EQ(t[Phase::kOptimizer], 0.25);
  EXPECT_DOUBLE_EQ(t[Phase::kEval], 0);
  EXPECT_DOUBLE_EQ(t.total(), 9.25);

  // take() starts the next interval in the phase the timer is in.
  now += 2;
  timer.enter(Phase::kCheckpoint);
  now += 3;
  const PhaseTimes next = timer.take();
  EXPECT_DOUBLE_EQ(next[Phase::kOptimizer], 2);
  EXPECT_DOUBLE_EQ(next[Phase::kCheckpoint], 3);
  EXPECT_DOUBLE_EQ(next.total(), 5);
}

TEST(PhaseTimer, WallClockPhasesAddUpToTheElapsedTime) {
  PhaseTimer timer(make_wall_clock_timeline(), Phase::kOther);
  volatile double sink = 0;
  for (int round = 0; round < 50; ++round) {
    for (Phase p : {Phase::kData, Phase::kForward, Phase::kComm, Phase::kBackward}) {
      PhaseScope scope(&timer, p);
      for (int i = 0; i < 1000; ++i) sink = sink + i;
    }
  }
  const PhaseTimes t = timer.take();
  double sum = 0;
  for (double s : t.seconds) {
    EXPECT_GE(s, 0);
    sum += s;
  }
  EXPECT_DOUBLE_EQ(sum, t.total());
  EXPECT_GT(t[Phase::kForward], 0);
}

TEST(PhaseTimer, AScopeWithoutATimerDoesNothing) {
  PhaseScope scope(nullptr, Phase::kComm);  // must not crash
  EXPECT_STREQ(phase_name(Phase::kCheckpoint), "checkpoint");
}

}  // namespace
}  // namespace crossover
