#include <ATen/Parallel.h>

#include "crossover/kernels/dropout_mask.h"
#include "crossover/kernels/philox.h"

namespace crossover::kernels {

void dropout_scale_cpu(const DropoutParams& params, int64_t rows, int64_t n, float* out) {
  at::parallel_for(0, rows, 1, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const uint64_t row = static_cast<uint64_t>(params.row0 + r);
      for (int64_t j = 0; j < n; j += 4) {
        const auto bits = token_bits(params.seed, params.step, row, static_cast<uint32_t>(j / 4),
                                     params.stream);
        for (int64_t k = 0; k < 4 && j + k < n; ++k)
          out[r * n + j + k] = uniform_from_bits(bits.v[k]) < params.p ? 0.0f : params.keep_scale;
      }
    }
  });
}

}  // namespace crossover::kernels
