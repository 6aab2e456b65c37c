// Where the parameters live and how a training step runs over them:
//   none — one process, full fp32 parameters;
//   ddp  — every rank holds the full parameters; gradients are all-reduced in buckets;
//   fsdp — ZeRO-3 per block: each rank holds 1/world of every parameter group (fp32 master
//          shard, its gradient and its Adam moments); a block's full parameters exist only
//          while it runs (gathered, then freed; gathered again and recomputed in backward), or,
//          with distributed.recompute: none, from its forward to its backward.
// The trainer drives every strategy through this interface. Communication a strategy waits on
// is timed as Phase::kComm on the timer given to set_timer (the step's time breakdown).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "crossover/checkpoint/tensor_files.h"
#include "crossover/comm/comm.h"
#include "crossover/config/config.h"
#include "crossover/model/transformer.h"
#include "crossover/objective/objective.h"
#include "crossover/optim/optimizer.h"
#include "crossover/util/phase_timer.h"

namespace crossover {

struct MemoryReport {
  int64_t param_bytes = 0;  // fp32 master values held by this rank
  int64_t grad_bytes = 0;
  int64_t optimizer_bytes = 0;  // Adam moments
  int64_t gathered_bytes = 0;   // transient full blocks (fsdp)
};

class Sharding {
 public:
  virtual ~Sharding() = default;
  virtual std::string name() const = 0;

  // Initialises the parameters from the seed (identical on every world size).
  virtual void init(uint64_t seed) = 0;
  // Forward and backward of one micro-batch; gradients accumulate. `last`: the step's last
  // micro-batch (fsdp with grad_reduce: step reduces only then). Returns the detached local loss
  // (a sum of weighted cross-entropies).
  virtual at::Tensor forward_backward(const Batch& batch, bool last) = 0;
  // After the last micro-batch of a step: gradients become the global-batch gradients.
  virtual void reduce_gradients() = 0;
  // This rank's share of the squared global gradient norm, a 0-dim fp64 tensor on the compute
  // device: summed over ranks (train_step's one all-reduce) it is the squared global norm.
  virtual at::Tensor grad_sq_share() = 0;
  virtual AdamW& optimizer() = 0;
  // Full parameters in `dtype` on the compute device, for evaluation and generation.
  virtual std::vector<at::Tensor> full_flats(at::ScalarType dtype) = 0;

  // Writes this rank's tensor files into a checkpoint directory.
  virtual FileChecksums save(const std::string& dir) = 0;
  // Copies what save() writes into `into`'s host buffers (reused across calls), for a
  // background write: returns when the copy is complete, so the next update may run.
  virtual void snapshot(CheckpointSnapshot& into) = 0;
  // Describes the saved tensors for state.json ("format", shard geometry).
  virtual nlohmann::json checkpoint_format() const = 0;
  // Loads parameters and moments from any checkpoint (full or sharded, any world size).
  virtual void load(const std::string& dir, const nlohmann::json& state) = 0;

  virtual MemoryReport memory() const = 0;

  // Where forward, backward and waits on communication are timed (nullptr: untimed).
  void set_timer(PhaseTimer* timer) { timer_ = timer; }

 protected:
  PhaseTimer* timer_ = nullptr;
};

struct ShardingOptions {
  ShardingKind kind = ShardingKind::kNone;
  at::Device device = at::kCPU;
  at::ScalarType compute_dtype = at::kFloat;
  int64_t bucket_bytes = 25 << 20;
  bool recompute = false;                    // keep only block inputs; recompute in backward
  at::ScalarType reduce_dtype = at::kFloat;  // gradient reduction
  bool reduce_per_step = false;              // fsdp: reduce-scatter at the last micro-batch only
  bool overlap_grad_reduce = true;           // ddp: all-reduce buckets during the last backward
  int cpu_workers = 1;                       // none/ddp on the CPU: micro-batch rows split over
  int threads_per_worker = 1;                //   this many threads (util/worker_pool.h)
};

// The options of distributed.* for `device` and the compute dtype.
ShardingOptions sharding_options(const DistributedConfig& config, at::Device device,
                                 at::ScalarType compute_dtype);

// hardware.cpu_workers resolved into `options` for `threads` intra-op threads and micro-batches
// of `rows` rows: workers only on the CPU with none or ddp; 0 picks min(threads, rows).
void set_cpu_workers(ShardingOptions& options, int64_t configured, int threads, int64_t rows);

std::unique_ptr<Sharding> make_sharding(const ShardingOptions& options, const Transformer& model,
                                        const OptimizerConfig& optimizer, Comm& comm);

}  // namespace crossover
