// How crossover's transformer maps onto Hugging Face transformers' architectures, in one place
// for export and import.
//
// The model is Qwen3 when it has QK-norm (RMSNorm per head on queries and keys, before RoPE) and
// Llama otherwise: both are pre-norm RMSNorm decoders with SwiGLU, RoPE on split halves
// (transformers' rotate_half, which is crossover's convention, so q/k weights need no
// permutation), grouped-query attention, no biases and a tied or untied head. crossover's
// embedding has one row more than the tokenizer's vocabulary, row `vocab` being [MASK]; the
// exported model's vocab_size is vocab + 1, so an MDM export can take [MASK] as input. The head
// then has a column for [MASK] too: the tied head's is [MASK]'s embedding row, an untied head's
// is a zero row; crossover never trains or predicts it, so users drop it (logits[..., :vocab]).
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "crossover/config/config.h"
#include "crossover/data/tokenizer.h"

namespace crossover::hf {

struct Architecture {
  std::string model_type;  // config.json "model_type": "qwen3" | "llama"
  std::string class_name;  // "Qwen3ForCausalLM" | "LlamaForCausalLM"
};

Architecture architecture_for(const ModelConfig& model);

// The transformers tensor name of a crossover parameter, e.g. "blocks.3.attn.wq" ->
// "model.layers.3.self_attn.q_proj.weight", "tok_embeddings" -> "model.embed_tokens.weight".
std::string tensor_name(const std::string& crossover_name);

// config.json of an exported model. `vocab`: the tokenizer's pieces (the model has vocab + 1
// rows); `dtype`: "float32" or "bfloat16"; `extra` goes under the "crossover" key (objective,
// step, ...).
nlohmann::ordered_json model_config(const RunConfig& config, int64_t vocab,
                                    const SpecialIds& special, const std::string& dtype,
                                    const nlohmann::ordered_json& extra);

}  // namespace crossover::hf
