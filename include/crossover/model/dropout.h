// Dropout with counter-based masks. Each element's keep decision is a pure function of
// (training seed, step, global row, layer, site, position) through Philox (kernels/philox.h), so
// a block recomputed in backward (activation checkpointing) and a resumed run draw exactly the
// masks of the original forward, and a row's masks do not depend on how the global batch is
// split over ranks and micro-batches. Masks are drawn on the compute device itself
// (kernels/dropout_mask.h, the same numbers on the CPU and on a GPU). Attention with dropout
// takes the plain path, which keeps the [heads, seq, seq] probabilities (model/memory.h counts
// them): sdpa's own dropout draws from the global generator, which a recomputed block could not
// replay.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>

namespace crossover {

// The micro-batch a training forward runs on; default-constructed (inactive) everywhere else:
// evaluation, scoring and generation never drop.
struct DropoutKey {
  bool active = false;
  uint64_t seed = 0;
  int64_t step = 0;
  int64_t global_row0 = 0;  // global index of the micro-batch's first row
};

// Where in the model a mask applies; with the layer it selects the Philox stream.
enum class DropoutSite : uint32_t { kAttentionProbs = 0, kAttentionOut = 1, kFfnOut = 2 };

// x [rows, ...] with each element zeroed with probability p and the rest scaled by 1 / (1 - p),
// row r keyed by global row key.global_row0 + r. Differentiable (a product with the mask).
// Returns x itself when the key is inactive or p == 0.
at::Tensor dropout(const at::Tensor& x, double p, const DropoutKey& key, int64_t layer,
                   DropoutSite site);

// The keep mask of `dropout` ([rows, n] float on `device`: 1 / (1 - p) kept, 0 dropped).
at::Tensor dropout_scale(const DropoutKey& key, int64_t layer, DropoutSite site, int64_t rows,
                         int64_t n, double p, at::Device device = at::kCPU);

}  // namespace crossover
