// Which parameters weight decay applies to: the optimizer's policy over the model's parameter
// kinds. Matrices always decay; norms and the token embedding only when the config says so
// (optimizer.decay_norms, optimizer.decay_embeddings), as in the recipes crossover follows.
#pragma once

#include <cstdint>
#include <vector>

#include "crossover/config/config.h"
#include "crossover/model/layout.h"
#include "crossover/optim/optimizer.h"

namespace crossover {

bool decays(ParamKind kind, const OptimizerConfig& config);

// The decayed elements of [lo, hi) of a group's flat buffer (the whole group, or one rank's
// shard of it), as offsets from lo; neighbouring parameters merge into one segment.
std::vector<DecaySegment> decay_segments(const GroupLayout& group, const OptimizerConfig& config,
                                         int64_t lo, int64_t hi);

}  // namespace crossover
