// CPU reference of kernels/mdm_mask.h. Rows are independent; each row is one pass in token
// order, the same arithmetic the CUDA kernel does per thread, so outputs match bit for bit.
#include <cstring>

#include "crossover/kernels/mdm_mask.h"
#include "crossover/kernels/philox.h"

namespace crossover::kernels {

void mdm_mask_cpu(const int64_t* tokens, const float* t, int64_t rows, int64_t len,
                  const MaskParams& p, int64_t* noisy, uint8_t* mask, float* weight) {
  const int64_t norm_len = p.norm_len > 0 ? p.norm_len : len;
  for (int64_t r = 0; r < rows; ++r) {
    const uint64_t row = static_cast<uint64_t>(p.global_row0 + r);
    const float tr = t[r];
    const int64_t* src = tokens + r * len;
    int64_t* dst = noisy + r * len;
    uint8_t* m = mask + r * len;
    float* w = weight + r * len;
    int64_t count = 0;
    for (int64_t j = 0; j < len; j += 4) {
      const Philox4 bits = token_bits(p.seed, p.step, row, static_cast<uint32_t>(j >> 2), p.stream);
      for (int64_t k = 0; k < 4 && j + k < len; ++k) {
        const bool masked = uniform_from_bits(bits.v[k]) < tr;
        m[j + k] = masked;
        count += masked;
      }
    }
    if (p.weighting == kWeightMaskFraction && count == 0 && len > 0) {
      const Philox4 bits = token_bits(p.seed, p.step, row, 0, kStreamForcedMask);
      m[bits.v[0] % static_cast<uint64_t>(len)] = 1;
      count = 1;
    }
    float row_weight;
    switch (p.weighting) {
      case kWeightInverseT: row_weight = p.scale / (tr * static_cast<float>(norm_len)); break;
      case kWeightMaskFraction: row_weight = p.scale / static_cast<float>(count); break;
      default: row_weight = p.scale / static_cast<float>(norm_len); break;
    }
    for (int64_t j = 0; j < len; ++j) {
      dst[j] = m[j] ? p.mask_id : src[j];
      w[j] = p.weighting == kWeightNone ? row_weight : (m[j] ? row_weight : 0.0f);
    }
  }
}

int64_t mdm_mask_count_cpu(const float* t, int64_t rows, int64_t len, const MaskParams& p) {
  if (p.weighting == kWeightNone) return rows * len;
  int64_t total = 0;
  for (int64_t r = 0; r < rows; ++r) {
    const uint64_t row = static_cast<uint64_t>(p.global_row0 + r);
    const float tr = t[r];
    int64_t count = 0;
    for (int64_t j = 0; j < len; j += 4) {  // the draws of mdm_mask_cpu, in the same order
      const Philox4 bits = token_bits(p.seed, p.step, row, static_cast<uint32_t>(j >> 2), p.stream);
      for (int64_t k = 0; k < 4 && j + k < len; ++k) count += uniform_from_bits(bits.v[k]) < tr;
    }
    if (p.weighting == kWeightMaskFraction && count == 0 && len > 0) count = 1;  // the forced mask
    total += count;
  }
  return total;
}

}  // namespace crossover::kernels
