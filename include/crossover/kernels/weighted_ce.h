// weighted_ce: fused weighted cross-entropy forward and backward over rows of logits
// (llm.c's fused classifier). For each row r with target y = targets[r] and weight w:
//   loss[r]    = w * (logsumexp(logits[r, :num_valid]) - logits[r, y])
//   dlogits[r] = w * grad_scale * (softmax(logits[r, :num_valid]) - onehot(y)),
//                and 0 in columns >= num_valid
// dlogits overwrite the logits in place, so the normalised probabilities are never stored and
// the [rows, V] buffer is the only one of its size. Columns >= num_valid are excluded from the
// softmax: that is how [MASK] (and vocabulary padding) can never be predicted. Accumulation is
// in fp32 whatever the storage type. A row with weight 0 gets loss 0 and zero gradient.
#pragma once

#include <cstdint>

namespace crossover::kernels {

// logits: [rows, ld] fp32 (ld >= V); the first V columns are the logits, of which the first
// num_valid take part. targets [rows] (each < num_valid), weights [rows], loss [rows] out.
void weighted_ce_cpu(float* logits, int64_t rows, int64_t V, int64_t ld, int64_t num_valid,
                     const int64_t* targets, const float* weights, float grad_scale, float* loss);

// CUDA device pointers, enqueued on `stream`; fp32 logits or bf16 logits (raw uint16 storage).
// Only in builds with CROSSOVER_CUDA.
void weighted_ce_cuda_f32(float* logits, int64_t rows, int64_t V, int64_t ld, int64_t num_valid,
                          const int64_t* targets, const float* weights, float grad_scale,
                          float* loss, void* stream);
void weighted_ce_cuda_bf16(uint16_t* logits, int64_t rows, int64_t V, int64_t ld, int64_t num_valid,
                           const int64_t* targets, const float* weights, float grad_scale,
                           float* loss, void* stream);

}  // namespace crossover::kernels
