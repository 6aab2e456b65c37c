#include "crossover/data/tokenizer.h"

#include <dlfcn.h>
#include <unistd.h>

#include <climits>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "crossover/data/tokenizer_bpe.h"
#include "crossover/util/fs.h"
#include "crossover/util/threads.h"
#include "plugin/spm_api.h"

namespace crossover {

namespace fs = std::filesystem;

namespace {

struct Plugin {
  decltype(&crossover_spm_load) load = nullptr;
  decltype(&crossover_spm_train) train = nullptr;
};

const Plugin& plugin() {
  static Plugin p;
  static std::once_flag once;
  std::call_once(once, [] {
    const std::string path = spm_plugin_path();
    // DEEPBIND keeps SentencePiece's private protobuf away from LibTorch's (see spm_api.h).
    void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND);
    if (!handle)
      throw std::runtime_error(path + ": cannot load the SentencePiece plugin: " + dlerror());
    p.load = reinterpret_cast<decltype(p.load)>(dlsym(handle, "crossover_spm_load"));
    p.train = reinterpret_cast<decltype(p.train)>(dlsym(handle, "crossover_spm_train"));
    if (!p.load || !p.train)
      throw std::runtime_error(path + ": not a crossover SentencePiece plugin");
  });
  return p;
}

}  // namespace

std::string spm_plugin_path() {
  if (const char* env = std::getenv("CROSSOVER_SPM_PLUGIN")) return env;
  char exe[PATH_MAX];
  const ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
  if (n > 0) {
    exe[n] = '\0';
    const fs::path beside = fs::path(exe).parent_path() / "libcrossover_spm.so";
    if (fs::exists(beside)) return beside.string();
  }
  return std::string(CROSSOVER_PLUGIN_DIR) + "/libcrossover_spm.so";
}

void Tokenizer::train(const TrainOptions& o,
                      const std::function<bool(std::string*)>& next_sentence) {
  if (o.model_type != "bpe" && o.model_type != "unigram")
    throw std::invalid_argument("tokenizer model type: expected bpe or unigram, got " +
                                o.model_type);
  // Identity normalisation and kept whitespace make decode(encode(s)) == s; byte fallback
  // means no text is ever <unk>.
  const std::string flags =
      "--model_prefix=" + o.model_prefix + " --vocab_size=" + std::to_string(o.vocab_size) +
      " --model_type=" + o.model_type +
      " --pad_id=0 --unk_id=1 --bos_id=2 --eos_id=3 --byte_fallback=true"
      " --normalization_rule_name=identity --remove_extra_whitespaces=false"
      " --split_digits=true --character_coverage=0.9999 --max_sentence_length=16384"
      " --shuffle_input_sentence=true --input_sentence_size=" +
      std::to_string(o.max_sentences) +
      " --num_threads=" + std::to_string(o.threads > 0 ? o.threads : available_cores()) +
      " --minloglevel=1";
  struct Ctx {
    const std::function<bool(std::string*)>* next;
  } ctx{&next_sentence};
  std::string error;
  const bool ok = plugin().train(
      flags.c_str(), static_cast<unsigned>(o.seed),
      [](void* c, std::string* s) { return (*static_cast<Ctx*>(c)->next)(s); }, &ctx, &error);
  if (!ok) throw std::runtime_error("training the SentencePiece tokenizer failed: " + error);
}

std::string Tokenizer::data_file_name(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char head[64] = {};
  in.read(head, sizeof(head));
  const std::string_view h(head, static_cast<size_t>(in.gcount()));
  const size_t first = h.find_first_not_of(" \t\r\n");
  if (first != std::string_view::npos && h[first] == '{') return "tokenizer.json";
  // A tiktoken file starts with `BASE64 RANK`; a SentencePiece model is binary protobuf.
  const size_t space = h.find(' ');
  bool tiktoken = space != std::string_view::npos && space > 0;
  for (size_t i = 0; tiktoken && i < space; ++i)
    tiktoken = std::isalnum(static_cast<unsigned char>(h[i])) || h[i] == '+' || h[i] == '/' ||
               h[i] == '=';
  if (tiktoken && fs::path(path).extension() != ".model") return "tokenizer.tiktoken";
  return "tokenizer.model";
}

TokenizerOptions Tokenizer::read_options(const std::string& dir) {
  const fs::path path = fs::path(dir) / kTokenizerOptionsFile;
  TokenizerOptions o;
  std::ifstream in(path);
  if (!in) return o;
  const auto j = nlohmann::json::parse(in, nullptr, false);
  try {
    if (j.is_discarded() || !j.is_object()) throw std::runtime_error("not a JSON object");
    o.eos_token = j.value("eos_token", "");
    o.mask_token = j.value("mask_token", "");
    o.split_special_tokens = j.value("split_special_tokens", false);
  } catch (const std::exception& e) {
    throw std::runtime_error(path.string() +
                             ": expected {\"eos_token\": TOKEN, \"mask_token\": TOKEN, "
                             "\"split_special_tokens\": BOOL}: " +
                             e.what());
  }
  return o;
}

