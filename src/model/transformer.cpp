#include "crossover/model/transformer.h"

#include <ATen/ATen.h>
#include <torch/csrc/api/include/torch/version.h>

#include "crossover/kernels/attention_cpu.h"
#include "crossover/kernels/fused_cpu.h"

#include <cmath>
#include <limits>
#include <stdexcept>

namespace crossover {

namespace {
// Keys or values [B, KV, T, hd] repeated to one per query head, for the paths that need them so.
at::Tensor repeat_heads(const at::Tensor& t, int64_t rep) {
  return rep > 1 ? t.repeat_interleave(rep, 1) : t;
}

#if CROSSOVER_TORCH_AT_LEAST(2, 0)
// sdpa with an explicit mask `visible` when defined, else causal or not. Grouped keys and values
// go in as they are where sdpa has enable_gqa (kSdpaGqa), else repeated.
at::Tensor sdpa(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                const at::Tensor& visible, bool causal) {
  const int64_t rep = q.size(1) / k.size(1);
#if CROSSOVER_TORCH_AT_LEAST(2, 5)
  if (visible.defined())
    return at::scaled_dot_product_attention(q, k, v, visible, 0.0, false, std::nullopt, rep > 1);
  return at::scaled_dot_product_attention(q, k, v, {}, 0.0, causal, std::nullopt, rep > 1);
#else
  const at::Tensor kr = repeat_heads(k, rep), vr = repeat_heads(v, rep);
  if (visible.defined()) return at::scaled_dot_product_attention(q, kr, vr, visible, 0.0, false);
  return at::scaled_dot_product_attention(q, kr, vr, {}, 0.0, causal);
#endif
}
#endif
}  // namespace

namespace {
// Off the CPU: one kernel where LibTorch has it, else the composition.
at::Tensor rms_norm_device(const at::Tensor& x, const at::Tensor& weight, double eps) {
  if (kFusedRmsNorm && !x.device().is_cpu()) return rms_norm_aten(x, weight, eps);
  return rms_norm_reference(x, weight, eps);
}
}  // namespace

at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps) {
  if (fused_cpu_applies(x) && fused_cpu_applies(weight)) return rms_norm_cpu(x, weight, eps);
  return rms_norm_device(x, weight, eps);
}

at::Tensor rms_norm_aten(const at::Tensor& x, const at::Tensor& weight, double eps) {
#if CROSSOVER_TORCH_AT_LEAST(2, 8)
  return at::rms_norm(x, {x.size(-1)}, weight.to(x.scalar_type()), eps);
#else
  (void)x, (void)weight, (void)eps;
  throw std::logic_error("rms_norm_aten: at::rms_norm needs LibTorch 2.8 or newer (this is " +
                         std::string(TORCH_VERSION) + ")");
#endif
}

at::Tensor swiglu(const at::Tensor& gate_up) {
  if (fused_cpu_applies(gate_up)) return swiglu_cpu(gate_up);
  return swiglu_reference(gate_up);
}

at::Tensor swiglu_reference(const at::Tensor& gate_up) {
  const auto parts = gate_up.chunk(2, -1);
  return at::silu(parts[0]) * parts[1];
}

at::Tensor rms_norm_reference(const at::Tensor& x, const at::Tensor& weight, double eps) {
  // Statistics in fp32 whatever the compute dtype.
  const at::Tensor xf = x.to(at::kFloat);
  const at::Tensor normed = xf * at::rsqrt(xf.pow(2).mean(-1, /*keepdim=*/true) + eps);
  return normed.to(x.scalar_type()) * weight.to(x.scalar_type());
}

