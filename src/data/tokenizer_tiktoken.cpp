// tiktoken ranks files (`base64(token) rank` per line), encoded as tiktoken's encode_ordinary
// (special-token strings are plain text), and the loader that tells the formats apart.
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "crossover/data/tokenizer_bpe.h"

namespace crossover::bpe {

std::unique_ptr<PretrainedTokenizer> load_hf_tokenizer(const std::string& path,
                                                       const PretrainedTokenizer::Choices& c);

namespace {

namespace fs = std::filesystem;

// The encodings of tiktoken_ext/openai_public.py (tiktoken 0.14.0): regex and special tokens.
struct Encoding {
  const char* name;
  const char* pattern;
  std::vector<std::pair<const char*, int32_t>> specials;
};

constexpr const char* kR50kPattern =
    R"('(?:[sdmt]|ll|ve|re)| ?\p{L}++| ?\p{N}++| ?[^\s\p{L}\p{N}]++|\s++$|\s+(?!\S)|\s)";
constexpr const char* kCl100kPattern =
    R"('(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s)";
constexpr const char* kO200kPattern =
    R"([^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

const std::vector<Encoding>& encodings() {
  static const std::vector<Encoding> all = {
      {"gpt2", kR50kPattern, {{"<|endoftext|>", 50256}}},
      {"r50k_base", kR50kPattern, {{"<|endoftext|>", 50256}}},
      {"p50k_base", kR50kPattern, {{"<|endoftext|>", 50256}}},
      {"cl100k_base",
       kCl100kPattern,
       {{"<|endoftext|>", 100257},
        {"<|fim_prefix|>", 100258},
        {"<|fim_middle|>", 100259},
        {"<|fim_suffix|>", 100260},
        {"<|endofprompt|>", 100276}}},
      {"o200k_base", kO200kPattern, {{"<|endoftext|>", 199999}, {"<|endofprompt|>", 200018}}},
  };
  return all;
}

int base64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

bool base64_decode(std::string_view in, std::string* out) {
  out->clear();
  uint32_t acc = 0;
  int bits = 0;
  size_t i = 0;
  for (; i < in.size() && in[i] != '='; ++i) {
    const int v = base64_value(in[i]);
    if (v < 0) return false;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out->push_back(static_cast<char>((acc >> bits) & 0xFF));
    }
  }
  for (; i < in.size(); ++i)
    if (in[i] != '=') return false;
  return !out->empty();
}

class TiktokenTokenizer final : public PretrainedTokenizer {
 public:
  // Special-token strings are always text here (encode_ordinary), so choices.split_special_tokens
  // changes nothing.
  TiktokenTokenizer(const std::string& path, const Choices& choices) {
    std::string pattern;
    std::unordered_map<std::string, int32_t> specials;
    const std::string sidecar = path + ".json";
    if (fs::exists(sidecar)) {
      std::ifstream in(sidecar);
      const auto j = nlohmann::json::parse(in, nullptr, false);
      if (j.is_discarded() || !j.contains("pat_str") || !j["pat_str"].is_string() ||
          !j.contains("special_tokens") || !j["special_tokens"].is_object())
        throw std::runtime_error(sidecar + ": expected {\"pat_str\": REGEX, \"special_tokens\": "
                                           "{TOKEN: ID, ...}}");
      pattern = j["pat_str"].get<std::string>();
      for (const auto& [k, v] : j["special_tokens"].items()) specials[k] = v.get<int32_t>();
      encoding_ = j.value("name", fs::path(path).stem().string());
    } else {
      encoding_ = fs::path(path).stem().string();
      for (const Encoding& e : encodings())
        if (encoding_ == e.name) {
          pattern = e.pattern;
          for (const auto& [k, v] : e.specials) specials[k] = v;
        }
      if (pattern.empty())
        throw std::runtime_error(path + ": unknown tiktoken encoding \"" + encoding_ +
                                 "\": name the file after its encoding (cl100k_base.tiktoken, "
                                 "o200k_base.tiktoken, r50k_base.tiktoken, p50k_base.tiktoken, "
                                 "gpt2.tiktoken) or write " +
                                 sidecar + " with pat_str and special_tokens");
    }
    std::ifstream in(path);
    if (!in) throw std::runtime_error(path + ": cannot read");
    std::unordered_map<std::string, int32_t> ranks;
    std::string line, bytes;
    for (int64_t n = 1; std::getline(in, line); ++n) {
      if (line.empty()) continue;
      const size_t space = line.find(' ');
      char* end = nullptr;
      const long rank = space == std::string::npos
                            ? -1
                            : std::strtol(line.c_str() + space + 1, &end, 10);
      if (rank < 0 || !end || *end != '\0' ||
          !base64_decode(std::string_view(line).substr(0, space), &bytes))
        throw std::runtime_error(path + ":" + std::to_string(n) +
                                 ": expected `BASE64 RANK` (a tiktoken ranks file)");
      ranks[bytes] = static_cast<int32_t>(rank);
      max_id_ = std::max(max_id_, static_cast<int32_t>(rank));
    }
    id_bytes_.resize(static_cast<size_t>(max_id_) + 1);
    for (const auto& [b, r] : ranks) id_bytes_[r] = b;
    for (const auto& [s, id] : specials) {
      max_id_ = std::max(max_id_, id);
      if (static_cast<size_t>(id) >= id_bytes_.size()) id_bytes_.resize(id + 1);
      id_bytes_[id] = s;
    }
    id_bytes_.resize(static_cast<size_t>(max_id_) + 1);
    model_ = std::make_unique<BpeModel>(BpeModel::from_ranks(std::move(ranks), path));
    regex_ = std::make_unique<Regex>(pattern, true, path);
    nlohmann::ordered_json side;
    side["name"] = encoding_;
    side["pat_str"] = pattern;
    side["special_tokens"] = nlohmann::ordered_json::object();
    for (const auto& [s, id] : specials) side["special_tokens"][s] = id;
    sidecar_ = side.dump(2) + "\n";
    assign_special_ids(specials, path, choices, *model_);
  }

  std::string kind() const override { return "tiktoken"; }
  std::string sidecar_json() const override { return sidecar_; }
  std::string token_bytes(int32_t id) const override {
    return id >= 0 && id <= max_id_ ? id_bytes_[id] : "";
  }
  void encode(std::string_view text, std::vector<int32_t>* out) const override {
    std::string repaired;
    if (!valid_utf8(text)) repaired = repair_utf8(text), text = repaired;
    regex_->for_each_match(
        text, [&](size_t b, size_t e) { model_->encode_piece(text.substr(b, e - b), out); });
  }

 private:
  std::string encoding_, sidecar_;
  std::unique_ptr<BpeModel> model_;
  std::unique_ptr<Regex> regex_;
  std::vector<std::string> id_bytes_;
};

}  // namespace

std::unique_ptr<PretrainedTokenizer> PretrainedTokenizer::load(const std::string& path,
                                                               const Choices& choices) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error(path + ": cannot read the tokenizer");
  char c = 0;
  while (in.get(c) && std::isspace(static_cast<unsigned char>(c))) {
  }
  if (c == '{') return load_hf_tokenizer(path, choices);
  return std::make_unique<TiktokenTokenizer>(path, choices);
}

}  // namespace crossover::bpe
