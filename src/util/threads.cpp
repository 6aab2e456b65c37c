#include "crossover/util/threads.h"

#include <ATen/Parallel.h>
#include <dlfcn.h>
#include <sched.h>
#include <spdlog/spdlog.h>

#include <climits>
#include <cstdlib>
#include <thread>

namespace crossover {

int available_cores() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    const int n = CPU_COUNT(&set);
    if (n > 0) return n;
  }
  return std::max(1u, std::thread::hardware_concurrency());
}

int configure_threads(int requested) {
  const int n = requested > 0 ? requested : available_cores();
  if (at::get_num_threads() != n) at::set_num_threads(n);
  return n;
}

std::string blas_library() {
  void* sym = dlsym(RTLD_DEFAULT, "sgemm_");
  if (!sym) return "";
  Dl_info info;
  if (dladdr(sym, &info) == 0 || !info.dli_fname) return "";
  char resolved[PATH_MAX];
  if (realpath(info.dli_fname, resolved)) return resolved;
  return info.dli_fname;
}

bool blas_is_reference() {
  const std::string lib = blas_library();
  if (lib.empty()) return false;
  for (const char* fast : {"openblas", "blis", "mkl", "atlas"})
    if (lib.find(fast) != std::string::npos) return false;
  // Debian's netlib reference BLAS lives in .../blas/libblas.so.3.
  return lib.find("/blas/") != std::string::npos || lib.find("libblas") != std::string::npos;
}

void warn_if_reference_blas() {
  if (blas_is_reference())
    spdlog::warn(
        "LibTorch is using the reference BLAS ({}), about 10x slower: run `sudo apt-get install "
        "libopenblas0-openmp` (scripts/setup/debian-packages.sh does)",
        blas_library());
}

}  // namespace crossover
