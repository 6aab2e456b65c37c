// `crossover prepare`: corpus -> tokenizer.model + train.bin + val.bin + meta.json.
//
// Passes over the corpus (streamed; memory is bounded by two encoding chunks of `chunk_bytes`
// text plus their tokens, the tokenizer trainer's sentence sample, and O(1) per document on
// disk, never the corpus):
//   1. count documents;
//   2. choose the validation documents: a seeded uniform sample of exactly n_val of them
//      (selection sampling, decided before anything else sees the data);
//   3. train the tokenizer on training documents only (skipped with an existing .model);
//   4. encode with every core (the next chunk is read while the current one is encoded) and
//      write the stores.
//
// Beyond one machine the corpus is cut into shards of whole input files. Each shard only
// encodes (step 4, with a given tokenizer) into one store of all its documents in corpus
// order; `merge_shards` then counts the documents of all shards, makes the same validation
// choice over the global document index as step 2 and copies each document's tokens to
// train.bin or val.bin. Everything that depends on the whole corpus is decided either before
// the shards (the tokenizer) or after them (the split), so the merged directory is
// byte-identical to a one-process prepare with the same tokenizer.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "crossover/data/tokenizer.h"

namespace crossover {

struct PrepareOptions {
  std::vector<std::string> inputs;  // text or JSON-lines files (.gz/.zst too), or empty with
  std::string corpus;               // corpus = "kjv": the bundled King James Bible
  std::string out_dir;
  std::string doc_split = "line";      // text files: line | blank-line | file
  std::string text_key = "text";       // JSON-lines files: the key of the document text
  bool skip_bad_lines = false;         // count and skip malformed JSON lines instead of stopping
  std::string tokenizer;               // existing .model to reuse instead of training one
  TokenizerOptions tokenizer_options;  // --eos-token, --mask-token, --split-special-tokens
  std::string model_type = "bpe";      // bpe | unigram
  int vocab_size = 8192;
  int64_t val_docs = -1;       // exact count, or
  double val_fraction = 0.05;  // fraction of documents (when val_docs < 0)
  uint64_t seed = 0;
  int threads = 0;                 // 0 = all cores
  int64_t chunk_bytes = 32 << 20;  // text encoded per parallel chunk
  bool force = false;              // overwrite an existing prepared directory
  bool tokenizer_only = false;     // stop after writing tokenizer.model (steps 1-3)
  int shard_index = -1;            // >= 0: prepare shard shard_index of shard_count
  int shard_count = 0;
  // Instead of inputs: already tokenised Megatron indexed datasets (PREFIX.bin/.idx), converted
  // document for document with `tokenizer` (which gives the vocabulary and eos); see
  // src/data/megatron_reader.h. megatron_eod: "strip" drops a document's last token when it is
  // eos (the sampler appends eos to every document), "keep" keeps it.
  std::vector<std::string> megatron_prefixes;
  std::string megatron_eod = "strip";
};

// Runs the pipeline and returns meta.json's content (shard.json's for a shard; for
// tokenizer_only, the tokenizer's description). With megatron_prefixes the documents are
// copied, not encoded: the same validation split, the same stores and meta.json.
nlohmann::json prepare_corpus(const PrepareOptions& options);

struct MergeOptions {
  std::vector<std::string> shard_dirs;  // every shard of one corpus, in any order
  std::string out_dir;
  int64_t val_docs = -1;  // the validation split, as in PrepareOptions
  double val_fraction = 0.05;
  uint64_t seed = 0;
  bool force = false;
};

// `crossover prepare merge`: joins shard directories into one prepared directory; returns
// meta.json's content. Every shard is checked first (all N present once, the same inputs,
// tokenizer and document format); errors name the shard directory.
nlohmann::json merge_shards(const MergeOptions& options);

// Input files [first, last) of shard `index` of `count`: contiguous runs of whole files in
// input order, cut so that each shard holds about 1/count of the bytes (file j goes to the
// shard that holds the middle of its bytes). Some shards are empty when there are fewer large
// files than shards.
std::pair<size_t, size_t> shard_file_range(const std::vector<int64_t>& file_bytes, int index,
                                           int count);

}  // namespace crossover
