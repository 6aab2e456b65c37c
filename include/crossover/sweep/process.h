// Child processes for `sweep run`: the real launcher, and Ctrl-C safety.
//
// Each child runs in its own process group, so a terminal's Ctrl-C reaches only the sweep,
// which forwards it exactly once to every running child's group (the trainer checkpoints on
// SIGINT/SIGTERM and exits; a second signal might mean "exit now" to it). Children started
// after a stop request are signalled at once, so no run slips through a race.
#pragma once

#include <signal.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "crossover/sweep/runner.h"

namespace crossover {

// Runs argv[0] with `argv` in `cwd` (unchanged when empty), stdout and stderr appended to
// `log_path`, in a new process group; waits. Returns the exit status, or 128 + the signal that
// ended it. Throws when the program cannot be started.
int run_process(const std::vector<std::string>& argv, const std::string& cwd,
                const std::string& log_path);

// Sends `sig` to the process group of every running child of run_process, and to every child
// started from now on, until clear_child_stop(). Returns how many groups were signalled.
int signal_children(int sig);
void clear_child_stop();

// `BINARY train CONFIG --run-dir RUN_DIR [--threads K]` in the manifest's working
// directory, output appended to RUN_DIR/console.log; on failure the last lines of that output
// are logged.
Launcher process_launcher(const std::string& binary);

// While it lives, SIGINT and SIGTERM no longer kill this process: they set `stop` and are
// forwarded to the children. Construct it before starting threads (they inherit the signal
// mask); the destructor restores the previous mask.
class SignalForwarder {
 public:
  explicit SignalForwarder(std::atomic<bool>& stop);
  ~SignalForwarder();
  SignalForwarder(const SignalForwarder&) = delete;
  SignalForwarder& operator=(const SignalForwarder&) = delete;
  int received() const { return received_.load(); }  // the last signal, 0 when none

 private:
  std::atomic<bool>& stop_;
  std::atomic<bool> done_{false};
  std::atomic<int> received_{0};
  std::thread watcher_;
  sigset_t old_mask_;
};

}  // namespace crossover
