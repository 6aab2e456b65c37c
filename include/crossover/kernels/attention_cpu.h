// Attention on the CPU (fp32) in blocks of query rows. A block's scores are computed only against
// the keys its rows may see, so causal attention skips the score blocks above the diagonal (at
// 4 blocks, 3/8 of the score and value GEMMs); scaling, the causal mask and the softmax are one
// pass over a block's scores, and backward reads the probabilities forward kept. The composed
// LibTorch attention (Transformer::plain_attention) is the reference the tests hold it to, and
// stays the path on GPUs, in bf16 and under attention dropout.
#pragma once

#include <ATen/core/Tensor.h>

namespace crossover {

// Whether attention_cpu takes these: fp32 CPU tensors, and for causal attention as many queries
// as keys (with cached keys the queries sit at an offset; those calls are generation's, and
// small).
bool attention_cpu_applies(const at::Tensor& q, const at::Tensor& k, bool causal);

// softmax(q k^T / sqrt(hd), causal: query i sees keys 0..i) v for q [B, H, Tq, hd] and k, v
// [B, H, Tk, hd] (as many heads as q: grouped keys are repeated first). Returns [B, H, Tq, hd].
at::Tensor attention_cpu(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                         bool causal);

}  // namespace crossover
