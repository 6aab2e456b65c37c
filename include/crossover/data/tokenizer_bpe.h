// Byte-pair encoding as pretrained tokenizers use it: a Hugging Face tokenizer.json (BPE model;
// GPT-2, GPT-NeoX, Llama-3, Qwen2 style) or a tiktoken ranks file (cl100k_base, o200k_base, ...).
// The ids are those of the reference libraries (`tokenizers`' encode without a post-processor,
// tiktoken's encode_ordinary) for every text; the pipeline is theirs:
//   1. text that is not valid UTF-8 is repaired: each maximal ill-formed subpart becomes U+FFFD
//      (as Python's bytes.decode("utf-8", "replace") before the reference sees the text);
//   2. added tokens that are not normalised are cut out of the raw text (leftmost-longest);
//   3. the normalizer runs on the rest (NFC, NFKC, Prepend, Replace, Sequence), then the
//      normalised added tokens are cut out;
//   4. the pre-tokenizer splits pieces (Split regex, ByteLevel, Metaspace, Sequence) with PCRE2
//      (JIT);
//   5. each piece is merged by BPE: the pair of lowest rank first, leftmost on ties; a piece
//      that is a whole token is taken directly when the model says so (ignore_merges,
//      tiktoken).
// The pieces of this file are public so that tests can check each against small tables.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "crossover/data/tokenizer.h"

namespace crossover::bpe {

// --- UTF-8 ---------------------------------------------------------------------------------
// Appends the UTF-8 encoding of code point `cp` to `out`.
void append_utf8(uint32_t cp, std::string* out);
// True when `text` is well-formed UTF-8 (no surrogates, no overlong forms, <= U+10FFFF).
bool valid_utf8(std::string_view text);
// Whether every byte is below 0x80 (stops at the first that is not).
bool is_ascii(std::string_view text);
// `text` with every maximal subpart of an ill-formed sequence replaced by U+FFFD (the Unicode
// "substitution of maximal subparts" practice; Python's decode('utf-8', 'replace')).
std::string repair_utf8(std::string_view text);

// --- GPT-2's byte-level alphabet ------------------------------------------------------------
// The code point byte `b` is written as in byte-level vocabularies: the printable bytes
// ('!'..'~', 0xA1..0xAC, 0xAE..0xFF) stand for themselves, the others in order for U+0100 + n.
uint32_t byte_to_codepoint(uint8_t b);
// The inverse on a whole token: false when `text` has a character outside the alphabet.
bool byte_level_decode(std::string_view text, std::string* bytes);
std::string byte_level_encode(std::string_view bytes);

// --- Regex (PCRE2, JIT) ---------------------------------------------------------------------
// `\s` means different sets in Oniguruma (tokenizers), Rust's regex (tiktoken) and PCRE2 (which
// adds U+180E): both references match Unicode's White_Space, which is [\t-\r\x{85}\p{Z}].
// Rewrites \s and \S (and \s inside a class) to that set; throws on [^...\S...].
std::string rewrite_whitespace_classes(const std::string& pattern);

class Regex {
 public:
  // `dollar_end_only`: `$` matches only at the very end (Rust's regex, tiktoken); otherwise at
  // the end of any line (Oniguruma's Ruby syntax, tokenizers). The error names `where`.
  Regex(const std::string& pattern, bool dollar_end_only, const std::string& where);
  ~Regex();
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;
  // Calls back (start, end) for each successive non-overlapping match in valid UTF-8 `text`.
  template <class F>
  void for_each_match(std::string_view text, F&& f) const {
    size_t at = 0, start, end;
    while (next_match(text, &at, &start, &end)) f(start, end);
  }
  const std::string& pattern() const { return pattern_; }

 private:
  bool next_match(std::string_view text, size_t* at, size_t* start, size_t* end) const;
  std::string pattern_;
  void* code_ = nullptr;  // pcre2_code_8
};

// Code points of valid UTF-8 `text` that PCRE2's Unicode tables call unassigned (\p{Cn}): the
// regexes may class them otherwise than `tokenizers`/tiktoken, whose tables are newer (ids can
// differ around them). Ill-formed text is counted after repair_utf8.
int64_t count_unassigned_codepoints(std::string_view text);
// The Unicode version of PCRE2's tables ("14.0.0" for Debian 12's 10.42).
std::string pcre2_unicode_version();

// --- Added tokens ---------------------------------------------------------------------------
struct AddedToken {
  std::string content;
  int32_t id = -1;
  bool special = false;
  bool normalized = false;  // matched in the normalised text (else in the raw text)
  bool lstrip = false, rstrip = false, single_word = false;
};

// One piece of a text after the added tokens are cut out: a token id, or text to encode.
struct Segment {
  int32_t id = -1;  // >= 0: an added token
  size_t begin = 0, end = 0;
};

// Leftmost-longest matching of a set of literal strings (a trie), with tokenizers' lstrip,
// rstrip and single_word rules.
class AddedTokenMatcher {
 public:
  // `skip_special`: special tokens are not cut out; their matches are passed over as text
  // (tokenizers' encode_special_tokens).
  explicit AddedTokenMatcher(std::vector<AddedToken> tokens, bool skip_special = false);
  bool empty() const { return tokens_.empty(); }
  // The segments of `text`, in order, covering it (an empty text gives one empty segment).
  std::vector<Segment> split(std::string_view text) const;

