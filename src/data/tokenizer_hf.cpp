// A Hugging Face tokenizer.json with a BPE model, encoded as `tokenizers` encodes it (without
// the post-processor): see tokenizer_bpe.h for the pipeline.
#include <utf8proc.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "crossover/data/tokenizer_bpe.h"

namespace crossover::bpe {

namespace {

using nlohmann::json;

// tokenizers' ByteLevel pre-tokenizer regex (pre_tokenizers/byte_level.rs).
constexpr const char* kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

struct NormStep {
  enum Kind { kUnicode, kPrepend, kReplaceString, kReplaceRegex } kind = kUnicode;
  int utf8proc_options = 0;
  std::string text, content;
  std::shared_ptr<Regex> regex;
};

struct PreStep {
  enum Kind { kSplit, kByteLevel, kMetaspace } kind = kSplit;
  std::shared_ptr<Regex> regex;  // Split's, or ByteLevel's when use_regex
  bool remove_matches = false;   // Split behavior Removed (else Isolated)
  bool add_prefix_space = false;
  // Metaspace (SentencePiece-style, as Llama-2 and Mistral files write it): spaces become
  // `replacement`, which is prepended always, to the text's first piece only, or never; with
  // split, each replacement starts a new piece.
  enum Prepend { kAlways, kFirst, kNever } prepend = kAlways;
  std::string replacement;
  bool split = true;
};

std::string where_key(const std::string& path, const std::string& key) { return path + ": " + key; }

const json& need(const json& j, const char* key, const std::string& where) {
  if (!j.is_object() || !j.contains(key))
    throw std::runtime_error(where + ": missing \"" + key + "\"");
  return j.at(key);
}

std::string pattern_of(const json& p, const std::string& where) {
  if (p.contains("Regex")) return p.at("Regex").get<std::string>();
  if (p.contains("String")) return "\\Q" + p.at("String").get<std::string>() + "\\E";
  throw std::runtime_error(where + ": expected {\"Regex\": ...} or {\"String\": ...}");
}

void parse_normalizer(const json& n, const std::string& where, std::vector<NormStep>* steps) {
  if (n.is_null()) return;
  const std::string type = need(n, "type", where).get<std::string>();
  if (type == "Sequence") {
    for (const auto& s : need(n, "normalizers", where)) parse_normalizer(s, where, steps);
  } else if (type == "NFC" || type == "NFKC" || type == "NFD" || type == "NFKD") {
    NormStep s;
    s.kind = NormStep::kUnicode;
    s.utf8proc_options = UTF8PROC_STABLE | (type[1] == 'K' ? UTF8PROC_COMPAT : 0) |
                         (type.back() == 'C' ? UTF8PROC_COMPOSE : UTF8PROC_DECOMPOSE);
    steps->push_back(std::move(s));
  } else if (type == "Prepend") {
    NormStep s;
    s.kind = NormStep::kPrepend;
    s.text = need(n, "prepend", where).get<std::string>();
    steps->push_back(std::move(s));
  } else if (type == "Replace") {
    const json& p = need(n, "pattern", where);
    NormStep s;
    s.kind = p.contains("String") ? NormStep::kReplaceString : NormStep::kReplaceRegex;
    if (s.kind == NormStep::kReplaceString) s.text = p.at("String").get<std::string>();
    else s.regex = std::make_shared<Regex>(pattern_of(p, where), false, where);
    s.content = need(n, "content", where).get<std::string>();
    steps->push_back(std::move(s));
  } else {
    throw std::runtime_error(where + ": normalizer type " + type +
                             " is not supported (NFC, NFKC, NFD, NFKD, Prepend, Replace, "
                             "Sequence are)");
  }
}

void parse_pre_tokenizer(const json& p, const std::string& where, std::vector<PreStep>* steps,
                         bool* byte_level) {
  if (p.is_null()) return;
  const std::string type = need(p, "type", where).get<std::string>();
  if (type == "Sequence") {
    for (const auto& s : need(p, "pretokenizers", where))
      parse_pre_tokenizer(s, where, steps, byte_level);
  } else if (type == "ByteLevel") {
    PreStep s;
    s.kind = PreStep::kByteLevel;
    s.add_prefix_space = p.value("add_prefix_space", true);
    if (p.value("use_regex", true)) s.regex = std::make_shared<Regex>(kGpt2Pattern, false, where);
    *byte_level = true;
    steps->push_back(std::move(s));
  } else if (type == "Metaspace") {
    PreStep s;
    s.kind = PreStep::kMetaspace;
    s.replacement = p.value("replacement", std::string("\xE2\x96\x81"));
    if (s.replacement.empty()) throw std::runtime_error(where + ": Metaspace replacement is empty");
    s.split = p.value("split", true);
    if (p.contains("prepend_scheme")) {
      const std::string scheme = p.at("prepend_scheme").get<std::string>();
      if (scheme == "always") s.prepend = PreStep::kAlways;
      else if (scheme == "first") s.prepend = PreStep::kFirst;
      else if (scheme == "never") s.prepend = PreStep::kNever;
      else
        throw std::runtime_error(where + ": Metaspace prepend_scheme " + scheme +
                                 " is not one of always, first, never");
    } else {  // files written before prepend_scheme existed
      s.prepend = p.value("add_prefix_space", true) ? PreStep::kAlways : PreStep::kNever;
    }
    steps->push_back(std::move(s));
  } else if (type == "Split") {
    PreStep s;
    s.kind = PreStep::kSplit;
    const std::string behavior = need(p, "behavior", where).get<std::string>();
    if (behavior != "Isolated" && behavior != "Removed")
      throw std::runtime_error(where + ": Split behavior " + behavior +
                               " is not supported (Isolated, Removed are)");
    if (p.value("invert", false))
      throw std::runtime_error(where + ": Split with invert: true is not supported");
    s.remove_matches = behavior == "Removed";
    s.regex = std::make_shared<Regex>(pattern_of(need(p, "pattern", where), where), false, where);
    steps->push_back(std::move(s));
  } else {
    throw std::runtime_error(where + ": pre_tokenizer type " + type +
                             " is not supported (ByteLevel, Metaspace, Split, Sequence are)");
  }
}

std::string normalize(const std::vector<NormStep>& steps, std::string_view in) {
  std::string s(in);
  for (const NormStep& n : steps) {
    switch (n.kind) {
      case NormStep::kUnicode: {
        if (is_ascii(s)) break;  // ASCII is in every normal form
        utf8proc_uint8_t* dst = nullptr;
        const auto len = utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(s.data()),
                                      static_cast<utf8proc_ssize_t>(s.size()), &dst,
                                      static_cast<utf8proc_option_t>(n.utf8proc_options));
        if (len < 0) throw std::runtime_error(std::string("normalizer: ") + utf8proc_errmsg(len));
        s.assign(reinterpret_cast<char*>(dst), static_cast<size_t>(len));
        std::free(dst);
        break;
      }
      case NormStep::kPrepend:
        if (!s.empty()) s = n.text + s;
        break;
      case NormStep::kReplaceString: {
        if (n.text.empty()) break;
        std::string r;
        size_t at = 0;
        for (size_t f; (f = s.find(n.text, at)) != std::string::npos; at = f + n.text.size())
          r.append(s, at, f - at).append(n.content);
        r.append(s, at);
        s = std::move(r);
        break;
      }
      case NormStep::kReplaceRegex: {
        std::string r;
        size_t at = 0;
        n.regex->for_each_match(s, [&](size_t b, size_t e) {
          r.append(s, at, b - at).append(n.content);
          at = e;
        });
        r.append(s, at);
        s = std::move(r);
        break;
      }
    }
  }
  return s;
}

class HfTokenizer final : public PretrainedTokenizer {
 public:
  HfTokenizer(const std::string& path, const Choices& choices) {
    std::ifstream in(path);
    if (!in) throw std::runtime_error(path + ": cannot read");
    const json j = json::parse(in, nullptr, false);
    if (j.is_discarded() || !j.is_object()) throw std::runtime_error(path + ": malformed JSON");
    const json& model = need(j, "model", path);
    const std::string type = model.value("type", "BPE");
    if (type != "BPE")
      throw std::runtime_error(path + ": model.type " + type +
                               " is not supported (crossover reads BPE tokenizer.json files; "
                               "use a SentencePiece .model for unigram)");
    if (model.value("dropout", json()).is_number())
      throw std::runtime_error(path + ": model.dropout: BPE dropout is not supported");
    for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"})
      if (model.contains(key) && model[key].is_string() && !model[key].get<std::string>().empty())
        throw std::runtime_error(path + ": model." + key + " is not supported");

    parse_normalizer(j.value("normalizer", json()), where_key(path, "normalizer"), &normalizer_);
    parse_pre_tokenizer(j.value("pre_tokenizer", json()), where_key(path, "pre_tokenizer"), &pre_,
                        &byte_level_);

    // The vocabulary in bytes (byte-level vocabularies are written in GPT-2's alphabet).
    std::unordered_map<std::string, int32_t> vocab;
    std::unordered_map<std::string, int32_t> names;  // as written, for the reserved ids
    std::string bytes;
    for (const auto& [token, id_json] : need(model, "vocab", path).items()) {
      const int32_t id = id_json.get<int32_t>();
      if (id < 0) throw std::runtime_error(path + ": model.vocab[" + token + "]: negative id");
      names[token] = id;
      max_id_ = std::max(max_id_, id);
      if (byte_level_) {
        if (!byte_level_decode(token, &bytes)) continue;  // reachable as an added token only
        vocab[bytes] = id;
      } else {
        vocab[token] = id;
      }
    }
    std::vector<std::pair<std::string, std::string>> merges;
    for (const auto& m : need(model, "merges", path)) {
      std::string a, b;
      if (m.is_string()) {
        const std::string s = m.get<std::string>();
        const size_t space = s.find(' ');
        if (space == std::string::npos || s.find(' ', space + 1) != std::string::npos)
          throw std::runtime_error(path + ": model.merges: \"" + s + "\" is not \"a b\"");
        a = s.substr(0, space), b = s.substr(space + 1);
      } else if (m.is_array() && m.size() == 2) {
        a = m[0].get<std::string>(), b = m[1].get<std::string>();
      } else {
        throw std::runtime_error(path + ": model.merges: expected \"a b\" or [a, b]");
      }
      if (byte_level_) {
        std::string ra, rb;
        if (!byte_level_decode(a, &ra) || !byte_level_decode(b, &rb))
          throw std::runtime_error(path + ": model.merges: \"" + a + " " + b +
                                   "\" is not in the byte-level alphabet");
        a = std::move(ra), b = std::move(rb);
      }
      merges.emplace_back(std::move(a), std::move(b));
    }
    BpeModel::Options o;
    o.byte_level = byte_level_;
    o.ignore_merges = model.value("ignore_merges", false);
    o.byte_fallback = model.value("byte_fallback", false);
    o.fuse_unk = model.value("fuse_unk", false);
    if (model.contains("unk_token") && model["unk_token"].is_string()) {
      const auto it = names.find(model["unk_token"].get<std::string>());
      if (it != names.end()) o.unk = unk_ = it->second;
    }

    // Added tokens: their ids and text; matched in the raw or the normalised text.
    std::vector<AddedToken> raw, normalized;
    for (const auto& t : j.value("added_tokens", json::array())) {
      AddedToken a;
      a.id = need(t, "id", path + ": added_tokens").get<int32_t>();
      a.content = need(t, "content", path + ": added_tokens").get<std::string>();
      a.special = t.value("special", false);
      a.normalized = t.value("normalized", !a.special);
      a.lstrip = t.value("lstrip", false);
      a.rstrip = t.value("rstrip", false);
      a.single_word = t.value("single_word", false);
      max_id_ = std::max(max_id_, a.id);
      names[a.content] = a.id;
      added_content_[a.id] = a.content;
      if (a.normalized) {
        a.content = normalize(normalizer_, a.content);
        normalized.push_back(std::move(a));
      } else {
        raw.push_back(std::move(a));
      }
    }
    raw_ = std::make_unique<AddedTokenMatcher>(std::move(raw), choices.split_special_tokens);
    normalized_ = std::make_unique<AddedTokenMatcher>(std::move(normalized),
                                                      choices.split_special_tokens);
    id_bytes_.assign(static_cast<size_t>(max_id_) + 1, "");
    for (const auto& [b, id] : vocab) id_bytes_[id] = b;
    for (const auto& [token, id] : names)
      if (id_bytes_[id].empty()) id_bytes_[id] = token;
    for (const auto& [id, content] : added_content_) id_bytes_[id] = content;
    model_ = std::make_unique<BpeModel>(std::move(vocab), merges, o, path);
    assign_special_ids(names, path, choices, *model_);
  }

