// The boundary between crossover and SentencePiece. Debian's libsentencepiece carries its own
// copy of protobuf whose exported symbols collide with the libprotobuf LibTorch loads (the
// process crashes in a static initialiser). So SentencePiece lives in a plugin,
// libcrossover_spm.so, loaded with dlopen(RTLD_LOCAL | RTLD_DEEPBIND): its protobuf stays
// private. Only this header's types cross the boundary: a pure-virtual class and C entry points.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace crossover::spm {

class Model {
 public:
  virtual ~Model() = default;
  // Returns false and sets *error on failure.
  virtual bool encode(const std::string& text, std::vector<int32_t>* ids,
                      std::string* error) const = 0;
  virtual bool decode(const std::vector<int32_t>& ids, std::string* text,
                      std::string* error) const = 0;
  virtual int vocab_size() const = 0;
  virtual int pad_id() const = 0;
  virtual int unk_id() const = 0;
  virtual int bos_id() const = 0;
  virtual int eos_id() const = 0;
  virtual std::string piece(int id) const = 0;
};

// Training sentences come from the caller through this callback: it returns false when there
// are no more; otherwise it sets *sentence.
using NextSentence = bool (*)(void* context, std::string* sentence);

}  // namespace crossover::spm

extern "C" {
// Loads a .model file; nullptr with *error set on failure.
crossover::spm::Model* crossover_spm_load(const char* path, std::string* error);
// Trains a model with SentencePiece's flag string (--model_prefix=..., --vocab_size=...) on
// the sentences the callback yields, seeding SentencePiece's sampling with `seed`. Returns false
// with *error set on failure.
bool crossover_spm_train(const char* flags, unsigned seed, crossover::spm::NextSentence next,
                         void* context, std::string* error);
}
