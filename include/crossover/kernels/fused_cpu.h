// The transformer's elementwise pieces as single passes on the CPU: RMSNorm, the attention heads
// (QK-norm and rotary embeddings) and the SwiGLU gate, each an autograd Function whose forward
// and backward read and write every element once (the composed LibTorch versions run 6-10
// kernels each way and allocate a temporary per kernel). They apply to fp32 CPU tensors;
// model/transformer.cpp falls back to the composed references everywhere else (GPUs, bf16), and
// the tests hold these to them. The loops are compiled for AVX-512, AVX2 and baseline x86-64,
// picked at load time.
#pragma once

#include <ATen/core/Tensor.h>

#include <initializer_list>

namespace crossover {

// Whether the fused CPU pieces take these tensors (fp32, on the CPU).
bool fused_cpu_applies(const at::Tensor& x);

// Whether autograd records an op on these inputs (grad mode on and one of the defined ones
// requires grad): the fused CPU functions run their forward alone otherwise.
bool records_graph(std::initializer_list<at::Tensor> inputs);

// x [..., D] * rsqrt(mean(x^2) + eps) * weight [D]; the result is contiguous.
at::Tensor rms_norm_cpu(const at::Tensor& x, const at::Tensor& weight, double eps);

// silu(gate) * up of gate_up [..., 2F] = [gate | up] (the fused gate/up GEMM's output), [..., F];
// its backward writes d gate_up in the same layout, so the GEMM's backward reads it directly.
at::Tensor swiglu_cpu(const at::Tensor& gate_up);

// An attention layer's heads from its fused projection qkv [B, T, (heads + 2 kv_heads) hd]: q
// [B, heads, T, hd] and k [B, kv_heads, T, hd], each head RMS-normalised with q_norm / k_norm
// [hd] (QK-norm; skipped when q_norm is undefined) and rotated by the angles cos, sin [T, hd / 2]
// of its positions ((x1 c - x2 s, x2 c + x1 s) on the halves), and v [B, kv_heads, T, hd], all
// contiguous. Backward writes d qkv in the projection's layout: one pass each way where the
// composed path splits, transposes, copies, normalises and rotates in ~8.
struct QkvHeads {
  at::Tensor q, k, v;
};
QkvHeads qkv_heads_cpu(const at::Tensor& qkv, int64_t heads, int64_t kv_heads,
                       const at::Tensor& q_norm, const at::Tensor& k_norm, double eps,
                       const at::Tensor& cos, const at::Tensor& sin);

}  // namespace crossover
