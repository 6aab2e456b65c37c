// Added-token matching, the BPE merge loop and the reserved ids (see tokenizer_bpe.h).
#include "crossover/data/tokenizer_bpe.h"

#include <utf8proc.h>

#include <algorithm>
#include <atomic>
#include <queue>
#include <stdexcept>

namespace crossover::bpe {

namespace {

// Decodes the character at text[i] (valid UTF-8) and its length.
int32_t char_at(std::string_view text, size_t i, size_t* len) {
  utf8proc_int32_t cp = -1;
  const auto n = utf8proc_iterate(reinterpret_cast<const utf8proc_uint8_t*>(text.data() + i),
                                  static_cast<utf8proc_ssize_t>(text.size() - i), &cp);
  *len = n > 0 ? static_cast<size_t>(n) : 1;
  return cp;
}

// The start of the character that ends at text[end - 1].
size_t char_start_before(std::string_view text, size_t end) {
  size_t i = end - 1;
  while (i > 0 && (static_cast<uint8_t>(text[i]) & 0xC0) == 0x80) --i;
  return i;
}

// Rust's char::is_whitespace: Unicode White_Space.
bool is_white_space(int32_t cp) {
  if ((cp >= 0x09 && cp <= 0x0D) || cp == 0x85) return true;
  const auto cat = utf8proc_category(cp);
  return cat == UTF8PROC_CATEGORY_ZS || cat == UTF8PROC_CATEGORY_ZL || cat == UTF8PROC_CATEGORY_ZP;
}

// Rust's char::is_alphanumeric (letters and numbers), for single_word.
bool is_word_char(int32_t cp) {
  const auto cat = utf8proc_category(cp);
  return (cat >= UTF8PROC_CATEGORY_LU && cat <= UTF8PROC_CATEGORY_LO) ||
         (cat >= UTF8PROC_CATEGORY_ND && cat <= UTF8PROC_CATEGORY_NO);
}

uint64_t pair_key(int32_t a, int32_t b) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
}

std::atomic<uint64_t> next_cache_key{1};

// Per thread: the ids of recently seen pieces of one model (as tokenizers caches words).
struct PieceCache {
  uint64_t owner = 0;
  std::unordered_map<std::string, std::vector<int32_t>> ids;
};
constexpr size_t kCacheEntries = 1 << 16;
constexpr size_t kCachedPieceBytes = 256;

}  // namespace

// --- Added tokens ---------------------------------------------------------------------------

AddedTokenMatcher::AddedTokenMatcher(std::vector<AddedToken> tokens, bool skip_special)
    : tokens_(std::move(tokens)), skip_special_(skip_special) {
  nodes_.emplace_back();
  for (size_t t = 0; t < tokens_.size(); ++t) {
    const std::string& s = tokens_[t].content;
    if (s.empty()) continue;
    first_[static_cast<uint8_t>(s[0])] = true;
    int32_t n = 0;
    for (unsigned char c : s) {
      auto it = nodes_[n].next.find(c);
      if (it == nodes_[n].next.end()) {
        nodes_.emplace_back();
        it = nodes_[n].next.emplace(c, static_cast<int32_t>(nodes_.size() - 1)).first;
      }
      n = it->second;
    }
    if (nodes_[n].token < 0) nodes_[n].token = static_cast<int32_t>(t);
  }
}

