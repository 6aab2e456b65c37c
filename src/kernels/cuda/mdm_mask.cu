// CUDA implementation of kernels/mdm_mask.h: the masked-diffusion forward process, one thread
// block per row. A thread owns groups of 4 consecutive tokens, because one Philox call yields the
// 4 uniforms of a group (token_bits' block index), exactly as the CPU reference draws them.
//
// Bit-identical to mdm_mask_cpu by construction: the same Philox counters, the same float
// comparison `uniform < t`, the same forced-mask position, and the weights computed with
// explicitly rounded operations (__fmul_rn, __fdiv_rn) in the CPU reference's order, so neither
// nvcc's FMA contraction nor an approximate division can change a bit.
//
// The inverse-t and none weightings need no per-row count, so they finish in one pass. The
// mask-fraction weighting needs the row's mask count first: the block reduces it, then a second
// pass over the row writes the weights (and the forced mask when the row drew none).
#include <cuda_runtime.h>

#include <stdexcept>
#include <string>

#include "crossover/kernels/mdm_mask.h"
#include "crossover/kernels/philox.h"
#include "launch_check.cuh"

namespace crossover::kernels {

namespace {

constexpr int kMaxThreads = 256;

// Sum of `v` over the block; every thread gets the result. blockDim.x is a multiple of 32.
__device__ int block_sum(int v) {
  __shared__ int warp_sums[kMaxThreads / 32];
  for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(0xffffffffu, v, offset);
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  if (lane == 0) warp_sums[warp] = v;
  __syncthreads();
  v = lane < static_cast<int>(blockDim.x >> 5) ? warp_sums[lane] : 0;
  for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}

__global__ void __launch_bounds__(kMaxThreads)
    mdm_mask_kernel(const int64_t* tokens, const float* t, int64_t len, MaskParams p,
                    int64_t norm_len, int64_t* noisy, uint8_t* mask, float* weight) {
  const int64_t r = blockIdx.x;
  const uint64_t row = static_cast<uint64_t>(p.global_row0 + r);
  const float tr = t[r];
  const int64_t base = r * len;
  const int64_t groups = (len + 3) / 4;
  const float norm = static_cast<float>(norm_len);  // cvt.rn, as the host's conversion
  // The weight of a counted position when it does not depend on the mask count.
  const float fixed_weight = p.weighting == kWeightInverseT
                                 ? __fdiv_rn(p.scale, __fmul_rn(tr, norm))
                                 : __fdiv_rn(p.scale, norm);
  const bool by_count = p.weighting == kWeightMaskFraction;

  int count = 0;
  for (int64_t g = threadIdx.x; g < groups; g += blockDim.x) {
    const Philox4 bits = token_bits(p.seed, p.step, row, static_cast<uint32_t>(g), p.stream);
#pragma unroll
    for (int k = 0; k < 4; ++k) {
      const int64_t j = 4 * g + k;
      if (j < len) {
        const bool masked = uniform_from_bits(bits.v[k]) < tr;
        const int64_t token = tokens[base + j];  // read before writing: tokens may be noisy
        mask[base + j] = masked;
        noisy[base + j] = masked ? p.mask_id : token;
        count += masked;
        if (!by_count) {
          weight[base + j] = p.weighting == kWeightNone ? fixed_weight
                                                        : (masked ? fixed_weight : 0.0f);
        }
      }
    }
  }
  if (!by_count) return;  // uniform across the block: no thread is left waiting at a barrier

  // block_sum's barrier also makes every thread's mask bytes visible to the whole block.
  int total = block_sum(count);
  int64_t forced = -1;
  if (total == 0 && len > 0) {
    const Philox4 bits = token_bits(p.seed, p.step, row, 0, kStreamForcedMask);
    forced = static_cast<int64_t>(bits.v[0] % static_cast<uint64_t>(len));
    total = 1;
  }
  const float masked_weight = __fdiv_rn(p.scale, static_cast<float>(total));
  for (int64_t j = threadIdx.x; j < len; j += blockDim.x) {
    if (j == forced) {
      mask[base + j] = 1;
      noisy[base + j] = p.mask_id;
      weight[base + j] = masked_weight;
    } else {
      weight[base + j] = mask[base + j] ? masked_weight : 0.0f;
    }
  }
}

}  // namespace

void mdm_mask_cuda(const int64_t* tokens, const float* t, int64_t rows, int64_t len,
                   const MaskParams& params, int64_t* noisy, uint8_t* mask, float* weight,
                   void* stream) {
  if (rows <= 0 || len <= 0) return;
  if (rows > 0x7fffffff) throw std::invalid_argument("mdm_mask_cuda: more than 2^31-1 rows");
  const int64_t norm_len = params.norm_len > 0 ? params.norm_len : len;
  // Enough whole warps for one group of 4 tokens per thread, at most kMaxThreads.
  const int64_t groups = (len + 3) / 4;
  const int threads = static_cast<int>(groups >= kMaxThreads ? kMaxThreads
                                                             : (groups + 31) / 32 * 32);
  check_before_launch("mdm_mask_cuda");
  mdm_mask_kernel<<<static_cast<unsigned>(rows), threads, 0, static_cast<cudaStream_t>(stream)>>>(
      tokens, t, len, params, norm_len, noisy, mask, weight);
  check_launch("mdm_mask_cuda");
}

}  // namespace crossover::kernels
