// The windows of the coming steps, read on a background thread while the current step runs, so a
// step never waits for the token store. The thread calls RepeatSampler::fill (const: a pure
// function of the step), so the windows are exactly those next() would give and the sampler's
// cursor, which checkpoints save, moves only when the trainer takes a batch: resume stays
// bitwise. With `pinned`, batches live in page-locked host memory, so that the copy to the GPU
// can be asynchronous (non_blocking) and only token ids cross PCIe.
#pragma once

#include <ATen/core/Tensor.h>

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <mutex>
#include <thread>

#include "crossover/data/sampler.h"

namespace crossover {

class BatchPrefetcher {
 public:
  // Reads steps [first_step, end_step) of `sampler`, at most `depth` ahead of the taker.
  BatchPrefetcher(const RepeatSampler& sampler, int64_t first_step, int64_t end_step, int depth,
                  bool pinned);
  ~BatchPrefetcher();  // stops the thread (a step not taken is dropped)
  BatchPrefetcher(const BatchPrefetcher&) = delete;
  BatchPrefetcher& operator=(const BatchPrefetcher&) = delete;

  // This rank's windows of `step` ([rows_per_rank, seq_len + 1] int64); steps are taken in
  // order. Waits while the thread is still reading it; rethrows what the thread threw.
  at::Tensor take(int64_t step);

 private:
  void run();

  const RepeatSampler& sampler_;
  const int64_t end_step_;
  const size_t depth_;
  const bool pinned_;
  int64_t next_to_read_, next_to_take_;
  std::deque<at::Tensor> ready_;
  std::exception_ptr error_;
  bool stop_ = false;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::thread thread_;  // last: started once everything above exists
};

}  // namespace crossover
