// The fused CPU passes (kernels/fused_cpu.h) against the composed LibTorch references, forward and
// backward, on shapes that exercise the vector lanes and their remainders.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include "crossover/kernels/fused_cpu.h"
#include "crossover/model/transformer.h"

namespace crossover {
namespace {

struct Grads {
  at::Tensor out, dx, dw;
};

template <class F>
Grads run(F f, const at::Tensor& x0, const at::Tensor& w0, const at::Tensor& g) {
  const at::Tensor x = x0.clone().set_requires_grad(true);
  const at::Tensor w = w0.clone().set_requires_grad(true);
  const at::Tensor out = f(x, w);
  out.backward(g);
  return {out.detach(), x.grad(), w.grad()};
}

void expect_close(const at::Tensor& a, const at::Tensor& b, double tol, const char* what) {
  ASSERT_EQ(a.sizes(), b.sizes()) << what;
  const double err = (a - b).abs().max().item<double>();
  const double scale = b.abs().max().item<double>();
  EXPECT_LE(err, tol * std::max(1.0, scale)) << what;
}

TEST(FusedCpu, RmsNormMatchesTheReferenceInValueAndGradients) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(5);
  for (int64_t D : {1, 15, 16, 64, 100, 256}) {
    // A transposed (non-contiguous) input, as q and k arrive.
    const at::Tensor x = at::randn({3, 7, 4, D}, gen).transpose(1, 2);
    const at::Tensor w = at::randn({D}, gen);
    const at::Tensor g = at::randn({3, 4, 7, D}, gen);
    const auto fused = run([](auto& a, auto& b) { return rms_norm_cpu(a, b, 1e-6); }, x, w, g);
    const auto ref = run([](auto& a, auto& b) { return rms_norm_reference(a, b, 1e-6); }, x, w, g);
    expect_close(fused.out, ref.out, 1e-6, "rms_norm");
    expect_close(fused.dx, ref.dx, 1e-5, "rms_norm dx");
    expect_close(fused.dw, ref.dw, 1e-5, "rms_norm dw");
  }
}

TEST(FusedCpu, QkvHeadsMatchTheReferenceInValueAndGradients) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(6);
  // With and without QK-norm, grouped keys (4 query heads, 2 kv heads), head sizes that fill
  // vector lanes and leave remainders.
  for (const bool norm : {true, false})
    for (int64_t hd : {2, 8, 64, 34}) {
      SCOPED_TRACE((norm ? "qk-norm hd " : "hd ") + std::to_string(hd));
      const int64_t B = 2, T = 11, H = 4, KV = 2;
      const at::Tensor qkv0 = at::randn({B, T, (H + 2 * KV) * hd}, gen) * 2;
      const at::Tensor qn0 = at::randn({hd}, gen), kn0 = at::randn({hd}, gen);
      const at::Tensor angles = at::randn({T, hd / 2}, gen);
      const at::Tensor c = angles.cos(), s = angles.sin();
      const at::Tensor gq = at::randn({B, H, T, hd}, gen), gk = at::randn({B, KV, T, hd}, gen),
                       gv = at::randn({B, KV, T, hd}, gen);
      struct Out {
        QkvHeads heads;
        at::Tensor dqkv, dqn, dkn;
      };
      auto run_heads = [&](auto f) {
        const at::Tensor qkv = qkv0.clone().set_requires_grad(true);
        const at::Tensor qn = qn0.clone().set_requires_grad(true);
        const at::Tensor kn = kn0.clone().set_requires_grad(true);
        QkvHeads h = f(qkv, norm ? qn : at::Tensor(), norm ? kn : at::Tensor());
        ((h.q * gq).sum() + (h.k * gk).sum() + (h.v * gv).sum()).backward();
        return Out{{h.q.detach(), h.k.detach(), h.v.detach()}, qkv.grad(), qn.grad(), kn.grad()};
      };
      const Out fused = run_heads(
          [&](auto& x, auto qn, auto kn) { return qkv_heads_cpu(x, H, KV, qn, kn, 1e-6, c, s); });
      const Out ref = run_heads([&](auto& x, auto qn, auto kn) {
        return qkv_heads_reference(x, H, KV, qn, kn, 1e-6, c, s);
      });
      expect_close(fused.heads.q, ref.heads.q, 1e-6, "q");
      expect_close(fused.heads.k, ref.heads.k, 1e-6, "k");
      EXPECT_TRUE(at::equal(fused.heads.v, ref.heads.v));
      EXPECT_TRUE(fused.heads.q.is_contiguous() && fused.heads.k.is_contiguous() &&
                  fused.heads.v.is_contiguous());
      expect_close(fused.dqkv, ref.dqkv, 1e-5, "d qkv");
      if (norm) {
        expect_close(fused.dqn, ref.dqn, 1e-5, "d q_norm");
        expect_close(fused.dkn, ref.dkn, 1e-5, "d k_norm");
      } else {
        EXPECT_FALSE(fused.dqn.defined());
      }
    }
  EXPECT_THROW(qkv_heads_cpu(at::zeros({1, 3, 10}), 1, 1, {}, {}, 1e-6, at::zeros({3, 1}),
                             at::zeros({3, 1})),
               std::invalid_argument);
}

TEST(FusedCpu, SwigluMatchesTheReferenceInValueAndGradient) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(8);
  for (int64_t F : {1, 7, 16, 33, 704}) {
    // Gates over the range where silu bends and saturates, and the overflow edges of exp.
    at::Tensor x = at::randn({3, 5, 2 * F}, gen) * 6;
    x.view({-1})[0] = 100.0f;
    x.view({-1})[1] = -100.0f;
    const at::Tensor g = at::randn({3, 5, F}, gen);
    const auto fused = run([](auto& a, auto&) { return swiglu_cpu(a); }, x, x, g);
    const auto ref = run([](auto& a, auto&) { return swiglu_reference(a); }, x, x, g);
    expect_close(fused.out, ref.out, 1e-6, "swiglu");
    expect_close(fused.dx, ref.dx, 1e-6, "swiglu dx");
  }
  EXPECT_THROW(swiglu_cpu(at::zeros({2, 3})), std::invalid_argument);
}

TEST(FusedCpu, WithoutAutogradTheForwardIsTheSame) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(7);
  const at::Tensor x = at::randn({5, 48}, gen), w = at::randn({48}, gen);
  const at::Tensor graded = rms_norm_cpu(x, w.clone().set_requires_grad(true), 1e-5).detach();
  c10::InferenceMode inference;
  EXPECT_TRUE(at::equal(rms_norm_cpu(x, w, 1e-5), graded));
}

}  // namespace
}  // namespace crossover
