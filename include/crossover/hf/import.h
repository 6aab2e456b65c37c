// `crossover import hf`: starts a run from a Llama- or Qwen3-style Hugging Face checkpoint
// (safetensors, single or sharded), to continue pretraining it or to adapt an AR model into a
// masked diffusion model (as DiffuLLaMA and Dream did: same weights, objective.type: mdm).
//
// The run's config decides the model; the checkpoint must fit it. config.json is checked key by
// key (model_type qwen3 needs model.qk_norm: true, llama false; hidden_size, layers, heads,
// kv heads, head_dim, intermediate_size, rms_norm_eps, rope_theta; no rope_scaling, biases or
// sliding window) and every tensor by name and shape; an error names the file, the tensor or
// key, what the config expects and what the checkpoint holds. Tensors that a crossover model
// has no place for (biases, ...) are errors too, except RoPE's cached inv_freq.
//
// Vocabulary: the checkpoint's embedding needs at least `vocab` rows (the tokenizer of the
// run's data, e.g. the model's own tokenizer.model given to `crossover prepare --tokenizer`).
// Rows 0..vocab-1 become crossover's embedding. The [MASK] row (row `vocab`) is the
// checkpoint's row `vocab` when its config.json names that id as mask_token_id (a crossover
// export, so export -> import is exact), else, or with mask_row "mean", the mean of rows
// 0..vocab-1: an input the model reads as an average token, the usual start for a new token's
// embedding (and the better start when adapting an AR export, whose [MASK] row only holds its
// initialisation). Rows past that are
// dropped (padding of the vocabulary). An untied head keeps rows 0..vocab-1 of lm_head.weight,
// or starts as a copy of the embedding when the checkpoint ties its head; a tied config
// refuses an untied checkpoint head.
//
// The result is RUN_DIR/checkpoints/step_00000000 (full format, zero Adam moments, sampler at
// step 0) with config.yaml and data/ beside it, so `crossover train RUN_DIR` resumes from it
// and eval/generate/export read it like any run.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "crossover/config/config.h"

namespace crossover::hf {

struct ImportOptions {
  std::string hf_dir;
  std::string run_dir;
  std::string config_source = "the run config";  // names the config file in errors
  // auto: the checkpoint's [MASK] row when its config.json names one, else the mean of the
  // vocabulary's rows; mean: always the mean (an AR export's [MASK] row was never trained).
  std::string mask_row = "auto";
};

struct ImportResult {
  std::string checkpoint_dir;
  std::string model_type;            // "llama" | "qwen3"
  std::string mask_row;              // how [MASK]'s embedding row was set
  int64_t dropped_rows = 0;          // embedding rows beyond vocab (+ [MASK]) left out
  std::vector<std::string> ignored;  // tensors not imported on purpose (RoPE caches)
};

// `config` is the run's resolved config (file plus --set overrides).
ImportResult import_hf(const RunConfig& config, const ImportOptions& options);

}  // namespace crossover::hf
