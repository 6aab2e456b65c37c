// The trainer's state in a checkpoint (state.json, next to the tensor files): where the run
// stands, what it is, and how its tensors are laid out. Written by the trainer at every
// checkpoint, by `import hf` for a step-0 checkpoint and by `checkpoint consolidate`; read on
// resume and by everything that loads a checkpoint. Checkpointer adds the tensor files'
// checksums ("files") when it writes the file.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "crossover/config/config.h"

namespace crossover {

class RepeatSampler;  // data/sampler.h

struct TrainState {
  // The run's axes at this step, as every metrics.jsonl event carries them.
  int64_t step = 0;
  int64_t tokens = 0;
  int64_t unique_tokens = 0;
  double epoch = 0;
  double flops = 0;

  nlohmann::json sampler = nlohmann::json::object();  // RepeatSampler::state(): the data cursor
  int64_t optimizer_steps = 0;                        // AdamW's step count (bias correction)
  int64_t bad_steps = 0;  // non-finite steps skipped in a row before this one
  std::string config;     // the resolved config, YAML (dump_config)
  std::string crossover_version;
  ObjectiveType objective = ObjectiveType::kAr;
  int64_t world_size = 1;
  ShardingKind sharding = ShardingKind::kNone;
  // {"kind": "full"} or the shard geometry (checkpoint/tensor_files.h).
  nlohmann::json checkpoint_format = {{"kind", "full"}};
  int64_t seed = 0;  // training.seed: with (step, row), the key of every random decision
  // Where the tensors came from when they were not trained here (`import hf`, `checkpoint
  // consolidate`); null otherwise.
  nlohmann::json imported_from;
  nlohmann::json consolidated_from;

  // The state of `config`'s run after `step` steps with its data cursor at `sampler`, as far
  // as the config and the data say: the axes (flops at `flops_per_token` a token), the cursor,
  // the config, the crossover version, the objective and the seed. The trainer adds the
  // optimizer's and the sharding's fields, `import hf` where its tensors came from.
  static TrainState of_run(const RunConfig& config, const RepeatSampler& sampler, int64_t step,
                           double flops_per_token);

  nlohmann::json to_json() const;
  // Errors name `where` (the state.json path) and the missing or mistyped key.
  static TrainState from_json(const nlohmann::json& j, const std::string& where);
  // The run's config, parsed (errors name `where`).
  RunConfig run_config(const std::string& where) const;
};

}  // namespace crossover
