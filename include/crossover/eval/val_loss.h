// Validation loss, normalised as in training.
//   ar:  exact negative log-likelihood per token (and perplexity).
//   mdm: Monte-Carlo estimate of the negative ELBO, (1 / (t L)) sum over masked positions of
//        -log p(x0 | x_t), with K samples per sequence whose times are stratified over [eps, 1]
//        and whose masks come from a fixed seed: every run and every step is scored on exactly
//        the same corruptions, so curves compare without sampling noise between them. The
//        standard error is the Monte-Carlo one (the validation set is fixed).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

#include "crossover/config/config.h"
#include "crossover/dist/comm.h"
#include "crossover/model/transformer.h"

namespace crossover {

struct ValLoss {
  double loss = 0;  // per token (ar) / per token of the ELBO bound (mdm)
  double se = 0;    // Monte-Carlo standard error (0 for ar)
  double ppl = 0;   // exp(loss): a perplexity for ar, an upper bound of one for mdm
  int64_t sequences = 0;
};

// The seed of validation masks; fixed so every evaluation uses the same corruptions.
inline constexpr uint64_t kValidationSeed = 0x76616c6964ull;

// windows: [N, seq_len + 1] validation windows (data/sampler.h). Rows are split across ranks
// (comm) and the sums all-reduced. batch_rows: sequences per forward.
ValLoss validation_loss(const Transformer& model, const std::vector<at::Tensor>& flats,
                        const ObjectiveConfig& objective, const at::Tensor& windows,
                        int64_t mc_samples, int64_t batch_rows, Comm& comm);

}  // namespace crossover
