#include "crossover/sweep/cost.h"

#include <fmt/format.h>

#include <fstream>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "crossover/model/peak.h"
#include "crossover/util/lines.h"

namespace crossover {

std::pair<double, std::string> measured_mfu(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("--mfu-from " + path + ": cannot open the file");
  double lowest = 2;
  std::string results, line;
  int cpu_results = 0;
  for (int64_t n = 1; read_bounded_line(in, line, path, n); ++n) {
    if (line.empty() || line[0] != '{') continue;  // the table and log lines around the results
    const auto j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (!j.is_object() || !j.contains("mfu") || !j["mfu"].is_number()) continue;
    const std::string device = j.value("device", std::string("?"));
    if (device.rfind("cuda", 0) != 0) {
      ++cpu_results;
      continue;
    }
    const double mfu = j["mfu"].get<double>();
    lowest = std::min(lowest, mfu);
    results += fmt::format("{}{} {} {:.1f}%", results.empty() ? "" : ", ",
                           j.value("objective", std::string("?")),
                           j.value("sharding", std::string("?")), 100 * mfu);
  }
  if (results.empty())
    throw std::runtime_error(
        "--mfu-from " + path +
        ": no result line of `crossover bench train` on a GPU (a JSON object "
        "with \"mfu\" and a cuda \"device\")" +
        (cpu_results ? fmt::format("; {} result(s) were measured on the CPU, whose MFU says "
                                   "nothing about a GPU",
                                   cpu_results)
                     : std::string()));
  return {lowest, "measured: the lowest in " + path + " (" + results + ")"};
}

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
