#include "crossover/sweep/cost.h"

#include <stdexcept>

#include "crossover/train/peak.h"

namespace crossover {

SweepCost sweep_cost(const SweepPlan& plan, const ClusterAssumption& cluster) {
  if (!(cluster.mfu > 0 && cluster.mfu <= 1))
    throw std::invalid_argument("--mfu: expected a fraction in (0, 1], got " +
                                std::to_string(cluster.mfu));
  SweepCost cost;
  cost.peak_tflops = known_bf16_peak_tflops(cluster.gpu);
  if (cost.peak_tflops <= 0)
    throw std::invalid_argument("--gpu: " + cluster.gpu +
                                " is not in the table of dense bf16 peaks (H100, H100 PCIe, H100 "
                                "NVL, H200, GH200, H800, B200, A100, A800, L40S, L40, L4)");
  const double flops_per_hour = cost.peak_tflops * 1e12 * cluster.mfu * 3600.0;
  for (const auto& p : plan.points) {
    if (!p.flops) {
      cost.gpu_hours.push_back(std::nullopt);
      ++cost.unknown;
      continue;
    }
    const double hours = *p.flops / flops_per_hour;
    cost.gpu_hours.push_back(hours);
    cost.total_gpu_hours += hours;
  }
  return cost;
}

}  // namespace crossover
