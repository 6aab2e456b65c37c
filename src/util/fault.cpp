#include "crossover/util/fault.h"

#include <csignal>
#include <cstdlib>
#include <cstring>
#include <string>
#include <unistd.h>

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
}  // namespace

void fault_point(const char* point, int64_t step) {
  const Fault& f = configured();
  if (f.step == step && f.point == point) ::kill(::getpid(), SIGKILL);
}

}  // namespace crossover
