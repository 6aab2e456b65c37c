#include "crossover/eval/cloze.h"

#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>
#include <algorithm>
#include <filesystem>
#include <queue>
#include <stdexcept>
#include <tuple>

#include "crossover/data/data_dir.h"
#include "crossover/data/token_store.h"
#include "crossover/data/tokenizer.h"
#include "crossover/util/random.h"

namespace crossover {

namespace fs = std::filesystem;

namespace {

// Which token ids open a word: SentencePiece marks the space before a word with "▁". A
// tokenizer without such pieces (no whitespace in its language) allows every position.
std::vector<char> word_starts(const Tokenizer& tokenizer) {
  std::vector<char> ws(tokenizer.vocab_size(), 0);
  bool any = false;
  for (int id = 0; id < tokenizer.vocab_size(); ++id) {
    ws[id] = tokenizer.piece(id).rfind("\xE2\x96\x81", 0) == 0;
    any |= ws[id] != 0;
  }
  if (!any) std::fill(ws.begin(), ws.end(), 1);
  return ws;
}

std::string decode_span(const Tokenizer& tokenizer, const std::vector<int32_t>& doc,
                        const TokenSpan& s) {
  return tokenizer.decode(
      std::vector<int32_t>(doc.begin() + s.offset, doc.begin() + s.offset + s.length));
}

}  // namespace

std::vector<ClozeExample> make_cloze(const ClozeOptions& o) {
  if (o.n < 1 || o.ctx_tokens < 1 || o.ending_tokens < 1 || o.options < 2)
    throw std::invalid_argument(
        "make-cloze: need n >= 1, ctx_tokens >= 1, ending_tokens >= 1, options >= 2");
  const DataDir data{o.data_dir};
  const TokenStore val = TokenStore::open(data.val());
  const Tokenizer tokenizer = Tokenizer::load(data.tokenizer());
  const auto ws = word_starts(tokenizer);
  const uint64_t C = o.ctx_tokens, E = o.ending_tokens, D = val.num_docs();
  if (D < 2)
    throw std::runtime_error(val.path() + ": make-cloze needs at least 2 validation documents");

  // True examples: non-overlapping (context, ending) tiles of every document, the ending at a
  // word start. The n with the smallest keyed priorities are kept (a seeded uniform sample
  // without replacement in O(n) memory, whatever the size of the validation set).
  using Candidate = std::tuple<uint64_t, uint64_t, uint64_t>;  // priority, doc, ending offset
  std::priority_queue<Candidate> kept;
  uint64_t candidates = 0;
  for (uint64_t d = 0; d < D; ++d) {
    if (val.doc_length(d) < C + E) continue;
    const auto doc = val.document(d);
    for (uint64_t p = C; p + E <= doc.size();) {
      if (!ws[doc[p]]) {
        ++p;
        continue;
      }
      ++candidates;
      kept.emplace(mix64(hash_combine(hash_combine(o.seed, d), p)), d, p);
      if (static_cast<int64_t>(kept.size()) > o.n) kept.pop();
      p += E + C;  // the next context starts after this ending
    }
  }
  if (kept.empty())
    throw std::runtime_error(val.path() + ": no validation document has " + std::to_string(C + E) +
                             " tokens for a context and an ending");
  if (static_cast<int64_t>(kept.size()) < o.n)
    spdlog::warn("make-cloze: only {} examples fit in the validation set ({} requested)",
                 kept.size(), o.n);
  std::vector<Candidate> chosen;
  for (; !kept.empty(); kept.pop()) chosen.push_back(kept.top());
  std::sort(chosen.begin(), chosen.end());
  spdlog::info("make-cloze: {} of {} candidate spans in {} validation documents", chosen.size(),
               candidates, D);

  std::vector<ClozeExample> out;
  for (size_t i = 0; i < chosen.size(); ++i) {
    const auto [priority, d, p] = chosen[i];
    const auto doc = val.document(d);
    SplitMix64 rng(hash_combine(o.seed, priority));
    ClozeExample ex;
    ex.context = {d, p - C, C};
    ex.ctx = decode_span(tokenizer, doc, ex.context);
    const TokenSpan truth{d, p, E};
    const std::string true_text = decode_span(tokenizer, doc, truth);
    std::vector<std::string> wrong;
    std::vector<TokenSpan> wrong_spans;
    // Wrong endings: a random other document, a random word start in it; distinct texts.
    for (int attempt = 0; static_cast<int64_t>(wrong.size()) < o.options - 1; ++attempt) {
      if (attempt > 1000)
        throw std::runtime_error(val.path() + ": cannot find " + std::to_string(o.options - 1) +
                                 " distinct wrong endings of " + std::to_string(E) +
                                 " tokens in other validation documents");
      const uint64_t od = rng.below(D);
      if (od == d || val.doc_length(od) < E) continue;
      const auto other = val.document(od);
      uint64_t q = rng.below(other.size() - E + 1);
      while (q + E <= other.size() && !ws[other[q]]) ++q;
      if (q + E > other.size()) continue;
      const TokenSpan span{od, q, E};
      const std::string text = decode_span(tokenizer, other, span);
      if (text == true_text || std::find(wrong.begin(), wrong.end(), text) != wrong.end()) continue;
      wrong.push_back(text);
      wrong_spans.push_back(span);
    }
    ex.label = static_cast<int64_t>(rng.below(static_cast<uint64_t>(o.options)));
    for (int64_t j = 0, w = 0; j < o.options; ++j) {
      ex.endings.push_back(j == ex.label ? true_text : wrong[w]);
      ex.ending_spans.push_back(j == ex.label ? truth : wrong_spans[w]);
      if (j != ex.label) ++w;
    }
    out.push_back(std::move(ex));
  }
  return out;
}

std::string cloze_jsonl(const std::vector<ClozeExample>& examples) {
  std::string s;
  for (const auto& e : examples) {
    const nlohmann::json j = {{"ctx", e.ctx}, {"endings", e.endings}, {"label", e.label}};
    // Spans cut inside a multi-byte character decode to invalid UTF-8: replace, never throw.
    s += j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  }
  return s;
}

}  // namespace crossover
