// `crossover bench train`: the throughput of one training step (forward, backward, optimizer)
// on synthetic tokens, against the measured matmul peak. Printed, never asserted.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "crossover/config/config.h"

namespace crossover {

// Runs `warmup` then `steps` steps of `config` with objective.type = `objective` on random
// tokens from a vocabulary of `vocab`. `peak` in FLOP/s (<= 0: measure). Returns tok_per_s,
// step_seconds, gflops (achieved), peak_gflops, mfu, params.
nlohmann::json bench_train_step(RunConfig config, const std::string& objective, int64_t vocab,
                                int warmup, int steps, double peak);

}  // namespace crossover