Transformer::Transformer(const ModelConfig& config, int64_t vocab, int64_t max_seq_len)
    : config_(config), vocab_(vocab), max_seq_len_(max_seq_len),
      layout_(make_layout(config, vocab)) {
  RunConfig whole;  // the model's own checks; the other sections keep their defaults
  whole.model = config;
  validate(whole);
  if (config.attention == AttentionImpl::kSdpa && !kHaveSdpa)
    throw std::invalid_argument("model.attention: sdpa needs LibTorch 2.0 or newer (this is " +
                                std::string(TORCH_VERSION) + "); use auto or plain");
  use_sdpa_ = kHaveSdpa && config.attention != AttentionImpl::kPlain;
  const int64_t half = config.head_dim() / 2;
  const at::Tensor inv_freq = at::pow(config.rope_theta,
                                      -at::arange(0, half, at::kDouble) * 2.0 / config.head_dim());
  const at::Tensor angles = at::outer(at::arange(max_seq_len, at::kDouble), inv_freq);
  cos_ = angles.cos().to(at::kFloat);
  sin_ = angles.sin().to(at::kFloat);
  // Set here for the CPU, so that CPU batch workers (util/worker_pool.h) only ever read them.
  cos_dev_ = cos_;
  sin_dev_ = sin_;
}

std::pair<at::Tensor, at::Tensor> Transformer::rope_tables(int64_t pos0, int64_t T,
                                                           const at::Tensor& like) const {
  if (pos0 + T > max_seq_len_)
    throw std::out_of_range("position " + std::to_string(pos0 + T) +
                            " beyond the model's maximum sequence length " +
                            std::to_string(max_seq_len_));
  if (!cos_dev_.defined() || cos_dev_.device() != like.device()) {
    cos_dev_ = cos_.to(like.device());
    sin_dev_ = sin_.to(like.device());
  }
  return {cos_dev_.narrow(0, pos0, T).to(like.scalar_type()),
          sin_dev_.narrow(0, pos0, T).to(like.scalar_type())};
}

QkvHeads Transformer::heads(const at::Tensor& qkv, const BlockWeights& w, int64_t pos0) const {
  const auto [c, s] = rope_tables(pos0, qkv.size(1), qkv);
  const int64_t H = config_.heads, KV = config_.kv_heads_resolved();
  const at::Tensor q_norm = config_.qk_norm ? w.q_norm : at::Tensor();
  const at::Tensor k_norm = config_.qk_norm ? w.k_norm : at::Tensor();
  if (fused_cpu_applies(qkv) && (!config_.qk_norm || fused_cpu_applies(w.q_norm)))
    return qkv_heads_cpu(qkv, H, KV, q_norm, k_norm, config_.norm_eps, c, s);
  return qkv_heads_reference(qkv, H, KV, q_norm, k_norm, config_.norm_eps, c, s);
}

QkvHeads qkv_heads_reference(const at::Tensor& qkv, int64_t heads, int64_t kv_heads,
                             const at::Tensor& q_norm, const at::Tensor& k_norm, double eps,
                             const at::Tensor& cos, const at::Tensor& sin) {
  const int64_t B = qkv.size(0), T = qkv.size(1), hd = qkv.size(2) / (heads + 2 * kv_heads);
  // Split (not narrowed) so that backward joins the three gradients once.
  const auto parts = qkv.split_with_sizes({heads * hd, kv_heads * hd, kv_heads * hd}, -1);
  at::Tensor q = parts[0].view({B, T, heads, hd}).transpose(1, 2);
  at::Tensor k = parts[1].view({B, T, kv_heads, hd}).transpose(1, 2);
  const at::Tensor v = parts[2].view({B, T, kv_heads, hd}).transpose(1, 2);
  if (q_norm.defined()) {
    q = rms_norm_device(q, q_norm, eps);
    k = rms_norm_device(k, k_norm, eps);
  }
  return {rope_reference(q, cos, sin), rope_reference(k, cos, sin), v};
}

at::Tensor rope_reference(const at::Tensor& x, const at::Tensor& c, const at::Tensor& s) {
  const int64_t half = x.size(3) / 2;
  const at::Tensor x1 = x.narrow(-1, 0, half), x2 = x.narrow(-1, half, half);
  return at::cat({x1 * c - x2 * s, x2 * c + x1 * s}, -1);
}

