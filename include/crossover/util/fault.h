// Fault injection for crash tests. With CROSSOVER_FAULT="<point>@<step>" in the environment
// the process fails in a chosen way when it reaches <point> at <step>:
//   step        SIGKILL (no handler runs, nothing is flushed) right after the optimizer update
//               of that step
//   checkpoint  SIGKILL inside the checkpoint write of that step: tensors written, not yet
//               committed
//   enospc      the checkpoint write of that step fails as on a full disk: its writes fail
//               with errno ENOSPC (a tensor file's once it holds some bytes, so a partial file
//               is left behind) and the writer raises the error a real full disk gives
//               (std::system_error naming the file); no kill
//   sigterm     SIGTERM to itself right after the optimizer update of that step, as a
//               scheduler's stop request (the signal handler runs: a graceful stop)
// Unset in normal runs: the check is one getenv at start-up.
#pragma once

#include <cstdint>

namespace crossover {

void fault_point(const char* point, int64_t step);

// While one lives, file writes belong to the checkpoint of `step`: the writers
// (util/safetensors.h, util/fs.h) fail them with ENOSPC under CROSSOVER_FAULT=enospc@<step>.
class WriteFaultScope {
 public:
  explicit WriteFaultScope(int64_t step);
  ~WriteFaultScope();
  WriteFaultScope(const WriteFaultScope&) = delete;
  WriteFaultScope& operator=(const WriteFaultScope&) = delete;
};

// True when the write about to be made must fail as on a full disk (see above).
bool write_fault_due();

}  // namespace crossover
