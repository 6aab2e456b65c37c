// `sweep report`: the sweep's results as files under DIR/report/:
//
//   summary.csv     one row per point: budgets, FLOPs, status, final and best val loss with
//                   their step/tokens/epoch, final scores per multiple-choice task
//   curves.csv      every eval event of every point, long format (one row per metric)
//   crossovers.csv  every AR/MDM crossing and trend extrapolation (what plots mark)
//   summary.md      per unique budget (and preset): whether and where MDM overtakes AR on val
//                   loss and on each task's accuracy, who is ahead at the end, and the fitted
//                   effective-data constant R* per objective
//
// Only the runs' metrics.jsonl, eval_detail.jsonl and lm-eval results files (lm_eval/step_N,
// lm_eval_results.h) are read (results.h), so a report can be made while runs are going.
#pragma once

#include <string>
#include <vector>

namespace crossover {

struct ReportFiles {
  std::vector<std::string> paths;  // the files written
  std::string headline;            // a few lines for the console: crossovers and R* values
};

ReportFiles write_report(const std::string& sweep_dir);

}  // namespace crossover
