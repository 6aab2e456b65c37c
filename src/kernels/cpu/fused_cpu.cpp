#include "crossover/kernels/fused_cpu.h"

#include "crossover/kernels/vector_math.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/csrc/autograd/custom_function.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

namespace crossover {

namespace {

constexpr int64_t kGrainRows = 16;

CROSSOVER_CPU_CLONES
void rms_norm_rows(const float* x, const float* w, float* y, float* rstd, int64_t rows, int64_t D,
                   float eps) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * D;
    float* yr = y + r * D;
    const float ss = sum_of_products(xr, xr, D);
    const float inv = 1.0f / std::sqrt(ss / static_cast<float>(D) + eps);
    rstd[r] = inv;
    for (int64_t i = 0; i < D; ++i) yr[i] = (xr[i] * inv) * w[i];
  }
}

// One row x [D] with normaliser inv and d output g: dx = inv (g w - xhat mean(g w xhat)),
// dw += g xhat, with xhat = x inv; gw is scratch [D].
CROSSOVER_VECTOR_INLINE void rms_norm_backward_row(const float* __restrict x,
                                                   const float* __restrict w, float inv,
                                                   const float* __restrict g, float* __restrict dx,
                                                   float* __restrict dw, float* __restrict gw,
                                                   int64_t D) {
  for (int64_t i = 0; i < D; ++i) gw[i] = g[i] * w[i];
  const float c = sum_of_products(gw, x, D) * inv * inv / static_cast<float>(D);
  for (int64_t i = 0; i < D; ++i) {
    dx[i] = inv * (gw[i] - x[i] * c);
    dw[i] += g[i] * x[i] * inv;
  }
}

// dx = rstd (g w - xhat mean(g w xhat)), dw += g xhat (summed over these rows).
CROSSOVER_CPU_CLONES
void rms_norm_backward_rows(const float* x, const float* w, const float* rstd, const float* g,
                            float* dx, float* dw, float* gw, int64_t rows, int64_t D) {
  for (int64_t r = 0; r < rows; ++r)
    rms_norm_backward_row(x + r * D, w, rstd[r], g + r * D, dx + r * D, dw, gw, D);
}

// One position's q, k and v heads from its row of the fused projection [(H + 2 KV) hd]: q and k
// heads RMS-normalised (when norm) and rotated by the position's angles c, s [hd / 2], each
// written to its head's row of [B, heads, T, hd]; rstd gets the H + KV normalisers.
struct HeadShape {
  int64_t H, KV, T, hd;
  bool norm;
  float eps;
};

CROSSOVER_CPU_CLONES
void qkv_heads_row(const float* __restrict x, const float* wq, const float* wk, const float* c,
                   const float* s, float* q, float* k, float* v, float* rstd, int64_t b, int64_t t,
                   const HeadShape& L) {
  const int64_t hd = L.hd, half = hd / 2;
  for (int64_t h = 0; h < L.H + 2 * L.KV; ++h) {
    const float* __restrict xh = x + h * hd;
    if (h >= L.H + L.KV) {
      float* __restrict out = v + ((b * L.KV + h - L.H - L.KV) * L.T + t) * hd;
      for (int64_t i = 0; i < hd; ++i) out[i] = xh[i];
      continue;
    }
    const bool is_q = h < L.H;
    float* __restrict out = is_q ? q + ((b * L.H + h) * L.T + t) * hd
                                 : k + ((b * L.KV + h - L.H) * L.T + t) * hd;
    const float* __restrict w = is_q ? wq : wk;
    float inv = 1.0f;
    if (L.norm) {
      inv = 1.0f / std::sqrt(sum_of_products(xh, xh, hd) / static_cast<float>(hd) + L.eps);
      rstd[h] = inv;
    }
    for (int64_t i = 0; i < half; ++i) {
      const float a = L.norm ? (xh[i] * inv) * w[i] : xh[i];
      const float z = L.norm ? (xh[i + half] * inv) * w[i + half] : xh[i + half];
      out[i] = a * c[i] - z * s[i];
      out[i + half] = z * c[i] + a * s[i];
    }
  }
}

