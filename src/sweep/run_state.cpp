// Run state from metrics.jsonl; tolerant of a line being written while it reads.
#include "crossover/sweep/run_state.h"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <limits>

#include "crossover/util/lines.h"

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
  const std::string path = (std::filesystem::path(run_dir) / "metrics.jsonl").string();
  std::ifstream in(path);
  if (!in) return s;
  int64_t number = 0;
  std::string line;
  for (;;) {
    try {
      if (!read_bounded_line(in, line, path, ++number)) break;
    } catch (const std::exception& e) {  // a line no run writes: the history ends before it
      s.status = RunStatus::partial;
      s.reason = e.what();
      break;
    }
    const auto e = nlohmann::json::parse(line, nullptr, false);
    if (e.is_discarded() || !e.is_object() || !e.contains("kind") || !e["kind"].is_string())
      continue;
    const std::string kind = e["kind"].get<std::string>();
    if (e.contains("step") && e["step"].is_number_integer())
      s.step = std::max(s.step, e["step"].get<int64_t>());
    if (kind == "end") {
      const auto string_of = [&](const char* key) {
        return e.contains(key) && e[key].is_string() ? e[key].get<std::string>() : std::string();
      };
      const std::string status = string_of("status");
      s.status = status == "finished"      ? RunStatus::finished
                 : status == "failed"      ? RunStatus::failed
                 : status == "interrupted" ? RunStatus::interrupted
                                           : RunStatus::partial;
      s.reason = string_of("reason");
      continue;
    }
    // Any other event after an `end` belongs to a resumed run that has not ended (yet).
    s.status = RunStatus::partial;
    s.reason.clear();
    if (e.contains("tokens") && e["tokens"].is_number_integer())
      s.tokens = e["tokens"].get<int64_t>();
    if (e.contains("epoch") && e["epoch"].is_number()) s.epoch = e["epoch"].get<double>();
    if (kind == "run" && e.contains("total_steps") && e["total_steps"].is_number_integer())
      s.total_steps = e["total_steps"].get<int64_t>();
    if (kind == "train" && e.contains("loss") && e["loss"].is_number())
      s.last_loss = e["loss"].get<double>();
  }
  return s;
}

}  // namespace crossover
