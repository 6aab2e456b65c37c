// The sharding strategies behind make_sharding (distributed/sharding.h), one per file.
#pragma once

#include <memory>

#include "crossover/distributed/sharding.h"

namespace crossover {

// none and ddp (replicated.cpp).
std::unique_ptr<Sharding> make_replicated(const ShardingOptions& o, const Transformer& model,
                                          const OptimizerConfig& opt, Comm& comm);
// fsdp (fsdp.cpp).
std::unique_ptr<Sharding> make_fully_sharded(const ShardingOptions& o, const Transformer& model,
                                             const OptimizerConfig& opt, Comm& comm);

}  // namespace crossover
