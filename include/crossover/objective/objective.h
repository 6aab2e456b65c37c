// Objectives: the one place that knows AR from MDM. An objective turns a window of tokens into
// model inputs, targets and loss weights for training, scores a trained model (validation loss,
// multiple-choice options: objective/scoring.h), and tells generation how to decode. The
// trainer, evaluation, generation and the CLI only see this interface and never branch on the
// objective's type.
//
// Every objective returns weights that already include the normalisation: summing
// weight x cross-entropy over all rows of the global batch (all ranks, all micro-batches) gives
// the batch loss, so gradient accumulation and data parallelism are plain sums.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "crossover/config/config.h"
#include "crossover/model/transformer.h"
#include "crossover/objective/noise_schedule.h"
#include "crossover/objective/scoring.h"

namespace crossover {

// Where a micro-batch sits in the run: the RNG key of every random decision.
struct StepContext {
  uint64_t seed = 0;  // training.seed
  int64_t step = 0;
  int64_t global_row0 = 0;   // global index (step * global_batch + i) of the first row
  int64_t global_batch = 1;  // rows per optimizer step over all ranks
};

struct Batch {
  at::Tensor inputs;   // [rows, T] int64
  at::Tensor targets;  // [rows, T] int64
  at::Tensor weights;  // [rows, T] float; 0 where a position carries no signal
  bool causal = true;
  DropoutKey dropout;  // training batches key the model's dropout masks (model.dropout)
  // How many positions have weights != 0, when the host knows it without reading the device
  // (batches built on a GPU: the loss head then selects those rows without a host sync);
  // -1: unknown, the head counts them.
  int64_t signal_positions = -1;
};

// How a trained model of the objective produces text (generate/complete.h runs it).
enum class Decoding {
  kLeftToRight,  // one token per forward, with a KV cache (ar)
  kUnmasking,    // iterative unmasking of a block of [MASK]s, several tokens per step (mdm)
};

class Objective {
 public:
  virtual ~Objective() = default;
  virtual ObjectiveType type() const = 0;
  std::string name() const { return to_string(type()); }
  // Attention over the sequence: causal (ar) or bidirectional (mdm), in training and scoring.
  virtual bool causal() const = 0;
  // True when validation and option scores are exact NLLs; false when they are Monte-Carlo
  // estimates of an upper bound (the negative ELBO) with a standard error.
  virtual bool exact_likelihood() const = 0;
  virtual Decoding decoding() const = 0;

  // windows: [rows, seq_len + 1] int64 from the sampler.
  virtual Batch make_batch(const at::Tensor& windows, const StepContext& ctx) const = 0;

  // Per-sequence validation loss of windows [n, seq_len] (token 0 context, tokens 1.. scored:
  // objective/scoring.h): [n, K] fp64 on the CPU, K samples
  // per sequence (K = 1 when exact, else `samples`). first_row indexes windows[0] in the
  // validation set and keys the masks, so a row's score does not depend on the batching.
  virtual at::Tensor validation_samples(const Transformer& model,
                                        const std::vector<at::Tensor>& flats,
                                        const at::Tensor& windows, int64_t first_row,
                                        int64_t samples) const = 0;
  // NLL of every option of `example`; example_key identifies the example and keys the masks.
  virtual std::vector<OptionNll> option_nll(const Transformer& model,
                                            const std::vector<at::Tensor>& flats,
                                            const TokenizedExample& example, uint64_t example_key,
                                            const ScoreOptions& options) const = 0;
};

// Rows [begin, begin + count) of a batch; its dropout key moves to the first row taken.
Batch batch_rows(const Batch& batch, int64_t begin, int64_t count);

// One micro-batch through the model and the fused loss head, given the flats to compute with:
// the sum of weight x cross-entropy over the batch's positions.
at::Tensor batch_loss(const Transformer& model, const std::vector<at::Tensor>& flats,
                      const Batch& batch);
// Its last part, for strategies that run the blocks themselves: final hidden states `hidden`
// (after the final norm) through the fused loss head of the embedding group's flat.
at::Tensor head_loss(const Transformer& model, const at::Tensor& embed_flat,
                     const at::Tensor& hidden, const Batch& batch);

// mask_id: the [MASK] token (= vocabulary size).
std::unique_ptr<Objective> make_objective(const ObjectiveConfig& config, int64_t mask_id);

// mdm: the diffusion time of global row `global_row` at `step`: stratified across the global
// batch, t_i = (u + i / B) mod 1 with u drawn per step, then mapped into (eps, 1]. Computed in
// double on the host from the same Philox stream, so every rank and device agrees.
double diffusion_time(uint64_t seed, int64_t step, int64_t global_row, int64_t global_batch,
                      double eps, bool stratified);

// With probability p the whole step is cut to a length drawn uniformly from [1, seq_len]
// (LLaDA/SMDM). Returns seq_len otherwise. Shared by both objectives.
int64_t step_length(uint64_t seed, int64_t step, int64_t seq_len, double p);

}  // namespace crossover
