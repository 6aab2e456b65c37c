// Objectives: how a window of tokens becomes model inputs, targets and loss weights. The trainer
// only sees this interface — it never branches on the objective.
//
// Every objective returns weights that already include the normalisation: summing
// weight x cross-entropy over all rows of the global batch (all ranks, all micro-batches) gives
// the batch loss, so gradient accumulation and data parallelism are plain sums.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <memory>
#include <string>

#include "crossover/config/config.h"
#include "crossover/objective/noise_schedule.h"

namespace crossover {

// Where a micro-batch sits in the run: the RNG key of every random decision.
struct StepContext {
  uint64_t seed = 0;          // training.seed
  int64_t step = 0;
  int64_t global_row0 = 0;    // global index (step * global_batch + i) of the first row
  int64_t global_batch = 1;   // rows per optimizer step over all ranks
};

struct Batch {
  at::Tensor inputs;   // [rows, T] int64
  at::Tensor targets;  // [rows, T] int64
  at::Tensor weights;  // [rows, T] float; 0 where a position carries no signal
  bool causal = true;
};

class Objective {
 public:
  virtual ~Objective() = default;
  virtual std::string name() const = 0;
  virtual bool causal() const = 0;
  // windows: [rows, seq_len + 1] int64 from the sampler.
  virtual Batch make_batch(const at::Tensor& windows, const StepContext& ctx) const = 0;
};

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
