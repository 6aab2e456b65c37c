// libcrossover_spm.so: the SentencePiece side of spm_api.h (see there for why it is a plugin).
#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

#include "spm_api.h"

namespace {

class ModelImpl final : public crossover::spm::Model {
 public:
  sentencepiece::SentencePieceProcessor sp;

  bool encode(const std::string& text, std::vector<int32_t>* ids,
              std::string* error) const override {
    std::vector<int> out;
    const auto status = sp.Encode(text, &out);
    if (!status.ok()) return *error = status.ToString(), false;
    ids->assign(out.begin(), out.end());
    return true;
  }
  bool decode(const std::vector<int32_t>& ids, std::string* text,
              std::string* error) const override {
    const std::vector<int> in(ids.begin(), ids.end());
    const auto status = sp.Decode(in, text);
    if (!status.ok()) return *error = status.ToString(), false;
    return true;
  }
  int vocab_size() const override { return sp.GetPieceSize(); }
  int pad_id() const override { return sp.pad_id(); }
  int unk_id() const override { return sp.unk_id(); }
  int bos_id() const override { return sp.bos_id(); }
  int eos_id() const override { return sp.eos_id(); }
  std::string piece(int id) const override { return sp.IdToPiece(id); }
};

class CallbackIterator final : public sentencepiece::SentenceIterator {
 public:
  CallbackIterator(crossover::spm::NextSentence next, void* context)
      : next_(next), context_(context) {
    Next();
  }
  bool done() const override { return done_; }
  void Next() override { done_ = !next_(context_, &value_); }
  const std::string& value() const override { return value_; }
  sentencepiece::util::Status status() const override { return {}; }

 private:
  crossover::spm::NextSentence next_;
  void* context_;
  std::string value_;
  bool done_ = false;
};

}  // namespace

extern "C" {

crossover::spm::Model* crossover_spm_load(const char* path, std::string* error) {
  auto model = new ModelImpl;
  const auto status = model->sp.Load(path);
  if (!status.ok()) {
    *error = status.ToString();
    delete model;
    return nullptr;
  }
  return model;
}

bool crossover_spm_train(const char* flags, unsigned seed, crossover::spm::NextSentence next,
                         void* context, std::string* error) {
  sentencepiece::SetRandomGeneratorSeed(seed);
  CallbackIterator it(next, context);
  const auto status = sentencepiece::SentencePieceTrainer::Train(flags, &it);
  if (!status.ok()) return *error = status.ToString(), false;
  return true;
}
}
