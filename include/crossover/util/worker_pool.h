// A fixed set of CPU worker threads, each running LibTorch with its own intra-op thread count.
// Small models scale poorly over intra-op threads (every op splits into slices too short to
// amortise the fork and join); splitting a micro-batch's rows over workers that each run
// whole ops single-threaded keeps every core on long, independent work instead.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace crossover {

class WorkerPool {
 public:
  // `workers` threads with `threads_each` LibTorch intra-op threads each. LibTorch's thread
  // count is process-wide state read once per thread, so the caller's own count is restored.
  WorkerPool(int workers, int threads_each);
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  int size() const { return static_cast<int>(threads_.size()); }
  // Runs jobs[i] on worker i (jobs.size() <= size()) and returns when all are done; the first
  // exception a job threw is rethrown here.
  void run(const std::vector<std::function<void()>>& jobs);

 private:
  void loop(int index, int threads_each);

  std::vector<std::thread> threads_;
  std::mutex mutex_;
  std::condition_variable wake_, done_;
  const std::vector<std::function<void()>>* jobs_ = nullptr;
  uint64_t generation_ = 0;
  int pending_ = 0;
  int ready_ = 0;
  bool stop_ = false;
  std::exception_ptr error_;
};

}  // namespace crossover
