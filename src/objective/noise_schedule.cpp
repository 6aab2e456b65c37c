#include "crossover/objective/noise_schedule.h"

#include <stdexcept>

namespace crossover {

namespace {
class Linear final : public NoiseSchedule {
 public:
  std::string name() const override { return "linear"; }
  double mask_probability(double t) const override { return t; }
  double elbo_weight(double t) const override { return 1.0 / t; }
};
}  // namespace

std::unique_ptr<NoiseSchedule> make_noise_schedule(NoiseScheduleType type) {
  switch (type) {
    case NoiseScheduleType::kLinear: return std::make_unique<Linear>();
  }
  throw std::logic_error("make_noise_schedule: an unhandled NoiseScheduleType");
}

}  // namespace crossover
