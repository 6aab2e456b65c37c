// Where a training step's time goes, as Megatron's timers give it: data, forward, backward,
// exposed communication, optimizer, evaluation, checkpoint, and the trainer's own bookkeeping.
//
// A PhaseTimer is always in exactly one phase. Entering a phase records a mark on a timeline; the
// span from one mark to the next belongs to the phase the first mark entered. So the phases add up
// to the time from the first mark to the last, by construction, whatever the timeline is:
//   - the CPU: the host's wall clock (make_wall_clock_timeline);
//   - a GPU: CUDA events recorded on the compute stream (config/device.h: make_device_timeline).
//     A span is then the time the stream spent between the two marks: a collective the stream
//     waits on shows as communication only where it is exposed (not overlapped by compute), and
//     the stream idling while the host builds a batch shows as data.
// Reading the times (take) waits for the last mark to complete, so the trainer takes them once
// per progress line, not per step. A timer is used by one thread at a time: the main thread, or
// (on CUDA) the autograd engine's device thread while the main thread waits in backward().
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace crossover {

enum class Phase : int {
  kData,
  kForward,
  kBackward,
  kComm,
  kOptimizer,
  kEval,
  kCheckpoint,
  kOther
};
inline constexpr int kPhaseCount = 8;

// "data", "forward", "backward", "comm", "optimizer", "eval", "checkpoint", "other".
const char* phase_name(Phase phase);

// Points in time recorded in order.
class Timeline {
 public:
  virtual ~Timeline() = default;
  virtual void mark() = 0;
  // Seconds from the first mark since clear() to each mark, in order (waits for the last).
  virtual std::vector<double> resolve() = 0;
  virtual void clear() = 0;
};

std::unique_ptr<Timeline> make_wall_clock_timeline();

struct PhaseTimes {
  std::array<double, kPhaseCount> seconds{};
  double& operator[](Phase p) { return seconds[static_cast<int>(p)]; }
  double operator[](Phase p) const { return seconds[static_cast<int>(p)]; }
  double total() const;
};

class PhaseTimer {
 public:
  // Starts in `first` (a mark is recorded now).
  explicit PhaseTimer(std::unique_ptr<Timeline> timeline, Phase first = Phase::kOther);
  // Enters `phase` now; returns the phase it leaves.
  Phase enter(Phase phase);
  Phase current() const { return current_; }
  // The time per phase since the last take() (or construction). The timer stays in its phase,
  // which starts the next interval.
  PhaseTimes take();

 private:
  std::unique_ptr<Timeline> timeline_;
  std::vector<Phase> entered_;  // the phase each mark entered
  Phase current_;
};

// The phases that took time as shares of the total: "data 1% forward 30% backward 56% ...".
std::string phase_shares(const PhaseTimes& times);
// Seconds per step: {"step_s": total / steps, "data_s": ..., ..., "other_s": ...}.
nlohmann::json phase_seconds_per_step(const PhaseTimes& times, int64_t steps);

// Enters `phase` for the scope, then returns to the phase it left. Does nothing without a timer.
class PhaseScope {
 public:
  PhaseScope(PhaseTimer* timer, Phase phase)
      : timer_(timer), previous_(timer ? timer->enter(phase) : phase) {}
  ~PhaseScope() {
    if (timer_) timer_->enter(previous_);
  }
  PhaseScope(const PhaseScope&) = delete;
  PhaseScope& operator=(const PhaseScope&) = delete;

 private:
  PhaseTimer* timer_;
  Phase previous_;
};

}  // namespace crossover
