// ATen-facing entry points of the kernels in kernels/: they check shapes and dtypes, then call
// the CUDA kernel when the tensors live on a GPU and the CPU reference otherwise. Everything
// else in crossover calls these, never the raw-pointer functions.
#pragma once

#include <ATen/core/Tensor.h>

#include "crossover/kernels/dropout_mask.h"
#include "crossover/kernels/mdm_mask.h"

namespace crossover::ops {

struct Masked {
  at::Tensor noisy;   // [rows, len] int64: [MASK] where masked
  at::Tensor mask;    // [rows, len] bool
  at::Tensor weight;  // [rows, len] float loss weights
  // Positions with weight != 0, counted on the host from the same draws (mdm_mask_count_cpu)
  // when the mask ran on a GPU from a host t, so that the rows can be selected without a host
  // sync; -1 otherwise (on the CPU nonzero() is the cheaper selection).
  int64_t signal = -1;
};

// kernels/mdm_mask.h on tokens [rows, len] (int64) and per-row t [rows] (float; on the host or
// the tokens' device).
Masked mdm_mask(const at::Tensor& tokens, const at::Tensor& t, const kernels::MaskParams& params);

// kernels/weighted_ce.h: overwrites `logits` [rows, V] (fp32, or bf16 on CUDA; contiguous) with
// grad_scale-scaled dlogits and returns the per-row weighted loss [rows] (float).
at::Tensor weighted_ce_(at::Tensor& logits, const at::Tensor& targets, const at::Tensor& weights,
                        int64_t num_valid, float grad_scale);

// kernels/dropout_mask.h: the keep-scales [rows, n] (float), drawn on `device` itself (no mask
// crosses from the host to a GPU).
at::Tensor dropout_scale(const kernels::DropoutParams& params, int64_t rows, int64_t n,
                         at::Device device);

}  // namespace crossover::ops
