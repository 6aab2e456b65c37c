// `crossover export hf`: a checkpoint as a Hugging Face model directory that transformers loads
// with no custom code (AutoModelForCausalLM, AutoTokenizer):
//
//   config.json                    Qwen3ForCausalLM (model.qk_norm) or LlamaForCausalLM
//                                  (hf/model_map.h), vocab_size = vocab + 1, mask_token_id,
//                                  and a "crossover" object (objective, attention, step, tokens)
//   model.safetensors              or model-0000i-of-0000N.safetensors + model.safetensors.index.json
//                                  when the weights exceed max_shard_bytes
//   generation_config.json         bos/eos/pad ids; [MASK] in suppress_tokens, so generate()
//                                  never emits it
//   tokenizer.model                the run's SentencePiece model
//   tokenizer_config.json,         LlamaTokenizer (AutoTokenizer converts it to the fast
//   special_tokens_map.json        tokenizer) with pad/unk/bos/eos from the SentencePiece model,
//                                  [MASK] as an added special token with id vocab; no bos or eos
//                                  is added, because crossover trains on documents joined by eos
//                                  with no bos, so tokenizer(text) gives crossover's ids
//
// An AR export is a causal LM as it stands. An MDM export is the same network run
// bidirectionally: give it a 4-D attention mask of zeros (every position sees every other) and
// [MASK] (mask_token_id) at the positions to predict. Parameters are read from the checkpoint
// group by group and written shard by shard, from any checkpoint format (full or fsdp-sharded,
// any world size): no consolidation step, and memory bounded by one group plus one shard.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace crossover::hf {

struct ExportOptions {
  int64_t step = -1;                        // -1: the latest checkpoint
  std::string out;                          // new directory (must not exist or be empty)
  int64_t max_shard_bytes = 5'000'000'000;  // save_pretrained's default "5GB"
  std::string dtype = "float32";            // float32 | bfloat16
};

struct ExportResult {
  std::string checkpoint_dir;  // the checkpoint exported
  int64_t step = 0;
  std::string architecture;  // e.g. "Qwen3ForCausalLM"
  std::vector<std::string> weight_files;
  int64_t weight_bytes = 0;
};

ExportResult export_hf(const std::string& run_dir, const ExportOptions& options);

}  // namespace crossover::hf