// The backward of qkv_heads_row: the rotation undone on d q, d k, then the normalisation's
// backward (dx = rstd (dy w - xhat mean(dy w xhat)), dw += dy xhat), into the row of d qkv.
CROSSOVER_CPU_CLONES
void qkv_heads_backward_row(const float* __restrict x, const float* wq, const float* wk,
                            const float* c, const float* s, const float* dq, const float* dk,
                            const float* dv, const float* rstd, float* __restrict dx, float* dwq,
                            float* dwk, float* scratch, int64_t b, int64_t t, const HeadShape& L) {
  const int64_t hd = L.hd, half = hd / 2;
  for (int64_t h = 0; h < L.H + 2 * L.KV; ++h) {
    const float* __restrict xh = x + h * hd;
    float* __restrict dxh = dx + h * hd;
    if (h >= L.H + L.KV) {
      const float* __restrict g = dv + ((b * L.KV + h - L.H - L.KV) * L.T + t) * hd;
      for (int64_t i = 0; i < hd; ++i) dxh[i] = g[i];
      continue;
    }
    const bool is_q = h < L.H;
    const float* __restrict g = is_q ? dq + ((b * L.H + h) * L.T + t) * hd
                                     : dk + ((b * L.KV + h - L.H) * L.T + t) * hd;
    // d of the normalised head (before rotation): the rotation by -angle.
    float* __restrict dy = L.norm ? scratch : dxh;
    for (int64_t i = 0; i < half; ++i) {
      dy[i] = g[i] * c[i] + g[i + half] * s[i];
      dy[i + half] = g[i + half] * c[i] - g[i] * s[i];
    }
    if (!L.norm) continue;
    rms_norm_backward_row(xh, is_q ? wq : wk, rstd[h], dy, dxh, is_q ? dwq : dwk, scratch + hd, hd);
  }
}

// SwiGLU rows: gate_up row [gate (F) | up (F)] -> y = silu(gate) * up.
CROSSOVER_CPU_CLONES
void swiglu_rows(const float* gu, float* y, int64_t rows, int64_t F) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* __restrict g = gu + r * 2 * F;
    const float* __restrict u = g + F;
    float* __restrict yr = y + r * F;
#pragma GCC ivdep
    for (int64_t i = 0; i < F; ++i) yr[i] = g[i] / (1.0f + exp_approx(-g[i])) * u[i];
  }
}

// d gate = dy up silu'(gate), d up = dy silu(gate), with silu'(g) = s (1 + g (1 - s)), s the
// sigmoid; written as one [gate | up] row, the layout of the GEMM that made them.
CROSSOVER_CPU_CLONES
void swiglu_backward_rows(const float* gu, const float* dy, float* dgu, int64_t rows, int64_t F) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* __restrict g = gu + r * 2 * F;
    const float* __restrict u = g + F;
    const float* __restrict d = dy + r * F;
    float* __restrict dg = dgu + r * 2 * F;
    float* __restrict du = dg + F;
#pragma GCC ivdep
    for (int64_t i = 0; i < F; ++i) {
      const float s = 1.0f / (1.0f + exp_approx(-g[i]));
      du[i] = d[i] * g[i] * s;
      dg[i] = d[i] * u[i] * s * (1.0f + g[i] * (1.0f - s));
    }
  }
}

// y and the per-row rstd of contiguous x, w.
std::pair<at::Tensor, at::Tensor> rms_norm_forward(const at::Tensor& x, const at::Tensor& w,
                                                   double eps) {
  const int64_t D = x.size(-1), rows = x.numel() / D;
  at::Tensor y = at::empty_like(x);
  at::Tensor rstd = at::empty({rows}, x.options());
  const float* xp = x.data_ptr<float>();
  const float* wp = w.data_ptr<float>();
  float* yp = y.data_ptr<float>();
  float* rp = rstd.data_ptr<float>();
  at::parallel_for(0, rows, kGrainRows, [&](int64_t b, int64_t e) {
    rms_norm_rows(xp + b * D, wp, yp + b * D, rp + b, e - b, D, static_cast<float>(eps));
  });
  return {y, rstd};
}

