#include "crossover/distributed/sharding.h"

#include <stdexcept>

#include "strategies.h"

namespace crossover {

std::unique_ptr<Sharding> make_sharding(const ShardingOptions& o, const Transformer& model,
                                        const OptimizerConfig& opt, Comm& comm) {
  switch (o.kind) {
    case ShardingKind::kNone:
    case ShardingKind::kDdp: return make_replicated(o, model, opt, comm);
    case ShardingKind::kFsdp: return make_fully_sharded(o, model, opt, comm);
  }
  throw std::logic_error("make_sharding: an unhandled ShardingKind");
}

}  // namespace crossover
