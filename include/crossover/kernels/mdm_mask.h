// mdm_mask: the forward process of absorbing-state masked diffusion, in one pass over a batch.
//
// For row r (global index global_row0 + r) with time t[r], token j is replaced by mask_id when
// uniform(Philox(seed, step, row, j)) < t[r]. In the same pass it writes the loss weight of
// every position:
//   kWeightInverseT:     weight = masked * scale / (t[r] * norm_len)      (the ELBO, 1/t)
//   kWeightMaskFraction: weight = masked * scale / count[r], and a row that drew no mask gets
//                        one position masked (chosen by Philox), as MegaDLMs does
//   kWeightNone:         weight = scale / norm_len on every position (the ar input-mask
//                        ablation: inputs are corrupted, every target still counts)
// `scale` is typically 1 / global batch, so summing weight * CE over the global batch gives the
// batch-mean loss. The CPU reference and the CUDA kernel give bit-identical outputs.
#pragma once

#include <cstdint>

namespace crossover::kernels {

enum MaskWeighting : int { kWeightInverseT = 0, kWeightMaskFraction = 1, kWeightNone = 2 };

struct MaskParams {
  uint64_t seed = 0;
  uint64_t step = 0;
  int64_t global_row0 = 0;  // global index of row 0 (keys the RNG: same mask on any rank)
  int64_t mask_id = 0;
  uint32_t stream = 0;  // RngStream
  int weighting = kWeightInverseT;
  float scale = 1.0f;
  int64_t norm_len = 0;  // loss normalisation length, usually len
};

// tokens, noisy: [rows, len] int64; t: [rows] float; mask: [rows, len] uint8;
// weight: [rows, len] float. Buffers may not alias except tokens == noisy.
void mdm_mask_cpu(const int64_t* tokens, const float* t, int64_t rows, int64_t len,
                  const MaskParams& params, int64_t* noisy, uint8_t* mask, float* weight);

// How many positions mdm_mask_cpu/cuda mask (for kWeightNone: rows * len, every position
// carries a weight), from the same Philox draws and without the tokens: the host's count of a
// batch's nonzero weights, where the mask itself is drawn on a GPU.
int64_t mdm_mask_count_cpu(const float* t, int64_t rows, int64_t len, const MaskParams& params);

// The same on CUDA device pointers, enqueued on `stream` (a cudaStream_t). Only in builds
// with CROSSOVER_CUDA.
void mdm_mask_cuda(const int64_t* tokens, const float* t, int64_t rows, int64_t len,
                   const MaskParams& params, int64_t* noisy, uint8_t* mask, float* weight,
                   void* stream);

}  // namespace crossover::kernels
