// One trainer per run directory.
//
// Two trainers on one run directory (a SLURM requeue while the old job still runs, a second
// terminal, two `sweep run`s) would both write checkpoints, `latest` and metrics.jsonl and
// leave an interleaved history. `crossover train` therefore holds RUN_DIR/.lock for its whole
// life:
//   - an exclusive advisory lock on the file (fcntl open-file-description lock, F_OFD_SETLK;
//     the classic F_SETLK on kernels without it). The kernel releases it when the process dies,
//     however it dies, and NFS and Lustre (mounted with flock) enforce it across hosts through
//     their lock managers;
//   - the file's content, one JSON line naming the holder (host, pid, start time), so a refused
//     trainer can say who has the directory.
// The file is never deleted, only emptied on release: unlinking a lock file races with a
// process that opened it just before and would then lock an orphaned inode. A file that still
// names a holder while nobody holds the lock is what a killed trainer leaves behind; it is taken
// over with a warning. On a file system without fcntl locks the content alone decides: a holder
// on this host whose pid is alive keeps the directory, a dead one is taken over, and one on
// another host cannot be checked, so the directory is refused until the file is removed.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>

namespace crossover {

struct RunLockHolder {
  std::string host;
  int64_t pid = 0;
  std::string started;  // UTC, ISO 8601
  // "pid 123 on host node7 (started 2024-05-01T12:00:00Z)", or what is known of it.
  std::string describe() const;
};

// Thrown when another process holds the run directory. what() names the directory, the lock
// file and the holder.
class RunDirLocked : public std::runtime_error {
 public:
  RunDirLocked(const std::string& message, RunLockHolder holder)
      : std::runtime_error(message), holder_(std::move(holder)) {}
  const RunLockHolder& holder() const { return holder_; }

 private:
  RunLockHolder holder_;
};

struct RunLockOptions {
  // false: ignore fcntl locks and judge by the file's content alone, as on a file system
  // without lock support (that path is otherwise unreachable in tests).
  bool os_locks = true;
};

class RunLock {
 public:
  RunLock() = default;  // holds nothing
  // Takes RUN_DIR/.lock (the directory must exist) or throws RunDirLocked.
  explicit RunLock(const std::string& run_dir, RunLockOptions options = {});
  ~RunLock();  // empties the file and releases the lock
  RunLock(RunLock&& other) noexcept;
  RunLock& operator=(RunLock&& other) noexcept;
  RunLock(const RunLock&) = delete;
  RunLock& operator=(const RunLock&) = delete;

  bool held() const { return fd_ >= 0; }

  static std::string path(const std::string& run_dir);
  // The process holding RUN_DIR's lock now, or nullopt when it is free (or has never been
  // taken). Takes nothing: the sweep runner asks before it starts a point.
  static std::optional<RunLockHolder> holder(const std::string& run_dir,
                                             RunLockOptions options = {});

 private:
  void release() noexcept;
  int fd_ = -1;
};

}  // namespace crossover
