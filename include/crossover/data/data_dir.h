// A prepared data directory (`crossover prepare --out DIR`), its file names in one place:
//   DIR/tokenizer.model   SentencePiece model (the vocabulary; [MASK] is id vocab_size), or
//   DIR/tokenizer.json    a pretrained Hugging Face tokenizer, or
//   DIR/tokenizer.tiktoken  a tiktoken ranks file, with tokenizer.tiktoken.json (its encoding)
//   DIR/meta.json         what was prepared: vocab_size, special ids, documents, provenance
//   DIR/train.bin, val.bin  token stores (data/token_store.h)
// A run directory keeps a copy of tokenizer.model and meta.json in RUN_DIR/data/
// (checkpoint/run_dir.h), so it loads without the data directory.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace crossover {

struct DataDir {
  static constexpr const char* kTokenizer = "tokenizer.model";
  static constexpr const char* kMeta = "meta.json";
  static constexpr const char* kTrain = "train.bin";
  static constexpr const char* kVal = "val.bin";

  std::string root;

  // The tokenizer file that exists (tokenizer.model when none does).
  std::string tokenizer() const;
  // It and the files it needs beside it.
  std::vector<std::string> tokenizer_files() const;
  std::string meta() const { return root + "/" + kMeta; }
  std::string train() const { return root + "/" + kTrain; }
  std::string val() const { return root + "/" + kVal; }
};

// meta.json, with the fields the rest of crossover reads typed.
struct DataMeta {
  int64_t vocab_size = 0;  // SentencePiece pieces; the model adds [MASK] as id vocab_size
  int32_t eos_id = -1;     // between documents in the token stream
  nlohmann::json json;     // the whole file

  // Reads DIR/meta.json; errors name the file and the missing or out-of-range key.
  static DataMeta read(const std::string& data_dir);
  // The same from the file's text; `where` names it in errors.
  static DataMeta parse(const std::string& text, const std::string& where);
};

}  // namespace crossover
