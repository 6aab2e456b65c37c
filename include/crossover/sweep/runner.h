// `sweep run`: runs the points of a planned sweep, at most N at a time. Finished points are
// skipped; any other point is (re)started on its run directory, where the trainer resumes by
// itself from the latest checkpoint. A failing point is reported and the others continue; a
// point whose run directory another trainer holds (util/run_lock.h) is reported as busy and
// left to it. A stop request (Ctrl-C in the CLI) starts nothing new and waits for the running
// points, which the launcher has asked to checkpoint and exit.
//
// The scheduling is independent of how a point runs: the launcher is a parameter, so tests run
// the scheduler with a fake one and the CLI with the process launcher (process.h).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "crossover/sweep/manifest.h"

namespace crossover {

struct LaunchRequest {
  std::string point;
  std::string config_path;
  std::string run_dir;
  std::string workdir;  // the run's current directory (relative data paths resolve there)
  int threads = 0;      // CPU threads the run should use; 0 = leave the config's setting
  bool resume = false;  // the run directory already holds a history
};

// Runs one point to completion and returns its exit status (0 = success).
using Launcher = std::function<int(const LaunchRequest&)>;

struct RunnerOptions {
  int parallel = 1;
  int threads_per_run = 0;        // 0: the config's hardware.threads, else cores / parallel
  std::vector<std::string> only;  // point names to consider; empty = all
  const std::atomic<bool>* stop = nullptr;        // set to stop launching (signals)
  double progress_every_s = 60;                   // a progress line per running point; <= 0: never
  std::function<void(const std::string&)> print;  // one line of progress; default: spdlog
};

struct RunnerResult {
  std::vector<std::string> already_finished;  // skipped
  std::vector<std::string> finished;          // ran to the end now
  std::vector<std::string> failed;            // non-zero exit, or exit 0 without finishing
  std::vector<std::string> interrupted;       // stopped by a stop request; they resume later
  std::vector<std::string> not_started;       // left out because of a stop request
  std::vector<std::string> busy;              // another trainer holds the run directory
  bool ok() const {
    return failed.empty() && interrupted.empty() && not_started.empty() && busy.empty();
  }
};

RunnerResult run_sweep(const Manifest& manifest, const RunnerOptions& options,
                       const Launcher& launcher);

}  // namespace crossover
