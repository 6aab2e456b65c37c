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
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace crossover {

struct PrepareOptions {
  std::vector<std::string> inputs;  // text or JSON-lines files (.gz/.zst too), or empty with
  std::string corpus;               // corpus = "kjv": the bundled King James Bible
  std::string out_dir;
  std::string doc_split = "line";   // text files: line | blank-line | file
  std::string text_key = "text";    // JSON-lines files: the key of the document text
  bool skip_bad_lines = false;      // count and skip malformed JSON lines instead of stopping
  std::string tokenizer;            // existing .model to reuse instead of training one
  std::string model_type = "bpe";   // bpe | unigram
  int vocab_size = 8192;
  int64_t val_docs = -1;            // exact count, or
  double val_fraction = 0.05;       // fraction of documents (when val_docs < 0)
  uint64_t seed = 0;
  int threads = 0;                  // 0 = all cores
  int64_t chunk_bytes = 32 << 20;   // text encoded per parallel chunk
  bool force = false;               // overwrite an existing prepared directory
};

// Runs the pipeline and returns meta.json's content.
nlohmann::json prepare_corpus(const PrepareOptions& options);

// Reads DIR/meta.json (error names the file when missing or malformed).
nlohmann::json read_data_meta(const std::string& data_dir);

}  // namespace crossover
