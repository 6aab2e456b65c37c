#include "crossover/model/attention_cpu.h"

#include "crossover/util/vector_math.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/csrc/autograd/custom_function.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

namespace crossover {

namespace {

// Query rows per block of causal attention. At T = 256, hd = 64 on OpenBLAS's AVX2 kernels a
// block's GEMMs of 64 rows ran the causal part in 0.78x the time of the full product; 32 and 128
// rows in 0.85x and 0.83x (smaller blocks skip more but run OpenBLAS less efficiently).
constexpr int64_t kCausalBlockRows = 64;

// Query blocks: [begin, begin + size) rows that see keys [0, key_end). Full attention is one
// block (nothing to skip, and one GEMM runs best).
struct Blocks {
  int64_t queries, keys, rows;
  bool causal;
  int64_t count() const { return (queries + rows - 1) / rows; }
  int64_t begin(int64_t i) const { return i * rows; }
  int64_t size(int64_t i) const { return std::min(rows, queries - begin(i)); }
  int64_t key_end(int64_t i) const { return causal ? begin(i) + size(i) : keys; }
  // Keys a query row (0-based inside the whole sequence) may see.
  int64_t visible(int64_t row) const { return causal ? row + 1 : keys; }
};

Blocks blocks_of(int64_t queries, int64_t keys, bool causal) {
  return {queries, keys, causal ? kCausalBlockRows : std::max<int64_t>(queries, 1), causal};
}

// One row of scores s[0, len): the first `visible` become softmax(scale s), the rest 0 (so the
// value GEMM over the block's full width adds nothing for masked keys).
CROSSOVER_CPU_CLONES
void softmax_row(float* __restrict s, int64_t len, int64_t visible, float scale) {
  float peak[16];
  for (int k = 0; k < 16; ++k) peak[k] = -3.4e38f;
  int64_t i = 0;
  for (; i + 16 <= visible; i += 16)
    for (int k = 0; k < 16; ++k) peak[k] = s[i + k] > peak[k] ? s[i + k] : peak[k];
  float m = -3.4e38f;
  for (int k = 0; k < 16; ++k) m = peak[k] > m ? peak[k] : m;
  for (; i < visible; ++i) m = s[i] > m ? s[i] : m;
  const float shift = m * scale;
#pragma GCC ivdep
  for (int64_t j = 0; j < visible; ++j) s[j] = exp_approx(s[j] * scale - shift);
  float acc[16] = {};
  i = 0;
  for (; i + 16 <= visible; i += 16)
    for (int k = 0; k < 16; ++k) acc[k] += s[i + k];
  float sum = 0;
  for (int k = 0; k < 16; ++k) sum += acc[k];
  for (; i < visible; ++i) sum += s[i];
  const float inv = 1.0f / sum;
  for (int64_t j = 0; j < visible; ++j) s[j] *= inv;
  for (int64_t j = visible; j < len; ++j) s[j] = 0.0f;
}

// d scores from d probabilities, in place: scale p (dp - sum(p dp)); 0 for masked keys.
CROSSOVER_CPU_CLONES
void softmax_backward_row(const float* __restrict p, float* __restrict dp, int64_t len,
                          int64_t visible, float scale) {
  const float dot = sum_of_products(p, dp, visible);
#pragma GCC ivdep
  for (int64_t j = 0; j < visible; ++j) dp[j] = scale * p[j] * (dp[j] - dot);
  for (int64_t j = visible; j < len; ++j) dp[j] = 0.0f;
}

// Applies f(row pointer, row) to every row of block i of scores [BH, Tq, Tk].
template <class F>
void for_block_rows(const at::Tensor& scores, const Blocks& b, int64_t i, F f) {
  const int64_t BH = scores.size(0), Tq = scores.size(1), Tk = scores.size(2);
  const int64_t r0 = b.begin(i), n = b.size(i);
  float* base = scores.data_ptr<float>();
  at::parallel_for(0, BH * n, 16, [&](int64_t lo, int64_t hi) {
    for (int64_t idx = lo; idx < hi; ++idx) {
      const int64_t bh = idx / n, row = r0 + idx % n;
      f(base + (bh * Tq + row) * Tk, row);
    }
  });
}

// The probabilities [BH, Tq, Tk] (each block's columns past its key_end unwritten) and the
// output [BH, Tq, hd].
std::pair<at::Tensor, at::Tensor> attention_forward(const at::Tensor& q, const at::Tensor& k,
                                                    const at::Tensor& v, bool causal) {
  const int64_t BH = q.size(0), Tq = q.size(1), Tk = k.size(1), hd = q.size(2);
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  const Blocks b = blocks_of(Tq, Tk, causal);
  at::Tensor p = at::empty({BH, Tq, Tk}, q.options());
  at::Tensor out = at::empty({BH, Tq, hd}, q.options());
  for (int64_t i = 0; i < b.count(); ++i) {
    const int64_t r0 = b.begin(i), n = b.size(i), e = b.key_end(i);
    at::Tensor pi = p.narrow(1, r0, n).narrow(2, 0, e);
    at::bmm_out(pi, q.narrow(1, r0, n), k.narrow(1, 0, e).transpose(1, 2));
    for_block_rows(p, b, i, [&](float* row, int64_t r) { softmax_row(row, e, b.visible(r), scale); });
    at::Tensor out_i = out.narrow(1, r0, n);
    at::bmm_out(out_i, pi, v.narrow(1, 0, e));
  }
  return {p, out};
}

struct BlockAttentionCpu : public torch::autograd::Function<BlockAttentionCpu> {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& q,
                            const at::Tensor& k, const at::Tensor& v, bool causal) {
    auto [p, out] = attention_forward(q, k, v, causal);
    ctx->save_for_backward({q, k, v, p});
    ctx->saved_data["causal"] = causal;
    return out;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_out) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor &q = saved[0], &k = saved[1], &v = saved[2], &p = saved[3];
    const at::Tensor g = grad_out[0].contiguous();
    const int64_t Tq = q.size(1), Tk = k.size(1);
    const float scale = 1.0f / std::sqrt(static_cast<float>(q.size(2)));
    const Blocks b = blocks_of(Tq, Tk, ctx->saved_data["causal"].toBool());
    // d scores (scaled), written block by block where the probabilities are.
    at::Tensor ds = at::empty_like(p);
    at::Tensor dq = at::empty_like(q), dk = at::empty_like(k), dv = at::empty_like(v);
    for (int64_t i = 0; i < b.count(); ++i) {
      const int64_t r0 = b.begin(i), n = b.size(i), e = b.key_end(i);
      at::Tensor dsi = ds.narrow(1, r0, n).narrow(2, 0, e);
      at::bmm_out(dsi, g.narrow(1, r0, n), v.narrow(1, 0, e).transpose(1, 2));
      const float* pp = p.data_ptr<float>();
      float* dsp = ds.data_ptr<float>();
      for_block_rows(ds, b, i, [&](float* row, int64_t r) {
        softmax_backward_row(pp + (row - dsp), row, e, b.visible(r), scale);
      });
      at::Tensor dq_i = dq.narrow(1, r0, n);
      at::bmm_out(dq_i, dsi, k.narrow(1, 0, e));
    }
    // Key block j is read by query blocks j.. (causal) or by all of them: one GEMM each for its
    // key and value gradients, with no accumulation.
    for (int64_t j = 0; j < b.count(); ++j) {
      const int64_t c0 = b.causal ? b.begin(j) : 0, nc = b.causal ? b.size(j) : Tk;
      const int64_t r0 = b.causal ? c0 : 0;
      const at::Tensor ds_col = ds.narrow(1, r0, Tq - r0).narrow(2, c0, nc).transpose(1, 2);
      const at::Tensor p_col = p.narrow(1, r0, Tq - r0).narrow(2, c0, nc).transpose(1, 2);
      at::Tensor dk_j = dk.narrow(1, c0, nc), dv_j = dv.narrow(1, c0, nc);
      at::bmm_out(dk_j, ds_col, q.narrow(1, r0, Tq - r0));
      at::bmm_out(dv_j, p_col, g.narrow(1, r0, Tq - r0));
      if (!b.causal) break;
    }
    return {dq, dk, dv, at::Tensor()};
  }
};

}  // namespace