std::vector<Segment> AddedTokenMatcher::split(std::string_view text) const {
  std::vector<Segment> out;
  if (text.empty()) return {Segment{-1, 0, 0}};
  size_t start_offset = 0;
  for (size_t i = 0; i < text.size();) {
    if (!first_[static_cast<uint8_t>(text[i])]) {
      ++i;
      continue;
    }
    // The longest token starting at i.
    int32_t n = 0, best = -1;
    size_t best_end = 0;
    for (size_t j = i; j < text.size(); ++j) {
      const auto it = nodes_[n].next.find(static_cast<unsigned char>(text[j]));
      if (it == nodes_[n].next.end()) break;
      n = it->second;
      if (nodes_[n].token >= 0) best = nodes_[n].token, best_end = j + 1;
    }
    if (best < 0) {
      ++i;
      continue;
    }
    const AddedToken& tok = tokens_[best];
    size_t start = i, stop = best_end;
    i = best_end;  // matches do not overlap, whether or not this one is kept
    if (skip_special_ && tok.special) continue;  // text, as tokenizers' encode_special_tokens
    size_t len;
    if (tok.single_word) {
      const bool start_space = start == 0 ||
                               !is_word_char(char_at(text, char_start_before(text, start), &len));
      const bool stop_space = stop == text.size() || !is_word_char(char_at(text, stop, &len));
      if (!start_space || !stop_space) continue;
    }
    if (tok.lstrip) {
      size_t s = start;
      while (s > 0) {
        const size_t p = char_start_before(text, s);
        if (!is_white_space(char_at(text, p, &len))) break;
        s = p;
      }
      start = std::max(s, start_offset);
    }
    if (tok.rstrip) {
      while (stop < text.size() && is_white_space(char_at(text, stop, &len))) stop += len;
      i = std::max(i, stop);
    }
    if (start > start_offset) out.push_back({-1, start_offset, start});
    out.push_back({tok.id, start, stop});
    start_offset = stop;
  }
  if (start_offset < text.size()) out.push_back({-1, start_offset, text.size()});
  return out;
}

// --- BPE ------------------------------------------------------------------------------------

BpeModel::BpeModel(std::unordered_map<std::string, int32_t> vocab,
                   const std::vector<std::pair<std::string, std::string>>& merges, Options options,
                   const std::string& where)
    : vocab_(std::move(vocab)), options_(options), cache_key_(next_cache_key++) {
  merges_.reserve(merges.size() * 2);
  for (size_t r = 0; r < merges.size(); ++r) {
    const auto& [a, b] = merges[r];
    const int32_t ia = lookup(a), ib = lookup(b), ic = lookup(a + b);
    if (ia < 0 || ib < 0 || ic < 0)
      throw std::runtime_error(where + ": model.merges[" + std::to_string(r) +
                               "]: a token of the merge or the merged token is not in the "
                               "vocabulary");
    merges_[pair_key(ia, ib)] = {static_cast<int32_t>(r), ic};
  }
  for (int b = 0; b < 256; ++b) {
    byte_ids_[b] = lookup(std::string(1, static_cast<char>(b)));
    char hex[8];
    std::snprintf(hex, sizeof(hex), "<0x%02X>", b);
    fallback_ids_[b] = lookup(hex);
  }
}

BpeModel BpeModel::from_ranks(std::unordered_map<std::string, int32_t> ranks,
                              const std::string& where) {
  BpeModel m;
  m.vocab_ = std::move(ranks);
  m.options_.byte_level = true;
  m.options_.ignore_merges = true;
  m.cache_key_ = next_cache_key++;
  m.merges_.reserve(m.vocab_.size() * 4);
  for (const auto& [token, rank] : m.vocab_)
    for (size_t k = 1; k < token.size(); ++k) {
      const int32_t a = m.lookup(std::string_view(token).substr(0, k));
      const int32_t b = a < 0 ? -1 : m.lookup(std::string_view(token).substr(k));
      if (b >= 0) m.merges_[pair_key(a, b)] = {rank, rank};
    }
  for (int b = 0; b < 256; ++b) {
    m.byte_ids_[b] = m.lookup(std::string(1, static_cast<char>(b)));
    if (m.byte_ids_[b] < 0)
      throw std::runtime_error(where + ": byte " + std::to_string(b) +
                               " has no rank (a tiktoken file ranks every single byte)");
    m.fallback_ids_[b] = -1;
  }
  return m;
}

