// The LM head and its loss, fused. Only rows that carry signal go through the head (every row
// for AR; the masked rows for MDM, about half, which halves the head's FLOPs), and they go
// through in chunks: per chunk the logits are computed, turned into the loss and dlogits in place
// by the fused cross-entropy kernel, and immediately multiplied back into the gradients of the
// hidden states and of the head weight. The full [rows, vocab] logits never exist, and the
// forward already holds the backward's result (scaled by the incoming gradient later).
#pragma once

#include <ATen/core/Tensor.h>

namespace crossover {

// sum_r weights[r] * CE(hidden[r] . head^T, targets[r]) over rows with weights[r] != 0.
// hidden [N, d], head [V, d] (every column predictable; [MASK] is not a row of it),
// targets [N], weights [N]. Differentiable in hidden and head. chunk_rows 0 picks a size that
// keeps a chunk of logits around 16 MiB on CPU and 256 MiB on GPU. signal_rows: the number of
// rows with weights != 0 when the caller knows it (Batch::signal_positions), else -1; with it,
// the rows are selected by signal_row_index, without the host sync of nonzero().
at::Tensor weighted_cross_entropy(const at::Tensor& hidden, const at::Tensor& head,
                                  const at::Tensor& targets, const at::Tensor& weights,
                                  int64_t chunk_rows = 0, int64_t signal_rows = -1);

// The indices of the entries of `weights` [N] that are != 0, ascending, as
// weights.ne(0).nonzero() gives them. With `count` >= 0 (it must be the number of nonzero
// weights, known on the host) they are computed by fixed-size device ops (a cumulative sum and a
// scatter): no host sync. With count -1, nonzero() itself, which must size its output and so
// makes the host wait for the device (on the CPU it is the faster of the two).
at::Tensor signal_row_index(const at::Tensor& weights, int64_t count);

// Per-row -log p(target) [N] (float), no gradients, chunked the same way. For evaluation.
at::Tensor token_nll(const at::Tensor& hidden, const at::Tensor& head, const at::Tensor& targets,
                     int64_t chunk_rows = 0);

}  // namespace crossover
