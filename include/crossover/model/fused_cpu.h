// The transformer's elementwise pieces as single passes on the CPU: RMSNorm, rotary
// embeddings and the SwiGLU gate, each an autograd Function whose forward and backward read and write every element
// once (the composed LibTorch versions run 6-10 kernels each way and allocate a temporary per
// kernel). They apply to fp32 CPU tensors; rms_norm and the rotary step in model/transformer.cpp
// fall back to the composed reference everywhere else (GPUs, bf16), and the tests hold these to
// it. The loops are compiled for AVX-512, AVX2 and baseline x86-64, picked at load time.
#pragma once

#include <ATen/core/Tensor.h>

namespace crossover {

// Whether the fused CPU pieces take these tensors (fp32, on the CPU).
bool fused_cpu_applies(const at::Tensor& x);

// x [..., D] * rsqrt(mean(x^2) + eps) * weight [D]; the result is contiguous.
at::Tensor rms_norm_cpu(const at::Tensor& x, const at::Tensor& weight, double eps);

// silu(gate) * up of gate_up [..., 2F] = [gate | up] (the fused gate/up GEMM's output), [..., F];
// its backward writes d gate_up in the same layout, so the GEMM's backward reads it directly.
at::Tensor swiglu_cpu(const at::Tensor& gate_up);

// Rotates the halves of the last dimension of x [B, H, T, hd] by the angles of positions
// 0..T-1: (x1 c - x2 s, x2 c + x1 s) with cos, sin [T, hd / 2]; the result is contiguous.
at::Tensor rope_cpu(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin);

}  // namespace crossover