at::Tensor Transformer::plain_attention(const at::Tensor& q, const at::Tensor& k,
                                        const at::Tensor& v, bool causal,
                                        const at::Tensor& prob_scale) {
  const int64_t B = q.size(0), H = q.size(1), Tq = q.size(2), Tk = k.size(2), hd = q.size(3);
  const double scale = 1.0 / std::sqrt(hd);
  const at::Tensor q3 = q.reshape({B * H, Tq, hd}), kt = k.reshape({B * H, Tk, hd}).transpose(1, 2);
  at::Tensor scores;
  if (causal) {
    // Query i sits at position Tk - Tq + i and sees keys up to it. The mask is added inside the
    // GEMM (baddbmm: bias + scale * q k^T), which costs nothing next to a masked_fill pass over
    // the scores and its backward.
    const at::Tensor bias =
        at::zeros({Tq, Tk}, q.options().dtype(at::kFloat))
            .masked_fill_(at::ones({Tq, Tk}, q.options().dtype(at::kBool)).triu(Tk - Tq + 1),
                          -std::numeric_limits<float>::infinity())
            .to(q.scalar_type());
    scores = at::baddbmm(bias, q3, kt, /*beta=*/1.0, /*alpha=*/scale);
  } else {
    scores = at::bmm(q3, kt).mul_(scale);  // bmm keeps its inputs, not its output, for backward
  }
  at::Tensor p = at::softmax(scores.to(at::kFloat), -1).to(v.scalar_type());
  if (prob_scale.defined()) p = p * prob_scale;
  return at::bmm(p, v.reshape({B * H, Tk, hd})).view({B, H, Tq, hd});
}

at::Tensor Transformer::attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                  bool causal, const at::Tensor& prob_scale) const {
  const int64_t rep = q.size(1) / k.size(1);
  // On the CPU in fp32 the blocked kernel is the faster one also where sdpa exists (LibTorch
  // 2.11: 6113 against 5730 tok/s for the AR step of compare-nanogpt.sh's shape).
  if (config_.attention == AttentionImpl::kAuto && !prob_scale.defined() &&
      attention_cpu_applies(q, k, causal))
    return attention_cpu(q, repeat_heads(k, rep), repeat_heads(v, rep), causal);
#if CROSSOVER_TORCH_AT_LEAST(2, 0)
  // sdpa's own dropout draws from the global generator, which a recomputed block cannot replay.
  if (use_sdpa_ && !prob_scale.defined()) {
    // is_causal aligns the mask top-left; with cached keys the mask must be explicit.
    if (!causal || q.size(2) == k.size(2)) return sdpa(q, k, v, {}, causal);
    return sdpa(
        q, k, v,
        at::ones({q.size(2), k.size(2)}, q.options().dtype(at::kBool)).tril(k.size(2) - q.size(2)),
        false);
  }
#endif
  return plain_attention(q, repeat_heads(k, rep), repeat_heads(v, rep), causal, prob_scale);
}

at::Tensor Transformer::embed(const at::Tensor& embed_flat, const at::Tensor& ids) const {
  const at::Tensor table = param_view(embed_flat, layout_.groups[0].params[0]);
  // On GPUs embedding's backward sums each row's gradient in fp32, deterministically; on the CPU
  // it adds the rows one select at a time, where index_select's backward is one index_add_.
  if (!table.device().is_cpu()) return at::embedding(table, ids);
  std::vector<int64_t> shape(ids.sizes().begin(), ids.sizes().end());
  shape.push_back(table.size(1));
  return at::index_select(table, 0, ids.reshape({-1})).view(shape);
}

