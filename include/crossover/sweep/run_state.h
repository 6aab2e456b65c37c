// The state of one run directory, read from its metrics.jsonl (README, "Run directories,
// logging and metrics"): a run is finished when its last `end` event says `finished`; any other
// history means it can resume from its checkpoint. Runs may be writing while this reads, so a
// torn last line is skipped rather than an error.
#pragma once

#include <cstdint>
#include <string>

namespace crossover {

enum class RunStatus {
  not_started,  // no metrics.jsonl, or no event in it
  partial,      // events but no `end` after them: running, or killed without an end event
  interrupted,  // ended with status `interrupted` (signal; resumes from its checkpoint)
  failed,       // ended with status `failed`
  finished,
};

struct RunState {
  RunStatus status = RunStatus::not_started;
  int64_t step = 0;         // the largest step seen
  int64_t total_steps = 0;  // from the last `run` event; 0 when none
  int64_t tokens = 0;
  double epoch = 0;
  double last_loss = 0;  // the last train event's loss; NaN when none
  std::string reason;    // the `end` event's reason
};

const char* to_string(RunStatus status);
RunState read_run_state(const std::string& run_dir);

}  // namespace crossover
