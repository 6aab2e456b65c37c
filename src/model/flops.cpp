#include "crossover/model/flops.h"

namespace crossover {

ParamCount count_parameters(const ModelConfig& m, int64_t vocab) {
  ParamCount p;
  const int64_t d = m.d_model, hd = m.head_dim(), kv = m.kv_heads_resolved();
  p.embedding = (vocab + 1) * d;
  const int64_t attention = d * d /*q*/ + 2 * d * kv * hd /*k, v*/ + d * d /*o*/;
  const int64_t ffn = 3 * d * m.ffn_hidden_resolved();
  p.per_block = attention + ffn + 2 * d + (m.qk_norm ? 2 * hd : 0);
  p.blocks = m.layers * p.per_block;
  p.final_norm = d;
  p.head = m.tie_embeddings ? 0 : vocab * d;
  p.total = p.embedding + p.blocks + p.final_norm + p.head;
  p.non_embedding = p.total - p.embedding - p.head;
  return p;
}

namespace {
double block_matmul_params(const ModelConfig& m) {
  const double d = m.d_model, hd = m.head_dim(), kv = m.kv_heads_resolved();
  return 2 * d * d + 2 * d * kv * hd + 3 * d * m.ffn_hidden_resolved();
}
}  // namespace

double training_flops_per_token(const ModelConfig& m, int64_t vocab, int64_t seq_len) {
  const double matmul = m.layers * block_matmul_params(m) + static_cast<double>(vocab) * m.d_model;
  return 6.0 * matmul + 12.0 * m.layers * m.d_model * static_cast<double>(seq_len);
}

double step_flops(const ModelConfig& m, int64_t vocab, int64_t seq_len, int64_t positions,
                  int64_t head_rows) {
  const double backbone = 6.0 * m.layers * block_matmul_params(m) +
                          12.0 * m.layers * m.d_model * seq_len;
  return backbone * positions + 6.0 * vocab * m.d_model * head_rows;
}

}  // namespace crossover
