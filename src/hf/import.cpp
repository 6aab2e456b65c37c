#include "crossover/hf/import.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <spdlog/spdlog.h>

#include <cmath>
#include <filesystem>
#include <set>
#include <sstream>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "crossover/checkpoint/checkpointer.h"
#include "crossover/checkpoint/run_dir.h"
#include "crossover/comm/comm.h"
#include "crossover/data/sampler.h"
#include "crossover/data/token_store.h"
#include "crossover/hf/model_map.h"
#include "crossover/hf/weight_files.h"
#include "crossover/model/layout.h"
#include "crossover/util/fs.h"

namespace crossover::hf {

namespace fs = std::filesystem;

namespace {

std::string shape_str(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

std::string number_str(double v) {
  std::ostringstream os;
  os << v;
  return os.str();
}

// config.json, checked key by key against the run config.
class HfConfig {
 public:
  HfConfig(const std::string& path, std::string source) : path_(path), source_(std::move(source)) {
    if (!fs::exists(path))
      throw std::runtime_error(path + ": not found (a Hugging Face model directory has a "
                                      "config.json beside its safetensors files)");
    j_ = nlohmann::json::parse(read_text_file(path), nullptr, false);
    if (j_.is_discarded() || !j_.is_object())
      throw std::runtime_error(path + ": not a JSON object");
  }
  const std::string& path() const { return path_; }
  const nlohmann::json& json() const { return j_; }

  int64_t integer(const std::string& key, int64_t fallback, bool required) const {
    if (!j_.contains(key) || j_[key].is_null()) {
      if (required) throw std::runtime_error(path_ + ": no " + key);
      return fallback;
    }
    if (!j_[key].is_number_integer())
      throw std::runtime_error(path_ + ": " + key + ": expected an integer, got " + j_[key].dump());
    return j_[key].get<int64_t>();
  }
  void expect(const std::string& key, int64_t expected, const std::string& run_key,
              int64_t fallback = -1) const {
    const int64_t got = integer(key, fallback, fallback < 0);
    if (got != expected)
      throw std::runtime_error(path_ + ": " + key + " is " + std::to_string(got) + " but " +
                               run_key + " is " + std::to_string(expected) + " in " + source_ +
                               "; the run config must describe the checkpoint's model");
  }
  void expect_number(const std::string& key, double expected, const std::string& run_key,
                     double fallback) const {
    double got = fallback;
    if (j_.contains(key) && !j_[key].is_null()) {
      if (!j_[key].is_number())
        throw std::runtime_error(path_ + ": " + key + ": expected a number, got " + j_[key].dump());
      got = j_[key].get<double>();
    }
    if (std::abs(got - expected) > 1e-9 * std::abs(expected))
      throw std::runtime_error(path_ + ": " + key + " is " + number_str(got) + " but " + run_key +
                               " is " + number_str(expected) + " in " + source_ + "; set " +
                               run_key + ": " + number_str(got));
  }
  void expect_false(const std::string& key, const std::string& why) const {
    if (j_.contains(key) && !j_[key].is_null() && j_[key] != false)
      throw std::runtime_error(path_ + ": " + key + " is " + j_[key].dump() + "; " + why);
  }

 private:
  std::string path_, source_;
  nlohmann::json j_;
};

// What config.json says beyond the shapes the run config fixes.
struct HfModel {
  std::string model_type;  // llama | qwen3
  bool tied = false;       // tie_word_embeddings
  int64_t mask_id = -1;    // mask_token_id; -1 when it names none
};

void check_options(const ImportOptions& o) {
  if (o.mask_row != "auto" && o.mask_row != "mean")
    throw std::invalid_argument("import: mask_row is auto or mean, not " + o.mask_row);
  auto comm = make_local_comm();
  Checkpointer existing(o.run_dir, 1, *comm);
  if (const auto latest = existing.latest())
    throw std::runtime_error(o.run_dir + " already has a checkpoint (" + *latest +
                             "); import starts a new run: give a new --run-dir");
}

// llama or qwen3, with the QK-norm the run config gives the model.
std::string check_model_type(const HfConfig& hc, const ModelConfig& m, const std::string& src) {
  const std::string model_type = hc.json().value("model_type", "");
  if (model_type != "llama" && model_type != "qwen3")
    throw std::runtime_error(hc.path() + ": model_type is \"" + model_type +
                             "\"; crossover imports llama and qwen3 checkpoints");
  if (model_type == "qwen3" && !m.qk_norm)
    throw std::runtime_error(hc.path() +
                             ": a qwen3 model has QK-norm but model.qk_norm is "
                             "false in " +
                             src + "; set model.qk_norm: true");
  if (model_type == "llama" && m.qk_norm)
    throw std::runtime_error(hc.path() +
                             ": a llama model has no QK-norm but model.qk_norm is "
                             "true in " +
                             src + "; set model.qk_norm: false");
  return model_type;
}

// The shapes, and the hyperparameters that change the function without changing a shape.
void check_hyperparameters(const HfConfig& hc, const ModelConfig& m) {
  hc.expect("hidden_size", m.d_model, "model.d_model");
  hc.expect("num_hidden_layers", m.layers, "model.layers");
  hc.expect("num_attention_heads", m.heads, "model.heads");
  hc.expect("num_key_value_heads", m.kv_heads_resolved(), "model.kv_heads",
            hc.integer("num_attention_heads", 0, true));
  hc.expect("head_dim", m.head_dim(), "model.d_model / model.heads",
            hc.integer("hidden_size", 0, true) /
                std::max<int64_t>(1, hc.integer("num_attention_heads", 1, true)));
  hc.expect("intermediate_size", m.ffn_hidden_resolved(), "model.ffn_hidden");
  // transformers' defaults when a key is absent: Llama's and Qwen3's configs agree on these.
  hc.expect_number("rms_norm_eps", m.norm_eps, "model.norm_eps", 1e-6);
  hc.expect_number("rope_theta", m.rope_theta, "model.rope_theta", 10000.0);
}

// What a crossover model does not have: RoPE scaling, another activation, biases, local attention.
void check_features(const HfConfig& hc) {
  const auto& j = hc.json();
  if (j.contains("rope_scaling") && !j["rope_scaling"].is_null() &&
      j["rope_scaling"].value("rope_type", j["rope_scaling"].value("type", "")) != "default")
    throw std::runtime_error(hc.path() + ": rope_scaling is " + j["rope_scaling"].dump() +
                             "; crossover's RoPE has no scaling");
  if (j.value("hidden_act", "silu") != "silu")
    throw std::runtime_error(hc.path() + ": hidden_act is " + j["hidden_act"].dump() +
                             "; crossover's feed-forward is SwiGLU (silu)");
  hc.expect_false("attention_bias", "crossover's attention has no biases");
  hc.expect_false("mlp_bias", "crossover's feed-forward has no biases");
  hc.expect_false("use_sliding_window", "crossover's attention is global in every layer");
  if (j.contains("layer_types") && j["layer_types"].is_array())
    for (const auto& t : j["layer_types"])
      if (t != "full_attention")
        throw std::runtime_error(hc.path() + ": layer_types holds " + t.dump() +
                                 "; crossover's attention is global in every layer");
}

// config.json checked key by key against the run's model (import.h).
HfModel check_hf_config(const std::string& hf_dir, const ModelConfig& m, const std::string& src) {
  const HfConfig hc((fs::path(hf_dir) / "config.json").string(), src);
  HfModel hf;
  hf.model_type = check_model_type(hc, m, src);
  check_hyperparameters(hc, m);
  check_features(hc);
  const auto& j = hc.json();
  hf.tied = j.value("tie_word_embeddings", false);
  if (j.contains("mask_token_id") && j["mask_token_id"].is_number_integer())
    hf.mask_id = j["mask_token_id"].get<int64_t>();
  return hf;
}

// The checkpoint's tensors as the run reads them: each checked against the shape the run config
// expects, converted to fp32 and marked used.
class TensorReader {
 public:
  TensorReader(const std::string& hf_dir, const RunConfig& config, int64_t vocab,
               const std::string& src)
      : w_(hf_dir), hf_dir_(hf_dir), vocab_(vocab), d_model_(config.model.d_model),
        rows_why_(" from the data's vocabulary (" + std::to_string(vocab) + " pieces in " +
                  config.data.path + "/meta.json) and model.d_model " +
                  std::to_string(config.model.d_model) + " in " + src) {}

  const WeightFiles& files() const { return w_; }
  bool contains(const std::string& name) const { return w_.contains(name); }
  bool used(const std::string& name) const { return used_.count(name) > 0; }
  void mark_used(const std::string& name) { used_.insert(name); }

  at::Tensor load(const std::string& name, const std::vector<int64_t>& expected,
                  const std::string& why) {
    if (!w_.contains(name))
      throw std::runtime_error(hf_dir_ + ": no tensor " + name + " (expected shape " +
                               shape_str(expected) + why + ")");
    if (w_.shape(name) != expected)
      throw std::runtime_error(w_.path_of(name) + ": " + name + " has shape " +
                               shape_str(w_.shape(name)) + ", expected " + shape_str(expected) +
                               why);
    used_.insert(name);
    return w_.tensor(name).to(at::kFloat);
  }

  // A vocabulary-sized matrix: at least `vocab` rows of width d_model.
  at::Tensor load_rows(const std::string& name) {
    const std::string vocab = std::to_string(vocab_), d_model = std::to_string(d_model_);
    if (!w_.contains(name))
      throw std::runtime_error(hf_dir_ + ": no tensor " + name + " (expected shape [" + vocab +
                               " or more, " + d_model + "]" + rows_why_ + ")");
    const auto& shape = w_.shape(name);
    if (shape.size() != 2 || shape[0] < vocab_ || shape[1] != d_model_)
      throw std::runtime_error(w_.path_of(name) + ": " + name + " has shape " + shape_str(shape) +
                               ", expected [" + vocab + " or more, " + d_model + "]" + rows_why_ +
                               (shape.size() == 2 && shape[0] < vocab_
                                    ? "; prepare the data with the model's tokenizer "
                                      "(crossover prepare --tokenizer DIR/tokenizer.model)"
                                    : ""));
    used_.insert(name);
    return w_.tensor(name).to(at::kFloat);
  }

 private:
  WeightFiles w_;
  std::string hf_dir_;
  int64_t vocab_, d_model_;
  std::string rows_why_;
  std::set<std::string> used_;
};

// Rows 0..vocab-1 of the checkpoint's embedding, and the [MASK] row (import.h); says how in
// `result`.
void copy_embedding(const at::Tensor& dst, const at::Tensor& embedding, int64_t vocab,
                    const std::string& mask_row, const HfModel& hf, ImportResult& result) {
  dst.narrow(0, 0, vocab).copy_(embedding.narrow(0, 0, vocab));
  int64_t kept = vocab;
  if (mask_row == "auto" && hf.mask_id == vocab && embedding.size(0) > vocab) {
    dst[vocab].copy_(embedding[vocab]);
    result.mask_row = "row " + std::to_string(vocab) + " of the checkpoint (its mask_token_id)";
    kept += 1;
  } else {
    dst[vocab].copy_(embedding.narrow(0, 0, vocab).mean(0));
    result.mask_row = "the mean of the " + std::to_string(vocab) + " embedding rows";
  }
  result.dropped_rows = embedding.size(0) - kept;
}

// An untied head: the checkpoint's, or a copy of its embedding when the checkpoint ties it.
void copy_head(const at::Tensor& dst, TensorReader& t, const at::Tensor& embedding, int64_t vocab,
               const HfModel& hf, const std::string& hf_dir) {
  if (t.contains("lm_head.weight") && !hf.tied) {
    dst.copy_(t.load_rows("lm_head.weight").narrow(0, 0, vocab));
  } else if (hf.tied) {
    // A tied checkpoint's head is its embedding; the untied run starts from a copy.
    dst.copy_(embedding.narrow(0, 0, vocab));
    if (t.contains("lm_head.weight")) t.mark_used("lm_head.weight");
    spdlog::info("import: the checkpoint ties its head; lm_head starts as a copy of the "
                 "embedding");
  } else {
    throw std::runtime_error(hf_dir + ": no tensor lm_head.weight, and " +
                             (fs::path(hf_dir) / "config.json").string() +
                             " does not tie the head (tie_word_embeddings false)");
  }
}

struct Params {
  std::vector<at::Tensor> flats;  // per group of the layout, fp32
  at::Tensor embedding;           // the checkpoint's, every row
};

// The run's parameters, group by group of `layout`, from the checkpoint's tensors.
Params read_params(TensorReader& t, const ModelLayout& layout, const ModelConfig& m,
                   const HfModel& hf, const ImportOptions& o, int64_t vocab, ImportResult& result) {
  Params out;
  for (const auto& g : layout.groups) {
    at::Tensor flat = at::zeros({g.numel}, at::kFloat);
    for (const auto& p : g.params) {
      at::Tensor dst = param_view(flat, p);
      if (p.name == "tok_embeddings") {
        out.embedding = t.load_rows(tensor_name(p.name));
        copy_embedding(dst, out.embedding, vocab, o.mask_row, hf, result);
      } else if (p.name == "lm_head") {
        copy_head(dst, t, out.embedding, vocab, hf, o.hf_dir);
      } else {
        std::string why = " for " + p.name + " (model.d_model " + std::to_string(m.d_model) +
                          ", heads " + std::to_string(m.heads) + ", kv_heads " +
                          std::to_string(m.kv_heads_resolved()) + ", ffn_hidden " +
                          std::to_string(m.ffn_hidden_resolved()) + " in " + o.config_source + ")";
        dst.copy_(t.load(tensor_name(p.name), p.shape, why));
      }
    }
    out.flats.push_back(flat);
  }
  return out;
}

// The tensors no parameter read: a head a tied run cannot take is an error, and so is anything
// else but RoPE's cached frequencies. Returns those ignored.
std::vector<std::string> check_unread(TensorReader& t, const ModelConfig& m, const HfModel& hf,
                                      const at::Tensor& embedding, int64_t vocab,
                                      const std::string& src) {
  const WeightFiles& w = t.files();
  if (m.tie_embeddings && w.contains("lm_head.weight")) {
    // transformers may store a tied head too; an untied one cannot become a tied run.
    const at::Tensor head = t.load_rows("lm_head.weight");
    if (!hf.tied || !at::equal(head.narrow(0, 0, vocab), embedding.narrow(0, 0, vocab)))
      throw std::runtime_error(w.path_of("lm_head.weight") +
                               ": lm_head.weight is an untied head "
                               "but model.tie_embeddings is true in " +
                               src + "; set model.tie_embeddings: false");
  }
  std::vector<std::string> ignored;
  for (const auto& name : w.names()) {
    if (t.used(name)) continue;
    // Older Llama checkpoints store RoPE's frequencies; crossover computes its own.
    if (name.ends_with("rotary_emb.inv_freq")) {
      ignored.push_back(name);
      continue;
    }
    throw std::runtime_error(w.path_of(name) + ": tensor " + name + " " + shape_str(w.shape(name)) +
                             " has no place in the model " + src + " describes (a " +
                             hf.model_type + " decoder without biases)");
  }
  return ignored;
}

// A step-0 checkpoint as the trainer writes one: full format, Adam moments at zero and no
// optimizer steps taken (the first step is a fresh AdamW step), the sampler at step 0; then
// the rest of the run directory. Returns the checkpoint's directory.
std::string write_run(const RunConfig& config, const std::string& run_dir, int32_t eos_id,
                      const ModelLayout& layout, const std::vector<at::Tensor>& params,
                      const nlohmann::json& imported_from) {
  const auto train_store = TokenStore::open(DataDir{config.data.path}.train());
  const RepeatSampler sampler(train_store, eos_id, sampler_options(config));
  std::vector<at::Tensor> moments;
  for (const auto& p : params) moments.push_back(at::zeros_like(p));
  TrainState state = TrainState::of_run(config, sampler, /*step=*/0, /*flops_per_token=*/0);
  state.imported_from = imported_from;
  fs::create_directories(run_dir);
  auto comm = make_local_comm();
  Checkpointer ckpt(run_dir, config.checkpoint.keep_last, *comm);
  const std::string dir = ckpt.save(0, state, [&](const std::string& d) {
    return write_full_checkpoint(d, layout, params, moments, moments);
  });
  RunDir{run_dir}.write_run_files(config);
  return dir;
}

}  // namespace

ImportResult import_hf(const RunConfig& config, const ImportOptions& o) {
  check_options(o);
  const HfModel hf = check_hf_config(o.hf_dir, config.model, o.config_source);
  // The data the run will train on fixes the vocabulary.
  const DataMeta meta = DataMeta::read(config.data.path);
  const int64_t vocab = meta.vocab_size;
  TensorReader tensors(o.hf_dir, config, vocab, o.config_source);
  const ModelLayout layout = make_layout(config.model, vocab);

  ImportResult result;
  result.model_type = hf.model_type;
  at::NoGradGuard no_grad;
  const Params params = read_params(tensors, layout, config.model, hf, o, vocab, result);
  result.ignored = check_unread(tensors, config.model, hf, params.embedding, vocab,
                                o.config_source);
  result.checkpoint_dir = write_run(config, o.run_dir, meta.eos_id, layout, params.flats,
                                    {{"path", fs::absolute(o.hf_dir).lexically_normal().string()},
                                     {"model_type", hf.model_type},
                                     {"mask_row", result.mask_row}});
  const WeightFiles& w = tensors.files();
  spdlog::info("imported {} ({}, {} tensor file{}) into {}; [MASK] row: {}{}", o.hf_dir,
               hf.model_type, w.sharded() ? "sharded" : "one", w.sharded() ? "s" : "",
               result.checkpoint_dir, result.mask_row,
               result.dropped_rows ? "; " + std::to_string(result.dropped_rows) +
                                         " embedding rows past the vocabulary dropped"
                                   : "");
  return result;
}

}  // namespace crossover::hf