struct RmsNormCpu : public torch::autograd::Function<RmsNormCpu> {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x_in,
                            const at::Tensor& w_in, double eps) {
    const at::Tensor x = x_in.contiguous(), w = w_in.contiguous();
    auto [y, rstd] = rms_norm_forward(x, w, eps);
    ctx->save_for_backward({x, w, rstd});
    return y;
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_out) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor &x = saved[0], &w = saved[1], &rstd = saved[2];
    const at::Tensor g = grad_out[0].contiguous();
    const int64_t D = x.size(-1), rows = x.numel() / D;
    at::Tensor dx = at::empty_like(x);
    // One partial weight gradient per chunk of rows, summed after: no shared writes. The chunks
    // depend on the rows only, so the sum's order (and its rounding) is the same on any number
    // of threads.
    const int64_t chunks = std::max<int64_t>(1, std::min<int64_t>(64, (rows + 255) / 256));
    const int64_t per = (rows + chunks - 1) / chunks;
    at::Tensor partial = at::zeros({chunks, D}, x.options());
    const float *xp = x.data_ptr<float>(), *wp = w.data_ptr<float>(), *rp = rstd.data_ptr<float>(),
                *gp = g.data_ptr<float>();
    float *dxp = dx.data_ptr<float>(), *pp = partial.data_ptr<float>();
    at::parallel_for(0, chunks, 1, [&](int64_t cb, int64_t ce) {
      std::vector<float> gw(D);
      for (int64_t c = cb; c < ce; ++c) {
        const int64_t b = c * per, n = std::min(rows, b + per) - b;
        if (n > 0)
          rms_norm_backward_rows(xp + b * D, wp, rp + b, gp + b * D, dxp + b * D, pp + c * D,
                                 gw.data(), n, D);
      }
    });
    return {dx, partial.sum(0), at::Tensor()};
  }
};

// q [B, H, T, hd], k and v [B, KV, T, hd] (contiguous) and the normalisers [B, T, H + KV] of a
// contiguous qkv [B, T, (H + 2 KV) hd].
struct Heads {
  at::Tensor q, k, v, rstd;
};

HeadShape head_shape(const at::Tensor& qkv, int64_t H, int64_t KV, bool norm, double eps) {
  const int64_t hd = qkv.size(2) / (H + 2 * KV);
  return {H, KV, qkv.size(1), hd, norm, static_cast<float>(eps)};
}

Heads qkv_heads_forward(const at::Tensor& qkv, const at::Tensor& wq, const at::Tensor& wk,
                        const at::Tensor& cos, const at::Tensor& sin, const HeadShape& L) {
  const int64_t B = qkv.size(0), T = L.T, hd = L.hd, width = qkv.size(2);
  Heads out{at::empty({B, L.H, T, hd}, qkv.options()), at::empty({B, L.KV, T, hd}, qkv.options()),
            at::empty({B, L.KV, T, hd}, qkv.options()),
            at::empty({B, T, L.H + L.KV}, qkv.options())};
  const float *xp = qkv.data_ptr<float>(), *cp = cos.data_ptr<float>(), *sp = sin.data_ptr<float>();
  const float* wqp = L.norm ? wq.data_ptr<float>() : nullptr;
  const float* wkp = L.norm ? wk.data_ptr<float>() : nullptr;
  float *qp = out.q.data_ptr<float>(), *kp = out.k.data_ptr<float>(), *vp = out.v.data_ptr<float>(),
        *rp = out.rstd.data_ptr<float>();
  at::parallel_for(0, B * T, kGrainRows, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const int64_t b = r / T, t = r % T;
      qkv_heads_row(xp + r * width, wqp, wkp, cp + t * (hd / 2), sp + t * (hd / 2), qp, kp, vp,
                    rp + r * (L.H + L.KV), b, t, L);
    }
  });
  return out;
}