  std::string kind() const override { return "huggingface"; }

  std::string token_bytes(int32_t id) const override {
    if (id < 0 || id > max_id_) return "";
    if (byte_level_ || added_content_.count(id)) return id_bytes_[id];
    // SentencePiece-style vocabularies: <0xXX> is a byte, U+2581 a space.
    const std::string& p = id_bytes_[id];
    if (p.size() == 6 && p.compare(0, 3, "<0x") == 0 && p[5] == '>')
      return std::string(1, static_cast<char>(std::strtol(p.substr(3, 2).c_str(), nullptr, 16)));
    std::string out;
    for (size_t i = 0; i < p.size(); ++i) {
      if (p.compare(i, 3, "\xE2\x96\x81") == 0) out += ' ', i += 2;
      else out += p[i];
    }
    return out;
  }

  void encode(std::string_view text, std::vector<int32_t>* out) const override {
    std::string repaired;
    if (!valid_utf8(text)) repaired = repair_utf8(text), text = repaired;
    for (const Segment& s : raw_->split(text)) {
      if (s.id >= 0) {
        out->push_back(s.id);
        continue;
      }
      const std::string norm = normalize(normalizer_, text.substr(s.begin, s.end - s.begin));
      for (const Segment& t : normalized_->split(norm)) {
        if (t.id >= 0) out->push_back(t.id);
        else if (t.end > t.begin)
          pre_tokenize(0, std::string_view(norm).substr(t.begin, t.end - t.begin),
                       s.begin == 0 && t.begin == 0, out);
      }
    }
  }

