#include "crossover/distributed/sharding.h"

#include <algorithm>

#include <stdexcept>

#include "strategies.h"

namespace crossover {

ShardingOptions sharding_options(const DistributedConfig& config, at::Device device,
                                 at::ScalarType compute_dtype) {
  ShardingOptions o;
  o.kind = config.sharding;
  o.device = device;
  o.compute_dtype = compute_dtype;
  o.bucket_bytes = config.bucket_mb << 20;
  o.recompute = config.recomputes();
  o.reduce_dtype = config.reduce_dtype == ReduceDtype::kBf16 ? at::kBFloat16 : at::kFloat;
  o.reduce_per_step = config.grad_reduce == GradReduce::kStep;
  o.overlap_grad_reduce = config.overlap_grad_reduce;
  return o;
}

void set_cpu_workers(ShardingOptions& o, int64_t configured, int threads, int64_t rows) {
  o.cpu_workers = 1;
  o.threads_per_worker = 1;
  if (!o.device.is_cpu() || o.kind == ShardingKind::kFsdp || threads < 1) return;
  const int64_t workers = configured > 0 ? configured : std::min<int64_t>(threads, rows);
  if (workers < 2) return;
  o.cpu_workers = static_cast<int>(workers);
  o.threads_per_worker = std::max(1, threads / o.cpu_workers);
}

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
