// Run state from metrics.jsonl; tolerant of a line being written while it reads.
#include "crossover/sweep/run_state.h"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <limits>

namespace crossover {

const char* to_string(RunStatus status) {
  switch (status) {
    case RunStatus::not_started: return "not started";
    case RunStatus::partial: return "partial";
    case RunStatus::interrupted: return "interrupted";
    case RunStatus::failed: return "failed";
    case RunStatus::finished: return "finished";
  }
  return "?";
}

RunState read_run_state(const std::string& run_dir) {
  RunState s;
  s.last_loss = std::numeric_limits<double>::quiet_NaN();
  std::ifstream in(std::filesystem::path(run_dir) / "metrics.jsonl");
  if (!in) return s;
  for (std::string line; std::getline(in, line);) {
    const auto e = nlohmann::json::parse(line, nullptr, false);
    if (e.is_discarded() || !e.is_object() || !e.contains("kind") || !e["kind"].is_string())
      continue;
    const std::string kind = e["kind"].get<std::string>();
    if (e.contains("step") && e["step"].is_number_integer())
      s.step = std::max(s.step, e["step"].get<int64_t>());
    if (kind == "end") {
      const std::string status = e.value("status", "");
      s.status = status == "finished"   ? RunStatus::finished
                 : status == "failed"   ? RunStatus::failed
                 : status == "interrupted" ? RunStatus::interrupted
                                           : RunStatus::partial;
      s.reason = e.value("reason", "");
      continue;
    }
    // Any other event after an `end` belongs to a resumed run that has not ended (yet).
    s.status = RunStatus::partial;
    s.reason.clear();
    if (e.contains("tokens") && e["tokens"].is_number()) s.tokens = e["tokens"].get<int64_t>();
    if (e.contains("epoch") && e["epoch"].is_number()) s.epoch = e["epoch"].get<double>();
    if (kind == "run" && e.contains("total_steps") && e["total_steps"].is_number_integer())
      s.total_steps = e["total_steps"].get<int64_t>();
    if (kind == "train" && e.contains("loss") && e["loss"].is_number())
      s.last_loss = e["loss"].get<double>();
  }
  return s;
}

}  // namespace crossover
