#include "crossover/kernels/attention_cpu.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/csrc/autograd/custom_function.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

#include "crossover/kernels/cpu_gemm.h"
#include "crossover/kernels/fused_cpu.h"
#include "crossover/kernels/vector_math.h"

namespace crossover {

namespace {

// Query rows per block of causal attention: smaller blocks skip more of the masked triangle but
// run the BLAS on smaller products. At T = 256, hd = 64 (OpenBLAS's AVX2 kernels, 2 threads) the
// whole AR training step ran at 5766-5829 tok/s with 64 rows, 5654-5790 with 32, 5718-5795 with
// 128.
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
  const float shift = max_of(s, visible) * scale;
#pragma GCC ivdep
  for (int64_t j = 0; j < visible; ++j) s[j] = exp_approx(s[j] * scale - shift);
  const float sum = sum_of(s, visible);
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

// One head's attention, forward: q [Tq, hd], k, v [Tk, hd] (rows of hd), p [Tq, Tk] gets the
// probabilities (each block's columns past its key_end unwritten), out rows of hd at stride ldo.
void head_forward(const float* q, const float* k, const float* v, float* p, float* out, int64_t ldo,
                  const Blocks& b, int64_t hd, float scale) {
  const int64_t Tk = b.keys;
  for (int64_t i = 0; i < b.count(); ++i) {
    const int64_t r0 = b.begin(i), n = b.size(i), e = b.key_end(i);
    float* pi = p + r0 * Tk;
    gemm_f32(false, true, n, e, hd, 1.0f, q + r0 * hd, hd, k, hd, 0.0f, pi, Tk);
    for (int64_t r = 0; r < n; ++r) softmax_row(pi + r * Tk, e, b.visible(r0 + r), scale);
    gemm_f32(false, false, n, hd, e, 1.0f, pi, Tk, v, hd, 0.0f, out + r0 * ldo, ldo);
  }
}

// One head's backward from d out (rows at stride ldg): d scores into the scratch ds [Tq, Tk]
// block by block, then dq per query block and dk, dv per key block (key block j is read by
// query blocks j.. when causal, by all of them otherwise): one product each, no accumulation.
void head_backward(const float* q, const float* k, const float* v, const float* p, const float* g,
                   int64_t ldg, float* ds, float* dq, float* dk, float* dv, const Blocks& b,
                   int64_t hd, float scale) {
  const int64_t Tq = b.queries, Tk = b.keys;
  for (int64_t i = 0; i < b.count(); ++i) {
    const int64_t r0 = b.begin(i), n = b.size(i), e = b.key_end(i);
    float* dsi = ds + r0 * Tk;
    gemm_f32(false, true, n, e, hd, 1.0f, g + r0 * ldg, ldg, v, hd, 0.0f, dsi, Tk);
    for (int64_t r = 0; r < n; ++r)
      softmax_backward_row(p + (r0 + r) * Tk, dsi + r * Tk, e, b.visible(r0 + r), scale);
    gemm_f32(false, false, n, hd, e, 1.0f, dsi, Tk, k, hd, 0.0f, dq + r0 * hd, hd);
  }
  for (int64_t j = 0; j < (b.causal ? b.count() : 1); ++j) {
    const int64_t c0 = b.causal ? b.begin(j) : 0, nc = b.causal ? b.size(j) : Tk;
    const int64_t r0 = b.causal ? c0 : 0, rows = Tq - r0;
    gemm_f32(true, false, nc, hd, rows, 1.0f, ds + r0 * Tk + c0, Tk, q + r0 * hd, hd, 0.0f,
             dk + c0 * hd, hd);
    gemm_f32(true, false, nc, hd, rows, 1.0f, p + r0 * Tk + c0, Tk, g + r0 * ldg, ldg, 0.0f,
             dv + c0 * hd, hd);
  }
}

// The probabilities [B, H, Tq, Tk] (kept for backward when keep_probs; otherwise each thread
// reuses one head's [Tq, Tk]) and the output [B, Tq, H, hd], the layout the output projection
// reads, of contiguous q [B, H, Tq, hd], k, v [B, H, Tk, hd]. Heads run in parallel, each start
// to end on one thread: a head's q, k, v and scores stay in its core's cache through every block.
std::pair<at::Tensor, at::Tensor> attention_forward(const at::Tensor& q, const at::Tensor& k,
                                                    const at::Tensor& v, bool causal,
                                                    bool keep_probs) {
  const int64_t B = q.size(0), H = q.size(1), Tq = q.size(2), Tk = k.size(2), hd = q.size(3);
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  const Blocks b = blocks_of(Tq, Tk, causal);
  at::Tensor p = keep_probs ? at::empty({B, H, Tq, Tk}, q.options()) : at::Tensor();
  at::Tensor out = at::empty({B, Tq, H, hd}, q.options());
  const float *qp = q.data_ptr<float>(), *kp = k.data_ptr<float>(), *vp = v.data_ptr<float>();
  float* pp = keep_probs ? p.data_ptr<float>() : nullptr;
  float* op = out.data_ptr<float>();
  at::parallel_for(0, B * H, 1, [&](int64_t begin, int64_t end) {
    std::vector<float> scratch(keep_probs ? 0 : static_cast<size_t>(Tq * Tk));
    for (int64_t bh = begin; bh < end; ++bh) {
      const int64_t batch = bh / H, head = bh % H;
      head_forward(qp + bh * Tq * hd, kp + bh * Tk * hd, vp + bh * Tk * hd,
                   keep_probs ? pp + bh * Tq * Tk : scratch.data(),
                   op + (batch * Tq * H + head) * hd, H * hd, b, hd, scale);
    }
  });
  return {p, out};
}

struct BlockAttentionCpu : public torch::autograd::Function<BlockAttentionCpu> {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& q,
                            const at::Tensor& k, const at::Tensor& v, bool causal) {
    auto [p, out] = attention_forward(q, k, v, causal, /*keep_probs=*/true);
    ctx->save_for_backward({q, k, v, p});
    ctx->saved_data["causal"] = causal;
    return out;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_out) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor &q = saved[0], &k = saved[1], &v = saved[2], &p = saved[3];
    const at::Tensor g = grad_out[0].contiguous();  // [B, Tq, H, hd]
    const int64_t B = q.size(0), H = q.size(1), Tq = q.size(2), Tk = k.size(2), hd = q.size(3);
    const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
    const Blocks b = blocks_of(Tq, Tk, ctx->saved_data["causal"].toBool());
    at::Tensor dq = at::empty_like(q), dk = at::empty_like(k), dv = at::empty_like(v);
    const float *qp = q.data_ptr<float>(), *kp = k.data_ptr<float>(), *vp = v.data_ptr<float>(),
                *pp = p.data_ptr<float>(), *gp = g.data_ptr<float>();
    float *dqp = dq.data_ptr<float>(), *dkp = dk.data_ptr<float>(), *dvp = dv.data_ptr<float>();
    at::parallel_for(0, B * H, 1, [&](int64_t begin, int64_t end) {
      std::vector<float> ds(static_cast<size_t>(Tq * Tk));  // one head's d scores, reused
      for (int64_t bh = begin; bh < end; ++bh) {
        const int64_t batch = bh / H, head = bh % H;
        head_backward(qp + bh * Tq * hd, kp + bh * Tk * hd, vp + bh * Tk * hd, pp + bh * Tq * Tk,
                      gp + (batch * Tq * H + head) * hd, H * hd, ds.data(), dqp + bh * Tq * hd,
                      dkp + bh * Tk * hd, dvp + bh * Tk * hd, b, hd, scale);
      }
    });
    return {dq, dk, dv, at::Tensor()};
  }
};

}  // namespace

