// The blocked CPU attention (kernels/attention_cpu.h) against the composed LibTorch attention,
// forward and backward, causal and full, on lengths that fill the 64-row blocks, leave a partial
// last block and fit in one block.
#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <gtest/gtest.h>

#include "crossover/kernels/attention_cpu.h"
#include "crossover/model/transformer.h"

namespace crossover {
namespace {

struct Result {
  at::Tensor out, dq, dk, dv;
};

template <class F>
Result run(F f, const at::Tensor& q0, const at::Tensor& k0, const at::Tensor& v0,
           const at::Tensor& g) {
  const at::Tensor q = q0.clone().set_requires_grad(true), k = k0.clone().set_requires_grad(true),
                   v = v0.clone().set_requires_grad(true);
  const at::Tensor out = f(q, k, v);
  out.backward(g);
  return {out.detach(), q.grad(), k.grad(), v.grad()};
}

double max_error(const at::Tensor& a, const at::Tensor& b) {
  return (a - b).abs().max().item<double>() / std::max(1.0, b.abs().max().item<double>());
}

TEST(AttentionCpu, MatchesTheComposedAttentionInValueAndGradients) {
  at::manual_seed(3);
  for (const bool causal : {true, false}) {
    for (const int64_t T : {7, 64, 100, 256}) {
      SCOPED_TRACE((causal ? "causal T " : "full T ") + std::to_string(T));
      const int64_t B = 2, H = 3, hd = 16;
      // Scores of a few units, as trained models have, so the softmax is neither flat nor one-hot.
      const at::Tensor q = at::randn({B, H, T, hd}) * 1.5, k = at::randn({B, H, T, hd}) * 1.5;
      // v as the model has it: a transposed view of [B, T, H, hd].
      const at::Tensor v = at::randn({B, T, H, hd}).transpose(1, 2);
      const at::Tensor g = at::randn({B, H, T, hd});
      ASSERT_TRUE(attention_cpu_applies(q, k, causal));
      const Result fast = run(
          [&](auto& a, auto& b, auto& c) { return attention_cpu(a, b, c, causal); }, q, k, v, g);
      const Result ref = run(
          [&](auto& a, auto& b, auto& c) { return Transformer::plain_attention(a, b, c, causal); },
          q, k, v, g);
      EXPECT_LE(max_error(fast.out, ref.out), 2e-6);
      EXPECT_LE(max_error(fast.dq, ref.dq), 2e-5);
      EXPECT_LE(max_error(fast.dk, ref.dk), 2e-5);
      EXPECT_LE(max_error(fast.dv, ref.dv), 2e-6);
      // Without autograd the forward alone gives the same output.
      at::NoGradGuard no_grad;
      EXPECT_TRUE(at::equal(attention_cpu(q, k, v, causal), fast.out));
    }
  }
}

TEST(AttentionCpu, FullAttentionTakesFewerQueriesThanKeys) {
  // MDM's block decoding: a block's queries against the cached keys and its own.
  at::manual_seed(4);
  const at::Tensor q = at::randn({2, 2, 9, 16}), k = at::randn({2, 2, 70, 16}),
                   v = at::randn({2, 2, 70, 16});
  const at::Tensor g = at::randn({2, 2, 9, 16});
  ASSERT_TRUE(attention_cpu_applies(q, k, false));
  const Result fast = run([](auto& a, auto& b, auto& c) { return attention_cpu(a, b, c, false); },
                          q, k, v, g);
  const Result ref =
      run([](auto& a, auto& b, auto& c) { return Transformer::plain_attention(a, b, c, false); }, q,
          k, v, g);
  EXPECT_LE(max_error(fast.out, ref.out), 2e-6);
  EXPECT_LE(max_error(fast.dq, ref.dq), 2e-5);
  EXPECT_LE(max_error(fast.dk, ref.dk), 2e-5);
  EXPECT_LE(max_error(fast.dv, ref.dv), 2e-6);
}

TEST(AttentionCpu, CausalQueriesDoNotSeeLaterKeys) {
  at::manual_seed(5);
  const int64_t T = 150;
  const at::Tensor q = at::randn({1, 2, T, 8}), k = at::randn({1, 2, T, 8}),
                   v = at::randn({1, 2, T, 8});
  const at::Tensor base = attention_cpu(q, k, v, true);
  // Changing keys and values from position 90 on leaves the first 90 outputs as they were
  // (bit for bit: their blocks' GEMMs read the same numbers), and changes the rest.
  const at::Tensor k2 = k.clone(), v2 = v.clone();
  k2.narrow(2, 90, T - 90).normal_();
  v2.narrow(2, 90, T - 90).normal_();
  const at::Tensor moved = attention_cpu(q, k2, v2, true);
  EXPECT_TRUE(at::equal(moved.narrow(2, 0, 90), base.narrow(2, 0, 90)));
  EXPECT_FALSE(at::allclose(moved.narrow(2, 90, T - 90), base.narrow(2, 90, T - 90)));
}

TEST(AttentionCpu, TakesOnlyFp32CpuAndAlignedCausalShapes) {
  const at::Tensor q = at::randn({1, 1, 4, 8}), k = at::randn({1, 1, 6, 8});
  EXPECT_FALSE(attention_cpu_applies(q.to(at::kBFloat16), k.to(at::kBFloat16), false));
  EXPECT_FALSE(attention_cpu_applies(q, k, true));  // cached keys: queries at an offset
  EXPECT_TRUE(attention_cpu_applies(q, k, false));
  try {
    attention_cpu(q, k, k, true);
    FAIL() << "expected an error";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("as many queries as keys"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace crossover
