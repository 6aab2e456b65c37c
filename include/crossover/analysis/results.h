// The results of a planned sweep: every point's state and its eval events, read from the run
// directories' metrics.jsonl (README, "Run directories, logging and metrics"). Reports and
// plots only ever see what this reads.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "crossover/sweep/manifest.h"
#include "crossover/sweep/run_state.h"

namespace crossover {

// One multiple-choice task at one eval; NaN where the event lacks a field.
struct TaskScores {
  double acc, acc_norm, delta_nll, nll_right, nll_wrong;
  double examples;  // how many the accuracy is over (its binomial standard error)
};

// One task's per-example predictions at one eval (eval/eval_detail.h).
struct TaskPredictions {
  std::vector<int64_t> label, predicted;
  std::vector<bool> correct() const;
};

struct EvalRecord {
  int64_t step = 0;
  double tokens = 0, epoch = 0, flops = 0;
  double val_loss, val_loss_se, val_ppl;  // NaN when absent
  std::map<std::string, TaskScores> tasks;
  // From RUN_DIR/eval_detail.jsonl, when the run wrote it: the validation windows scored (their
  // numbers in the split), each one's loss, and each task's predictions.
  std::vector<int64_t> windows;
  std::vector<double> window_loss;
  std::map<std::string, TaskPredictions> predictions;
};

struct PointResults {
  ManifestPoint point;
  RunState state;
  std::vector<EvalRecord> evals;  // by step; one per step (the last written wins)
  double unique_tokens = 0;       // as the runs report it (whole windows), else the plan's
};

// One entry per manifest point, in manifest order (points without metrics have no evals). The
// per-item details of eval_detail.jsonl join the eval of the same step, and so do lm-eval's
// scores of the checkpoint of that step (RUN_DIR/lm_eval/step_N, lm_eval_results.h) as tasks
// lm_eval/<task>: a checkpoint step before the last eval that has no eval of its own gets a
// record without val loss. Throws where a results file is not lm-eval's (naming file and key).
std::vector<PointResults> load_results(const Manifest& manifest);

}  // namespace crossover
