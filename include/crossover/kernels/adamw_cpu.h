// AdamW's update and a gradient's sum of squares as single passes over fp32 host memory: each
// element is read and written once, where the composed LibTorch update makes 7-9 passes and a
// temporary. optim/optimizer.h applies them to fp32 CPU slots (adamw_update_cpu, grad_sq_cpu),
// and the tests hold them to the composed update and to a reference in double.
#pragma once

#include <cstdint>
#include <vector>

namespace crossover::kernels {

// The update's constants, rounded to float as the loop uses them.
struct AdamwCoefficients {
  float b1, one_minus_b1, b2, one_minus_b2;
  float inv_sqrt_bc2;  // 1 / sqrt(1 - beta2^step)
  float eps;
  float neg_step;  // -lr / (1 - beta1^step)
  float decay;     // 1 - lr * weight_decay: the decoupled decay factor
};

// Elements [offset, offset + length) of a buffer.
struct DecayRange {
  int64_t offset = 0, length = 0;
};

// Over n elements, in parallel: first p *= decay on the `decay` ranges, then
// m = b1 m + (1 - b1) g, v = b2 v + (1 - b2) g^2, p += neg_step * m / (sqrt(v) inv_sqrt_bc2 + eps),
// the composed update's operations in its order.
void adamw_fp32_cpu(float* p, const float* g, float* m, float* v, int64_t n,
                    const AdamwCoefficients& c, const std::vector<DecayRange>& decay);

// The sum of g^2 in fp64, over fixed chunks of elements, so that its rounding does not depend on
// the number of threads.
double square_sum_fp32_cpu(const float* g, int64_t n);

}  // namespace crossover::kernels
