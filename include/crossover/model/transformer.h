// The decoder-only transformer shared by both objectives (Llama-style): token embedding with
// an extra [MASK] row; N pre-norm blocks (RMSNorm -> attention with RoPE, optional grouped-query
// heads and QK-norm -> residual -> RMSNorm -> SwiGLU -> residual); final RMSNorm; LM head tied
// to the embedding or untied; no biases. Causal attention for `ar`, full attention for `mdm`:
// that flag is the only difference between the two models. With model.dropout > 0, a training
// forward (an active DropoutKey) drops attention probabilities and both residual branches.
//
// The class holds the shape and the RoPE tables, not the weights: every function takes the flat
// parameter buffers of model/layout.h (fp32 masters, or bf16 copies, or FSDP-gathered buffers),
// so the same code serves training, sharded training, evaluation and generation.
#pragma once

#include <ATen/core/Tensor.h>
#include <torch/csrc/api/include/torch/version.h>

#include <cstdint>
#include <utility>
#include <vector>

#include "crossover/config/config.h"
#include "crossover/kernels/fused_cpu.h"
#include "crossover/model/dropout.h"
#include "crossover/model/layout.h"

namespace crossover {

// Keys and values of positions already processed, per layer [batch, kv_heads, capacity, head_dim].
struct KVCache {
  std::vector<at::Tensor> k, v;
  int64_t length = 0;  // positions held
  int64_t capacity() const { return k.empty() ? 0 : k[0].size(2); }
};

enum class CacheMode {
  Read,    // attend to the cached positions, leave the cache unchanged
  Append,  // attend to them and append this call's keys and values
};

class Transformer {
 public:
  // vocab: predictable tokens ([MASK] = vocab); max_seq_len bounds positions (RoPE tables).
  Transformer(const ModelConfig& config, int64_t vocab, int64_t max_seq_len);

  const ModelConfig& config() const { return config_; }
  const ModelLayout& layout() const { return layout_; }
  int64_t vocab() const { return vocab_; }
  int64_t mask_id() const { return vocab_; }
  int64_t max_seq_len() const { return max_seq_len_; }
  bool uses_sdpa() const { return use_sdpa_; }

  // The pieces (flats[0] is the "embed" group, flats[1 + i] block i):
  at::Tensor embed(const at::Tensor& embed_flat, const at::Tensor& ids) const;
  at::Tensor block(int64_t layer, const at::Tensor& block_flat, const at::Tensor& x, bool causal,
                   KVCache* cache = nullptr, CacheMode mode = CacheMode::Read,
                   const DropoutKey& dropout = {}) const;
  at::Tensor final_norm(const at::Tensor& embed_flat, const at::Tensor& x) const;
  // The LM head [vocab, d]: the embedding without its [MASK] row when tied.
  at::Tensor head_weight(const at::Tensor& embed_flat) const;

  // ids [B, T] -> final hidden states [B, T, d]. With a cache, positions start at cache->length.
  at::Tensor hidden(const std::vector<at::Tensor>& flats, const at::Tensor& ids, bool causal,
                    KVCache* cache = nullptr, CacheMode mode = CacheMode::Read,
                    const DropoutKey& dropout = {}) const;
  // hidden -> logits [.., vocab] (materialised: for generation and small evaluations).
  at::Tensor logits(const at::Tensor& embed_flat, const at::Tensor& hidden) const;

  KVCache make_cache(int64_t batch, int64_t capacity, at::TensorOptions options) const;

