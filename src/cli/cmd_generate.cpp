// crossover generate RUN_DIR --prompt TEXT [...]: completions from a trained run, decoded as its
// objective says (see include/crossover/generate/run_generate.h); all prompts in one batch.
#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include <cstdio>

#include "crossover/cli/app.h"
#include "crossover/generate/run_generate.h"

namespace crossover::cli {

void add_generate_command(CLI::App& app) {
  auto o = std::make_shared<RunGenerateOptions>();
  auto* cmd = app.add_subcommand(
      "generate",
      "Complete prompts with a trained run: AR decodes with a KV cache, MDM with the LLaDA "
      "sampler (the objective comes from the run's config); all prompts form one batch");
  cmd->add_option("run_dir", o->run_dir, "run directory")->required();
  cmd->add_option("--prompt", o->prompts, "prompt text (repeatable)");
  cmd->add_option("--prompt-file", o->prompt_file, "file with one prompt per non-empty line");
  cmd->add_option("--max-new", o->max_new,
                  "tokens to generate (AR: at most, stops at eos; MDM: masked positions); "
                  "prompt + max-new must fit the run's data.seq_len")
      ->capture_default_str();
  cmd->add_option("--temperature", o->sampling.temperature,
                  "0: greedy; else Gumbel-max on logits / T")
      ->capture_default_str();
  cmd->add_option("--top-k", o->sampling.top_k, "sample among the k most likely tokens (0: all)");
  cmd->add_option("--top-p", o->sampling.top_p,
                  "sample from the smallest set holding this mass (1: all)");
  cmd->add_option("--seed", o->seed, "noise seed (each prompt's draws are keyed by its index)");
  cmd->add_option("--step", o->step, "checkpoint step (default: the latest)");
  cmd->add_option("--device", o->device, "auto, cpu or cuda (default: the run's hardware.device)");
  cmd->add_option("--threads", o->threads, "CPU threads (default: hardware.threads, 0 = all)");
  std::vector<const CLI::Option*> unmasking;
  unmasking.push_back(cmd->add_option(
      "--steps", o->steps, "MDM: denoising steps in all (0: max-new, one token per step)"));
  unmasking.push_back(cmd->add_option("--block-length", o->block_length,
                                      "MDM: semi-autoregressive block length (0: one block)")
                          ->capture_default_str());
  unmasking.push_back(
      cmd->add_option("--remasking", o->remasking, "MDM: which predictions to commit each step")
          ->check(CLI::IsMember({"low-confidence", "random"}))
          ->capture_default_str());
  unmasking.push_back(cmd->add_option(
      "--threshold", o->threshold,
      "MDM: commit every prediction of the block with confidence >= C, at least one per step "
      "(0: off; when set, --steps is unused)"));
  unmasking.push_back(cmd->add_option("--cache", o->cache,
                                      "MDM: prefix caches finished blocks' keys and values "
                                      "(approximate for a bidirectional model)")
                          ->check(CLI::IsMember({"none", "prefix"}))
                          ->capture_default_str());
  cmd->callback([o, unmasking] {
    RunGenerateOptions options = *o;
    for (const CLI::Option* opt : unmasking)
      if (opt->count() > 0) options.unmasking_options_set.push_back(opt->get_name());
    const RunGenerateResult r = generate_run(options);
    std::fputs(format_completions(r).c_str(), stdout);
    std::fflush(stdout);
    spdlog::info("{:.2f} s, {} forward passes, {} threads", r.seconds, r.forward_calls, r.threads);
  });
}

}  // namespace crossover::cli
