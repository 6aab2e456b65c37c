// `crossover make-cloze`: a HellaSwag-form multiple-choice task built from the validation
// documents of a prepared data directory, so it measures the same text distribution as the
// training data without ever showing the model a training document.
//
// An example is ctx_tokens tokens of a validation document, the true ending (the next
// ending_tokens tokens of the same document) and options - 1 wrong endings (ending_tokens-token
// spans of other validation documents), decoded to text, with the true ending at a seeded
// random position. Endings start at word boundaries (a token whose piece opens with "▁"), so
// each one reads as a continuation and re-encodes to the tokens it was cut from; the contexts of
// different examples never overlap. Everything is decided by the seed.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace crossover {

struct ClozeOptions {
  std::string data_dir;  // a `crossover prepare` directory: val.bin and tokenizer.model
  int64_t n = 500;
  int64_t ctx_tokens = 32;
  int64_t ending_tokens = 16;
  int64_t options = 4;
  uint64_t seed = 0;
};

// Where a span of text came from: tokens [offset, offset + length) of validation document doc.
struct TokenSpan {
  uint64_t doc = 0;
  uint64_t offset = 0;
  uint64_t length = 0;
};

struct ClozeExample {
  std::string ctx;
  std::vector<std::string> endings;
  int64_t label = 0;
  TokenSpan context;
  std::vector<TokenSpan> ending_spans;  // parallel to endings
};

// Builds the examples (fewer than n, with a warning, when the validation set is too small).
std::vector<ClozeExample> make_cloze(const ClozeOptions& options);

// One {"ctx", "endings", "label"} JSON object per line.
std::string cloze_jsonl(const std::vector<ClozeExample>& examples);

}  // namespace crossover
