// ddp's gradient all-reduce in buckets of distributed.bucket_mb. The groups are bucketed from the
// last block down to the embedding group: the order in which backward finishes their gradients,
// so that with distributed.overlap_grad_reduce a bucket can start as soon as its groups are final
// (ready()), while the backward of the layers below runs. A group larger than a bucket goes alone
// and, in fp32, is reduced in place; other buckets are joined into one tensor in reduce_dtype and
// copied back once reduced. Every rank starts the buckets in the same order (bucket order, never
// the order readiness arrives in), as collectives must be issued alike on every rank.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <deque>
#include <memory>
#include <vector>

#include "crossover/comm/comm.h"
#include "crossover/util/phase_timer.h"

namespace crossover {

class GradBuckets {
 public:
  // `grads`: one flat gradient per group (reduced in place, so shared with the optimizer).
  GradBuckets(std::vector<at::Tensor> grads, int64_t bucket_bytes, at::ScalarType reduce_dtype,
              Comm& comm);

  // A new step's last micro-batch begins: no group final yet.
  void begin_step(PhaseTimer* timer);
  // Group g's gradient is final for this step: starts, in bucket order, every bucket whose groups
  // are all final, and waits for the oldest bucket beyond two in flight (bounding the joined
  // copies held at once). Waits are timed as Phase::kComm.
  void ready(size_t g, PhaseTimer* timer);
  // Starts every bucket not started yet and waits for all: the gradients are then the sums over
  // ranks. `overlapped` false: one bucket at a time, each waited before the next starts.
  void finish(PhaseTimer* timer, bool overlapped);

  // The groups of each bucket, in the order the buckets are reduced.
  const std::vector<std::vector<size_t>>& buckets() const { return buckets_; }

 private:
  struct InFlight {
    size_t bucket = 0;
    std::unique_ptr<Pending> pending;
    at::Tensor joined;  // undefined when the group's gradient is reduced in place
  };
  void start(size_t bucket);
  void complete_oldest(PhaseTimer* timer);

  std::vector<at::Tensor> grads_;
  at::ScalarType reduce_dtype_;
  Comm& comm_;
  std::vector<std::vector<size_t>> buckets_;
  std::vector<bool> ready_;  // per group, this step
  size_t next_ = 0;          // the next bucket to start
  std::deque<InFlight> in_flight_;
};

}  // namespace crossover
