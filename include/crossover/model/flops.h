// Parameter and FLOP accounting shared by the trainer (metrics, MFU), sweep plans and reports.
#pragma once

#include <cstdint>

#include "crossover/config/config.h"

namespace crossover {

struct ParamCount {
  int64_t embedding = 0;  // (vocab + 1) x d: the extra row is [MASK]
  int64_t per_block = 0;  // attention, SwiGLU, the two norms and the optional QK norms
  int64_t blocks = 0;     // layers x per_block
  int64_t final_norm = 0;
  int64_t head = 0;  // untied LM head (vocab x d); 0 when tied
  int64_t total = 0;
  int64_t non_embedding = 0;  // total - embedding - head
};

// The analytic count for a model over `vocab` predictable tokens (the tokenizer's vocabulary;
// [MASK] adds one embedding row).
ParamCount count_parameters(const ModelConfig& m, int64_t vocab);

// Training FLOPs per token (forward + backward): 6 x the matmul parameters (blocks and the LM
// head) + 12 x layers x d_model x seq_len for attention scores and values. The same nominal
// count is used for both objectives so their curves share one axis.
double training_flops_per_token(const ModelConfig& m, int64_t vocab, int64_t seq_len);

// FLOPs (forward + backward) actually performed on `positions` token positions of which only
// `head_rows` go through the LM head (masked diffusion computes the head on masked rows only).
// For MFU.
double step_flops(const ModelConfig& m, int64_t vocab, int64_t seq_len, int64_t positions,
                  int64_t head_rows);

}  // namespace crossover
