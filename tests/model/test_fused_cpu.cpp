// The fused CPU passes (model/fused_cpu.h) against the composed LibTorch references, forward and
// backward, on shapes that exercise the vector lanes and their remainders.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include "crossover/model/fused_cpu.h"
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

TEST(FusedCpu, RopeMatchesTheReferenceInValueAndGradient) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(6);
  for (int64_t hd : {2, 8, 64, 34}) {
    const int64_t T = 11;
    const at::Tensor x = at::randn({2, T, 3, hd}, gen).transpose(1, 2);  // [B, H, T, hd] strided
    const at::Tensor angles = at::randn({T, hd / 2}, gen);
    const at::Tensor c = angles.cos(), s = angles.sin();
    const at::Tensor g = at::randn({2, 3, T, hd}, gen);
    const auto fused = run([&](auto& a, auto&) { return rope_cpu(a, c, s); }, x, c, g);
    const auto ref = run([&](auto& a, auto&) { return rope_reference(a, c, s); }, x, c, g);
    expect_close(fused.out, ref.out, 1e-6, "rope");
    expect_close(fused.dx, ref.dx, 1e-6, "rope dx");
  }
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