 private:
  // Applies pre-tokenizer steps [step, end) to `piece`, then the model to what they leave.
  // at_start: the piece begins the text (no added token or earlier piece before it).
  void pre_tokenize(size_t step, std::string_view piece, bool at_start,
                    std::vector<int32_t>* out) const {
    if (piece.empty()) return;
    if (step == pre_.size()) return model_->encode_piece(piece, out);
    const PreStep& p = pre_[step];
    if (p.kind == PreStep::kMetaspace) return metaspace(step, p, piece, at_start, out);
    std::string prefixed;
    if (p.kind == PreStep::kByteLevel && p.add_prefix_space && piece[0] != ' ') {
      prefixed = " " + std::string(piece);
      piece = prefixed;
    }
    if (!p.regex) return pre_tokenize(step + 1, piece, at_start, out);
    size_t at = 0;
    p.regex->for_each_match(piece, [&](size_t b, size_t e) {
      if (b > at) pre_tokenize(step + 1, piece.substr(at, b - at), at_start && at == 0, out);
      if (!p.remove_matches)
        pre_tokenize(step + 1, piece.substr(b, e - b), at_start && b == 0, out);
      at = e;
    });
    if (at < piece.size()) pre_tokenize(step + 1, piece.substr(at), at_start && at == 0, out);
  }

