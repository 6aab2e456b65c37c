#include "crossover/model/fused_cpu.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/csrc/autograd/custom_function.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

namespace crossover {

namespace {

// Each loop is compiled for AVX-512, AVX2 and plain x86-64; the loader picks the best the CPU
// has, so one binary runs on every x86-64 and vectorises where it can.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define CROSSOVER_CPU_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define CROSSOVER_CPU_CLONES
#endif

constexpr int64_t kGrainRows = 16;

// sum a[i] b[i] in 16 interleaved partial sums, which the compiler turns into vector lanes (a
// single running sum is a chain it may not reorder).
inline float sum_of_products(const float* a, const float* b, int64_t n) {
  float acc[16] = {};
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    for (int k = 0; k < 16; ++k) acc[k] += a[i + k] * b[i + k];
  float sum = 0;
  for (int k = 0; k < 16; ++k) sum += acc[k];
  for (; i < n; ++i) sum += a[i] * b[i];
  return sum;
}

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

// dx = rstd (g w - xhat mean(g w xhat)), dw += g xhat (summed over these rows).
CROSSOVER_CPU_CLONES
void rms_norm_backward_rows(const float* x, const float* w, const float* rstd, const float* g,
                            float* dx, float* dw, float* gw, int64_t rows, int64_t D) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * D;
    const float* gr = g + r * D;
    float* dxr = dx + r * D;
    const float inv = rstd[r];
    for (int64_t i = 0; i < D; ++i) gw[i] = gr[i] * w[i];
    const float dot = sum_of_products(gw, xr, D);
    const float c = dot * inv * inv / static_cast<float>(D);
    for (int64_t i = 0; i < D; ++i) {
      dxr[i] = inv * (gw[i] - xr[i] * c);
      dw[i] += gr[i] * xr[i] * inv;
    }
  }
}

// Rows of [B, H, T, hd]: row r is at position r % T. sign = -1 rotates back (the backward).
CROSSOVER_CPU_CLONES
void rope_rows(const float* x, const float* cos, const float* sin, float* y, int64_t row0,
               int64_t rows, int64_t T, int64_t half, float sign) {
  for (int64_t r = row0; r < row0 + rows; ++r) {
    const float* x1 = x + r * 2 * half;
    const float* x2 = x1 + half;
    float* y1 = y + r * 2 * half;
    float* y2 = y1 + half;
    const float* c = cos + (r % T) * half;
    const float* s = sin + (r % T) * half;
    for (int64_t i = 0; i < half; ++i) {
      const float si = sign * s[i];
      y1[i] = x1[i] * c[i] - x2[i] * si;
      y2[i] = x2[i] * c[i] + x1[i] * si;
    }
  }
}

// e^x in float: Cody-Waite reduction by ln 2 and Cephes' degree-6 polynomial (about 1 ulp),
// written without library calls so that the loops around it vectorise (with
// -fno-trapping-math, set for this file in CMakeLists.txt). n = round(x / ln 2) by the
// 1.5 * 2^23 trick: adding it leaves no fraction bits, so the sum rounds to an integer.
inline float exp_approx(float x) {
  x = x > 88.3762626647949f ? 88.3762626647949f : x;  // ternaries: vector min and max
  x = x < -87.3365447504f ? -87.3365447504f : x;
  const float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
  const float r = (x - n * 0.693359375f) + n * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  const int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return p * scale;
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

at::Tensor rope_apply(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin, float sign) {
  const int64_t T = x.size(2), half = x.size(3) / 2, rows = x.numel() / x.size(3);
  at::Tensor y = at::empty_like(x);
  const float *xp = x.data_ptr<float>(), *cp = cos.data_ptr<float>(), *sp = sin.data_ptr<float>();
  float* yp = y.data_ptr<float>();
  at::parallel_for(0, rows, kGrainRows * 4, [&](int64_t b, int64_t e) {
    rope_rows(xp, cp, sp, yp, b, e - b, T, half, sign);
  });
  return y;
}

struct RopeCpu : public torch::autograd::Function<RopeCpu> {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x,
                            const at::Tensor& cos, const at::Tensor& sin) {
    const at::Tensor c = cos.contiguous(), s = sin.contiguous();
    ctx->save_for_backward({c, s});
    return rope_apply(x.contiguous(), c, s, 1.0f);
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_out) {
    const auto saved = ctx->get_saved_variables();
    return {rope_apply(grad_out[0].contiguous(), saved[0], saved[1], -1.0f), at::Tensor(),
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

// Without autograd (evaluation, generation, inference mode) the forward runs alone.
bool records_graph(const at::Tensor& a, const at::Tensor& b) {
  return at::GradMode::is_enabled() && (a.requires_grad() || b.requires_grad());
}

void check_norm(const at::Tensor& x, const at::Tensor& w) {
  if (w.numel() != x.size(-1))
    throw std::invalid_argument("rms_norm: weight of " + std::to_string(w.numel()) +
                                " elements for rows of " + std::to_string(x.size(-1)));
}

void check_rope(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin) {
  if (x.dim() != 4 || x.size(3) % 2 != 0 || cos.dim() != 2 || cos.sizes() != sin.sizes() ||
      cos.size(0) != x.size(2) || cos.size(1) * 2 != x.size(3))
    throw std::invalid_argument("rope: expected x [B, H, T, hd] with hd even and cos, sin [T, hd/2]");
}

}  // namespace

bool fused_cpu_applies(const at::Tensor& x) {
  return x.device().is_cpu() && x.scalar_type() == at::kFloat;
}

at::Tensor rms_norm_cpu(const at::Tensor& x, const at::Tensor& weight, double eps) {
  check_norm(x, weight);
  if (!records_graph(x, weight)) return rms_norm_forward(x.contiguous(), weight.contiguous(), eps).first;
  return RmsNormCpu::apply(x, weight, eps);
}

at::Tensor swiglu_cpu(const at::Tensor& gate_up) {
  if (gate_up.size(-1) % 2 != 0)
    throw std::invalid_argument("swiglu: the last dimension (" + std::to_string(gate_up.size(-1)) +
                                ") is not gate and up of equal width");
  if (!records_graph(gate_up, gate_up)) return swiglu_forward(gate_up.contiguous());
  return SwigluCpu::apply(gate_up);
}

at::Tensor rope_cpu(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin) {
  check_rope(x, cos, sin);
  if (!records_graph(x, x)) return rope_apply(x.contiguous(), cos.contiguous(), sin.contiguous(), 1.0f);
  return RopeCpu::apply(x, cos, sin);
}

}  // namespace crossover
