#include "crossover/hf/model_map.h"

#include <map>
#include <stdexcept>

namespace crossover::hf {

Architecture architecture_for(const ModelConfig& model) {
  // Qwen3's attention is Llama's plus q_norm/k_norm over head_dim, applied before RoPE as
  // crossover does; without QK-norm the model is exactly Llama.
  if (model.qk_norm) return {"qwen3", "Qwen3ForCausalLM"};
  return {"llama", "LlamaForCausalLM"};
}

std::string tensor_name(const std::string& name) {
  static const std::map<std::string, std::string> top = {
      {"tok_embeddings", "model.embed_tokens.weight"},
      {"norm", "model.norm.weight"},
      {"lm_head", "lm_head.weight"}};
  static const std::map<std::string, std::string> block = {
      {"attn_norm", "input_layernorm.weight"},    {"attn.wq", "self_attn.q_proj.weight"},
      {"attn.wk", "self_attn.k_proj.weight"},     {"attn.wv", "self_attn.v_proj.weight"},
      {"attn.wo", "self_attn.o_proj.weight"},     {"attn.q_norm", "self_attn.q_norm.weight"},
      {"attn.k_norm", "self_attn.k_norm.weight"}, {"ffn_norm", "post_attention_layernorm.weight"},
      {"ffn.w_gate", "mlp.gate_proj.weight"},     {"ffn.w_up", "mlp.up_proj.weight"},
      {"ffn.w_down", "mlp.down_proj.weight"}};
  if (auto it = top.find(name); it != top.end()) return it->second;
  const std::string prefix = "blocks.";
  if (name.rfind(prefix, 0) == 0) {
    const size_t dot = name.find('.', prefix.size());
    if (dot != std::string::npos) {
      const std::string layer = name.substr(prefix.size(), dot - prefix.size());
      if (auto it = block.find(name.substr(dot + 1)); it != block.end())
        return "model.layers." + layer + "." + it->second;
    }
  }
  throw std::invalid_argument("no Hugging Face name for crossover parameter " + name);
}

nlohmann::ordered_json model_config(const RunConfig& config, int64_t vocab,
                                    const SpecialIds& special, const std::string& dtype,
                                    const nlohmann::ordered_json& extra) {
  const ModelConfig& m = config.model;
  const Architecture arch = architecture_for(m);
  nlohmann::ordered_json j;
  j["architectures"] = nlohmann::ordered_json::array({arch.class_name});
  j["model_type"] = arch.model_type;
  j["vocab_size"] = vocab + 1;  // + [MASK]
  j["hidden_size"] = m.d_model;
  j["intermediate_size"] = m.ffn_hidden_resolved();
  j["num_hidden_layers"] = m.layers;
  j["num_attention_heads"] = m.heads;
  j["num_key_value_heads"] = m.kv_heads_resolved();
  j["head_dim"] = m.head_dim();
  j["hidden_act"] = "silu";
  // RoPE has no hard limit; this is the length the model was trained at.
  j["max_position_embeddings"] = config.data.seq_len;
  j["initializer_range"] = m.init_std;
  j["rms_norm_eps"] = m.norm_eps;
  j["rope_theta"] = m.rope_theta;
  j["rope_scaling"] = nullptr;
  j["attention_bias"] = false;
  j["attention_dropout"] = 0.0;
  if (arch.model_type == "llama") {
    j["mlp_bias"] = false;
    j["pretraining_tp"] = 1;
  } else {
    j["use_sliding_window"] = false;
    j["sliding_window"] = nullptr;
    j["max_window_layers"] = m.layers;
  }
  j["tie_word_embeddings"] = m.tie_embeddings;
  j["use_cache"] = true;
  // "torch_dtype" rather than 4.56's "dtype": every transformers version reads it.
  j["torch_dtype"] = dtype;
  // A tokenizer given to `prepare --tokenizer` may lack bos or pad (SentencePiece's -1).
  auto id = [](int32_t v) { return v >= 0 ? nlohmann::ordered_json(v) : nlohmann::ordered_json(); };
  j["bos_token_id"] = id(special.bos);
  j["eos_token_id"] = id(special.eos);
  j["pad_token_id"] = id(special.pad);
  j["mask_token_id"] = vocab;
  j["crossover"] = extra;
  return j;
}

}  // namespace crossover::hf