  // tokenizers' Metaspace: ' ' -> replacement, the prepend scheme, then (split) a cut before
  // every replacement but a leading one (SplitDelimiterBehavior::MergedWithNext).
  void metaspace(size_t step, const PreStep& p, std::string_view piece, bool at_start,
                 std::vector<int32_t>* out) const {
    const std::string& rep = p.replacement;
    std::string s;
    s.reserve(piece.size() + rep.size());
    for (char c : piece) {
      if (c == ' ') s.append(rep);
      else s.push_back(c);
    }
    const bool prepend = p.prepend == PreStep::kAlways ||
                         (p.prepend == PreStep::kFirst && at_start);
    if (prepend && s.compare(0, rep.size(), rep) != 0) s.insert(0, rep);
    if (!p.split) return pre_tokenize(step + 1, s, at_start, out);
    const std::string_view v(s);
    size_t at = 0;
    for (size_t f = v.find(rep, 1); f != std::string_view::npos; f = v.find(rep, f + rep.size())) {
      pre_tokenize(step + 1, v.substr(at, f - at), at_start && at == 0, out);
      at = f;
    }
    pre_tokenize(step + 1, v.substr(at), at_start && at == 0, out);
  }

  std::vector<NormStep> normalizer_;
  std::vector<PreStep> pre_;
  bool byte_level_ = false;
  std::unique_ptr<AddedTokenMatcher> raw_, normalized_;
  std::unique_ptr<BpeModel> model_;
  std::vector<std::string> id_bytes_;
  std::unordered_map<int32_t, std::string> added_content_;
};

}  // namespace

std::unique_ptr<PretrainedTokenizer> load_hf_tokenizer(const std::string& path,
                                                       const PretrainedTokenizer::Choices& c) {
  return std::make_unique<HfTokenizer>(path, c);
}

}  // namespace crossover::bpe
