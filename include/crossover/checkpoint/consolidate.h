// Turns a checkpoint of any format and world size into one unsharded checkpoint inside a new run
// directory (config, tokenizer, metrics history up to the step, checkpoints/step_N, latest), so
// `crossover train DIR` resumes it in one process and Python reads model.safetensors directly.
#pragma once

#include <cstdint>
#include <string>

namespace crossover {

// The checkpoint of RUN_DIR at `step` (-1: the latest) into the new run directory `out`, which
// must not exist or be empty. Returns the checkpoint directory written.
std::string consolidate_checkpoint(const std::string& run_dir, int64_t step,
                                   const std::string& out);

}  // namespace crossover
