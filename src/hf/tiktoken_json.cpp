#include "crossover/hf/tiktoken_json.h"

#include <algorithm>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

#include "crossover/data/tokenizer_bpe.h"

namespace crossover::hf {

std::string tiktoken_regex_for_oniguruma(const std::string& pattern) {
  std::string out;
  bool in_class = false, after_interval = false;
  for (size_t i = 0; i < pattern.size(); ++i) {
    const char c = pattern[i];
    const bool interval_closed = after_interval;
    after_interval = false;
    if (c == '\\' && i + 1 < pattern.size()) {
      // An escape is copied whole, \p{..}, \P{..} and \x{..} with their braces.
      size_t end = i + 2;
      const char e = pattern[i + 1];
      if ((e == 'p' || e == 'P' || e == 'x') && end < pattern.size() && pattern[end] == '{') {
        const size_t close = pattern.find('}', end);
        end = close == std::string::npos ? pattern.size() : close + 1;
      }
      out.append(pattern, i, end - i);
      i = end - 1;
      continue;
    }
    if (in_class) {
      if (c == ']') in_class = false;
      out += c;
      continue;
    }
    if (c == '[') {
      in_class = true;
      out += c;
      // A ']' right after '[' or '[^' is a member, not the end.
      if (i + 1 < pattern.size() && pattern[i + 1] == '^') out += pattern[++i];
      if (i + 1 < pattern.size() && pattern[i + 1] == ']') out += pattern[++i];
      continue;
    }
    if (c == '$') {
      out += "\\z";
      continue;
    }
    if (c == '+' && interval_closed) continue;  // {m,n}+: the possessive interval
    out += c;
    after_interval = c == '}';
  }
  return out;
}

namespace {

// What BPE leaves of `token` when only merges of rank below `limit` apply (tiktoken's own
// merge loop: the adjacent pair of lowest rank first).
std::vector<std::string> bpe_parts(const std::string& token,
                                   const std::unordered_map<std::string, int32_t>& ranks,
                                   int32_t limit) {
  std::vector<std::string> parts;
  for (char c : token) parts.emplace_back(1, c);
  while (parts.size() > 1) {
    int32_t best = limit;
    size_t at = parts.size();
    for (size_t i = 0; i + 1 < parts.size(); ++i) {
      const auto it = ranks.find(parts[i] + parts[i + 1]);
      if (it != ranks.end() && it->second < best) best = it->second, at = i;
    }
    if (at == parts.size()) break;
    parts[at] += parts[at + 1];
    parts.erase(parts.begin() + static_cast<std::ptrdiff_t>(at) + 1);
  }
  return parts;
}

}  // namespace

nlohmann::ordered_json tiktoken_tokenizer_json(const Tokenizer& tok) {
  // The encoding as the data layer loaded and checked it.
  const auto side = nlohmann::json::parse(tok.tiktoken_encoding(), nullptr, false);
  if (side.is_discarded() || !side.contains("pat_str"))
    throw std::logic_error(tok.path() + ": not a tiktoken encoding");
  std::unordered_map<int32_t, std::string> specials;
  for (const auto& [content, id] : side["special_tokens"].items())
    specials[id.get<int32_t>()] = content;

  // The ranks: every id below the vocabulary size that is not a special token.
  std::unordered_map<std::string, int32_t> ranks;
  std::vector<std::pair<int32_t, std::string>> tokens;
  for (int32_t id = 0; id < tok.vocab_size(); ++id) {
    if (specials.count(id)) continue;
    std::string bytes = tok.token_bytes(id);
    if (bytes.empty()) continue;
    ranks[bytes] = id;
    tokens.emplace_back(id, std::move(bytes));
  }
  nlohmann::ordered_json vocab = nlohmann::ordered_json::object();
  nlohmann::ordered_json merges = nlohmann::ordered_json::array();
  for (const auto& [id, bytes] : tokens) {  // in rank order: merges are ranked by their result
    vocab[bpe::byte_level_encode(bytes)] = id;
    if (bytes.size() < 2) continue;
    const auto parts = bpe_parts(bytes, ranks, id);
    if (parts.size() != 2) continue;  // not reachable by merges; whole pieces still match it
    merges.push_back({bpe::byte_level_encode(parts[0]), bpe::byte_level_encode(parts[1])});
  }
  // The special tokens (and an appended [MASK]) are in the model's vocabulary too: `tokenizers`
  // gives an added token the id its content has there, else the next free id after the
  // vocabulary's size, which is wrong wherever the ids have gaps (cl100k has none at 100256).
  // The pre-tokenizer's regex never leaves them whole, so BPE never produces them from text.
  for (const auto& [id, content] : specials) vocab[content] = id;
  if (tok.mask_appended()) vocab["[MASK]"] = tok.special().mask;

  nlohmann::ordered_json j;
  j["version"] = "1.0";
  j["truncation"] = nullptr;
  j["padding"] = nullptr;
  j["added_tokens"] = nlohmann::ordered_json::array();
  std::vector<std::pair<int32_t, std::string>> sorted(specials.begin(), specials.end());
  std::sort(sorted.begin(), sorted.end());
  for (const auto& [id, content] : sorted)
    j["added_tokens"].push_back({{"id", id},
                                 {"content", content},
                                 {"single_word", false},
                                 {"lstrip", false},
                                 {"rstrip", false},
                                 {"normalized", false},
                                 {"special", true}});
  j["normalizer"] = nullptr;
  j["pre_tokenizer"] = {
      {"type", "Sequence"},
      {"pretokenizers",
       {{{"type", "Split"},
         {"pattern", {{"Regex", tiktoken_regex_for_oniguruma(side["pat_str"].get<std::string>())}}},
         {"behavior", "Isolated"},
         {"invert", false}},
        {{"type", "ByteLevel"},
         {"add_prefix_space", false},
         {"trim_offsets", true},
         {"use_regex", false}}}}};
  j["post_processor"] = nullptr;
  j["decoder"] = {{"type", "ByteLevel"},
                  {"add_prefix_space", true},
                  {"trim_offsets", true},
                  {"use_regex", true}};
  j["model"] = {{"type", "BPE"},
                {"dropout", nullptr},
                {"unk_token", nullptr},
                {"continuing_subword_prefix", nullptr},
                {"end_of_word_suffix", nullptr},
                {"fuse_unk", false},
                {"byte_fallback", false},
                {"ignore_merges", true},
                {"vocab", vocab},
                {"merges", merges}};
  return j;
}

}  // namespace crossover::hf