struct QkvHeadsCpu : public torch::autograd::Function<QkvHeadsCpu> {
  // Without QK-norm (norm false) q_norm and k_norm are empty and get no gradient.
  static torch::autograd::variable_list forward(torch::autograd::AutogradContext* ctx,
                                                const at::Tensor& qkv, const at::Tensor& q_norm,
                                                const at::Tensor& k_norm, const at::Tensor& cos,
                                                const at::Tensor& sin, int64_t H, int64_t KV,
                                                bool norm, double eps) {
    const HeadShape L = head_shape(qkv, H, KV, norm, eps);
    Heads h = qkv_heads_forward(qkv, q_norm, k_norm, cos, sin, L);
    ctx->save_for_backward({qkv, q_norm, k_norm, cos, sin, h.rstd});
    ctx->saved_data["H"] = H;
    ctx->saved_data["KV"] = KV;
    ctx->saved_data["norm"] = norm;
    ctx->saved_data["eps"] = eps;
    return {h.q, h.k, h.v};
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor &qkv = saved[0], &wq = saved[1], &wk = saved[2], &cos = saved[3],
                     &sin = saved[4], &rstd = saved[5];
    const int64_t H = ctx->saved_data["H"].toInt(), KV = ctx->saved_data["KV"].toInt();
    const HeadShape L = head_shape(qkv, H, KV, ctx->saved_data["norm"].toBool(),
                                   ctx->saved_data["eps"].toDouble());
    const int64_t B = qkv.size(0), T = L.T, hd = L.hd, width = qkv.size(2), rows = B * T;
    auto grad = [&](size_t i, int64_t heads) {
      return grads[i].defined() ? grads[i].contiguous()
                                : at::zeros({B, heads, T, hd}, qkv.options());
    };
    const at::Tensor dq = grad(0, H), dk = grad(1, KV), dv = grad(2, KV);
    at::Tensor dqkv = at::empty_like(qkv);
    // Partial weight gradients per fixed chunk of rows, summed after (as in RmsNormCpu).
    const int64_t chunks = std::max<int64_t>(1, std::min<int64_t>(64, (rows + 255) / 256));
    const int64_t per = (rows + chunks - 1) / chunks;
    at::Tensor partial = at::zeros({chunks, 2, hd}, qkv.options());
    const float *xp = qkv.data_ptr<float>(), *cp = cos.data_ptr<float>(),
                *sp = sin.data_ptr<float>(), *dqp = dq.data_ptr<float>(),
                *dkp = dk.data_ptr<float>(), *dvp = dv.data_ptr<float>(),
                *rp = rstd.data_ptr<float>();
    const float* wqp = L.norm ? wq.data_ptr<float>() : nullptr;
    const float* wkp = L.norm ? wk.data_ptr<float>() : nullptr;
    float *dxp = dqkv.data_ptr<float>(), *pp = partial.data_ptr<float>();
    at::parallel_for(0, chunks, 1, [&](int64_t cb, int64_t ce) {
      std::vector<float> scratch(2 * hd);
      for (int64_t c = cb; c < ce; ++c)
        for (int64_t r = c * per; r < std::min(rows, (c + 1) * per); ++r)
          qkv_heads_backward_row(xp + r * width, wqp, wkp, cp + (r % T) * (hd / 2),
                                 sp + (r % T) * (hd / 2), dqp, dkp, dvp, rp + r * (H + KV),
                                 dxp + r * width, pp + c * 2 * hd, pp + c * 2 * hd + hd,
                                 scratch.data(), r / T, r % T, L);
    });
    at::Tensor dw;
    if (L.norm) dw = partial.sum(0);
    // One per forward input: qkv, q_norm, k_norm, then cos, sin, H, KV, norm, eps (none).
    return {dqkv,
            L.norm ? dw[0] : at::Tensor(),
            L.norm ? dw[1] : at::Tensor(),
            at::Tensor(),
            at::Tensor(),
            at::Tensor(),
            at::Tensor(),
            at::Tensor(),
            at::Tensor()};
  }
};

at::Tensor swiglu_forward(const at::Tensor& gu) {
  const int64_t F = gu.size(-1) / 2, rows = gu.numel() / (2 * F);
  std::vector<int64_t> shape(gu.sizes().begin(), gu.sizes().end());
  shape.back() = F;
  at::Tensor y = at::empty(shape, gu.options());
  const float* gp = gu.data_ptr<float>();
  float* yp = y.data_ptr<float>();
  at::parallel_for(0, rows, kGrainRows, [&](int64_t b, int64_t e) {
    swiglu_rows(gp + b * 2 * F, yp + b * F, e - b, F);
  });
  return y;
}

