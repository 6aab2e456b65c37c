// crossover prepare: corpus -> tokenizer + token stores, and prepare merge: shards -> one
// prepared directory (see include/crossover/data/prepare.h).
#include <CLI/CLI.hpp>

#include "crossover/cli/app.h"
#include "crossover/data/prepare.h"

namespace crossover::cli {

namespace {

// "i/N" -> (i, N); a usage error names the option and the expected form.
void parse_shard(const std::string& text, PrepareOptions* o) {
  const auto slash = text.find('/');
  try {
    size_t used_i = 0, used_n = 0;
    if (slash == std::string::npos) throw std::invalid_argument(text);
    o->shard_index = std::stoi(text.substr(0, slash), &used_i);
    o->shard_count = std::stoi(text.substr(slash + 1), &used_n);
    if (used_i != slash || used_n != text.size() - slash - 1) throw std::invalid_argument(text);
  } catch (const std::logic_error&) {
    throw CLI::ValidationError("--shard", "expected i/N (shard i of N, 0 <= i < N), got " + text);
  }
  if (o->shard_count < 1 || o->shard_index < 0 || o->shard_index >= o->shard_count)
    throw CLI::ValidationError("--shard", "expected i/N with 0 <= i < N, got " + text);
}

void add_merge_command(CLI::App& prepare) {
  auto o = std::make_shared<MergeOptions>();
  auto* cmd = prepare.add_subcommand(
      "merge",
      "Join the shard directories of `prepare --shard i/N` into one prepared directory, "
      "byte-identical to preparing the whole corpus in one process with the same tokenizer");
  cmd->add_option("shards", o->shard_dirs, "every shard directory of the corpus, once each")
      ->required()
      ->check(CLI::ExistingDirectory);
  cmd->add_option("--out", o->out_dir, "output directory")->required();
  auto* docs = cmd->add_option("--val-docs", o->val_docs, "validation documents (exact count)")
                   ->check(CLI::NonNegativeNumber);
  cmd->add_option("--val-fraction", o->val_fraction,
                  "validation documents as a fraction of all documents (default 0.05)")
      ->check(CLI::Range(0.0, 0.999999))
      ->excludes(docs);
  cmd->add_option("--seed", o->seed, "seed of the validation split");
  cmd->add_flag("--force", o->force, "overwrite an already prepared output directory");
  cmd->callback([o] { merge_shards(*o); });
}

}  // namespace

void add_prepare_command(CLI::App& app) {
  auto o = std::make_shared<PrepareOptions>();
  auto* cmd = app.add_subcommand(
      "prepare",
      "Train a tokenizer and write train/val token stores from text, JSON-lines (.gz and .zst "
      "too) or Parquet files, the bundled KJV, or convert a Megatron indexed dataset");
  auto* input = cmd->add_option("--input", o->inputs,
                                "input files, read in order: text, JSON lines when named *.jsonl, "
                                "*.ndjson or *.json (each may be gzip (.gz) or zstd (.zst) "
                                "compressed), or Parquet (*.parquet, or by its PAR1 magic)");
  auto* corpus = cmd->add_option("--corpus", o->corpus,
                                 "bundled corpus instead of --input: kjv (one document per "
                                 "chapter, from Debian's bible-kjv)")
                     ->check(CLI::IsMember({"kjv"}));
  // Not required() here: `prepare merge` has its own --out, and CLI11 would demand this one too.
  auto* out = cmd->add_option("--out", o->out_dir, "output directory");
  auto* vocab = cmd->add_option("--vocab-size", o->vocab_size,
                                "tokenizer vocabulary (excluding [MASK])")
                    ->check(CLI::Range(260, 1 << 22));
  auto* tokenizer =
      cmd->add_option(
             "--tokenizer", o->tokenizer,
             "use this tokenizer instead of training one: a SentencePiece .model, a Hugging "
             "Face tokenizer.json (BPE) or a tiktoken file (docs/data.md)")
          ->check(CLI::ExistingFile);
  cmd->add_option("--eos-token", o->tokenizer_options.eos_token,
                  "tokenizer.json/tiktoken: this token is eos, the document separator (default: "
                  "<|endoftext|>, <|end_of_text|>, </s> or <eos>, whichever the file has)")
      ->needs(tokenizer);
  cmd->add_option("--mask-token", o->tokenizer_options.mask_token,
                  "tokenizer.json/tiktoken: use this token of the file as [MASK]; it must be the "
                  "file's largest id (default: [MASK] appended after the vocabulary)")
      ->needs(tokenizer);
  cmd->add_flag("--split-special-tokens", o->tokenizer_options.split_special_tokens,
                "tokenizer.json: special-token strings in the text are plain text (tokenizers' "
                "encode_special_tokens=True; a tiktoken file always does this, as "
                "encode_ordinary)")
      ->needs(tokenizer);
  auto* model_type = cmd->add_option("--model-type", o->model_type, "tokenizer algorithm")
                         ->check(CLI::IsMember({"bpe", "unigram"}));
  auto* docs = cmd->add_option("--val-docs", o->val_docs, "validation documents (exact count)")
                   ->check(CLI::NonNegativeNumber);
  auto* fraction =
      cmd->add_option("--val-fraction", o->val_fraction,
                      "validation documents as a fraction of all documents (default 0.05)")
          ->check(CLI::Range(0.0, 0.999999))
          ->excludes(docs);
  cmd->add_option("--doc-split", o->doc_split,
                  "how text files split into documents: line, blank-line (paragraphs) or file")
      ->check(CLI::IsMember({"line", "blank-line", "file"}));
  cmd->add_option("--text-key", o->text_key,
                  "JSON-lines and Parquet files: the key (column) holding each document's text "
                  "(default text)");
  cmd->add_flag("--skip-bad-lines", o->skip_bad_lines,
                "count and skip malformed JSON lines and Parquet rows (null, not UTF-8; reported "
                "at the end) instead of stopping at the first with FILE:LINE or FILE:ROW");
  auto* seed = cmd->add_option("--seed", o->seed,
                               "seed of the validation split and tokenizer sampling");
  cmd->add_option("--threads", o->threads, "encoding threads (default: all cores)");
  cmd->add_flag("--force", o->force, "overwrite an already prepared output directory");
  auto* only = cmd->add_flag("--tokenizer-only", o->tokenizer_only,
                             "stop after writing tokenizer.model (to give every shard with "
                             "--tokenizer)")
                   ->excludes(tokenizer);
  auto* megatron =
      cmd->add_option("--from-megatron", o->megatron_prefixes,
                      "instead of --input: convert Megatron indexed datasets PREFIX (PREFIX.bin + "
                      "PREFIX.idx, already tokenised with --tokenizer), one document each")
          ->excludes(input)
          ->excludes(corpus)
          ->excludes(vocab)
          ->excludes(model_type)
          ->needs(tokenizer);
  cmd->add_option("--megatron-eod", o->megatron_eod,
                  "--from-megatron: strip (default) or keep a document's final eos token (the "
                  "sampler appends eos to every document)")
      ->check(CLI::IsMember({"strip", "keep"}))
      ->needs(megatron);
  auto shard_text = std::make_shared<std::string>();
  cmd->add_option("--shard", *shard_text,
                  "i/N: encode only shard i of N (contiguous input files, balanced by size) "
                  "into OUT/docs.bin with --tokenizer; `prepare merge` joins the shards and "
                  "makes the validation split")
      ->excludes(corpus)
      ->excludes(vocab)
      ->excludes(model_type)
      ->excludes(docs)
      ->excludes(fraction)
      ->excludes(seed)
      ->excludes(only)
      ->excludes(megatron)
      ->needs(tokenizer);
  add_merge_command(*cmd);
  cmd->callback([o, cmd, out, shard_text] {
    if (cmd->got_subcommand("merge")) return;
    if (out->count() == 0) throw CLI::RequiredError("--out");
    if (!shard_text->empty()) parse_shard(*shard_text, o.get());
    prepare_corpus(*o);
  });
}

}  // namespace crossover::cli
