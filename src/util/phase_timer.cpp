#include "crossover/util/phase_timer.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <stdexcept>

namespace crossover {

namespace {

class WallClockTimeline final : public Timeline {
 public:
  void mark() override { marks_.push_back(std::chrono::steady_clock::now()); }
  std::vector<double> resolve() override {
    std::vector<double> out;
    out.reserve(marks_.size());
    for (const auto& m : marks_)
      out.push_back(std::chrono::duration<double>(m - marks_[0]).count());
    return out;
  }
  void clear() override { marks_.clear(); }

 private:
  std::vector<std::chrono::steady_clock::time_point> marks_;
};

}  // namespace

const char* phase_name(Phase phase) {
  switch (phase) {
    case Phase::kData: return "data";
    case Phase::kForward: return "forward";
    case Phase::kBackward: return "backward";
    case Phase::kComm: return "comm";
    case Phase::kOptimizer: return "optimizer";
    case Phase::kEval: return "eval";
    case Phase::kCheckpoint: return "checkpoint";
    case Phase::kOther: return "other";
  }
  throw std::logic_error("phase_name: not a phase");
}

std::unique_ptr<Timeline> make_wall_clock_timeline() {
  return std::make_unique<WallClockTimeline>();
}

std::string phase_shares(const PhaseTimes& times) {
  std::string out;
  const double total = times.total();
  for (int p = 0; p < kPhaseCount; ++p) {
    if (times.seconds[p] <= 0 || total <= 0) continue;
    out += fmt::format("{}{} {:.0f}%", out.empty() ? "" : " ", phase_name(static_cast<Phase>(p)),
                       100.0 * times.seconds[p] / total);
  }
  return out;
}

nlohmann::json phase_seconds_per_step(const PhaseTimes& times, int64_t steps) {
  const double n = static_cast<double>(std::max<int64_t>(steps, 1));
  nlohmann::json j = {{"step_s", times.total() / n}};
  for (int p = 0; p < kPhaseCount; ++p)
    j[std::string(phase_name(static_cast<Phase>(p))) + "_s"] = times.seconds[p] / n;
  return j;
}

double PhaseTimes::total() const {
  double sum = 0;
  for (double s : seconds) sum += s;
  return sum;
}

PhaseTimer::PhaseTimer(std::unique_ptr<Timeline> timeline, Phase first)
    : timeline_(std::move(timeline)), current_(first) {
  timeline_->mark();
  entered_.push_back(first);
}

Phase PhaseTimer::enter(Phase phase) {
  const Phase left = current_;
  if (phase == current_) return left;  // no span to split
  timeline_->mark();
  entered_.push_back(phase);
  current_ = phase;
  return left;
}

PhaseTimes PhaseTimer::take() {
  timeline_->mark();
  const std::vector<double> t = timeline_->resolve();
  PhaseTimes times;
  for (size_t i = 0; i + 1 < t.size(); ++i) times[entered_[i]] += t[i + 1] - t[i];
  timeline_->clear();
  entered_.clear();
  timeline_->mark();
  entered_.push_back(current_);
  return times;
}

}  // namespace crossover
