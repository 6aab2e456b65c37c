// `crossover eval RUN_DIR`: one checkpoint of a run scored on the validation loss and on
// multiple-choice tasks, printed as a table and saved as RUN_DIR/eval/step_NNNNNNNN.json (the
// same fields as an `eval` event of metrics.jsonl, plus what was evaluated and how).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace crossover {

struct RunEvalOptions {
  std::string run_dir;
  int64_t step = -1;               // -1: the latest checkpoint
  std::vector<std::string> tasks;  // task files; empty: the run's eval.tasks
  int64_t mc_samples = 0;      // mdm val-loss samples per sequence; 0: the run's eval.mc_samples
  int64_t task_samples = 0;    // mdm estimator samples per option; 0: eval.task_samples
  int64_t max_examples = -1;   // per task; -1: eval.max_task_examples (0 = all)
  int64_t val_sequences = -1;  // validation windows; -1: eval.val_sequences (0 = all)
  std::string dump;            // "": none; else per-window losses and per-example
                               // predictions as JSON lines (eval/eval_detail.h)
  std::string device;          // "": the run's hardware.device; else auto | cpu | cuda
  int threads = -1;            // CPU threads; -1: the run's hardware.threads (0 = all cores)
};

// Evaluates, writes the JSON file atomically and returns its content (with "path" added).
nlohmann::json evaluate_run(const RunEvalOptions& options);

// The table `crossover eval` prints.
std::string format_eval_report(const nlohmann::json& report);

}  // namespace crossover
