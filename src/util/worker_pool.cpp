#include "crossover/util/worker_pool.h"

#include <ATen/Parallel.h>

#include <stdexcept>
#include <string>
#include <utility>

namespace crossover {

WorkerPool::WorkerPool(int workers, int threads_each) {
  if (workers < 1 || threads_each < 1)
    throw std::invalid_argument("WorkerPool: needs at least one worker and one thread each");
  const int caller_threads = at::get_num_threads();
  for (int i = 0; i < workers; ++i)
    threads_.emplace_back([this, i, threads_each] { loop(i, threads_each); });
  // Every worker has set its own count (at::set_num_threads also stores it process-wide, where
  // threads created later start from it): restore the caller's.
  std::unique_lock<std::mutex> lock(mutex_);
  done_.wait(lock, [&] { return ready_ == workers; });
  lock.unlock();
  at::set_num_threads(caller_threads);
}

WorkerPool::~WorkerPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  for (auto& t : threads_) t.join();
}

void WorkerPool::loop(int index, int threads_each) {
  at::get_num_threads();  // LibTorch's per-thread initialisation first, so it cannot undo this
  at::set_num_threads(threads_each);
  uint64_t seen = 0;
  std::unique_lock<std::mutex> lock(mutex_);
  ++ready_;
  done_.notify_all();
  while (true) {
    wake_.wait(lock, [&] { return stop_ || generation_ != seen; });
    if (stop_) return;
    seen = generation_;
    const auto* jobs = jobs_;
    // No job for this worker in this round (or the round it woke for is already over).
    if (!jobs || index >= static_cast<int>(jobs->size())) continue;
    lock.unlock();
    std::exception_ptr error;
    try {
      (*jobs)[index]();
    } catch (...) {
      error = std::current_exception();
    }
    lock.lock();
    if (error && !error_) error_ = error;
    if (--pending_ == 0) done_.notify_all();
  }
}

void WorkerPool::run(const std::vector<std::function<void()>>& jobs) {
  if (jobs.size() > threads_.size())
    throw std::invalid_argument("WorkerPool::run: " + std::to_string(jobs.size()) + " jobs for " +
                                std::to_string(threads_.size()) + " workers");
  if (jobs.empty()) return;
  std::unique_lock<std::mutex> lock(mutex_);
  jobs_ = &jobs;
  pending_ = static_cast<int>(jobs.size());
  error_ = nullptr;
  ++generation_;
  wake_.notify_all();
  done_.wait(lock, [&] { return pending_ == 0; });
  jobs_ = nullptr;
  if (error_) std::rethrow_exception(std::exchange(error_, nullptr));
}

}  // namespace crossover
