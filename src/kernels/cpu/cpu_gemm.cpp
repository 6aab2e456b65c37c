#include "crossover/kernels/cpu_gemm.h"

#include <ATen/ATen.h>
#include <dlfcn.h>

#include <algorithm>
#include <climits>
#include <stdexcept>

namespace crossover {

namespace {

// The Fortran BLAS interface (column-major, integers by pointer). The integers are passed as
// 64-bit values below 2^31: an LP64 BLAS (both LibTorch builds link one) reads their low 4 bytes,
// an ILP64 one all 8, and on x86-64 (little-endian) both read the same number.
using Sgemm = void (*)(const char* transa, const char* transb, const int64_t* m, const int64_t* n,
                       const int64_t* k, const float* alpha, const float* a, const int64_t* lda,
                       const float* b, const int64_t* ldb, const float* beta, float* c,
                       const int64_t* ldc);

Sgemm find_sgemm() { return reinterpret_cast<Sgemm>(dlsym(RTLD_DEFAULT, "sgemm_")); }

const Sgemm kSgemm = find_sgemm();

// A row-major matrix as a [rows, cols] tensor over the caller's memory.
at::Tensor rows_of(const float* p, int64_t rows, int64_t cols, int64_t ld) {
  return at::from_blob(const_cast<float*>(p), {rows, cols}, {ld, 1},
                       at::TensorOptions().dtype(at::kFloat));
}

}  // namespace

bool gemm_f32_uses_blas() { return kSgemm != nullptr; }

void gemm_f32_aten(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                   const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c,
                   int64_t ldc) {
  const at::Tensor A = trans_a ? rows_of(a, k, m, lda).t() : rows_of(a, m, k, lda);
  const at::Tensor B = trans_b ? rows_of(b, n, k, ldb).t() : rows_of(b, k, n, ldb);
  at::Tensor C = rows_of(c, m, n, ldc);
  if (beta == 0.0f) {
    at::mm_out(C, A, B);
    if (alpha != 1.0f) C.mul_(alpha);
  } else {
    C.addmm_(A, B, beta, alpha);
  }
}

void gemm_f32(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
              const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c,
              int64_t ldc) {
  if (m == 0 || n == 0) return;
  if (!kSgemm || k == 0 || std::max({m, n, k, lda, ldb, ldc}) > INT_MAX)
    return gemm_f32_aten(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  // Row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T: swap the operands.
  const int64_t M = n, N = m, K = k, LDA = ldb, LDB = lda, LDC = ldc;
  const char ta = trans_b ? 'T' : 'N', tb = trans_a ? 'T' : 'N';
  kSgemm(&ta, &tb, &M, &N, &K, &alpha, b, &LDA, a, &LDB, &beta, c, &LDC);
}

}  // namespace crossover
