// Shared set-up for the sweep tests: a small base run config, sweep files written next to it,
// planned sweep directories and hand-written metrics.jsonl files (the trainer's output format).
#pragma once

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <string>

#include "crossover/sweep/manifest.h"
#include "crossover/sweep/plan.h"
#include "test_util.h"

namespace crossover::testing {

// 512 tokens per step: 8 sequences of 64 tokens.
inline const char* kSweepBase =
    "model: {layers: 2, d_model: 64, heads: 2}\n"
    "data: {path: data, seq_len: 64, unique_tokens: all, total_tokens: 1M}\n"
    "training: {global_batch: 8}\n";

class SweepFixture {
 public:
  SweepFixture() { write_file(dir / "base.yaml", kSweepBase); }

  // Writes `text` as DIR/name and returns its path.
  std::string sweep_file(const std::string& text, const std::string& name = "sweep.yaml") {
    write_file(dir / name, text);
    return dir / name;
  }
  // Plans `text` with the temporary directory as working directory.
  SweepPlan plan(const std::string& text) {
    return plan_sweep(load_sweep(sweep_file(text)), dir.path().string());
  }
  // Plans and writes DIR/out; returns the manifest read back.
  Manifest plan_dir(const std::string& text, const std::string& out = "out") {
    write_plan(plan(text), dir / out);
    return read_manifest(dir / out);
  }
  // Writes data/meta.json so FLOPs and `all` budgets are known.
  void write_meta(int64_t vocab, int64_t train_tokens, int64_t documents) {
    std::filesystem::create_directories(dir.path() / "data");
    write_file(dir / "data/meta.json",
               nlohmann::json{{"vocab_size", vocab},
                              {"train", {{"tokens", train_tokens}, {"documents", documents}}}}
                   .dump());
  }

  TempDir dir;
};

inline void append_event(const std::string& run_dir, const nlohmann::json& event) {
  std::filesystem::create_directories(run_dir);
  std::ofstream(run_dir + "/metrics.jsonl", std::ios::app) << event.dump() << "\n";
}

inline nlohmann::json end_event(const std::string& status, int64_t step = 0) {
  return {{"kind", "end"},
          {"status", status},
          {"reason", status == "finished" ? "done" : "x"},
          {"step", step}};
}

}  // namespace crossover::testing