 private:
  struct Node {
    std::unordered_map<unsigned char, int32_t> next;
    int32_t token = -1;  // index into tokens_ of the string ending here
  };
  std::vector<AddedToken> tokens_;
  std::vector<Node> nodes_;
  std::array<bool, 256> first_{};
  bool skip_special_ = false;
};

// --- The BPE model ----------------------------------------------------------------------------
// Tokens are byte strings. `merges` gives, for a pair of adjacent token ids, the rank of their
// merge (lower first) and the id of the merged token.
class BpeModel {
 public:
  struct Options {
    bool byte_level = true;      // one initial symbol per byte (else per UTF-8 character)
    bool ignore_merges = false;  // a piece that is a whole token is that token
    bool byte_fallback = false;  // characters not in the vocabulary become <0xXX> tokens
    int32_t unk = -1;            // else this id (fused when fuse_unk), else dropped
    bool fuse_unk = false;
  };
  BpeModel(std::unordered_map<std::string, int32_t> vocab,
           const std::vector<std::pair<std::string, std::string>>& merges, Options options,
           const std::string& where);
  // tiktoken: ranks are ids, and two tokens merge when their concatenation is a token, with
  // that token's rank.
  static BpeModel from_ranks(std::unordered_map<std::string, int32_t> ranks,
                             const std::string& where);

  // Appends the ids of one pre-tokenized piece (cached per thread).
  void encode_piece(std::string_view piece, std::vector<int32_t>* out) const;
  const std::unordered_map<std::string, int32_t>& vocab() const { return vocab_; }

 private:
  BpeModel() = default;
  void merge(std::string_view piece, std::vector<int32_t>* out) const;
  int32_t lookup(std::string_view s) const;
  std::unordered_map<std::string, int32_t> vocab_;
  std::unordered_map<uint64_t, std::pair<int32_t, int32_t>> merges_;  // (a,b) -> (rank, id)
  std::array<int32_t, 256> byte_ids_{};                               // byte_level: byte -> id
  std::array<int32_t, 256> fallback_ids_{};                           // byte_fallback: <0xXX>
  Options options_;
  uint64_t cache_key_ = 0;  // distinguishes models in the per-thread cache
};

// --- Whole tokenizers -------------------------------------------------------------------------

// A loaded tokenizer.json or tiktoken file with crossover's reserved ids.
class PretrainedTokenizer {
 public:
  // Reads a tokenizer.json (`kind` "huggingface") or a tiktoken ranks file ("tiktoken", whose
  // regex and special tokens come from FILE.json when present, else from the encoding named by
  // the file's stem: cl100k_base, o200k_base, r50k_base, p50k_base, gpt2). Errors name the file
  // and key.
  using Choices = TokenizerOptions;  // data/tokenizer.h
  static std::unique_ptr<PretrainedTokenizer> load(const std::string& path,
                                                   const Choices& choices = {});
  virtual ~PretrainedTokenizer() = default;

  virtual void encode(std::string_view text, std::vector<int32_t>* out) const = 0;
  // Bytes of a token (added tokens: their content); empty for an unused id.
  virtual std::string token_bytes(int32_t id) const = 0;
  virtual std::string kind() const = 0;
  // What a copy of the file needs beside it as FILE.json (a tiktoken file's regex and special
  // tokens, so that the copy's name need not be its encoding's); empty when nothing.
  virtual std::string sidecar_json() const { return {}; }

  int32_t max_id() const { return max_id_; }
  int32_t eos() const { return eos_; }
  int32_t bos() const { return bos_; }
  int32_t unk() const { return unk_; }
  int32_t pad() const { return pad_; }
  const std::string& eos_token() const { return eos_token_; }
  // The mask id: a mask token of the file when it is the last id, else max_id() + 1.
  int32_t mask() const { return mask_; }
  bool mask_appended() const { return mask_appended_; }

 protected:
  // Picks eos/bos/pad/mask among the special tokens by their usual names, or eos and mask as
  // `choices` names them (in `specials`, else in `model`'s vocabulary).
  void assign_special_ids(const std::unordered_map<std::string, int32_t>& specials,
                          const std::string& where, const Choices& choices, const BpeModel& model);
  int32_t max_id_ = -1, eos_ = -1, bos_ = -1, unk_ = -1, pad_ = -1, mask_ = -1;
  std::string eos_token_;
  bool mask_appended_ = true;
};

}  // namespace crossover::bpe