bool attention_cpu_applies(const at::Tensor& q, const at::Tensor& k, bool causal) {
  return q.device().is_cpu() && q.scalar_type() == at::kFloat && k.scalar_type() == at::kFloat &&
         (!causal || q.size(2) == k.size(2));
}

at::Tensor attention_cpu(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                         bool causal) {
  if (q.dim() != 4 || k.dim() != 4 || v.sizes() != k.sizes() || q.size(0) != k.size(0) ||
      q.size(1) != k.size(1) || q.size(3) != k.size(3))
    throw std::invalid_argument("attention_cpu: expected q [B, H, Tq, hd] and k, v [B, H, Tk, hd]");
  if (causal && q.size(2) != k.size(2))
    throw std::invalid_argument("attention_cpu: causal attention needs as many queries as keys (" +
                                std::to_string(q.size(2)) + " vs " + std::to_string(k.size(2)) +
                                ")");
  const at::Tensor qc = q.contiguous(), kc = k.contiguous(), vc = v.contiguous();
  const at::Tensor out = records_graph({q, k, v})
                             ? BlockAttentionCpu::apply(qc, kc, vc, causal)
                             : attention_forward(qc, kc, vc, causal, /*keep_probs=*/false).second;
  return out.transpose(1, 2);  // [B, H, Tq, hd] over [B, Tq, H, hd]
}

}  // namespace crossover
