// crossover make-cloze --data DIR --out FILE.jsonl [--n 500] [--ctx-tokens 32]
//                      [--ending-tokens 16] [--options 4] [--seed S]
// A HellaSwag-form task from validation documents only (see include/crossover/eval/cloze.h).
#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include <filesystem>

#include "crossover/cli/app.h"
#include "crossover/eval/cloze.h"
#include "crossover/util/fs.h"

namespace crossover::cli {

void add_make_cloze_command(CLI::App& app) {
  struct Options {
    ClozeOptions cloze;
    std::string out;
  };
  auto o = std::make_shared<Options>();
  auto* cmd = app.add_subcommand(
      "make-cloze",
      "Write a HellaSwag-form multiple-choice task from the validation documents of a prepared "
      "data directory: a context, its true continuation and continuations from other documents");
  cmd->add_option("--data", o->cloze.data_dir, "prepared data directory (val.bin, tokenizer.model)")
      ->required()
      ->check(CLI::ExistingDirectory);
  cmd->add_option("--out", o->out, "output task file (.jsonl)")->required();
  cmd->add_option("--n", o->cloze.n, "examples")->check(CLI::PositiveNumber);
  cmd->add_option("--ctx-tokens", o->cloze.ctx_tokens, "context tokens")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--ending-tokens", o->cloze.ending_tokens, "tokens per ending")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--options", o->cloze.options, "endings per example (one true)")
      ->check(CLI::Range(2, 1000));
  cmd->add_option("--seed", o->cloze.seed, "seed of the sample, the wrong endings and the labels");
  cmd->callback([o] {
    const auto examples = make_cloze(o->cloze);
    const auto parent = std::filesystem::path(o->out).parent_path();
    if (!parent.empty()) std::filesystem::create_directories(parent);
    atomic_write_file(o->out, cloze_jsonl(examples));
    spdlog::info("wrote {} examples with {} options to {}", examples.size(), o->cloze.options,
                 o->out);
  });
}

}  // namespace crossover::cli
