#include "crossover/model/transformer.h"

#include <ATen/ATen.h>
#include <torch/csrc/api/include/torch/version.h>

#include <cmath>
#include <stdexcept>

namespace crossover {

namespace {
// scaled_dot_product_attention exists from LibTorch 2.0.
constexpr bool kHaveSdpa = TORCH_VERSION_MAJOR >= 2;
}  // namespace

at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps) {
  // Statistics in fp32 whatever the compute dtype.
  const at::Tensor xf = x.to(at::kFloat);
  const at::Tensor normed = xf * at::rsqrt(xf.pow(2).mean(-1, /*keepdim=*/true) + eps);
  return normed.to(x.scalar_type()) * weight.to(x.scalar_type());
}

Transformer::Transformer(const ModelConfig& config, int64_t vocab, int64_t max_seq_len,
                         const OptimizerConfig& optimizer)
    : config_(config),
      vocab_(vocab),
      max_seq_len_(max_seq_len),
      layout_(make_layout(config, vocab, optimizer)) {
  validate(RunConfig{config});
  if (config.attention == AttentionImpl::kSdpa && !kHaveSdpa)
    throw std::invalid_argument("model.attention: sdpa needs LibTorch 2.0 or newer (this is " +
                                std::string(TORCH_VERSION) + "); use auto or plain");
  use_sdpa_ = kHaveSdpa && config.attention != AttentionImpl::kPlain;
  const int64_t half = config.head_dim() / 2;
  const at::Tensor inv_freq =
      at::pow(config.rope_theta, -at::arange(0, half, at::kDouble) * 2.0 / config.head_dim());
  const at::Tensor angles = at::outer(at::arange(max_seq_len, at::kDouble), inv_freq);
  cos_ = angles.cos().to(at::kFloat);
  sin_ = angles.sin().to(at::kFloat);
}

at::Tensor Transformer::rope(const at::Tensor& x, int64_t pos0) const {
  const int64_t T = x.size(2), half = x.size(3) / 2;
  if (pos0 + T > max_seq_len_)
    throw std::out_of_range("position " + std::to_string(pos0 + T) +
                            " beyond the model's maximum sequence length " +
                            std::to_string(max_seq_len_));
  if (!cos_dev_.defined() || cos_dev_.device() != x.device()) {
    cos_dev_ = cos_.to(x.device());
    sin_dev_ = sin_.to(x.device());
  }
  const at::Tensor c = cos_dev_.narrow(0, pos0, T).to(x.scalar_type());
  const at::Tensor s = sin_dev_.narrow(0, pos0, T).to(x.scalar_type());
  const at::Tensor x1 = x.narrow(-1, 0, half), x2 = x.narrow(-1, half, half);
  return at::cat({x1 * c - x2 * s, x2 * c + x1 * s}, -1);
}

at::Tensor Transformer::plain_attention(const at::Tensor& q, const at::Tensor& k,
                                        const at::Tensor& v, bool causal) {
  const int64_t Tq = q.size(2), Tk = k.size(2), hd = q.size(3);
  at::Tensor scores = at::matmul(q, k.transpose(-2, -1)).to(at::kFloat) * (1.0 / std::sqrt(hd));
  if (causal) {
    // Query i sits at position Tk - Tq + i and sees keys up to it.
    const at::Tensor hidden_keys =
        at::ones({Tq, Tk}, q.options().dtype(at::kBool)).triu(Tk - Tq + 1);
    scores = scores.masked_fill(hidden_keys, -std::numeric_limits<float>::infinity());
  }
  return at::matmul(at::softmax(scores, -1).to(v.scalar_type()), v);
}

at::Tensor Transformer::attention(const at::Tensor& q, const at::Tensor& k0, const at::Tensor& v0,
                                  bool causal) const {
  at::Tensor k = k0, v = v0;
  const int64_t rep = q.size(1) / k.size(1);
  if (rep > 1) {
    k = k.repeat_interleave(rep, 1);
    v = v.repeat_interleave(rep, 1);
  }
#if TORCH_VERSION_MAJOR >= 2
  if (use_sdpa_) {
    // is_causal aligns the mask top-left; with cached keys the mask must be explicit.
    if (!causal || q.size(2) == k.size(2))
      return at::scaled_dot_product_attention(q, k, v, {}, 0.0, causal);
    const at::Tensor visible =
        at::ones({q.size(2), k.size(2)}, q.options().dtype(at::kBool)).tril(k.size(2) - q.size(2));
    return at::scaled_dot_product_attention(q, k, v, visible, 0.0, false);
  }
#endif
  return plain_attention(q, k, v, causal);
}

