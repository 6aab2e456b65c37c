// The fused kernels of kernels/ (through their ATen entry points, kernels/ops.h) against the
// unfused LibTorch path they replace, on the CPU and, in a CUDA build with a device, on the GPU.
// Prints a table; figures are printed, never asserted.
#pragma once

#include <cstdint>

namespace crossover {

struct KernelBenchOptions {
  int64_t rows = 1024, vocab = 32768, len = 2048;
  int iters = 5, threads = 0;
  bool cpu = true, cuda = true;  // where to run
};

void run_kernel_bench(const KernelBenchOptions& options);

}  // namespace crossover
