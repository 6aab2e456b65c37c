// How a trained model is scored under each objective's likelihood: the per-sequence validation
// loss and the negative log-likelihood of multiple-choice options. The Objective (objective.h)
// picks the right one; evaluation only distributes rows over ranks and aggregates.
//
// Validation loss: both objectives score the same tokens with the same visible context. A
// validation window w holds L = data.seq_len tokens (data/sampler.h); token 0 is context only,
// always visible and never scored, and tokens 1..L-1 are scored. The loss is per scored token.
//   ar:  exact negative log-likelihood, (1 / (L-1)) sum_{p=1}^{L-1} -log p(w_p | w_0..w_{p-1}):
//        input w[0:L-1], targets w[1:L] (and perplexity).
//   mdm: Monte-Carlo estimate of the negative ELBO of w[1:L] given w_0,
//        (1 / (t (L-1))) sum over masked positions p >= 1 of -log p(w_p | x_t), where x_t masks
//        each of positions 1..L-1 with probability t and never position 0. K samples per
//        sequence whose times are stratified over [eps, 1] and whose masks come from a fixed
//        seed: every run and every step is scored on exactly the same corruptions, so curves
//        compare without sampling noise between them. The standard error is the Monte-Carlo
//        one.
//   Both see sequences of at most L tokens, the training length.
//
// Multiple-choice options:
//   ar:  exact. NLL(option) = sum over its tokens of -log p(token | context, earlier option
//        tokens). The options of an example share one forward, right-padded: under the causal
//        mask no real position sees the padding.
//   mdm: LLaDA's estimator. The sequence is [context][option] with L option tokens; a sample
//        masks exactly l of them (the context never), and (L / l) x the cross-entropy summed
//        over the masked tokens estimates the NLL:  NLL ~ E_l E_{|S| = l} [(L / l) sum_{i in S}
//        -log p(x_i | x with S masked)], l ~ U{1..L}, S uniform among l-subsets. This is the
//        masked-diffusion ELBO of the option (an upper bound on its NLL), rewritten over the
//        number of masked tokens rather than over t. l is stratified: sample k of K uses
//        l = 1 + floor((k + v) L / K) with one uniform offset v in [0, 1), one l from each of K
//        equal strata (every l equally often when K is a multiple of L; unbiased for any K).
//        Options of equal length are scored on the same masks (common random numbers): a
//        comparison between options then sees little of the estimator's noise, which at a
//        few samples would otherwise swamp it. L == 1 has a single mask and is computed
//        exactly with one row. Masks come from a fixed seed keyed by (example, option length,
//        sample): evaluations are reproducible and compare across checkpoints without
//        sampling noise between them. The model has no attention mask and attends to
//        every position, so padding would change the result: the K samples of an option are one
//        batch of equal-length rows, and the options of an example share a forward exactly when
//        their lengths match (one forward per distinct option length otherwise).
//
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

#include "crossover/kernels/ops.h"
#include "crossover/model/transformer.h"
#include "crossover/objective/noise_schedule.h"

namespace crossover {

// The seed of validation masks; fixed so every evaluation uses the same corruptions.
inline constexpr uint64_t kValidationSeed = 0x76616c6964ull;
// The seed of the estimator's masks; fixed so every evaluation scores the same corruptions.
inline constexpr uint64_t kTaskSeed = 0x7461736b73ull;

// An example as token ids.
struct TokenizedExample {
  std::vector<int64_t> context;               // never empty
  std::vector<std::vector<int64_t>> options;  // each non-empty
  std::vector<double> option_chars;           // length of each option text, for acc_norm
  int64_t label = 0;
};

struct ScoreOptions {
  int64_t samples = 128;  // mdm estimator samples per option with L > 1
  uint64_t seed = kTaskSeed;
  int64_t max_batch_tokens = int64_t{1} << 16;  // a forward larger than this is split by rows
};

struct OptionNll {
  double nll = 0;  // nats, summed over the option's tokens
  double se = 0;   // Monte-Carlo standard error (0 when exact)
};

// The masked positions (indices into the option) of the K samples of one option: sample k
// masks exactly 1 + floor((k + v) L / K) of them, v and the subsets drawn from `key`.
std::vector<std::vector<int64_t>> estimator_masks(int64_t L, int64_t K, uint64_t key);

// NLL of every option of `example`. `example_key` identifies the example (e.g. its index in
// the task) and keys the mdm masks; ar ignores it.
std::vector<OptionNll> ar_option_nll(const Transformer& model, const std::vector<at::Tensor>& flats,
                                     const TokenizedExample& example, const ScoreOptions& options);
std::vector<OptionNll> mdm_option_nll(const Transformer& model,
                                      const std::vector<at::Tensor>& flats,
                                      const TokenizedExample& example, uint64_t example_key,
                                      const ScoreOptions& options);

// Validation windows have one context token before the scored ones.
inline constexpr int64_t kValidationContext = 1;

// Validation: the per-sequence loss of windows [n, L] ([n, 1] fp64 on the CPU), exact.
at::Tensor ar_validation_samples(const Transformer& model, const std::vector<at::Tensor>& flats,
                                 const at::Tensor& windows);
// Validation: K Monte-Carlo samples of each sequence's negative ELBO per scored token ([n, K]
// fp64 on the CPU). first_row is the index of windows[0] in the validation set (it keys the
// masks).
at::Tensor mdm_validation_samples(const Transformer& model, const std::vector<at::Tensor>& flats,
                                  const at::Tensor& windows, int64_t first_row, int64_t K,
                                  double eps, const NoiseSchedule& schedule);
// The corruption of validation sample k of K of windows x0 [n, L] (on the model's device): noisy
// tokens, mask and ELBO weights [n, L]; position 0 is never masked and weighs 0. On a GPU
// `signal` is the number of masked positions, counted on the host (ops::Masked).
ops::Masked mdm_validation_corruption(const at::Tensor& x0, int64_t first_row, int64_t k, int64_t K,
                                      double eps, const NoiseSchedule& schedule, int64_t mask_id);

}  // namespace crossover
