// CPU threads and the BLAS LibTorch actually uses. Debian's LibTorch calls whatever
// libblas.so.3 the alternatives system points at; the reference BLAS is about 10x slower than
// OpenBLAS, so a run on it is flagged loudly.
#pragma once

#include <string>

namespace crossover {

// Cores this process may run on (CPU affinity / cgroup aware).
int available_cores();
// Sets LibTorch's intra-op threads to `requested` (0 = available_cores()); returns the count.
int configure_threads(int requested);
// Resolved path of the library providing sgemm_ ("" when none is loaded).
std::string blas_library();
// True when that library is the netlib reference BLAS.
bool blas_is_reference();
// Logs one warning line when the reference BLAS is in use.
void warn_if_reference_blas();

}  // namespace crossover
