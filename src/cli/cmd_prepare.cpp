// crossover prepare: corpus -> tokenizer + token stores (see include/crossover/data/prepare.h).
#include <CLI/CLI.hpp>

#include "crossover/cli/app.h"
#include "crossover/data/prepare.h"

namespace crossover::cli {

void add_prepare_command(CLI::App& app) {
  auto o = std::make_shared<PrepareOptions>();
  auto* cmd = app.add_subcommand(
      "prepare",
      "Train a tokenizer and write train/val token stores from text or JSON-lines files (.gz and "
      ".zst too) or the bundled KJV");
  cmd->add_option("--input", o->inputs,
                  "input files, read in order: text, or JSON lines when named *.jsonl, *.ndjson "
                  "or *.json; each may be gzip (.gz) or zstd (.zst) compressed");
  cmd->add_option("--corpus", o->corpus, "bundled corpus instead of --input: kjv (one document "
                                         "per chapter, from Debian's bible-kjv)")
      ->check(CLI::IsMember({"kjv"}));
  cmd->add_option("--out", o->out_dir, "output directory")->required();
  cmd->add_option("--vocab-size", o->vocab_size, "tokenizer vocabulary (excluding [MASK])")
      ->check(CLI::Range(260, 1 << 22));
  cmd->add_option("--tokenizer", o->tokenizer, "reuse this SentencePiece .model (no training)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--model-type", o->model_type, "tokenizer algorithm")
      ->check(CLI::IsMember({"bpe", "unigram"}));
  auto* docs = cmd->add_option("--val-docs", o->val_docs, "validation documents (exact count)")
                   ->check(CLI::NonNegativeNumber);
  cmd->add_option("--val-fraction", o->val_fraction,
                  "validation documents as a fraction of all documents (default 0.05)")
      ->check(CLI::Range(0.0, 0.999999))
      ->excludes(docs);
  cmd->add_option("--doc-split", o->doc_split,
                  "how text files split into documents: line, blank-line (paragraphs) or file")
      ->check(CLI::IsMember({"line", "blank-line", "file"}));
  cmd->add_option("--text-key", o->text_key,
                  "JSON-lines files: the key holding each document's text (default text)");
  cmd->add_flag("--skip-bad-lines", o->skip_bad_lines,
                "count and skip malformed JSON lines (reported at the end) instead of stopping "
                "at the first with FILE:LINE");
  cmd->add_option("--seed", o->seed, "seed of the validation split and tokenizer sampling");
  cmd->add_option("--threads", o->threads, "encoding threads (default: all cores)");
  cmd->add_flag("--force", o->force, "overwrite an already prepared output directory");
  cmd->callback([o] { prepare_corpus(*o); });
}

}  // namespace crossover::cli
