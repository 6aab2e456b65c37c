// The AdamW update and the gradient's sum of squares as single passes over fp32 host memory
// (kernels/adamw_cpu.h). It builds without the precompiled header (CMakeLists.txt), so it
// includes only the ATen header it uses.
#include "crossover/kernels/adamw_cpu.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "crossover/kernels/vector_math.h"

namespace crossover::kernels {

namespace {

// Elements per task: large enough that a task's four streams outweigh its start-up, small enough
// that two threads share a 1M-element slot evenly.
constexpr int64_t kGrain = 1 << 15;
// Elements per partial sum of squares: fixed, so the sum does not depend on the thread count.
constexpr int64_t kSquareChunk = 1 << 16;

// m = b1 m + (1 - b1) g, v = b2 v + (1 - b2) g^2, p += -lr / bc1 * m / (sqrt(v) / sqrt(bc2) + eps),
// the composed update's operations in its order, on [begin, end) of one slot.
CROSSOVER_CPU_CLONES
void adamw_range(float* __restrict p, const float* __restrict g, float* __restrict m,
                 float* __restrict v, int64_t n, AdamwCoefficients c) {
  for (int64_t i = 0; i < n; ++i) {
    const float gi = g[i];
    const float mi = m[i] * c.b1 + gi * c.one_minus_b1;
    const float vi = v[i] * c.b2 + c.one_minus_b2 * gi * gi;
    m[i] = mi;
    v[i] = vi;
    p[i] += c.neg_step * (mi / (std::sqrt(vi) * c.inv_sqrt_bc2 + c.eps));
  }
}

CROSSOVER_CPU_CLONES
void scale_range(float* __restrict p, int64_t n, float factor) {
  for (int64_t i = 0; i < n; ++i) p[i] *= factor;
}

CROSSOVER_CPU_CLONES
double square_sum(const float* __restrict g, int64_t n) {
  double acc[8] = {};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int k = 0; k < 8; ++k) acc[k] += static_cast<double>(g[i + k]) * g[i + k];
  double sum = 0;
  for (int k = 0; k < 8; ++k) sum += acc[k];
  for (; i < n; ++i) sum += static_cast<double>(g[i]) * g[i];
  return sum;
}

}  // namespace

void adamw_fp32_cpu(float* p, const float* g, float* m, float* v, int64_t n,
                    const AdamwCoefficients& c, const std::vector<DecayRange>& decay) {
  at::parallel_for(0, n, kGrain, [&](int64_t begin, int64_t end) {
    // Decoupled decay first, on the parts of this range that decay.
    for (const auto& seg : decay) {
      const int64_t b = std::max(begin, seg.offset), e = std::min(end, seg.offset + seg.length);
      if (b < e) scale_range(p + b, e - b, c.decay);
    }
    adamw_range(p + begin, g + begin, m + begin, v + begin, end - begin, c);
  });
}

double square_sum_fp32_cpu(const float* g, int64_t n) {
  const int64_t chunks = (n + kSquareChunk - 1) / kSquareChunk;
  std::vector<double> partial(static_cast<size_t>(chunks), 0.0);
  at::parallel_for(0, chunks, 1, [&](int64_t b, int64_t e) {
    for (int64_t c = b; c < e; ++c)
      partial[c] = square_sum(g + c * kSquareChunk, std::min(kSquareChunk, n - c * kSquareChunk));
  });
  double total = 0;
  for (const double x : partial) total += x;
  return total;
}

}  // namespace crossover::kernels
