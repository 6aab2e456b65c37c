// The AdamW update and the gradient's sum of squares as single passes over fp32 CPU slots
// (declared in optim/optimizer.h). It builds without the precompiled header (CMakeLists.txt),
// so it includes only the ATen headers it uses.
#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/scalar_tensor.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "crossover/optim/optimizer.h"
#include "crossover/util/vector_math.h"

namespace crossover {

namespace {

// Elements per task: large enough that a task's four streams outweigh its start-up, small enough
// that two threads share a 1M-element slot evenly.
constexpr int64_t kGrain = 1 << 15;
// Elements per partial sum of squares: fixed, so the sum does not depend on the thread count.
constexpr int64_t kSquareChunk = 1 << 16;

struct Coefficients {
  float b1, one_minus_b1, b2, one_minus_b2, inv_sqrt_bc2, eps, neg_step;
};

// m = b1 m + (1 - b1) g, v = b2 v + (1 - b2) g^2, p += -lr / bc1 * m / (sqrt(v) / sqrt(bc2) + eps),
// the composed update's operations in its order, on [begin, end) of one slot.
CROSSOVER_CPU_CLONES
void adamw_range(float* __restrict p, const float* __restrict g, float* __restrict m,
                 float* __restrict v, int64_t n, Coefficients c) {
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

bool adamw_cpu_applies(const OptimizerSlot& s) {
  for (const at::Tensor* t : {&s.param, &s.grad, &s.exp_avg, &s.exp_avg_sq})
    if (!t->defined() || !t->device().is_cpu() || t->scalar_type() != at::kFloat ||
        !t->is_contiguous())
      return false;
  return s.grad.numel() == s.param.numel() && s.exp_avg.numel() == s.param.numel() &&
         s.exp_avg_sq.numel() == s.param.numel();
}

void adamw_update_cpu(OptimizerSlot& s, const OptimizerConfig& config, double lr, int64_t step) {
  const auto [bc1, bc2] = adamw_bias_corrections(config, step);
  const Coefficients c{static_cast<float>(config.beta1),
                       static_cast<float>(1.0 - config.beta1),
                       static_cast<float>(config.beta2),
                       static_cast<float>(1.0 - config.beta2),
                       static_cast<float>(1.0 / std::sqrt(bc2)),
                       static_cast<float>(config.eps),
                       static_cast<float>(-lr / bc1)};
  const float decay = static_cast<float>(1.0 - lr * config.weight_decay);
  float* p = s.param.data_ptr<float>();
  float* m = s.exp_avg.data_ptr<float>();
  float* v = s.exp_avg_sq.data_ptr<float>();
  const float* g = s.grad.data_ptr<float>();
  at::parallel_for(0, s.param.numel(), kGrain, [&](int64_t begin, int64_t end) {
    // Decoupled decay first, on the parts of this range that decay.
    if (config.weight_decay > 0)
      for (const auto& seg : s.decay) {
        const int64_t b = std::max(begin, seg.offset), e = std::min(end, seg.offset + seg.length);
        if (b < e) scale_range(p + b, e - b, decay);
      }
    adamw_range(p + begin, g + begin, m + begin, v + begin, end - begin, c);
  });
}

at::Tensor grad_sq_cpu(const at::Tensor& grad) {
  const at::Tensor g = grad.contiguous();
  const int64_t n = g.numel(), chunks = (n + kSquareChunk - 1) / kSquareChunk;
  std::vector<double> partial(static_cast<size_t>(chunks), 0.0);
  const float* gp = g.data_ptr<float>();
  at::parallel_for(0, chunks, 1, [&](int64_t b, int64_t e) {
    for (int64_t c = b; c < e; ++c)
      partial[c] = square_sum(gp + c * kSquareChunk, std::min(kSquareChunk, n - c * kSquareChunk));
  });
  double total = 0;
  for (const double x : partial) total += x;
  return at::scalar_tensor(total, at::TensorOptions().dtype(at::kDouble));
}

}  // namespace crossover
