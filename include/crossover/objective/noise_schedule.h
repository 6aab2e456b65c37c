// Noise schedules of masked diffusion: alpha(t) is the probability that a token is still
// clean at time t; a token is masked with probability 1 - alpha(t), and the ELBO weights the
// masked-token cross-entropy by -alpha'(t) / (1 - alpha(t)). For the linear schedule
// alpha(t) = 1 - t these are t and 1/t. The objective asks the schedule for the per-row mask
// probability; the masking kernel's inverse-probability weighting is exactly the ELBO weight for
// schedules with -alpha'(t) = 1 (the linear one); a schedule without that property must give the
// kernel per-row weights (mask_fraction weighting already ignores t).
#pragma once

#include <memory>
#include <string>

#include "crossover/config/choices.h"

namespace crossover {

class NoiseSchedule {
 public:
  virtual ~NoiseSchedule() = default;
  virtual std::string name() const = 0;
  // P(token masked at time t) = 1 - alpha(t).
  virtual double mask_probability(double t) const = 0;
  // -alpha'(t) / (1 - alpha(t)).
  virtual double elbo_weight(double t) const = 0;
};

std::unique_ptr<NoiseSchedule> make_noise_schedule(NoiseScheduleType type);

}  // namespace crossover