int32_t BpeModel::lookup(std::string_view s) const {
  const auto it = vocab_.find(std::string(s));
  return it == vocab_.end() ? -1 : it->second;
}

void BpeModel::encode_piece(std::string_view piece, std::vector<int32_t>* out) const {
  if (piece.size() > kCachedPieceBytes) return merge(piece, out);
  thread_local PieceCache cache;
  if (cache.owner != cache_key_ || cache.ids.size() >= kCacheEntries) {
    cache.ids.clear();
    cache.owner = cache_key_;
  }
  auto [it, added] = cache.ids.try_emplace(std::string(piece));
  if (added) merge(piece, &it->second);
  out->insert(out->end(), it->second.begin(), it->second.end());
}

void BpeModel::merge(std::string_view piece, std::vector<int32_t>* out) const {
  if (options_.ignore_merges) {
    const int32_t id = lookup(piece);
    if (id >= 0) return out->push_back(id);
  }
  // The initial symbols.
  std::vector<int32_t> ids;
  ids.reserve(piece.size());
  bool last_unk = false;
  auto unknown = [&] {
    if (options_.unk < 0) return;  // tokenizers drops what it cannot represent
    if (!(options_.fuse_unk && last_unk)) ids.push_back(options_.unk);
    last_unk = true;
  };
  if (options_.byte_level) {
    for (char c : piece) {
      const int32_t id = byte_ids_[static_cast<uint8_t>(c)];
      if (id >= 0) ids.push_back(id), last_unk = false;
      else unknown();
    }
  } else {
    for (size_t i = 0; i < piece.size();) {
      size_t len = 1;
      while (i + len < piece.size() && (static_cast<uint8_t>(piece[i + len]) & 0xC0) == 0x80) ++len;
      const int32_t id = lookup(piece.substr(i, len));
      if (id >= 0) {
        ids.push_back(id), last_unk = false;
      } else if (options_.byte_fallback &&
                 std::all_of(piece.begin() + i, piece.begin() + i + len,
                             [&](char c) { return fallback_ids_[static_cast<uint8_t>(c)] >= 0; })) {
        for (size_t k = i; k < i + len; ++k)
          ids.push_back(fallback_ids_[static_cast<uint8_t>(piece[k])]);
        last_unk = false;
      } else {
        unknown();
      }
      i += len;
    }
  }
  const auto rank_of = [&](int32_t a, int32_t b) -> const std::pair<int32_t, int32_t>* {
    const auto it = merges_.find(pair_key(a, b));
    return it == merges_.end() ? nullptr : &it->second;
  };
  const size_t n = ids.size();
  if (n < 2) {
    out->insert(out->end(), ids.begin(), ids.end());
    return;
  }
  // Symbols in a linked list; a heap of candidate merges, lowest rank then leftmost first;
  // an entry whose pair has changed since it was queued is skipped (tokenizers' Word::merge_all).
  struct Candidate {
    int32_t rank, pos, id;
    bool operator<(const Candidate& o) const {
      return rank != o.rank ? rank > o.rank : pos > o.pos;
    }
  };
  std::vector<int32_t> prev(n), next(n);
  std::vector<char> alive(n, 1);
  std::vector<Candidate> heap_storage;
  heap_storage.reserve(n);
  std::priority_queue<Candidate> heap(std::less<Candidate>(), std::move(heap_storage));
  for (size_t i = 0; i < n; ++i) {
    prev[i] = static_cast<int32_t>(i) - 1;
    next[i] = i + 1 < n ? static_cast<int32_t>(i + 1) : -1;
    if (i + 1 < n)
      if (const auto* m = rank_of(ids[i], ids[i + 1]))
        heap.push({m->first, static_cast<int32_t>(i), m->second});
  }
  while (!heap.empty()) {
    const Candidate top = heap.top();
    heap.pop();
    if (!alive[top.pos] || next[top.pos] < 0) continue;
    const int32_t right = next[top.pos];
    const auto* m = rank_of(ids[top.pos], ids[right]);
    if (!m || m->second != top.id) continue;  // stale
    ids[top.pos] = top.id;
    alive[right] = 0;
    next[top.pos] = next[right];
    if (next[right] >= 0) prev[next[right]] = top.pos;
    if (prev[top.pos] >= 0)
      if (const auto* p = rank_of(ids[prev[top.pos]], ids[top.pos]))
        heap.push({p->first, prev[top.pos], p->second});
    if (next[top.pos] >= 0)
      if (const auto* q = rank_of(ids[top.pos], ids[next[top.pos]]))
        heap.push({q->first, top.pos, q->second});
  }
  for (int32_t i = 0; i >= 0; i = next[i]) out->push_back(ids[i]);
}

