// crossover score RUN_DIR --requests FILE [--out FILE] [--step N] [--samples K] [--device D]
//                         [--threads N]
// Log-likelihoods of continuations, one JSON line per request, by `crossover eval`'s scoring
// (see include/crossover/eval/score_requests.h); python/crossover_lm drives it for lm_eval.
#include <CLI/CLI.hpp>

#include "crossover/cli/app.h"
#include "crossover/eval/score_requests.h"

namespace crossover::cli {

void add_score_command(CLI::App& app) {
  auto o = std::make_shared<ScoreRequestsOptions>();
  o->out = "-";
  auto* cmd = app.add_subcommand(
      "score",
      "Score continuations of contexts (JSONL requests: context/continuation as text or ids, or "
      "rolling text) with a run's checkpoint: ar exact, mdm by crossover eval's estimator and "
      "masks; one JSON line per request with nll and its Monte-Carlo standard error");
  cmd->add_option("run_dir", o->run_dir, "run directory (written by crossover train)")
      ->required()
      ->check(CLI::ExistingDirectory);
  cmd->add_option("--requests", o->requests, "requests, one JSON object a line (- = stdin)")
      ->required();
  cmd->add_option("--out", o->out, "answers, one JSON object a line (- = stdout)")
      ->capture_default_str();
  cmd->add_option("--step", o->step, "checkpoint step (default: the latest)");
  cmd->add_option("--samples", o->samples,
                  "mdm: estimator samples per continuation (default: eval.task_samples)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--device", o->device, "auto, cpu or cuda (default: the run's hardware.device)")
      ->check(CLI::IsMember({"auto", "cpu", "cuda"}));
  cmd->add_option("--threads", o->threads, "CPU threads, 0 = all cores (default: hardware.threads)")
      ->check(CLI::NonNegativeNumber);
  cmd->callback([o] { score_requests_to_file(*o); });
}

}  // namespace crossover::cli
