// lm-evaluation-harness's scores of a run's checkpoints, as its `--output_path` writes them:
//
//   RUN_DIR/lm_eval/step_N/<model name>/results_<date>.json     (lm-eval 0.4: `--output_path
//                                                                RUN_DIR/lm_eval/step_N`)
//
// (any results_*.json below step_N counts, so the model-name folder lm-eval adds does not
// matter). Each task's "acc,none" becomes the task `lm_eval/<task>` (its acc_norm field from
// "acc_norm,none"), and where the task has "acc_norm,none", that accuracy also becomes the task
// `lm_eval/<task>/acc_norm`, so the sweep report calls a crossover on either, as on crossover's
// own task accuracies. The examples an accuracy is over (its binomial standard error) are
// lm-eval's "n-samples" "effective" count (after --limit); a group's (MMLU) is the sum over its
// subtasks.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "crossover/analysis/results.h"

namespace crossover {

// Task name -> scores, from one results file. Throws std::runtime_error naming the file and the
// key when the file is not lm-eval's results JSON (no "results" object, an "acc,none" that is
// not an accuracy, a bad "n-samples" count). Tasks with neither acc nor acc_norm (perplexity,
// generation) are left out.
std::map<std::string, TaskScores> read_lm_eval_file(const std::string& path);

// Step -> task scores of every RUN_DIR/lm_eval/step_N; none when the folder is absent. Several
// results files of one step (lm-eval run again, or per task) are applied in the order of their
// file names (lm-eval's date stamp), a later file's task replacing an earlier one's.
std::map<int64_t, std::map<std::string, TaskScores>> read_lm_eval_results(
    const std::string& run_dir);

}  // namespace crossover
