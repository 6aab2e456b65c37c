// metrics.jsonl: one JSON object per line, one line per event, each with a "kind" field
// ("train", "eval", "checkpoint", ...). Lines are flushed as they are written so a killed run
// keeps every event up to the kill.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <cstdio>
#include <string>

namespace crossover {

class MetricsWriter {
 public:
  MetricsWriter() = default;
  // Opens `path` for appending. When `keep_up_to_step` >= 0 (a resumed run), events with a
  // larger "step" are dropped first: they belong to steps that will be run again.
  explicit MetricsWriter(const std::string& path, int64_t keep_up_to_step = -1);
  ~MetricsWriter();
  MetricsWriter(const MetricsWriter&) = delete;
  MetricsWriter& operator=(const MetricsWriter&) = delete;
  MetricsWriter(MetricsWriter&& other) noexcept { *this = std::move(other); }
  MetricsWriter& operator=(MetricsWriter&& other) noexcept;

  bool is_open() const { return file_ != nullptr; }
  // Writes one event; `event` must carry a string "kind".
  void write(const nlohmann::json& event);

 private:
  std::FILE* file_ = nullptr;
  std::string path_;
};

// Reads every event of a metrics.jsonl file (for reports and tests).
std::vector<nlohmann::json> read_metrics(const std::string& path);

}  // namespace crossover
