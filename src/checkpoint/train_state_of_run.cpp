// TrainState::of_run, apart from train_state.cpp: it reads the sampler (data/sampler.cpp), which
// the LibTorch-free readers that the fuzz targets and the sanitizer's unit tests compile
// (fuzz/CMakeLists.txt) leave out.
#include "crossover/checkpoint/train_state.h"
#include "crossover/data/sampler.h"
#include "crossover/version.h"

namespace crossover {

TrainState TrainState::of_run(const RunConfig& config, const RepeatSampler& sampler, int64_t step,
                              double flops_per_token) {
  TrainState state;
  state.step = step;
  state.tokens = step * sampler.tokens_per_step();
  state.unique_tokens = sampler.unique_tokens();
  state.epoch = static_cast<double>(step * config.training.global_batch) / sampler.num_sequences();
  state.flops = flops_per_token * static_cast<double>(state.tokens);
  state.sampler = sampler.state();
  state.config = dump_config(config);
  state.crossover_version = kVersion;
  state.objective = config.objective.type;
  state.seed = config.training.seed;
  return state;
}

}  // namespace crossover
