// Row-major C = alpha op(A) op(B) + beta C on fp32 host memory, straight into the BLAS that
// LibTorch itself calls (sgemm_, looked up in the process once: Debian's OpenBLAS, or the MKL
// inside PyPI's LibTorch), with no dispatch, checks or tensor views per call. Attention's
// per-head blocks (kernels/attention_cpu.h) make thousands of small products a step, which
// LibTorch 1.13's at::bmm runs through a select and an addmm call per matrix. In a process
// without that symbol it runs at::mm_out on views of the same memory.
#pragma once

#include <cstdint>

namespace crossover {

// op(A) is m x k, op(B) k x n, C m x n; lda, ldb, ldc are row strides of A, B, C as stored.
void gemm_f32(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
              const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c,
              int64_t ldc);

// The at::mm_out path, whatever the process has (the tests hold gemm_f32 to it).
void gemm_f32_aten(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                   const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c,
                   int64_t ldc);

// Whether gemm_f32 found sgemm_ in the process.
bool gemm_f32_uses_blas();

}  // namespace crossover
