// Fault injection for crash tests. With CROSSOVER_FAULT="<point>@<step>" in the environment
// the process kills itself with SIGKILL (no handler runs, nothing is flushed) when it reaches
// <point> at <step>:
//   step        right after the optimizer update of that step
//   checkpoint  inside the checkpoint write of that step: tensors written, not yet committed
// Unset in normal runs: the check is one getenv at start-up.
#pragma once

#include <cstdint>

namespace crossover {

void fault_point(const char* point, int64_t step);

}  // namespace crossover
