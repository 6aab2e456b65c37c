#include "crossover/checkpoint/background_checkpoints.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <stdexcept>

namespace crossover {

BackgroundCheckpoints::BackgroundCheckpoints(Checkpointer& checkpointer, Comm& comm,
                                             const ModelLayout& layout)
    : checkpointer_(checkpointer), comm_(comm), layout_(layout) {}

BackgroundCheckpoints::~BackgroundCheckpoints() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    abandoned_ = true;
  }
  changed_.notify_all();
  if (writer_.joinable()) writer_.join();
}

void BackgroundCheckpoints::start(int64_t step, TrainState state,
                                  const std::function<void(CheckpointSnapshot&)>& fill) {
  finish();
  checkpointer_.begin(step);  // collective: rank 0 makes step_N.tmp/
  fill(snapshot_);            // the copy the step waits for
  {
    std::lock_guard<std::mutex> lock(mutex_);
    step_ = step;
    part_written_ = released_ = done_ = false;
    // One process needs no agreement: its own part is every part.
    released_ = comm_.world_size() == 1;
  }
  writer_ = std::thread(
      [this, step, state = std::move(state)]() mutable { run_writer(step, std::move(state)); });
}

void BackgroundCheckpoints::run_writer(int64_t step, TrainState state) {
  const auto t0 = std::chrono::steady_clock::now();
  try {
    checkpointer_.write_part(step,
                             [&](const std::string& tmp) { return snapshot_.write(tmp, layout_); });
    std::unique_lock<std::mutex> lock(mutex_);
    part_written_ = true;
    changed_.notify_all();
    if (comm_.rank() == 0) {
      changed_.wait(lock, [&] { return released_ || abandoned_; });
      if (!abandoned_) {
        lock.unlock();
        const std::string dir = checkpointer_.commit(step, state);
        const double seconds =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        lock.lock();
        committed_.push_back({step, dir, seconds});
      }
    }
    done_ = true;
  } catch (const std::exception& e) {
    // Logged now, so the reason is in train.log even if the process dies before the trainer
    // reaches its next agreement; raised there on every rank.
    spdlog::error("checkpoint at step {}: the background write failed: {}", step, e.what());
    std::lock_guard<std::mutex> lock(mutex_);
    error_ = std::current_exception();
    error_message_ = e.what();
    done_ = true;
  }
  changed_.notify_all();
}

bool BackgroundCheckpoints::writing() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return step_ && !part_written_ && !error_;
}

bool BackgroundCheckpoints::failed() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return static_cast<bool>(error_);
}

std::optional<int64_t> BackgroundCheckpoints::in_flight() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return step_;
}

void BackgroundCheckpoints::agree(int64_t ranks_writing, int64_t ranks_failed) {
  if (ranks_failed > 0) fail_everywhere(ranks_failed);
  std::lock_guard<std::mutex> lock(mutex_);
  if (step_ && ranks_writing == 0 && !released_) {
    released_ = true;
    changed_.notify_all();
  }
}

void BackgroundCheckpoints::finish() {
  if (!in_flight()) return;  // the same on every rank: they start and finish together
  {
    std::unique_lock<std::mutex> lock(mutex_);
    changed_.wait(lock, [&] { return part_written_ || error_; });
  }
  // Every part written, or some rank's failed: the same answer on every rank.
  const int64_t failed_parts =
      static_cast<int64_t>(comm_.all_reduce_sum({failed() ? 1.0 : 0.0})[0]);
  if (failed_parts > 0) fail_everywhere(failed_parts);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    released_ = true;
  }
  changed_.notify_all();
  join();
  // Rank 0's commit may have failed: every rank stops with it, as after a synchronous save.
  const int64_t failed_commits =
      static_cast<int64_t>(comm_.all_reduce_sum({failed() ? 1.0 : 0.0})[0]);
  if (failed_commits > 0) fail_everywhere(failed_commits);
  std::lock_guard<std::mutex> lock(mutex_);
  step_.reset();
}

void BackgroundCheckpoints::join() {
  if (writer_.joinable()) writer_.join();
}

void BackgroundCheckpoints::fail_everywhere(int64_t ranks_failed) {
  int64_t step = -1;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    abandoned_ = true;  // rank 0's writer, waiting to commit, gives up
    if (step_) step = *step_;
  }
  changed_.notify_all();
  join();
  std::string message;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    step_.reset();
    message = error_ ? error_message_
                     : "the write failed on " + std::to_string(ranks_failed) + " of " +
                           std::to_string(comm_.world_size()) + " ranks (their train.log has why)";
    error_ = nullptr;
  }
  if (comm_.rank() == 0 && step >= 0) checkpointer_.remove_partial(step);
  throw std::runtime_error("checkpoint at step " + std::to_string(step) +
                           " (written in the background) failed: " + message);
}

std::vector<CommittedCheckpoint> BackgroundCheckpoints::take_committed() {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<CommittedCheckpoint> out;
  out.swap(committed_);
  return out;
}

}  // namespace crossover
