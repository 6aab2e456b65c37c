// Checkpoints written while training goes on (checkpoint.async: true).
//
// The step that saves waits only for the copy of this rank's tensors into host buffers
// (CheckpointSnapshot, reused; pinned on a GPU). A writer thread then writes and hashes the
// files into step_N.tmp/ (Checkpointer::write_part), and the checkpoint is committed (state.json,
// the rename, `latest`) by rank 0 only once every rank's part is on disk, exactly as a
// synchronous save does. So a kill at any moment leaves the previous checkpoint the latest.
//
// How the ranks learn that every part is written without a collective off the main thread: each
// step's one all-reduce (train/train_step.h) carries two flags per rank, "my part is still being
// written" and "my writer failed". When the sums say no rank is writing, rank 0's writer commits;
// when any rank failed, every rank throws at that same step (rank 0 removes step_N.tmp/). One
// process commits as soon as its part is written. At most one checkpoint is in flight: start()
// waits for the previous one (finish()), and so do the end of training and a signal.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "crossover/checkpoint/checkpointer.h"
#include "crossover/checkpoint/tensor_files.h"
#include "crossover/checkpoint/train_state.h"
#include "crossover/comm/comm.h"
#include "crossover/model/layout.h"

namespace crossover {

// A checkpoint the writer committed (known to rank 0 only).
struct CommittedCheckpoint {
  int64_t step = 0;
  std::string dir;
  double write_seconds = 0;  // on the writer thread: files, hashes and commit
};

class BackgroundCheckpoints {
 public:
  BackgroundCheckpoints(Checkpointer& checkpointer, Comm& comm, const ModelLayout& layout);
  // Waits for a part being written, never commits it: an uncommitted checkpoint stays
  // step_N.tmp/ (removed at the next start) and the previous one stays the latest.
  ~BackgroundCheckpoints();
  BackgroundCheckpoints(const BackgroundCheckpoints&) = delete;
  BackgroundCheckpoints& operator=(const BackgroundCheckpoints&) = delete;

  // Every rank (collective): waits for the checkpoint in flight (finish()), makes step_N.tmp/
  // (Checkpointer::begin), lets `fill` copy this rank's tensors into the reused snapshot, and
  // hands the write to the writer thread.
  void start(int64_t step, TrainState state, const std::function<void(CheckpointSnapshot&)>& fill);

  // This rank's flags for the step agreement.
  bool writing() const;  // a part in flight, not yet on disk
  bool failed() const;   // the writer threw (its part, or rank 0's commit)

  // After a step's agreement (sums over ranks of writing() and failed()): lets rank 0 commit
  // once no rank is writing; throws on every rank when any failed (rank 0 first removes the
  // partial directory).
  void agree(int64_t ranks_writing, int64_t ranks_failed);

  // Every rank (collective): waits until the checkpoint in flight, if any, is committed; throws
  // as agree() does when a rank's writer failed. Returns with nothing in flight.
  void finish();

  // The checkpoints committed since the last call (rank 0; the trainer's `checkpoint` events).
  std::vector<CommittedCheckpoint> take_committed();

  // The step of the checkpoint in flight (nullopt when none).
  std::optional<int64_t> in_flight() const;

 private:
  void run_writer(int64_t step, TrainState state);
  [[noreturn]] void fail_everywhere(int64_t ranks_failed);
  void join();

  Checkpointer& checkpointer_;
  Comm& comm_;
  const ModelLayout& layout_;
  CheckpointSnapshot snapshot_;  // reused; the writer reads it while a checkpoint is in flight
  std::thread writer_;

  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::optional<int64_t> step_;  // in flight
  bool part_written_ = false;    // this rank's files and checksums are durable
  bool released_ = false;        // every rank's part is written: rank 0 may commit
  bool abandoned_ = false;       // the destructor: do not commit
  bool done_ = false;            // the writer thread has nothing left to do
  std::exception_ptr error_;
  std::string error_message_;
  std::vector<CommittedCheckpoint> committed_;
};

}  // namespace crossover