  // Attention on [B, H, Tq, hd] queries and [B, KV, Tk, hd] keys/values; queries sit at
  // positions Tk - Tq .. Tk - 1 (so a causal query sees keys up to its own position).
  // prob_scale [B * H, Tq, Tk], when given, multiplies the attention probabilities (dropout).
  at::Tensor attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, bool causal,
                       const at::Tensor& prob_scale = {}) const;
  static at::Tensor plain_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                    bool causal, const at::Tensor& prob_scale = {});

 private:
  // Views of a block's flat buffer, with the neighbouring projections fused: wqkv is wq, wk, wv
  // stacked ([d + 2 kv hd, d]), w_gate_up is w_gate over w_up ([2 ffn, d]).
  struct BlockWeights {
    at::Tensor attn_norm, wqkv, wo, q_norm, k_norm, ffn_norm, w_gate_up, w_down;
  };
  BlockWeights block_weights(int64_t layer, const at::Tensor& flat) const;
  // cos, sin [T, hd / 2] of positions pos0.. on `like`'s device and dtype.
  std::pair<at::Tensor, at::Tensor> rope_tables(int64_t pos0, int64_t T,
                                                const at::Tensor& like) const;
  // q, k, v of a block from its projection qkv [B, T, (H + 2 KV) hd], at positions pos0..
  QkvHeads heads(const at::Tensor& qkv, const BlockWeights& w, int64_t pos0) const;
  ModelConfig config_;
  int64_t vocab_, max_seq_len_;
  ModelLayout layout_;
  at::Tensor cos_, sin_;  // [max_seq_len, head_dim / 2], fp32, CPU (moved on demand)
  mutable at::Tensor cos_dev_, sin_dev_;
  bool use_sdpa_ = false;
};

// What this LibTorch offers the GPU path (model/memory.h counts activations by it):
// - a fused rms_norm (at::rms_norm runs one CUDA kernel from LibTorch 2.8) that keeps only its
//   input and the per-row 1/rms for backward, where the composition keeps an fp32 copy of the
//   input and the normalised output;
// - sdpa's enable_gqa (LibTorch 2.5), which takes grouped keys and values as they are instead of
//   repeated once per query head (per layer, and over the whole KV cache per decoded token).
#define CROSSOVER_TORCH_AT_LEAST(major, minor) \
  (TORCH_VERSION_MAJOR > (major) ||            \
   (TORCH_VERSION_MAJOR == (major) && TORCH_VERSION_MINOR >= (minor)))
inline constexpr bool kHaveSdpa = CROSSOVER_TORCH_AT_LEAST(2, 0);  // scaled_dot_product_attention
inline constexpr bool kFusedRmsNorm = CROSSOVER_TORCH_AT_LEAST(2, 8);
inline constexpr bool kSdpaGqa = CROSSOVER_TORCH_AT_LEAST(2, 5);

// x * rsqrt(mean(x^2) + eps) * weight over the last dimension (statistics in fp32): the fused
// single pass on fp32 CPU tensors (kernels/fused_cpu.h); on a GPU where kFusedRmsNorm,
// rms_norm_aten; else rms_norm_reference, which both are tested against.
at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps);
at::Tensor rms_norm_reference(const at::Tensor& x, const at::Tensor& weight, double eps);
// at::rms_norm (LibTorch >= 2.8; throws on older ones) with the weight in x's dtype.
at::Tensor rms_norm_aten(const at::Tensor& x, const at::Tensor& weight, double eps);
// silu(gate) * up of gate_up [..., 2F] = [gate | up]: the fused single pass on fp32 CPU tensors
// (kernels/fused_cpu.h), else swiglu_reference, which it is tested against.
at::Tensor swiglu(const at::Tensor& gate_up);
at::Tensor swiglu_reference(const at::Tensor& gate_up);
// Rotary embedding of x [B, H, T, hd] with cos, sin [T, hd / 2] as LibTorch ops.
at::Tensor rope_reference(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin);
// qkv_heads_cpu (kernels/fused_cpu.h) composed of LibTorch ops: split, transposed views,
// rms_norm_reference (on a GPU where kFusedRmsNorm, rms_norm_aten) and rope_reference. Its
// reference, and the path on GPUs and in bf16.
QkvHeads qkv_heads_reference(const at::Tensor& qkv, int64_t heads, int64_t kv_heads,
                             const at::Tensor& q_norm, const at::Tensor& k_norm, double eps,
                             const at::Tensor& cos, const at::Tensor& sin);

}  // namespace crossover