std::string Tokenizer::install(const std::string& given, const std::string& dir,
                               const TokenizerOptions& options) {
  const std::string name = data_file_name(given);
  const fs::path dest = fs::path(dir) / name;
  std::string sidecar;
  if (name == "tokenizer.tiktoken")
    sidecar = Tokenizer::load(given, options).pretrained_->sidecar_json();
  else if (!options.empty())
    Tokenizer::load(given, options);  // refuses options a SentencePiece model cannot take
  for (const char* other :
       {"tokenizer.model", "tokenizer.json", "tokenizer.tiktoken", "tokenizer.tiktoken.json"})
    if (other != name && !(sidecar.size() && std::string(other) == name + ".json"))
      fs::remove(fs::path(dir) / other);
  if (fs::absolute(given).lexically_normal() != fs::absolute(dest).lexically_normal())
    fs::copy_file(given, dest, fs::copy_options::overwrite_existing);
  if (!sidecar.empty()) atomic_write_file(dest.string() + ".json", sidecar);
  const fs::path options_file = fs::path(dir) / kTokenizerOptionsFile;
  if (options.empty()) {
    fs::remove(options_file);
  } else {
    atomic_write_file(options_file.string(), options_json(options).dump(2) + "\n");
  }
  return dest.string();
}

nlohmann::json options_json(const TokenizerOptions& o) {
  nlohmann::json j = nlohmann::json::object();
  if (!o.eos_token.empty()) j["eos_token"] = o.eos_token;
  if (!o.mask_token.empty()) j["mask_token"] = o.mask_token;
  j["split_special_tokens"] = o.split_special_tokens;
  return j;
}

Tokenizer Tokenizer::load(const std::string& model_path) {
  return load(model_path, read_options(fs::path(model_path).parent_path().string()));
}

Tokenizer Tokenizer::load(const std::string& model_path, const TokenizerOptions& options) {
  if (!fs::exists(model_path)) throw std::runtime_error(model_path + ": tokenizer model not found");
  if (data_file_name(model_path) != "tokenizer.model") {
    Tokenizer t;
    t.pretrained_ = bpe::PretrainedTokenizer::load(model_path, options);
    t.path_ = model_path;
    t.options_ = options;
    const auto& p = *t.pretrained_;
    t.special_ = {p.pad(), p.unk(), p.bos(), p.eos(), p.mask()};
    return t;
  }
  if (!options.empty())
    throw std::runtime_error(model_path +
                             ": --eos-token, --mask-token and --split-special-tokens apply to a "
                             "tokenizer.json or tiktoken file, not a SentencePiece model");
  std::string error;
  spm::Model* m = plugin().load(model_path.c_str(), &error);
  if (!m) throw std::runtime_error(model_path + ": not a SentencePiece model: " + error);
  Tokenizer t;
  t.model_.reset(m);
  t.path_ = model_path;
  t.special_ = {m->pad_id(), m->unk_id(), m->bos_id(), m->eos_id(), m->vocab_size()};
  if (t.special_.eos < 0)
    throw std::runtime_error(model_path +
                             ": the tokenizer has no eos piece; crossover separates documents "
                             "with eos (train one with `crossover prepare`)");
  return t;
}

Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;
Tokenizer::~Tokenizer() = default;

std::vector<int32_t> Tokenizer::encode(const std::string& text) const {
  std::vector<int32_t> ids;
  if (pretrained_) {
    pretrained_->encode(text, &ids);
    return ids;
  }
  std::string error;
  if (!model_->encode(text, &ids, &error))
    throw std::runtime_error(path_ + ": encoding failed: " + error);
  return ids;
}

std::string Tokenizer::decode(const std::vector<int32_t>& ids) const {
  std::string out, part, error;
  if (pretrained_) {
    for (int32_t id : ids) out += id == special_.mask ? std::string("[MASK]") : token_bytes(id);
    return out;
  }
  std::vector<int32_t> run;
  auto flush = [&] {
    if (run.empty()) return;
    if (!model_->decode(run, &part, &error))
      throw std::runtime_error(path_ + ": decoding failed: " + error);
    out += part;
    run.clear();
  };
  for (int32_t id : ids) {
    if (id == special_.mask) {
      flush();
      out += "[MASK]";
    } else {
      run.push_back(id);
    }
  }
  flush();
  return out;
}

int Tokenizer::vocab_size() const { return pretrained_ ? special_.mask : model_->vocab_size(); }

std::string Tokenizer::piece(int32_t id) const {
  if (id == special_.mask && (!pretrained_ || pretrained_->mask_appended())) return "[MASK]";
  return pretrained_ ? pretrained_->token_bytes(id) : model_->piece(id);
}

std::string Tokenizer::token_bytes(int32_t id) const { return piece(id); }

std::string Tokenizer::tiktoken_encoding() const {
  return pretrained_ ? pretrained_->sidecar_json() : std::string();
}

std::string Tokenizer::kind() const {
  return pretrained_ ? pretrained_->kind() : std::string("sentencepiece");
}

bool Tokenizer::mask_appended() const { return !pretrained_ || pretrained_->mask_appended(); }

}  // namespace crossover