bool attention_cpu_applies(const at::Tensor& q, const at::Tensor& k, bool causal) {
  return q.device().is_cpu() && q.scalar_type() == at::kFloat && k.scalar_type() == at::kFloat &&
         (!causal || q.size(2) == k.size(2));
}

at::Tensor attention_cpu(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, bool causal) {
  if (q.dim() != 4 || k.dim() != 4 || v.sizes() != k.sizes() || q.size(0) != k.size(0) ||
      q.size(1) != k.size(1) || q.size(3) != k.size(3))
    throw std::invalid_argument("attention_cpu: expected q [B, H, Tq, hd] and k, v [B, H, Tk, hd]");
  if (causal && q.size(2) != k.size(2))
    throw std::invalid_argument("attention_cpu: causal attention needs as many queries as keys (" +
                                std::to_string(q.size(2)) + " vs " + std::to_string(k.size(2)) + ")");
  const int64_t B = q.size(0), H = q.size(1), Tq = q.size(2), Tk = k.size(2), hd = q.size(3);
  const at::Tensor q3 = q.reshape({B * H, Tq, hd}), k3 = k.reshape({B * H, Tk, hd}),
                   v3 = v.reshape({B * H, Tk, hd});
  const bool graph = at::GradMode::is_enabled() &&
                     (q.requires_grad() || k.requires_grad() || v.requires_grad());
  const at::Tensor out =
      graph ? BlockAttentionCpu::apply(q3, k3, v3, causal) : attention_forward(q3, k3, v3, causal).second;
  return out.view({B, H, Tq, hd});
}

}  // namespace crossover
