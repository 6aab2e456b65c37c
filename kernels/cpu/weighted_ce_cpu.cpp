// CPU reference of kernels/weighted_ce.h: three passes over each row, all in cache
// (max; exp written in place and summed; scale), with rows split across threads. The sum of
// exponentials is accumulated in double: a sequential fp32 sum over a vocabulary of 8k+ terms
// drifts by more than 1e-5 relative, and this is the ground truth the CUDA kernel is held to.
#include <ATen/Parallel.h>

#include <cmath>

#include "weighted_ce.h"

namespace crossover::kernels {

void weighted_ce_cpu(float* logits, int64_t rows, int64_t V, int64_t ld, int64_t num_valid,
                     const int64_t* targets, const float* weights, float grad_scale,
                     float* loss) {
  at::parallel_for(0, rows, 1, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      float* x = logits + r * ld;
      const float w = weights[r];
      if (w == 0.0f) {
        for (int64_t c = 0; c < V; ++c) x[c] = 0.0f;
        loss[r] = 0.0f;
        continue;
      }
      const int64_t y = targets[r];
      float max = -INFINITY;
      for (int64_t c = 0; c < num_valid; ++c) max = x[c] > max ? x[c] : max;
      const float target_logit = x[y];
      double sum = 0.0;
      for (int64_t c = 0; c < num_valid; ++c) {
        const float e = std::exp(x[c] - max);
        x[c] = e;
        sum += e;
      }
      loss[r] = w * (static_cast<float>(std::log(sum)) + max - target_logit);
      const float g = static_cast<float>(w * grad_scale / sum);
      for (int64_t c = 0; c < num_valid; ++c) x[c] *= g;
      x[y] -= w * grad_scale;
      for (int64_t c = num_valid; c < V; ++c) x[c] = 0.0f;
    }
  });
}

}  // namespace crossover::kernels
