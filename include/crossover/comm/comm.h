// Collectives behind one small interface. The c10d implementation (comm/c10d_comm.cpp) uses
// NCCL's native reduce-scatter and all-gather on GPUs and composes them from all-reduce and
// list all-gather on Gloo, which lacks them in LibTorch 1.13. A one-process run uses LocalComm,
// where every collective is the identity.
//
// Every tensor handed to a collective must live on device(): a CUDA device for NCCL (which takes
// CUDA tensors only), the CPU for Gloo. The c10d implementation checks this on every call and
// throws naming the collective and both devices.
#pragma once

#include <ATen/core/Tensor.h>

#include <memory>
#include <string>
#include <vector>

namespace crossover {

// A collective in flight; wait() completes it (and throws if a peer failed).
class Pending {
 public:
  virtual ~Pending() = default;
  virtual void wait() = 0;
};

class Comm {
 public:
  virtual ~Comm() = default;
  virtual int rank() const = 0;
  virtual int world_size() const = 0;
  virtual std::string backend() const = 0;
  // False only for LocalComm: no process group, every collective the identity. A real process
  // group at world size 1 runs its collectives (distributed.process_group=always), so that a
  // one-GPU check exercises the same NCCL calls as a cluster.
  virtual bool has_process_group() const { return true; }
  // Where the tensors of this Comm's collectives live.
  virtual at::Device device() const = 0;
  // In place: t = sum over ranks.
  virtual void all_reduce_sum(at::Tensor& t) = 0;
  // all_reduce_sum started now, finished by wait() (a gradient bucket reduced while the backward
  // of the layers below runs). `t` must not be written until then and holds the sum after it.
  // On CUDA (NCCL) wait() makes the caller's current stream wait for the collective, which runs
  // on NCCL's own stream; it does not block the host.
  virtual std::unique_ptr<Pending> all_reduce_sum_async(at::Tensor& t);
  // full (world x shard.numel(), flat) = concatenation of every rank's shard.
  virtual void all_gather(const at::Tensor& shard, at::Tensor& full) = 0;
  // shard = this rank's slice of the sum over ranks of full (world x shard.numel(), flat).
  virtual void reduce_scatter_sum(const at::Tensor& full, at::Tensor& shard) = 0;
  virtual void broadcast(at::Tensor& t, int root) = 0;
  virtual void barrier() = 0;
  // all_gather started now, finished by the handle's wait() (prefetching the next block).
  virtual std::unique_ptr<Pending> all_gather_async(const at::Tensor& shard, at::Tensor& full);
  // reduce_scatter_sum started now, finished by wait() (a gradient reduced while the backward of
  // the blocks below runs). `full` must stay unchanged until then; `shard` is valid after it.
  virtual std::unique_ptr<Pending> reduce_scatter_sum_async(const at::Tensor& full,
                                                            at::Tensor& shard);

  // Sums of a few host scalars over ranks in one all-reduce (on device(), in fp64): for values
  // computed on the host (evaluation counts). Per-step values that are already on the device
  // go through all_reduce_sum(tensor) directly.
  std::vector<double> all_reduce_sum(const std::vector<double>& values);
};

// The one-process Comm; device() is `device` (collectives are the identity and never copy).
std::unique_ptr<Comm> make_local_comm(at::Device device = at::kCPU);

}  // namespace crossover
