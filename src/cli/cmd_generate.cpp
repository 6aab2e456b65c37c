// crossover generate RUN_DIR --prompt TEXT [...]: completions from a trained run, decoded as its
// objective says (generate/complete.h); all prompts in one batch.
#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include <ATen/Parallel.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <stdexcept>

#include "crossover/checkpoint/loaded_model.h"
#include "crossover/cli/app.h"
#include "crossover/generate/complete.h"
#include "crossover/util/threads.h"

namespace crossover::cli {

namespace {

struct GenerateOptions {
  std::string run_dir, prompt_file, device, remasking = "low-confidence", cache = "none";
  std::vector<std::string> prompts;
  int64_t max_new = 64, top_k = 0, step = -1, steps = 0, block_length = 32;
  double temperature = 1.0, top_p = 1.0, threshold = 0;
  uint64_t seed = 0;
  int threads = -1;
};

std::vector<std::string> read_prompt_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read --prompt-file " + path);
  std::vector<std::string> out;
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) out.push_back(line);
  return out;
}

void run_generate(const GenerateOptions& o, const std::vector<const CLI::Option*>& mdm_only) {
  std::vector<std::string> texts = o.prompts;
  if (!o.prompt_file.empty()) {
    const auto more = read_prompt_file(o.prompt_file);
    texts.insert(texts.end(), more.begin(), more.end());
  }
  if (texts.empty()) throw std::invalid_argument("no prompt: give --prompt or --prompt-file");

  LoadOptions lo;
  lo.step = o.step;
  lo.device = parse_optional_choice<DeviceChoice>(o.device, "--device");
  const LoadedModel m = load_model(o.run_dir, lo);
  configure_threads(o.threads >= 0 ? o.threads : static_cast<int>(m.config.hardware.threads));
  std::vector<Prompt> prompts;
  for (const auto& t : texts) {
    const auto ids = m.tokenizer->encode(t);
    prompts.emplace_back(ids.begin(), ids.end());
  }
  const SamplingOptions sampling{o.temperature, o.top_k, o.top_p};
  spdlog::info("{} run, step {}, {} prompt(s), max-new {}, temperature {}, on {}",
               m.objective->name(), m.step, prompts.size(), o.max_new, o.temperature,
               m.device.str());

  if (m.objective->decoding() != Decoding::kUnmasking)
    for (const CLI::Option* opt : mdm_only)
      if (opt->count() > 0)
        spdlog::warn("{} applies to mdm runs only; ignored for this {} run", opt->get_name(),
                     m.objective->name());
  CompletionRequest request;
  request.max_new = o.max_new;
  request.sampling = sampling;
  request.seed = o.seed;
  request.eos_id = m.eos_id();
  request.unmasking.steps = o.steps;
  request.unmasking.block_length = o.block_length;
  request.unmasking.remasking = parse_remasking(o.remasking);
  request.unmasking.threshold = o.threshold;
  request.unmasking.cache = parse_mdm_cache(o.cache);
  const auto t0 = std::chrono::steady_clock::now();
  const Completions r = complete(*m.model, m.flats, *m.objective, prompts, request);
  const auto& completions = r.tokens;
  const auto& notes = r.notes;
  const int64_t forward_calls = r.forward_calls;
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  for (size_t i = 0; i < prompts.size(); ++i) {
    // Decoded with the prompt: SentencePiece drops the leading space of a sequence's first
    // piece, so a completion decoded alone would lose the space joining it to the prompt.
    std::vector<int32_t> ids(prompts[i].begin(), prompts[i].end());
    ids.insert(ids.end(), completions[i].begin(), completions[i].end());
    std::printf("--- %zu: %zu prompt tokens, %zu new (%s) ---\n%s\n", i, prompts[i].size(),
                completions[i].size(), notes[i].c_str(), m.tokenizer->decode(ids).c_str());
  }
  std::fflush(stdout);
  spdlog::info("{:.2f} s, {} forward passes, {} threads", seconds, forward_calls,
               at::get_num_threads());
}

}  // namespace

void add_generate_command(CLI::App& app) {
  auto o = std::make_shared<GenerateOptions>();
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
  cmd->add_option("--temperature", o->temperature, "0: greedy; else Gumbel-max on logits / T")
      ->capture_default_str();
  cmd->add_option("--top-k", o->top_k, "sample among the k most likely tokens (0: all)");
  cmd->add_option("--top-p", o->top_p, "sample from the smallest set holding this mass (1: all)");
  cmd->add_option("--seed", o->seed, "noise seed (each prompt's draws are keyed by its index)");
  cmd->add_option("--step", o->step, "checkpoint step (default: the latest)");
  cmd->add_option("--device", o->device, "auto, cpu or cuda (default: the run's hardware.device)");
  cmd->add_option("--threads", o->threads, "CPU threads (default: hardware.threads, 0 = all)");
  std::vector<const CLI::Option*> mdm_only;
  mdm_only.push_back(cmd->add_option(
      "--steps", o->steps, "MDM: denoising steps in all (0: max-new, one token per step)"));
  mdm_only.push_back(cmd->add_option("--block-length", o->block_length,
                                     "MDM: semi-autoregressive block length (0: one block)")
                         ->capture_default_str());
  mdm_only.push_back(
      cmd->add_option("--remasking", o->remasking, "MDM: which predictions to commit each step")
          ->check(CLI::IsMember({"low-confidence", "random"}))
          ->capture_default_str());
  mdm_only.push_back(cmd->add_option(
      "--threshold", o->threshold,
      "MDM: commit every prediction of the block with confidence >= C, at least one per step "
      "(0: off; when set, --steps is unused)"));
  mdm_only.push_back(cmd->add_option("--cache", o->cache,
                                     "MDM: prefix caches finished blocks' keys and values "
                                     "(approximate for a bidirectional model)")
                         ->check(CLI::IsMember({"none", "prefix"}))
                         ->capture_default_str());
  cmd->callback([o, mdm_only] { run_generate(*o, mdm_only); });
}

}  // namespace crossover::cli
