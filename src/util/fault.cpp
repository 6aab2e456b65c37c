#include "crossover/util/fault.h"

#include <unistd.h>
#include <atomic>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <string>

namespace crossover {

namespace {
struct Fault {
  std::string point;
  int64_t step = -1;
};

const Fault& configured() {
  static const Fault f = [] {
    Fault r;
    if (const char* env = std::getenv("CROSSOVER_FAULT")) {
      const std::string s(env);
      const auto at = s.find('@');
      if (at != std::string::npos) {
        r.point = s.substr(0, at);
        r.step = std::atoll(s.c_str() + at + 1);
      }
    }
    return r;
  }();
  return f;
}

// The step of the checkpoint whose writes are in progress, -1 when none. Atomic: a writer on
// another thread may ask while the scope opens or closes.
std::atomic<int64_t> g_write_step{-1};
}  // namespace

void fault_point(const char* point, int64_t step) {
  const Fault& f = configured();
  if (f.step != step) return;
  if (f.point == point) ::kill(::getpid(), SIGKILL);
  // A scheduler's stop request, at a step the test chooses rather than whenever it gets round
  // to sending it: the handler runs as for any SIGTERM.
  else if (f.point == "sigterm" && std::strcmp(point, "step") == 0) ::kill(::getpid(), SIGTERM);
}

WriteFaultScope::WriteFaultScope(int64_t step) { g_write_step = step; }
WriteFaultScope::~WriteFaultScope() { g_write_step = -1; }

bool write_fault_due() {
  const Fault& f = configured();
  return f.point == "enospc" && f.step >= 0 && f.step == g_write_step.load();
}

}  // namespace crossover
