// Tokenizer: a SentencePiece model (BPE or unigram, byte fallback), a Hugging Face
// tokenizer.json (BPE) or a tiktoken ranks file (tokenizer_bpe.h), plus crossover's reserved
// ids. pad, unk, bos and eos are pieces of the vocabulary (-1 when it has none; eos is
// required); [MASK] is the id just past the vocabulary (vocab_size()), so the model's embedding
// has one extra row for it and the LM head never predicts it. A pretrained vocabulary without a
// mask token gets one appended (id = its largest id + 1); a mask token of the file serves only
// when it is the file's last id.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace crossover {

namespace spm {
class Model;
}
namespace bpe {
class PretrainedTokenizer;
}

// Choices for a pretrained tokenizer (tokenizer.json, tiktoken) that the file does not make;
// a prepared directory keeps them beside its copy of the file as tokenizer_options.json, so
// that every later load encodes and names the reserved ids as prepare did.
struct TokenizerOptions {
  std::string eos_token;              // this token is eos (else one of the usual names)
  std::string mask_token;             // this token is [MASK]; it must be the file's largest id
  bool split_special_tokens = false;  // special-token strings in text are plain text
  bool empty() const { return eos_token.empty() && mask_token.empty() && !split_special_tokens; }
  bool operator==(const TokenizerOptions&) const = default;
};
inline constexpr const char* kTokenizerOptionsFile = "tokenizer_options.json";
// The options as tokenizer_options.json and meta.json write them (Tokenizer::read_options reads
// them back).
nlohmann::json options_json(const TokenizerOptions& options);

struct SpecialIds {
  int32_t pad = 0, unk = 1, bos = 2, eos = 3;
  int32_t mask = -1;  // == vocab size
};

class Tokenizer {
 public:
  struct TrainOptions {
    std::string model_prefix;  // writes <prefix>.model and <prefix>.vocab
    int vocab_size = 8192;
    std::string model_type = "bpe";     // bpe | unigram
    int threads = 0;                    // 0 = all cores
    int64_t max_sentences = 2'000'000;  // SentencePiece samples at most this many sentences
    uint64_t seed = 0;
  };
  // Trains on the sentences `next` yields (it returns false when exhausted).
  static void train(const TrainOptions& options,
                    const std::function<bool(std::string*)>& next_sentence);
  // Loads a SentencePiece .model, a tokenizer.json or a tiktoken file (told apart by their
  // content), with the options of tokenizer_options.json beside it when there is one; the
  // error names the file.
  static Tokenizer load(const std::string& model_path);
  // Loads with these options (a SentencePiece model takes none: refused, naming the file).
  static Tokenizer load(const std::string& model_path, const TokenizerOptions& options);
  // The options of tokenizer_options.json in directory `dir` (empty when there is none).
  static TokenizerOptions read_options(const std::string& dir);

  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;
  ~Tokenizer();

  std::vector<int32_t> encode(const std::string& text) const;
  // [MASK] ids decode as the text "[MASK]".
  std::string decode(const std::vector<int32_t>& ids) const;
  int vocab_size() const;  // ids below [MASK] (pieces of the vocabulary)
  const SpecialIds& special() const { return special_; }
  const std::string& path() const { return path_; }
  std::string piece(int32_t id) const;
  // "sentencepiece", "huggingface" or "tiktoken".
  std::string kind() const;
  // Whether [MASK] is an id crossover added past the file's vocabulary.
  bool mask_appended() const;
  // The text of an id's token, raw bytes (pretrained tokenizers; SentencePiece: piece()).
  std::string token_bytes(int32_t id) const;
  // A tiktoken file's encoding as JSON (name, pat_str, special_tokens: what a prepared
  // directory keeps beside the file); empty for the other kinds.
  std::string tiktoken_encoding() const;
  // The file name a prepared directory gives this tokenizer: tokenizer.model, tokenizer.json
  // or tokenizer.tiktoken.
  static std::string data_file_name(const std::string& path);
  // Copies the tokenizer file `given` into directory `dir` under data_file_name() (a tiktoken
  // file with its encoding beside it as tokenizer.tiktoken.json, and non-empty `options` as
  // tokenizer_options.json), removing another format's file left there; returns the copy's
  // path.
  static std::string install(const std::string& given, const std::string& dir,
                             const TokenizerOptions& options = {});
  const TokenizerOptions& options() const { return options_; }

 private:
  Tokenizer() = default;
  std::unique_ptr<spm::Model> model_;
  std::unique_ptr<bpe::PretrainedTokenizer> pretrained_;
  SpecialIds special_;
  std::string path_;
  TokenizerOptions options_;
};

// Path of libcrossover_spm.so: $CROSSOVER_SPM_PLUGIN, else next to the running executable,
// else the build directory.
std::string spm_plugin_path();

}  // namespace crossover
