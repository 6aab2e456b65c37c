#include "crossover/data/batch_prefetcher.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <stdexcept>
#include <string>

namespace crossover {

BatchPrefetcher::BatchPrefetcher(const RepeatSampler& sampler, int64_t first_step, int64_t end_step,
                                 int depth, bool pinned)
    : sampler_(sampler), end_step_(end_step), depth_(static_cast<size_t>(std::max(depth, 1))),
      pinned_(pinned), next_to_read_(first_step), next_to_take_(first_step),
      thread_([this] { run(); }) {}

BatchPrefetcher::~BatchPrefetcher() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  changed_.notify_all();
  thread_.join();
}

void BatchPrefetcher::run() {
  const int64_t rows = sampler_.rows_per_rank(), width = sampler_.options().seq_len + 1;
  const int64_t row0 = sampler_.options().rank * rows;
  try {
    for (;;) {
      int64_t step;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        changed_.wait(lock, [&] { return stop_ || ready_.size() < depth_; });
        if (stop_ || next_to_read_ >= end_step_) return;
        step = next_to_read_;
      }
      at::Tensor windows = at::empty({rows, width},
                                     at::TensorOptions().dtype(at::kLong).pinned_memory(pinned_));
      sampler_.fill(step, row0, rows, windows.data_ptr<int64_t>());
      {
        std::lock_guard<std::mutex> lock(mutex_);
        ready_.push_back(std::move(windows));
        ++next_to_read_;
      }
      changed_.notify_all();
    }
  } catch (...) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      error_ = std::current_exception();
    }
    changed_.notify_all();
  }
}

at::Tensor BatchPrefetcher::take(int64_t step) {
  std::unique_lock<std::mutex> lock(mutex_);
  if (step != next_to_take_)
    throw std::logic_error("BatchPrefetcher: step " + std::to_string(step) + " taken, but step " +
                           std::to_string(next_to_take_) + " is next");
  if (step >= end_step_)
    throw std::logic_error("BatchPrefetcher: step " + std::to_string(step) + " is past the end");
  changed_.wait(lock, [&] { return !ready_.empty() || error_; });
  if (ready_.empty()) std::rethrow_exception(error_);
  at::Tensor windows = std::move(ready_.front());
  ready_.pop_front();
  ++next_to_take_;
  lock.unlock();
  changed_.notify_all();
  return windows;
}

}  // namespace crossover