// --- Reserved ids -----------------------------------------------------------------------------

void PretrainedTokenizer::assign_special_ids(
    const std::unordered_map<std::string, int32_t>& specials, const std::string& where,
    const Choices& choices, const BpeModel& model) {
  // A token as the file writes it (specials; a tokenizer.json's vocabulary), else as its text.
  auto find_token = [&](const std::string& token) {
    if (const auto it = specials.find(token); it != specials.end()) return it->second;
    const auto it = model.vocab().find(token);
    return it == model.vocab().end() ? -1 : it->second;
  };
  auto find = [&](std::initializer_list<const char*> names, std::string* found = nullptr) {
    for (const char* name : names) {
      const auto it = specials.find(name);
      if (it != specials.end()) {
        if (found) *found = name;
        return it->second;
      }
    }
    return -1;
  };
  auto given = [&](const std::string& token, const char* option) {
    const int32_t id = find_token(token);
    if (id < 0)
      throw std::runtime_error(where + ": " + option + " \"" + token +
                               "\" is not a token of this file (give a special token or a "
                               "vocabulary entry as the file writes it)");
    return id;
  };
  if (!choices.eos_token.empty()) {
    eos_ = given(choices.eos_token, "--eos-token");
    eos_token_ = choices.eos_token;
  } else {
    eos_ = find({"<|endoftext|>", "<|end_of_text|>", "</s>", "<eos>", "<|eos|>", "[SEP]"},
                &eos_token_);
  }
  if (eos_ < 0)
    throw std::runtime_error(
        where + ": no end-of-text token (<|endoftext|>, <|end_of_text|>, </s> or <eos>) among its "
                "special tokens; crossover separates documents with it (name one with "
                "--eos-token)");
  bos_ = find({"<|begin_of_text|>", "<s>", "<|startoftext|>", "<bos>", "[CLS]"});
  pad_ = find({"<pad>", "<|pad|>", "[PAD]", "<|padding|>"});
  if (unk_ < 0) unk_ = find({"<unk>", "[UNK]", "<|unk|>"});
  // The model's [MASK] is the id after the last predicted one: a mask token of the file serves
  // only when it is the last id.
  if (!choices.mask_token.empty()) {
    const int32_t mask = given(choices.mask_token, "--mask-token");
    if (mask != max_id_)
      throw std::runtime_error(
          where + ": --mask-token \"" + choices.mask_token + "\" has id " + std::to_string(mask) +
          ", but crossover's [MASK] must be the largest id (" + std::to_string(max_id_) +
          " here): the model predicts every id below it. Leave --mask-token out to append "
          "[MASK] as id " +
          std::to_string(max_id_ + 1));
    if (mask == eos_)
      throw std::runtime_error(where + ": --mask-token \"" + choices.mask_token +
                               "\" is the eos token");
    mask_appended_ = false;
    mask_ = mask;
    return;
  }
  const int32_t mask = find({"[MASK]", "<mask>", "<|mask|>"});
  mask_appended_ = mask < 0 || mask != max_id_;
  mask_ = mask_appended_ ? max_id_ + 1 : mask;
}

}  // namespace crossover::bpe
