#include "crossover/hf/export.h"

#include <ATen/ATen.h>
#include <spdlog/spdlog.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "crossover/checkpoint/checkpointer.h"
#include "crossover/checkpoint/run_dir.h"
#include "crossover/config/config.h"
#include "crossover/data/prepare.h"
#include "crossover/data/tokenizer.h"
#include "crossover/hf/model_map.h"
#include "crossover/hf/tiktoken_json.h"
#include "crossover/hf/weight_files.h"
#include "crossover/model/layout.h"
#include "crossover/objective/objective.h"
#include "crossover/util/fs.h"
#include "crossover/util/safetensors.h"
#include "crossover/version.h"

namespace crossover::hf {

namespace fs = std::filesystem;

namespace {

// One tensor of the export: a crossover parameter under its transformers name.
struct Item {
  size_t group;
  const ParamSpec* param;
  std::string name;
  std::vector<int64_t> shape;  // as exported (an untied head gains the [MASK] row)
  int64_t bytes;
};

nlohmann::ordered_json special_token(const std::string& content) {
  // Specials are matched verbatim in text and never split or normalised.
  return {{"content", content}, {"lstrip", false},      {"normalized", false},
          {"rstrip", false},    {"single_word", false}, {"special", true}};
}

void write_json(const fs::path& path, const nlohmann::ordered_json& j) {
  atomic_write_file(path.string(), j.dump(2) + "\n");
}

// tokenizer.model plus the configuration that makes AutoTokenizer read it as crossover does.
void write_tokenizer(const fs::path& dir, const Tokenizer& tok, int64_t vocab, int64_t seq_len) {
  fs::copy_file(tok.path(), dir / "tokenizer.model");
  const SpecialIds& s = tok.special();
  nlohmann::ordered_json added = nlohmann::ordered_json::object();
  nlohmann::ordered_json map = nlohmann::ordered_json::object();
  nlohmann::ordered_json config;
  config["tokenizer_class"] = "LlamaTokenizer";
  // crossover's documents carry no bos and are followed by eos in the training stream;
  // tokenizer(text) must give the ids crossover's tokenizer gives.
  config["add_bos_token"] = false;
  config["add_eos_token"] = false;
  // legacy: the SentencePiece model's own dummy-prefix handling, i.e. exactly what crossover's
  // tokenizer does (the non-legacy mode re-handles the leading space and can differ).
  config["legacy"] = true;
  config["clean_up_tokenization_spaces"] = false;
  config["model_max_length"] = seq_len;
  config["sp_model_kwargs"] = nlohmann::ordered_json::object();
  const std::pair<const char*, int32_t> roles[] = {
      {"pad_token", s.pad}, {"unk_token", s.unk}, {"bos_token", s.bos}, {"eos_token", s.eos}};
  for (const auto& [role, id] : roles) {
    if (id < 0) continue;  // a tokenizer given to `prepare --tokenizer` may lack pad or bos
    const std::string piece = tok.piece(id);
    config[role] = piece;
    map[role] = piece;
    added[std::to_string(id)] = special_token(piece);
  }
  added[std::to_string(vocab)] = special_token("[MASK]");
  config["mask_token"] = "[MASK]";
  map["mask_token"] = "[MASK]";
  config["added_tokens_decoder"] = added;
  write_json(dir / "tokenizer_config.json", config);
  write_json(dir / "special_tokens_map.json", map);
}

// A pretrained tokenizer.json (or a tiktoken encoding written as one), as crossover encodes with
// it: without its post-processor (the documents carry no bos; tokenizer(text) gives crossover's
// ids) and with the [MASK] that crossover appended, loaded by AutoTokenizer as
// PreTrainedTokenizerFast.
void write_pretrained_tokenizer(const fs::path& dir, const Tokenizer& tok, int64_t vocab,
                                int64_t seq_len) {
  nlohmann::ordered_json j;
  if (tok.kind() == "tiktoken") {
    j = tiktoken_tokenizer_json(tok);
  } else {
    std::ifstream in(tok.path());
    j = nlohmann::ordered_json::parse(in, nullptr, false);
    if (j.is_discarded()) throw std::runtime_error(tok.path() + ": malformed JSON");
  }
  j["post_processor"] = nullptr;
  j["truncation"] = nullptr;
  j["padding"] = nullptr;
  const SpecialIds& s = tok.special();
  if (tok.mask_appended()) {
    nlohmann::ordered_json entry = {{"id", vocab}};
    const nlohmann::ordered_json fields = special_token("[MASK]");
    for (const auto& [k, v] : fields.items()) entry[k] = v;
    j["added_tokens"].push_back(entry);
  }
  atomic_write_file((dir / "tokenizer.json").string(), j.dump(2) + "\n");
  nlohmann::ordered_json config, map, added = nlohmann::ordered_json::object();
  config["tokenizer_class"] = "PreTrainedTokenizerFast";
  config["clean_up_tokenization_spaces"] = false;
  config["model_max_length"] = seq_len;
  // prepare --split-special-tokens, and every tiktoken run (encode_ordinary): special-token
  // strings are text (encode_special_tokens).
  if (tok.options().split_special_tokens || tok.kind() == "tiktoken")
    config["split_special_tokens"] = true;
  const std::pair<const char*, int32_t> roles[] = {{"pad_token", s.pad},
                                                   {"unk_token", s.unk},
                                                   {"bos_token", s.bos},
                                                   {"eos_token", s.eos},
                                                   {"mask_token", s.mask}};
  for (const auto& [role, id] : roles) {
    if (id < 0) continue;
    const std::string content = tok.piece(id);
    config[role] = content;
    map[role] = content;
    added[std::to_string(id)] = special_token(content);
  }
  config["added_tokens_decoder"] = added;
  write_json(dir / "tokenizer_config.json", config);
  write_json(dir / "special_tokens_map.json", map);
}

}  // namespace

ExportResult export_hf(const std::string& run_dir, const ExportOptions& o) {
  if (o.dtype != "float32" && o.dtype != "bfloat16")
    throw std::invalid_argument("export dtype: expected float32 or bfloat16, got " + o.dtype);
  if (o.max_shard_bytes <= 0)
    throw std::invalid_argument("export: the maximum shard size must be positive");
  if (o.out.empty()) throw std::invalid_argument("export: no output directory");
  const fs::path out = o.out;
  if (fs::exists(out) && !(fs::is_directory(out) && fs::is_empty(out)))
    throw std::runtime_error(out.string() + ": exists and is not empty; give a new directory");

  ExportResult result;
  result.checkpoint_dir = Checkpointer::find(run_dir, o.step);
  const auto state = Checkpointer::read_state(result.checkpoint_dir);
  const TrainState train_state = TrainState::from_json(state,
                                                       result.checkpoint_dir + "/state.json");
  result.step = train_state.step;
  const RunConfig config = train_state.run_config(result.checkpoint_dir + "/state.json");
  // The run's copy of the data description and tokenizer; the data directory as a fallback
  // (as checkpoint/loaded_model.cpp).
  const DataDir data = RunDir{run_dir}.data_or(config.data.path);
  const int64_t vocab = DataMeta::read(data.root).vocab_size;
  const Tokenizer tok = Tokenizer::load(data.tokenizer());
  if (tok.vocab_size() != vocab)
    throw std::runtime_error(data.tokenizer() + " has " + std::to_string(tok.vocab_size()) +
                             " pieces but " + data.meta() + " says vocab_size " +
                             std::to_string(vocab));
  const ModelLayout layout = make_layout(config.model, vocab);
  const at::ScalarType dtype = o.dtype == "bfloat16" ? at::kBFloat16 : at::kFloat;
  const int64_t element = o.dtype == "bfloat16" ? 2 : 4;

  std::vector<Item> items;
  std::vector<int64_t> sizes;
  for (size_t g = 0; g < layout.groups.size(); ++g)
    for (const auto& p : layout.groups[g].params) {
      Item it{g, &p, tensor_name(p.name), p.shape, 0};
      // transformers sizes the head by vocab_size, which counts [MASK].
      if (p.name == "lm_head") it.shape[0] += 1;
      it.bytes = element;
      for (int64_t s : it.shape) it.bytes *= s;
      sizes.push_back(it.bytes);
      items.push_back(std::move(it));
    }
  const auto shards = plan_shards(sizes, o.max_shard_bytes);

  // Written beside the destination and renamed when complete: a failed export leaves no
  // directory that looks loadable.
  const fs::path tmp = out.string() + ".tmp";
  fs::remove_all(tmp);
  fs::create_directories(tmp);
  std::map<std::string, std::string> weight_map;
  size_t loaded = layout.groups.size();
  at::Tensor flat;
  for (size_t s = 0; s < shards.size(); ++s) {
    const std::string file = shards.size() == 1 ? kSingleFile : shard_file_name(s, shards.size());
    safetensors::NamedTensors tensors;
    for (size_t i : shards[s]) {
      const Item& it = items[i];
      if (it.group != loaded) {  // items are in group order: each group is read once
        flat = read_checkpoint_range(result.checkpoint_dir, state, layout, it.group, "param", 0,
                                     layout.groups[it.group].numel);
        loaded = it.group;
      }
      at::Tensor t = param_view(flat, *it.param).to(dtype);
      if (it.shape[0] != it.param->shape[0])  // the untied head's [MASK] row: never predicted
        t = at::cat({t, at::zeros({1, t.size(1)}, t.options())}, 0);
      tensors.emplace_back(it.name, t);
      weight_map[it.name] = file;
      result.weight_bytes += it.bytes;
    }
    // transformers refuses safetensors files whose metadata lacks format "pt".
    safetensors::write((tmp / file).string(), tensors, {{"format", "pt"}});
    result.weight_files.push_back(file);
  }
  if (shards.size() > 1) write_index(tmp.string(), result.weight_bytes, weight_map);

  const bool ar = make_objective(config.objective, vocab)->causal();
  nlohmann::ordered_json extra;
  extra["objective"] = to_string(config.objective.type);
  extra["attention"] = ar ? "causal" : "bidirectional: pass a 4-D attention mask of zeros";
  extra["vocab_size"] = vocab;  // predictable tokens: logits[..., :vocab_size]
  extra["step"] = result.step;
  extra["tokens"] = train_state.tokens;
  extra["checkpoint"] = fs::absolute(result.checkpoint_dir).lexically_normal().string();
  extra["crossover_version"] = kVersion;
  const auto model_json = model_config(config, vocab, tok.special(), o.dtype, extra);
  write_json(tmp / "config.json", model_json);
  result.architecture = model_json["architectures"][0].get<std::string>();

  nlohmann::ordered_json gen;
  if (tok.special().bos >= 0) gen["bos_token_id"] = tok.special().bos;
  gen["eos_token_id"] = tok.special().eos;
  if (tok.special().pad >= 0) gen["pad_token_id"] = tok.special().pad;
  // The head has a [MASK] column (hf/model_map.h); generate() must never pick it.
  gen["suppress_tokens"] = nlohmann::ordered_json::array({vocab});
  write_json(tmp / "generation_config.json", gen);
  if (tok.kind() == "sentencepiece") write_tokenizer(tmp, tok, vocab, config.data.seq_len);
  else write_pretrained_tokenizer(tmp, tok, vocab, config.data.seq_len);

  if (fs::exists(out)) fs::remove(out);  // empty, checked above
  fs::rename(tmp, out);
  sync_path(out.parent_path().empty() ? "." : out.parent_path().string());
  spdlog::info("exported {} (step {}) as {} to {}: {} weight file{}, {:.1f} MB ({})",
               result.checkpoint_dir, result.step, result.architecture, out.string(),
               result.weight_files.size(), result.weight_files.size() == 1 ? "" : "s",
               result.weight_bytes / 1e6, o.dtype);
  return result;
}

}  // namespace crossover::hf