at::Tensor Transformer::block(int64_t layer, const at::Tensor& flat, const at::Tensor& x,
                              bool causal, KVCache* cache, CacheMode mode,
                              const DropoutKey& drop) const {
  const BlockWeights w = block_weights(layer, flat);
  const int64_t B = x.size(0), T = x.size(1), d = config_.d_model, H = config_.heads;
  const double eps = config_.norm_eps;
  const int64_t pos0 = cache ? cache->length : 0;

  const at::Tensor h = rms_norm(x, w.attn_norm, eps);
  // q, k and v from one GEMM.
  auto [q, k, v] = heads(at::linear(h, w.wqkv), w, pos0);
  if (cache) {
    if (pos0 + T > cache->capacity())
      throw std::out_of_range("KV cache full: " + std::to_string(pos0 + T) +
                              " positions, capacity " + std::to_string(cache->capacity()));
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
  const double p = drop.active ? config_.dropout : 0.0;
  at::Tensor prob_scale;
  if (p > 0)
    prob_scale = dropout_scale(drop, layer, DropoutSite::kAttentionProbs, B, H * T * k.size(2), p,
                               x.device())
                     .to(x.scalar_type())
                     .view({B * H, T, k.size(2)});
  const at::Tensor a = attention(q, k, v, causal, prob_scale).transpose(1, 2).reshape({B, T, d});
  const at::Tensor x1 = x +
                        dropout(at::linear(a, w.wo), p, drop, layer, DropoutSite::kAttentionOut);
  const at::Tensor f = rms_norm(x1, w.ffn_norm, eps);
  const at::Tensor gate_up = at::linear(f, w.w_gate_up);  // one GEMM for both
  return x1 + dropout(at::linear(swiglu(gate_up), w.w_down), p, drop, layer, DropoutSite::kFfnOut);
}

Transformer::BlockWeights Transformer::block_weights(int64_t layer, const at::Tensor& flat) const {
  // The flat buffer holds the block's parameters back to back (model/layout.h); the projections
  // that read the same input are neighbours there: wq, wk, wv and w_gate, w_up. One split gives
  // every piece (its backward is one concatenation, where a narrow per parameter would scatter
  // each gradient into a zero-filled copy of the whole buffer).
  const GroupLayout& g = layout_.groups[1 + layer];
  const int64_t d = config_.d_model, ffn = config_.ffn_hidden_resolved();
  const int64_t qkv_rows = d + 2 * config_.kv_heads_resolved() * config_.head_dim();
  std::vector<int64_t> sizes;
  std::vector<std::vector<int64_t>> shapes;
  int64_t offset = 0;
  auto piece = [&](const char* first, int64_t numel, std::vector<int64_t> shape) {
    if (g.find(first).offset != offset)
      throw std::logic_error(std::string("block_weights: ") + first +
                             " is not where the layout has it");
    sizes.push_back(numel);
    shapes.push_back(std::move(shape));
    offset += numel;
  };
  piece("attn_norm", d, {d});
  piece("attn.wq", qkv_rows * d, {qkv_rows, d});
  piece("attn.wo", d * d, {d, d});
  if (config_.qk_norm) {
    piece("attn.q_norm", config_.head_dim(), {config_.head_dim()});
    piece("attn.k_norm", config_.head_dim(), {config_.head_dim()});
  }
  piece("ffn_norm", d, {d});
  piece("ffn.w_gate", 2 * ffn * d, {2 * ffn, d});
  piece("ffn.w_down", d * ffn, {d, ffn});
  if (offset != g.numel)
    throw std::logic_error("block_weights: the layout has parameters it does not know");
  const auto parts = flat.split_with_sizes(sizes);
  size_t i = 0;
  auto next = [&] {
    const size_t j = i++;
    return parts[j].view(shapes[j]);
  };
  BlockWeights w;
  w.attn_norm = next();
  w.wqkv = next();
  w.wo = next();
  if (config_.qk_norm) {
    w.q_norm = next();
    w.k_norm = next();
  }
  w.ffn_norm = next();
  w.w_gate_up = next();
  w.w_down = next();
  return w;
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
                               bool causal, KVCache* cache, CacheMode mode,
                               const DropoutKey& dropout) const {
  if (static_cast<int64_t>(flats.size()) != config_.layers + 1)
    throw std::invalid_argument("Transformer::hidden: expected one flat buffer per group");
  at::Tensor x = embed(flats[0], ids);
  for (int64_t i = 0; i < config_.layers; ++i)
    x = block(i, flats[1 + i], x, causal, cache, mode, dropout);
  if (cache && mode == CacheMode::Append) cache->length += ids.size(1);
  return final_norm(flats[0], x);
}

at::Tensor Transformer::logits(const at::Tensor& embed_flat, const at::Tensor& hidden) const {
  return at::linear(hidden, head_weight(embed_flat));
}

KVCache Transformer::make_cache(int64_t batch, int64_t capacity, at::TensorOptions options) const {
  KVCache c;
  for (int64_t i = 0; i < config_.layers; ++i) {
    c.k.push_back(
        at::zeros({batch, config_.kv_heads_resolved(), capacity, config_.head_dim()}, options));
    c.v.push_back(at::zeros_like(c.k.back()));
  }
  return c;
}

}  // namespace crossover
