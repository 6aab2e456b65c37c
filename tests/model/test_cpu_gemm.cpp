// gemm_f32 (kernels/cpu_gemm.h) against at::mm on every transpose combination, with row strides
// wider than the rows, accumulation (beta) and scaling (alpha).
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "crossover/kernels/cpu_gemm.h"

namespace crossover {
namespace {

TEST(CpuGemm, MatchesAtMmForEveryTransposeAndStride) {
  // Debian's LibTorch links OpenBLAS, PyPI's carries MKL: both export sgemm_.
  EXPECT_TRUE(gemm_f32_uses_blas());
  auto gen = at::make_generator<at::CPUGeneratorImpl>(4);
  const int64_t m = 37, n = 29, k = 70, pad = 5;
  for (const bool ta : {false, true})
    for (const bool tb : {false, true})
      for (const float beta : {0.0f, 1.0f}) {
        SCOPED_TRACE(std::string(ta ? "A^T " : "A ") + (tb ? "B^T " : "B ") + "beta " +
                     std::to_string(beta));
        // Stored with padded rows: [rows, cols + pad], the matrix in the first cols.
        const at::Tensor a_store = ta ? at::randn({k, m + pad}, gen) : at::randn({m, k + pad}, gen);
        const at::Tensor b_store = tb ? at::randn({n, k + pad}, gen) : at::randn({k, n + pad}, gen);
        const at::Tensor c0 = at::randn({m, n + pad}, gen);
        const at::Tensor A = ta ? a_store.narrow(1, 0, m).t() : a_store.narrow(1, 0, k);
        const at::Tensor B = tb ? b_store.narrow(1, 0, k).t() : b_store.narrow(1, 0, n);
        const at::Tensor expected = at::mm(A, B) * 0.5 + c0.narrow(1, 0, n) * beta;
        for (const bool blas : {true, false}) {
          at::Tensor c = c0.clone();
          auto f = blas ? gemm_f32 : gemm_f32_aten;
          f(ta, tb, m, n, k, 0.5f, a_store.data_ptr<float>(), a_store.size(1),
            b_store.data_ptr<float>(), b_store.size(1), beta, c.data_ptr<float>(), c.size(1));
          EXPECT_LE((c.narrow(1, 0, n) - expected).abs().max().item<double>(), 1e-4) << blas;
          // The padding past each row is never written.
          EXPECT_TRUE(at::equal(c.narrow(1, n, pad), c0.narrow(1, n, pad))) << blas;
        }
      }
}

}  // namespace
}  // namespace crossover
