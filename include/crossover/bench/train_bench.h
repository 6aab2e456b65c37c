// `crossover bench train`: the throughput of one training step (train_step: forward, backward,
// the step's all-reduce, optimizer) on a fixed batch of synthetic tokens, with the run's
// sharding and process group, against the MFU reference (model/peak.h). Printed, never asserted.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "crossover/comm/comm.h"
#include "crossover/config/config.h"

namespace crossover {

// Runs `warmup` then `steps` steps of `config` with objective.type = `objective` on one fixed
// batch of random tokens from a vocabulary of `vocab`, on `device` over the ranks of `comm`.
// `peak` in FLOP/s. Returns tok_per_s (all ranks), step_seconds, gflops (this rank), peak_gflops,
// mfu, params, first_loss and last_loss (the fixed batch: the loss must fall), peak_memory_mib,
// counted_memory_mib (model/memory.h for the same step),
// and time: the seconds per step of each phase (util/phase_timer.h), which add up to step_seconds.
// With `fixed_noise`, every step draws the noise of step 0 (MDM's t and masks, dropout masks),
// so each step sees the very same batch and the loss falls by optimisation alone: without it an
// MDM loss moves by a percent or two from step to step with t, whatever the update did.
// With `profile`, the measured steps are recorded by LibTorch's profiler into that file (a Chrome
// trace: chrome://tracing or Perfetto; one event per operator with its time).
nlohmann::json bench_train_step(RunConfig config, ObjectiveType objective, int64_t vocab,
                                int warmup, int steps, Comm& comm, at::Device device, double peak,
                                const std::string& profile = "", bool fixed_noise = false);

}  // namespace crossover
