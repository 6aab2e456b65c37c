// Validation loss, normalised as in training: the mean over the fixed validation windows of
// the objective's per-sequence loss (objective/scoring.h: exact NLL per token for ar, a
// Monte-Carlo estimate of the negative ELBO for mdm, with its standard error).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

#include "crossover/comm/comm.h"
#include "crossover/model/transformer.h"
#include "crossover/objective/objective.h"

namespace crossover {

struct ValLoss {
  double loss = 0;  // per token (ar) / per token of the ELBO bound (mdm)
  double se = 0;    // Monte-Carlo standard error (0 for ar)
  double ppl = 0;   // exp(loss): a perplexity for ar, an upper bound of one for mdm
  int64_t sequences = 0;
  // Per window, in the order of `windows`: its loss (the mean of its samples) and the
  // Monte-Carlo standard error of that mean (0 when exact). Every rank gets all of them.
  std::vector<double> window_loss, window_se;
  // The standard error of `loss` from which windows were drawn: sd(window_loss) / sqrt(N).
  double window_sampling_se() const;
};

// windows: [N, seq_len] validation windows (data/sampler.h). Rows are split across ranks
// (comm) and the sums all-reduced. batch_rows: sequences per forward.
ValLoss validation_loss(const Transformer& model, const std::vector<at::Tensor>& flats,
                        const Objective& objective, const at::Tensor& windows, int64_t mc_samples,
                        int64_t batch_rows, Comm& comm);

}  // namespace crossover
