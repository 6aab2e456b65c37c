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

std::unique_ptr<NoiseSchedule> make_noise_schedule(const std::string& name) {
  if (name == "linear") return std::make_unique<Linear>();
  throw std::invalid_argument("objective.schedule: unknown noise schedule " + name);
}

}  // namespace crossover
