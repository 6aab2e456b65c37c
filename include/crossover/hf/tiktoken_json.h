// A tiktoken encoding as a Hugging Face tokenizer.json, for `export hf` of a run prepared with a
// tiktoken file.
#pragma once

#include <nlohmann/json.hpp>

#include "crossover/data/tokenizer.h"

namespace crossover::hf {

// `tok` is a tiktoken tokenizer (its encoding: Tokenizer::tiktoken_encoding()). The result
// encodes text as tiktoken's
// encode_ordinary does: the encoding's regex as a Split pre-tokenizer, then byte-level BPE with
// ignore_merges (a piece that is a whole token is that token, as in tiktoken) over merges
// recovered from the ranks (each token's two halves are what BPE with the lower ranks leaves of
// it), the special tokens and an appended [MASK] as added tokens whose ids the vocabulary
// fixes. The regex is rewritten for Oniguruma, which
// `tokenizers` runs: a possessive interval `{m,n}+`, which Oniguruma reads as a repetition of the
// interval, drops its `+`; `$` becomes `\z`, the end of the text, which is what tiktoken's `$`
// means.
nlohmann::ordered_json tiktoken_tokenizer_json(const Tokenizer& tok);

// The Oniguruma form of a tiktoken regex (see above).
std::string tiktoken_regex_for_oniguruma(const std::string& pattern);

}  // namespace crossover::hf
