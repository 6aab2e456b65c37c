// CPU reference of kernels/weighted_ce.h: three passes over each row, all in cache (max; exp
// written in place and summed; scale), with rows split across threads. The sum of exponentials
// is accumulated in double: a sequential fp32 sum over a vocabulary of 8k+ terms drifts by more
// than 1e-5 relative, and this is the ground truth the CUDA kernel is held to. The passes are
// written to vectorise (exp_approx, about 1 ulp, and interleaved partial sums): with a scalar
// exp this kernel took a tenth of a CPU training step.
#include <ATen/Parallel.h>

#include <cmath>

#include "crossover/kernels/vector_math.h"
#include "crossover/kernels/weighted_ce.h"

namespace crossover::kernels {

namespace {

// loss and dlogits (in place of the logits x) of one row with weight w != 0.
CROSSOVER_CPU_CLONES
float weighted_ce_row(float* __restrict x, int64_t V, int64_t num_valid, int64_t y, float w,
                      float grad_scale) {
  const float max = max_of(x, num_valid);
  const float target_logit = x[y];
#pragma GCC ivdep
  for (int64_t j = 0; j < num_valid; ++j) x[j] = exp_approx(x[j] - max);
  const double sum = sum_of<double>(x, num_valid);
  const float g = static_cast<float>(w * grad_scale / sum);
  for (int64_t j = 0; j < num_valid; ++j) x[j] *= g;
  x[y] -= w * grad_scale;
  for (int64_t j = num_valid; j < V; ++j) x[j] = 0.0f;
  return w * (static_cast<float>(std::log(sum)) + max - target_logit);
}

}  // namespace

void weighted_ce_cpu(float* logits, int64_t rows, int64_t V, int64_t ld, int64_t num_valid,
                     const int64_t* targets, const float* weights, float grad_scale, float* loss) {
  at::parallel_for(0, rows, 1, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      float* x = logits + r * ld;
      const float w = weights[r];
      if (w == 0.0f) {
        for (int64_t c = 0; c < V; ++c) x[c] = 0.0f;
        loss[r] = 0.0f;
        continue;
      }
      loss[r] = weighted_ce_row(x, V, num_valid, targets[r], w, grad_scale);
    }
  });
}

}  // namespace crossover::kernels
