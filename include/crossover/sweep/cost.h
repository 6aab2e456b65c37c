// What a planned sweep costs on a cluster, before it is submitted: each point's training FLOPs
// (model/flops.h, as the plan counts them) over the GPU's dense bf16 peak at a stated MFU.
// Evaluation and checkpoint time come on top (a few percent at the plan's eval cadence).
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "crossover/sweep/plan.h"

namespace crossover {

struct ClusterAssumption {
  std::string gpu = "H100";  // a name in model/peak.h's table (H100, H200, B200, A100, ...)
  double mfu = 0.40;         // model FLOPs utilisation, (0, 1]
  std::string mfu_source = "assumed";  // how the MFU was chosen, for the printout
};

// The MFU measured by `crossover bench train` on a GPU: the lowest `mfu` among the result lines
// (JSON objects) of its output saved in `path`, and a description of where it came from. Throws
// naming the file when it holds no result line, or only results measured on the CPU.
std::pair<double, std::string> measured_mfu(const std::string& path);

struct SweepCost {
  double peak_tflops = 0;                        // the GPU's dense bf16 peak
  std::vector<std::optional<double>> gpu_hours;  // per point; none when its FLOPs are unknown
  double total_gpu_hours = 0;                    // over the points whose FLOPs are known
  int unknown = 0;                               // points without a FLOP count
};

// Throws std::invalid_argument naming the GPU when it is not in the table, or an MFU outside
// (0, 1].
SweepCost sweep_cost(const SweepPlan& plan, const ClusterAssumption& cluster);

}  // namespace crossover