at::Tensor Transformer::embed(const at::Tensor& embed_flat, const at::Tensor& ids) const {
  return at::embedding(param_view(embed_flat, layout_.groups[0].params[0]), ids);
}

at::Tensor Transformer::block(int64_t layer, const at::Tensor& flat, const at::Tensor& x,
                              bool causal, KVCache* cache, CacheMode mode) const {
  const GroupLayout& g = layout_.groups[1 + layer];
  auto w = [&](const char* name) { return param_view(flat, g.find(name)); };
  const int64_t B = x.size(0), T = x.size(1), d = config_.d_model, H = config_.heads,
                KV = config_.kv_heads_resolved(), hd = config_.head_dim();
  const double eps = config_.norm_eps;
  const int64_t pos0 = cache ? cache->length : 0;

  const at::Tensor h = rms_norm(x, w("attn_norm"), eps);
  at::Tensor q = at::linear(h, w("attn.wq")).view({B, T, H, hd}).transpose(1, 2);
  at::Tensor k = at::linear(h, w("attn.wk")).view({B, T, KV, hd}).transpose(1, 2);
  at::Tensor v = at::linear(h, w("attn.wv")).view({B, T, KV, hd}).transpose(1, 2);
  if (config_.qk_norm) {
    q = rms_norm(q, w("attn.q_norm"), eps);
    k = rms_norm(k, w("attn.k_norm"), eps);
  }
  q = rope(q, pos0);
  k = rope(k, pos0);
  if (cache) {
    if (pos0 + T > cache->capacity())
      throw std::out_of_range("KV cache full: " + std::to_string(pos0 + T) + " positions, capacity " +
                              std::to_string(cache->capacity()));
    at::Tensor& ck = cache->k[layer];
    at::Tensor& cv = cache->v[layer];
    if (mode == CacheMode::Append) {
      ck.narrow(2, pos0, T).copy_(k);
      cv.narrow(2, pos0, T).copy_(v);
      k = ck.narrow(2, 0, pos0 + T);
      v = cv.narrow(2, 0, pos0 + T);
    } else if (pos0 > 0) {
      k = at::cat({ck.narrow(2, 0, pos0), k}, 2);
      v = at::cat({cv.narrow(2, 0, pos0), v}, 2);
    }
  }
  const at::Tensor a = attention(q, k, v, causal).transpose(1, 2).reshape({B, T, d});
  const at::Tensor x1 = x + at::linear(a, w("attn.wo"));
  const at::Tensor f = rms_norm(x1, w("ffn_norm"), eps);
  const at::Tensor gated = at::silu(at::linear(f, w("ffn.w_gate"))) * at::linear(f, w("ffn.w_up"));
  return x1 + at::linear(gated, w("ffn.w_down"));
}

at::Tensor Transformer::final_norm(const at::Tensor& embed_flat, const at::Tensor& x) const {
  return rms_norm(x, param_view(embed_flat, layout_.groups[0].find("norm")), config_.norm_eps);
}

at::Tensor Transformer::head_weight(const at::Tensor& embed_flat) const {
  const GroupLayout& g = layout_.groups[0];
  if (config_.tie_embeddings) return param_view(embed_flat, g.params[0]).narrow(0, 0, vocab_);
  return param_view(embed_flat, g.find("lm_head"));
}

at::Tensor Transformer::hidden(const std::vector<at::Tensor>& flats, const at::Tensor& ids,
                               bool causal, KVCache* cache, CacheMode mode) const {
  if (static_cast<int64_t>(flats.size()) != config_.layers + 1)
    throw std::invalid_argument("Transformer::hidden: expected one flat buffer per group");
  at::Tensor x = embed(flats[0], ids);
  for (int64_t i = 0; i < config_.layers; ++i) x = block(i, flats[1 + i], x, causal, cache, mode);
  if (cache && mode == CacheMode::Append) cache->length += ids.size(1);
  return final_norm(flats[0], x);
}

at::Tensor Transformer::logits(const at::Tensor& embed_flat, const at::Tensor& hidden) const {
  return at::linear(hidden, head_weight(embed_flat));
}

KVCache Transformer::make_cache(int64_t batch, int64_t capacity, at::TensorOptions options) const {
  KVCache c;
  for (int64_t i = 0; i < config_.layers; ++i) {
    c.k.push_back(at::zeros({batch, config_.kv_heads_resolved(), capacity, config_.head_dim()},
                            options));
    c.v.push_back(at::zeros_like(c.k.back()));
  }
  return c;
}

}  // namespace crossover
