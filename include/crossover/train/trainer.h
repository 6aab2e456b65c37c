// `crossover train`: trains until the total-token budget, resuming from RUN_DIR's latest
// checkpoint when there is one. See README "Training" for what it prints and writes.
#pragma once

#include <cstdint>
#include <string>

#include "crossover/config/config.h"
#include "crossover/dist/comm.h"

#include <ATen/core/Tensor.h>

namespace crossover {

struct TrainResult {
  std::string status;  // finished | interrupted
  int64_t step = 0;
  double train_loss = 0;  // last logged
  double val_loss = 0;    // last evaluated
  double tokens_per_s = 0;
  double seconds = 0;
  int exit_code = 0;      // 0, or 128 + signal when interrupted
};

// Trains `config` in `run_dir` on the ranks of `comm`. Throws on errors (after writing an
// `end` event with status failed and, for non-finite losses, a checkpoint).
// `device` is this process's compute device (config/device.h: resolve_device, made current);
// comm's collectives take tensors there.
TrainResult train(const RunConfig& config, const std::string& run_dir, Comm& comm,
                  at::Device device = at::kCPU);

// Config keys whose change makes a checkpoint a different run: model.*, objective.*, data.*,
// training.global_batch, training.seed. Throws naming the first such key.
void check_resume_compatible(const RunConfig& saved, const RunConfig& now,
                             const std::string& checkpoint_dir);

}  // namespace crossover