struct SwigluCpu : public torch::autograd::Function<SwigluCpu> {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& gate_up) {
    const at::Tensor gu = gate_up.contiguous();
    ctx->save_for_backward({gu});
    return swiglu_forward(gu);
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_out) {
    const at::Tensor gu = ctx->get_saved_variables()[0];
    const at::Tensor dy = grad_out[0].contiguous();
    const int64_t F = gu.size(-1) / 2, rows = gu.numel() / (2 * F);
    at::Tensor dgu = at::empty_like(gu);
    const float *gp = gu.data_ptr<float>(), *dp = dy.data_ptr<float>();
    float* op = dgu.data_ptr<float>();
    at::parallel_for(0, rows, kGrainRows, [&](int64_t b, int64_t e) {
      swiglu_backward_rows(gp + b * 2 * F, dp + b * F, op + b * 2 * F, e - b, F);
    });
    return {dgu};
  }
};

void check_norm(const at::Tensor& x, const at::Tensor& w) {
  if (w.numel() != x.size(-1))
    throw std::invalid_argument("rms_norm: weight of " + std::to_string(w.numel()) +
                                " elements for rows of " + std::to_string(x.size(-1)));
}

}  // namespace

bool fused_cpu_applies(const at::Tensor& x) {
  return x.device().is_cpu() && x.scalar_type() == at::kFloat;
}

bool records_graph(std::initializer_list<at::Tensor> inputs) {
  if (!at::GradMode::is_enabled()) return false;
  for (const at::Tensor& t : inputs)
    if (t.defined() && t.requires_grad()) return true;
  return false;
}

at::Tensor rms_norm_cpu(const at::Tensor& x, const at::Tensor& weight, double eps) {
  check_norm(x, weight);
  if (!records_graph({x, weight}))
    return rms_norm_forward(x.contiguous(), weight.contiguous(), eps).first;
  return RmsNormCpu::apply(x, weight, eps);
}

QkvHeads qkv_heads_cpu(const at::Tensor& qkv, int64_t heads, int64_t kv_heads,
                       const at::Tensor& q_norm, const at::Tensor& k_norm, double eps,
                       const at::Tensor& cos, const at::Tensor& sin) {
  const bool norm = q_norm.defined();
  if (qkv.dim() != 3 || qkv.size(2) % (heads + 2 * kv_heads) != 0)
    throw std::invalid_argument("qkv_heads: expected qkv [B, T, (heads + 2 kv_heads) hd]");
  const int64_t hd = qkv.size(2) / (heads + 2 * kv_heads);
  if (hd % 2 != 0 || cos.dim() != 2 || cos.sizes() != sin.sizes() || cos.size(0) != qkv.size(1) ||
      cos.size(1) * 2 != hd)
    throw std::invalid_argument("qkv_heads: expected an even head size and cos, sin [T, hd / 2]");
  if (norm && (q_norm.numel() != hd || !k_norm.defined() || k_norm.numel() != hd))
    throw std::invalid_argument("qkv_heads: q_norm and k_norm must have head_dim elements");
  const at::Tensor x = qkv.contiguous(), c = cos.contiguous(), s = sin.contiguous();
  const at::Tensor none = at::empty({0}, qkv.options());
  const at::Tensor wq = norm ? q_norm.contiguous() : none, wk = norm ? k_norm.contiguous() : none;
  if (!records_graph({qkv, q_norm, k_norm})) {
    Heads h = qkv_heads_forward(x, wq, wk, c, s, head_shape(x, heads, kv_heads, norm, eps));
    return {h.q, h.k, h.v};
  }
  const auto out = QkvHeadsCpu::apply(x, wq, wk, c, s, heads, kv_heads, norm, eps);
  return {out[0], out[1], out[2]};
}

at::Tensor swiglu_cpu(const at::Tensor& gate_up) {
  if (gate_up.size(-1) % 2 != 0)
    throw std::invalid_argument("swiglu: the last dimension (" + std::to_string(gate_up.size(-1)) +
                                ") is not gate and up of equal width");
  if (!records_graph({gate_up})) return swiglu_forward(gate_up.contiguous());
  return SwigluCpu::apply(gate_up);
}

}  // namespace crossover
