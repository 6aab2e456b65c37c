// crossover eval RUN_DIR [--step N] [--tasks FILE...] [--mc-samples K] [--task-samples K]
//                        [--device D] [--max-examples N] [--threads N] [--val-sequences N]
//                        [--dump FILE]
// Scores a checkpoint (validation loss and multiple-choice tasks), prints a table and writes
// RUN_DIR/eval/step_N.json (see include/crossover/eval/run_eval.h).
#include <CLI/CLI.hpp>

#include <cstdio>

#include "crossover/cli/app.h"
#include "crossover/eval/run_eval.h"

namespace crossover::cli {

void add_eval_command(CLI::App& app) {
  auto o = std::make_shared<RunEvalOptions>();
  auto* cmd = app.add_subcommand(
      "eval",
      "Evaluate a checkpoint of a run: validation loss (ar exact, mdm Monte-Carlo ELBO) and "
      "multiple-choice tasks (acc, acc_norm, NLL of right and wrong options, delta NLL); writes "
      "RUN_DIR/eval/step_N.json");
  cmd->add_option("run_dir", o->run_dir, "run directory (written by crossover train)")
      ->required()
      ->check(CLI::ExistingDirectory);
  cmd->add_option("--step", o->step, "checkpoint step (default: the latest)");
  cmd->add_option("--tasks", o->tasks,
                  "task files, JSONL in HellaSwag ({ctx, endings, label}) or MMLU ({question, "
                  "choices, answer}) form (default: the run's eval.tasks)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--mc-samples", o->mc_samples,
                  "mdm: Monte-Carlo samples per validation sequence (default: eval.mc_samples)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--task-samples", o->task_samples,
                  "mdm: estimator samples per task option (default: eval.task_samples)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--max-examples", o->max_examples,
                  "examples per task, 0 = all (default: eval.max_task_examples)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--val-sequences", o->val_sequences,
                  "validation windows, spread over the whole split; 0 = all (default: "
                  "eval.val_sequences)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--dump", o->dump,
                  "write every validation window's loss and every task example's prediction to "
                  "FILE, one JSON object a line (to pair two runs item by item)");
  cmd->add_option("--device", o->device, "auto, cpu or cuda (default: the run's hardware.device)")
      ->check(CLI::IsMember({"auto", "cpu", "cuda"}));
  cmd->add_option("--threads", o->threads, "CPU threads, 0 = all cores (default: hardware.threads)")
      ->check(CLI::NonNegativeNumber);
  cmd->callback([o] {
    const auto report = evaluate_run(*o);
    std::fputs(format_eval_report(report).c_str(), stdout);
    std::fflush(stdout);
  });
}

}  // namespace crossover::cli
